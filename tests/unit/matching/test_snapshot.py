"""Snapshots of the matching state: what is saved comes back exactly, a damaged or foreign
file is not used, and a worker started from a snapshot taken at any point, plus the records
after it, holds what a full replay of the log holds (and leaves the placements topic showing
just that), also when the snapshot was taken on another day."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as dt
import logging
import pickle
import random
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition

from schemas.citizens import CitizenAvailabilityChanged
from schemas.topics import CITIZENS, JOB_ORDERS
from services.matching import snapshot
from services.matching.domain.learned import LearnedScorer
from services.matching.domain.scoring import RuleScorer
from services.matching.domain.state import MatchingState
from services.matching.domain.vectorized import CardIndex
from services.matching.linking import TaxonomyLinker, distance_km, skill_label, skills_of
from services.matching.model.registry import SHIPPED, Registry
from services.matching.recovery import Runtime, Snapshots
from services.matching.snapshot import (
    Header,
    SnapshotCorrupt,
    SnapshotIncompatible,
    SnapshotStore,
    decode_header,
    dumps_state,
    encode,
    fingerprint,
    restore_state,
)
from services.rules import eligibility
from tests.unit.matching.logsim import (
    Log,
    Reader,
    held_pairs,
    live_pairs,
    replay,
    restart,
    restart_from_snapshot,
    run,
)
from tests.unit.matching.test_log_derived import (
    AMINA,
    LAGER,
    Clock,
    card_event,
    consultant_every,
    order_event,
    scenario,
)

NOW = dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC)


class Today:
    """The date eligibility is decided on (services.rules.eligibility and the card index)."""

    def __init__(self, day: dt.date) -> None:
        self.day = day

    def __call__(self) -> dt.date:
        return self.day


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> Today:
    clock = Today(dt.date(2026, 11, 24))

    class Shifted(dt.date):
        @classmethod
        def today(cls) -> Shifted:
            return cls.fromordinal(clock.day.toordinal())

    monkeypatch.setattr(eligibility, "dt", SimpleNamespace(date=Shifted))
    return clock


@pytest.fixture(params=["rules", "model"])
def make_state(
    request: pytest.FixtureRequest, linker: TaxonomyLinker, today: Today
) -> Callable[[], MatchingState]:
    """The rule score and the shipped model (the worker's default), with the card index."""
    if request.param == "rules":
        scorer: Any = RuleScorer(distance_km)
    else:
        entry = Registry(SHIPPED).newest_approved()
        assert entry is not None
        scorer = LearnedScorer(entry.model(), skills_of, distance_km, skill_label=skill_label)

    def make() -> MatchingState:
        return MatchingState(
            linker, scorer, k=3, capacity=2, index=CardIndex(skills_of, today=today)
        )

    return make


@pytest.fixture
def docs(amina: Any, yonas: Any, fatima: Any, lager: Any, kantine: Any) -> tuple[Any, ...]:
    return amina, yonas, fatima, lager, kantine


def worked(make_state: Callable[[], MatchingState], docs: tuple[Any, ...]) -> MatchingState:
    log = scenario(Clock(), *docs)
    state = make_state()
    run(state, log, Reader(log, random.Random(3)), consultant=consultant_every(log, 4))
    assert state.rejected and state.emitted and state.no_consent_for and state.suggestions
    return state


def header(state: MatchingState, **changes: Any) -> Header:
    fields: dict[str, Any] = {
        "fingerprint": fingerprint(state),
        "positions": {TopicPartition(CITIZENS.name, 1): 12, TopicPartition(JOB_ORDERS.name, 0): 3},
        "anchors": {
            TopicPartition(CITIZENS.name, 1): "ab",
            TopicPartition(JOB_ORDERS.name, 0): "cd",
        },
        "log_time": NOW,
        "written_at": NOW,
    }
    return Header(**{**fields, **changes})


# -- what is saved ------------------------------------------------------------------------------


def test_every_field_of_the_state_is_saved_or_rebuilt_on_purpose() -> None:
    names = {f.name for f in dataclasses.fields(MatchingState)}
    assert names == set(snapshot.SAVED) | set(snapshot.NOT_SAVED)
    assert not set(snapshot.SAVED) & set(snapshot.NOT_SAVED)


def test_a_restored_state_equals_the_saved_one_and_goes_on_alike(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...], amina: Any, lager: Any
) -> None:
    state = worked(make_state, docs)
    restored = restore_state(dumps_state(state), make_state)
    assert restored.snapshot() == state.snapshot()
    assert restored.digest() == state.digest()
    assert restored.index is not None and restored.index.skills_of is skills_of
    # Cards come back as their JSON, parsed when first read (only the programme gates do).
    profile = (
        restored.cards[AMINA] if AMINA in restored.cards else next(iter(restored.cards.values()))
    )
    assert isinstance(profile.source, bytes)
    assert profile.card == state.cards[profile.citizen_id].card
    assert not isinstance(profile.source, bytes)
    # Both decide the same on what comes next (the index and the rankings came back too).
    ev = Clock()
    ev.at = NOW + dt.timedelta(days=1)
    moved = copy.deepcopy(amina)
    moved["citizen_id"] = "cit-new-one"
    closer = copy.deepcopy(lager)
    closer["job_order_id"] = "jo-new-one"
    upcoming = [
        card_event(ev, moved),
        order_event(ev, closer),
        ev(CitizenAvailabilityChanged(citizen_id="cit-a000", available=False)),
        ev(CitizenAvailabilityChanged(citizen_id="cit-a003", available=True)),
    ]
    for event in upcoming:
        assert state.apply(event) == restored.apply(event)
    assert restored.digest() == state.digest()


def test_the_file_round_trips_with_its_positions(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...], tmp_path: Path
) -> None:
    state = worked(make_state, docs)
    store = SnapshotStore(tmp_path)
    written = store.write(encode(header(state), dumps_state(state)))
    assert written.stat().st_mode & 0o777 == 0o600
    loaded = store.load_newest(make_state)
    assert loaded is not None and loaded.path == written
    assert loaded.header == header(state)
    assert loaded.header.records == 15
    assert loaded.state.digest() == state.digest()
    assert set(loaded.seconds) == {"read", "verify", "unpickle"}


def test_the_store_keeps_the_newest_two_in_order(
    make_state: Callable[[], MatchingState], tmp_path: Path
) -> None:
    state = make_state()
    store = SnapshotStore(tmp_path, keep=2)
    paths = [store.write(encode(header(state), dumps_state(state))) for _ in range(4)]
    assert store.files() == [paths[3], paths[2]]
    assert paths == sorted(paths)
    assert not list(tmp_path.glob(".*tmp"))


# -- what is not used -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    ["flip a byte of the state", "flip a byte of the header", "cut short", "empty", "not ours"],
)
def test_a_damaged_snapshot_is_set_aside_with_a_warning_and_the_older_one_used(
    make_state: Callable[[], MatchingState],
    docs: tuple[Any, ...],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    state = worked(make_state, docs)
    store = SnapshotStore(tmp_path)
    older = store.write(encode(header(state, log_time=None), dumps_state(make_state())))
    newest = store.write(encode(header(state), dumps_state(state)))
    data = bytearray(newest.read_bytes())
    if damage == "flip a byte of the state":
        data[len(data) // 2] ^= 0x40
    elif damage == "flip a byte of the header":
        data[len(snapshot.MAGIC) + 10] ^= 0x01
    elif damage == "cut short":
        data = data[: len(data) - 1000]
    elif damage == "empty":
        data = bytearray()
    else:
        data = bytearray(b"PK\x03\x04" + bytes(200))
    newest.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        loaded = store.load_newest(make_state)
    assert loaded is not None and loaded.path == older
    assert loaded.header.log_time is None
    assert not newest.exists() and newest.with_name(newest.name + ".corrupt").exists()
    assert any("set aside" in r.getMessage() for r in caplog.records)
    # Not tried again on the next start.
    assert store.files() == [older]


def test_the_checksum_covers_every_byte(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...]
) -> None:
    data = encode(header(make_state()), dumps_state(worked(make_state, docs)))
    rng = random.Random(1)
    for _ in range(50):
        damaged = bytearray(data)
        damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        with pytest.raises(SnapshotCorrupt):
            decode_header(bytes(damaged))


def test_another_format_or_fingerprint_is_ignored_and_the_worker_replays(
    make_state: Callable[[], MatchingState],
    linker: TaxonomyLinker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = make_state()
    other_format = encode(header(state, format=snapshot.FORMAT + 1), dumps_state(state))
    with pytest.raises(SnapshotIncompatible):
        decode_header(other_format)
    store = SnapshotStore(tmp_path)
    store.write(other_format)
    # Written by a worker with another k (so also: another model, code or reference data).
    other_k = dataclasses.replace(state, k=7)
    assert fingerprint(other_k) != fingerprint(state)
    store.write(encode(header(other_k), dumps_state(other_k)))
    with caplog.at_level(logging.WARNING):
        assert store.load_newest(make_state) is None
    ignored = [r for r in caplog.records if "snapshot ignored" in r.getMessage()]
    assert len(ignored) == 2
    # Left in place (the worker that wrote them may come back), never renamed.
    assert len(store.files()) == 2


def test_a_snapshot_may_only_name_the_classes_a_state_is_made_of(
    make_state: Callable[[], MatchingState], tmp_path: Path
) -> None:
    class Sneaky:
        def __reduce__(self) -> tuple[Any, ...]:
            import os

            return (os.system, ("echo pwned",))

    body = pickle.dumps({"fields": {name: Sneaky() for name in snapshot.SAVED}}, protocol=5)
    with pytest.raises(pickle.UnpicklingError, match="may not name"):
        restore_state(body, make_state)
    store = SnapshotStore(tmp_path)
    store.write(encode(header(make_state()), body))
    assert store.load_newest(make_state) is None
    assert [p.name.endswith(".corrupt") for p in tmp_path.iterdir()] == [True]


# -- snapshot + the records after it == a full replay ----------------------------------------------


def _positions(reader: Reader) -> dict[tuple[str, int], int]:
    return dict(reader.next_offset)


@pytest.mark.parametrize("seed", range(10))
def test_a_snapshot_at_any_point_plus_the_tail_equals_a_full_replay(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...], seed: int
) -> None:
    """Snapshot after a random number of records; the worker goes on and is killed later
    (maybe while sending); restarted from the snapshot it holds what a fresh replay of the
    log holds, reconciles the topic, and after reading on the topic shows what it holds."""
    rng = random.Random(seed)
    log = scenario(Clock(), *docs)
    total = sum(len(events) for events in log.parts.values())
    review = consultant_every(log, 5)
    state = make_state()
    reader = Reader(log, random.Random(seed))
    run(state, log, reader, steps=rng.randint(1, total - 1), consultant=review)
    body, positions = dumps_state(state), _positions(reader)
    left = sum(len(e) for e in log.parts.values()) - sum(reader.next_offset.values())
    if left and rng.random() < 0.8:
        run(
            state,
            log,
            reader,
            steps=rng.randint(1, left),
            crash_keep=rng.randint(0, 3),
            consultant=review,
        )
    restored, reader, _, ends = restart_from_snapshot(log, make_state, body, positions, seed)
    read = Log({tp: events[: ends.get(tp, 0)] for tp, events in log.parts.items()})
    assert restored.digest() == replay(read, make_state, seed=seed + 3).digest()
    run(restored, log, reader, consultant=review)
    assert live_pairs(log) == held_pairs(restored)
    assert restored.divergence() == {"orphans": [], "missing": [], "stale": []}
    assert restored.digest() == replay(log, make_state, seed=seed + 7).digest()
    ids = log.event_ids()
    assert len(ids) == len(set(ids)), "an event was appended twice"


@pytest.mark.parametrize("seed", range(4))
def test_crash_after_crash_from_the_newest_snapshot_stays_a_replay(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...], seed: int
) -> None:
    """Several lives: each takes snapshots now and then, and dies at a random point; each
    restart starts from the newest snapshot (none at first: a full replay)."""
    rng = random.Random(seed)
    log = scenario(Clock(), *docs)
    review = consultant_every(log, 4)
    newest: tuple[bytes, dict[tuple[str, int], int]] | None = None
    state = make_state()
    reader = Reader(log, random.Random(seed))
    for life in range(4):
        for _ in range(rng.randint(1, 3)):
            if run(state, log, reader, steps=rng.randint(1, 6), consultant=review) < 1:
                break
            if rng.random() < 0.6:
                newest = (dumps_state(state), _positions(reader))
        run(state, log, reader, steps=rng.randint(1, 4), crash_keep=rng.randint(0, 2))
        if newest is None:
            state, reader, _ = restart(log, make_state, seed + life)
        else:
            state, reader, _, _ = restart_from_snapshot(log, make_state, *newest, seed + life)
    run(state, log, reader, consultant=review)
    assert live_pairs(log) == held_pairs(state)
    assert state.digest() == replay(log, make_state, seed=seed).digest()


def test_a_snapshot_taken_on_another_day_is_ranked_for_today(
    make_state: Callable[[], MatchingState], today: Today, amina: Any, lager: Any
) -> None:
    """IGU is open to 18-50-year-olds; without a start date the age is taken today. A
    snapshot from New Year's Eve, loaded on New Year's Day, ranks as a replay that day."""
    born_1976 = copy.deepcopy(amina)
    born_1976["programme"]["birth_year"] = 1976
    undated = copy.deepcopy(lager)
    undated["start_date"] = None
    ev = Clock()
    events = [card_event(ev, born_1976), order_event(ev, undated)]
    today.day = dt.date(2026, 12, 31)
    state = make_state()
    for event in events:
        state.apply(event)
    assert AMINA in state.suggestions[LAGER]
    body = dumps_state(state)

    today.day = dt.date(2027, 1, 1)
    fresh = make_state()
    for event in events:
        fresh.load(event)
    fresh.rebuild_rankings()
    assert AMINA not in fresh.suggestions.get(LAGER, {})
    as_saved = restore_state(body, make_state)
    assert as_saved.digest() != fresh.digest(), "the test must see the date matter"
    restored = restore_state(body, make_state)
    assert restored.rerank_undated() == 1
    assert restored.digest() == fresh.digest()


# -- the worker's cadence ------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_snapshots_are_taken_by_count_and_by_time_between_records(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...], tmp_path: Path
) -> None:
    clock = FakeClock()

    async def main() -> None:
        runtime = Runtime(make_state)
        state = worked(make_state, docs)
        tp = TopicPartition(CITIZENS.name, 0)
        runtime.state, runtime.positions = state, {tp: 5}
        runtime.recovered.set()
        snaps = Snapshots(SnapshotStore(tmp_path), every_events=3, interval_s=60, clock=clock)
        runtime.snapshots = snaps
        assert not snaps.due(runtime)  # nothing applied since the recovery
        for offset in range(5, 7):
            runtime.advance(tp, offset, b"record %d" % offset, NOW)
        assert not snaps.due(runtime)
        clock.now += 61
        assert snaps.due(runtime)  # by time
        clock.now -= 61
        runtime.advance(tp, 7, b"record 7", NOW)
        assert snaps.due(runtime)  # by count
        # Taken between records: the agent cannot apply one while the state is pickled.
        async with runtime.lock:
            snaps.maybe(runtime)
            await asyncio.sleep(0.05)
            assert snaps.busy and not SnapshotStore(tmp_path).files()
        await snaps.wait()
        assert snaps.taken == 1 and not snaps.due(runtime)
        loaded = SnapshotStore(tmp_path).load_newest(make_state)
        assert loaded is not None
        assert loaded.header.positions == {tp: 8}
        assert loaded.header.anchors == {tp: snapshot.anchor_of(b"record 7")}
        assert loaded.header.log_time == NOW
        assert loaded.state.digest() == state.digest()
        assert runtime.health()["snapshots"]["last"]["records"] == 8
        # On a graceful stop: only if something is not in a snapshot yet.
        assert not snaps.worth_on_stop(runtime)
        runtime.advance(tp, 8, b"record 8", NOW)
        assert snaps.worth_on_stop(runtime)
        assert not snaps.worth_on_stop(runtime, budget_s=0.0)

    asyncio.run(main())


def test_a_restored_worker_links_the_texts_it_has_seen_without_the_taxonomy(
    linker: TaxonomyLinker, amina: Any, lager: Any
) -> None:
    from services.matching.linking import taxonomy

    loads: list[int] = []

    def counted() -> Any:
        loads.append(1)
        return taxonomy()

    def unavailable() -> Any:
        raise AssertionError("the taxonomy was needed")

    def maker(of: TaxonomyLinker) -> Callable[[], MatchingState]:
        return lambda: MatchingState(of, RuleScorer(distance_km), index=CardIndex(skills_of))

    ev = Clock()
    first = maker(TaxonomyLinker(counted))()
    first.apply(card_event(ev, amina))
    first.apply(order_event(ev, lager))
    assert loads
    restored = restore_state(dumps_state(first), maker(TaxonomyLinker(unavailable)))
    # The same card again, and another citizen with the same texts: linked from the memo.
    again = copy.deepcopy(amina)
    again["citizen_id"] = "cit-same-texts"
    restored.apply(card_event(ev, again))
    restored.apply(order_event(ev, lager, version=2))
    assert restored.cards["cit-same-texts"].skill_uris == first.cards[AMINA].skill_uris


def test_a_state_ranked_today_is_not_ranked_again_and_one_ranked_yesterday_is(
    make_state: Callable[[], MatchingState], today: Today, amina: Any, lager: Any
) -> None:
    """The restart skips re-ranking when the state's undated orders were all ranked today
    (the worker started today: its replay or re-ranking set `ranked_on`); a worker that
    started yesterday and ran past midnight ranked some of them yesterday: re-ranked."""
    undated = copy.deepcopy(lager)
    undated["start_date"] = None
    ev = Clock()
    events = [card_event(ev, amina), order_event(ev, undated)]
    today.day = dt.date(2026, 12, 31)
    state = make_state()
    for event in events:
        state.load(event)
    state.rebuild_rankings()
    assert state.ranked_on == dt.date(2026, 12, 31)
    body = dumps_state(state)
    same_day = restore_state(body, make_state)
    assert same_day.rerank_undated() == 0
    assert same_day.digest() == state.digest()

    today.day = dt.date(2027, 1, 1)
    next_day = restore_state(body, make_state)
    assert next_day.rerank_undated() == 1
    assert next_day.ranked_on == dt.date(2027, 1, 1)
    assert next_day.rerank_undated() == 0


def test_an_erasure_is_followed_by_a_snapshot_and_the_older_files_go(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...], tmp_path: Path
) -> None:
    """The snapshots are the worker's own files, but they hold cards: after an erasure one
    is taken at once (not at the next cadence) and every older file is deleted."""
    clock = FakeClock()

    async def main() -> None:
        runtime = Runtime(make_state)
        runtime.state = worked(make_state, docs)
        tp = TopicPartition(CITIZENS.name, 0)
        runtime.positions = {tp: 5}
        runtime.recovered.set()
        store = SnapshotStore(tmp_path, keep=3)
        snaps = Snapshots(store, every_events=1000, interval_s=600, clock=clock)
        runtime.snapshots = snaps
        for offset in range(5, 8):
            runtime.advance(tp, offset, b"record %d" % offset, NOW)
            snaps.start(runtime, "cadence")
            await snaps.wait()
            clock.now += 1
        assert len(store.files()) == 3
        runtime.advance(tp, 8, b"the erasure", NOW)
        assert not snaps.due(runtime)  # by count and time: not yet
        snaps.erased(runtime)
        assert snaps.busy
        await snaps.wait()
        assert [p.name for p in store.files()] == [snaps.last["file"]]
        assert snaps.last["reason"] == "erasure" and snaps.last["records"] == 9
        assert not snaps.due(runtime)

    asyncio.run(main())
