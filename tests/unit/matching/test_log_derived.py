"""Matching's state is a function of the log alone, and a crash leaves nothing orphaned.

- A rejection is keyed by (order, citizen) and holds against the versions of the suggestion
  it rejects, whenever the card and the order arrive;
- live processing in any interleaving of partitions, and a replay of any prefix of the
  partitions, give the same digest;
- a worker killed at any point (also while sending its decisions) and restarted (replay,
  reconcile, go on) leaves the placements topic showing exactly what it holds, with the
  digest of a fresh replay and no event twice.
"""

from __future__ import annotations

import copy
import itertools
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.citizens import (
    CitizenAvailabilityChanged,
    CompetenceCard,
    CompetenceCardRegistered,
    CompetenceCardUpdated,
    ConsentWithdrawn,
    ErasureRequested,
)
from schemas.envelope import SYSTEM_MATCHING, Actor, Event, EventPayload
from schemas.jobs import JobOrder, JobOrderClosed, JobOrderPosted, JobOrderUpdated
from schemas.placements import PlacementSuggested, SuggestionRejected, SuggestionRetracted
from services.matching.decisions import reconciliation_events
from services.matching.domain.features import content_version
from services.matching.domain.state import MatchingState, suggestion_id
from tests.unit.matching.logsim import (
    Log,
    Reader,
    held_pairs,
    live_pairs,
    reject_first_live,
    replay,
    restart,
    run,
)

ACTOR = Actor(role="consultant", id="t")
T0 = datetime(2026, 11, 24, 9, tzinfo=UTC)
LAGER = "jo-4410-aarhus-lager"
AMINA = "cit-7f3a9c2e"


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self, payload: EventPayload, actor: Actor = ACTOR) -> Event:
        self.at += timedelta(seconds=1)
        return Event.new(payload, actor=actor, occurred_at=self.at)


def card_event(ev: Clock, doc: dict[str, Any], version: int = 1) -> Event:
    card = CompetenceCard.model_validate(doc)
    if version == 1:
        return ev(CompetenceCardRegistered(citizen_id=card.citizen_id, version=1, card=card))
    return ev(CompetenceCardUpdated(citizen_id=card.citizen_id, version=version, card=card))


def order_event(ev: Clock, doc: dict[str, Any], version: int = 1) -> Event:
    order = JobOrder.model_validate(doc)
    if version == 1:
        return ev(JobOrderPosted(job_order_id=order.job_order_id, version=1, order=order))
    return ev(JobOrderUpdated(job_order_id=order.job_order_id, version=version, order=order))


def suggested(ev: Clock, card: dict[str, Any], order: dict[str, Any]) -> Event:
    """The suggestion matching would have made of this card for this order."""
    cid, oid = card["citizen_id"], order["job_order_id"]
    return ev(
        PlacementSuggested(
            job_order_id=oid,
            citizen_id=cid,
            suggestion_id=suggestion_id(oid, cid),
            score=0.5,
            rank=1,
            model_version="rules-1",
            card_version=content_version(CompetenceCard.model_validate(card)),
            order_version=content_version(JobOrder.model_validate(order)),
        ),
        SYSTEM_MATCHING,
    )


def rejected(ev: Clock, cid: str, oid: str) -> Event:
    return ev(
        SuggestionRejected(
            job_order_id=oid,
            citizen_id=cid,
            suggestion_id=suggestion_id(oid, cid),
            reason_code="transport",
        )
    )


def interleavings(*streams: list[Event]) -> list[list[Event]]:
    """Every merge of the streams that keeps each stream's own order."""
    slots = [i for i, s in enumerate(streams) for _ in s]
    out = []
    for order in sorted(set(itertools.permutations(slots))):
        cursors = [0] * len(streams)
        merged = []
        for i in order:
            merged.append(streams[i][cursors[i]])
            cursors[i] += 1
        out.append(merged)
    return out


def live_state(make: Callable[[], MatchingState], events: list[Event]) -> MatchingState:
    state = make()
    for event in events:
        state.apply(event)
    return state


def replayed_state(make: Callable[[], MatchingState], events: list[Event]) -> MatchingState:
    state = make()
    for event in events:
        state.load(event)
    state.rebuild_rankings()
    return state


# -- rejections --------------------------------------------------------------------------------


def test_without_a_rejection_the_pair_is_suggested(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any
) -> None:
    ev = Clock()
    state = live_state(make_state, [card_event(ev, amina), order_event(ev, lager)])
    assert AMINA in state.suggestions[LAGER]


@pytest.mark.parametrize("merge", range(12))
def test_a_rejection_applies_whether_the_card_and_order_come_before_or_after_it(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any, merge: int
) -> None:
    """Rejection before the card, before the order, after both: always the same state."""
    ev = Clock()
    card, order = [card_event(ev, amina)], [order_event(ev, lager)]
    placements = [suggested(ev, amina, lager), rejected(ev, AMINA, LAGER)]
    merges = interleavings(card, order, placements)
    assert len(merges) == 12
    reference = replayed_state(make_state, card + order + placements)
    assert AMINA not in reference.suggestions[LAGER]
    state = live_state(make_state, merges[merge])
    assert AMINA not in state.suggestions[LAGER]
    assert state.digest() == reference.digest()
    assert replayed_state(make_state, merges[merge]).digest() == reference.digest()


@pytest.mark.parametrize("merge", range(10))
def test_a_rejection_holds_against_the_suggested_versions_not_the_loaded_ones(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any, merge: int
) -> None:
    """Suggested at card v1, rejected; the card changed meanwhile: whether the change is
    read before or after the rejection, the pair is back (the change lifts it)."""
    ev = Clock()
    changed = copy.deepcopy(amina)
    changed["availability"]["hours_per_week"] = 30
    cards = [card_event(ev, amina), card_event(ev, changed, version=2)]
    order = [order_event(ev, lager)]
    placements = [suggested(ev, amina, lager), rejected(ev, AMINA, LAGER)]
    merges = interleavings(cards, order, placements)
    assert len(merges) == 30
    reference = replayed_state(make_state, cards + order + placements)
    assert AMINA in reference.suggestions[LAGER]
    for events in merges[merge * 3 : merge * 3 + 3]:
        state = live_state(make_state, events)
        assert AMINA in state.suggestions[LAGER]
        assert state.digest() == reference.digest()


def test_a_rejection_survives_the_same_document_again_not_a_change(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any
) -> None:
    ev = Clock()
    events = [card_event(ev, amina), order_event(ev, lager), suggested(ev, amina, lager)]
    events.append(rejected(ev, AMINA, LAGER))
    # Sent again unchanged (a new version number, the same content): still rejected.
    events += [card_event(ev, amina, version=2), order_event(ev, lager, version=2)]
    state = live_state(make_state, events)
    assert AMINA not in state.suggestions[LAGER]
    assert state.digest() == replayed_state(make_state, events).digest()
    # Any change of the order's document lifts it.
    moved = copy.deepcopy(lager)
    moved["hours_per_week"] = lager["hours_per_week"] - 1
    events.append(order_event(ev, moved, version=3))
    state.apply(events[-1])
    assert AMINA in state.suggestions[LAGER]
    assert state.digest() == replayed_state(make_state, events).digest()


def test_a_rejection_of_a_pair_never_suggested_holds_whatever_the_versions(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any
) -> None:
    ev = Clock()
    changed = copy.deepcopy(amina)
    changed["availability"]["hours_per_week"] = 30
    events = [rejected(ev, AMINA, LAGER), order_event(ev, lager), card_event(ev, amina)]
    events.append(card_event(ev, changed, version=2))
    state = live_state(make_state, events)
    assert AMINA not in state.suggestions[LAGER]
    assert f"{LAGER}|{AMINA}|*|*" in state.snapshot()["rejected"]  # type: ignore[operator]
    assert state.digest() == replayed_state(make_state, events).digest()


def test_a_rejection_after_a_retraction_holds_against_the_last_suggestion(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any
) -> None:
    """The events service's view may lag: a suggestion retracted just before the consultant
    rejected it is still rejected at its versions."""
    ev = Clock()
    retracted = ev(
        SuggestionRetracted(
            job_order_id=LAGER,
            citizen_id=AMINA,
            suggestion_id=suggestion_id(LAGER, AMINA),
            reason="outranked",
        ),
        SYSTEM_MATCHING,
    )
    events = [suggested(ev, amina, lager), retracted, rejected(ev, AMINA, LAGER)]
    events += [card_event(ev, amina), order_event(ev, lager)]
    state = live_state(make_state, events)
    assert AMINA not in state.suggestions[LAGER]
    assert state.rejected[LAGER][AMINA] == frozenset(
        {(content_version(CompetenceCard.model_validate(amina)), state.orders[LAGER].version)}
    )


# -- the state is a function of the log ----------------------------------------------------------


def scenario(ev: Clock, amina: Any, yonas: Any, fatima: Any, lager: Any, kantine: Any) -> Log:
    """Cards, orders and their changes, consents, an erasure, a closed order: per key in
    order, the partitions in a log."""

    def variants(base: dict[str, Any], n: int, prefix: str) -> list[dict[str, Any]]:
        postals = ["8000", "8200", "8210", "8220", "8230", "8240", "8250", "8260"]
        out = []
        for i in range(n):
            doc = copy.deepcopy(base)
            doc["citizen_id"] = f"cit-{prefix}{i:03d}"
            doc["location"]["postal_code"] = postals[i % len(postals)]
            doc["availability"]["hours_per_week"] = 20 + (3 * i) % 18
            out.append(doc)
        return out

    log = Log()
    orders = [copy.deepcopy(lager), copy.deepcopy(kantine)]
    for i, postal in enumerate(["8000", "8270"]):
        for base in (lager, kantine):
            doc = copy.deepcopy(base)
            doc["job_order_id"] = f"{base['job_order_id']}-{i}"
            doc["worksite"]["postal_code"] = postal
            orders.append(doc)
    for doc in orders:
        log.append(order_event(ev, doc))
    cards = variants(amina, 8, "a") + variants(yonas, 7, "y") + variants(fatima, 4, "f")
    for doc in cards:
        log.append(card_event(ev, doc))
    moved = copy.deepcopy(cards[1])
    moved["location"]["postal_code"] = "8000"
    log.append(card_event(ev, moved, version=2))
    log.append(card_event(ev, cards[9], version=2))  # the same content again
    log.append(ev(CitizenAvailabilityChanged(citizen_id="cit-a003", available=False)))
    log.append(ev(CitizenAvailabilityChanged(citizen_id="cit-y001", available=False)))
    log.append(ev(CitizenAvailabilityChanged(citizen_id="cit-y001", available=True)))
    log.append(ev(ConsentWithdrawn(citizen_id="cit-a004", consent_id="c1", scope="all")))
    log.append(
        ev(
            ConsentWithdrawn(
                citizen_id="cit-a005",
                consent_id="c2",
                scope="employer",
                employer_cvr=lager["employer"]["cvr"],
            )
        )
    )
    log.append(ev(ErasureRequested(citizen_id="cit-y003")))
    shorter = copy.deepcopy(kantine)
    shorter["hours_per_week"] = kantine["hours_per_week"] - 5
    log.append(order_event(ev, shorter, version=2))
    log.append(ev(JobOrderClosed(job_order_id=f"{LAGER}-0", reason="withdrawn")))
    return log


def consultant_every(log: Log, every: int) -> Callable[[int], None]:
    def review(step: int) -> None:
        if step % every == 0:
            reject_first_live(log)

    return review


def worked_log(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...], seed: int = 0, every: int = 7
) -> Log:
    """The scenario as a worker leaves it: its decisions and a consultant's rejections on
    the placements topic."""
    log = scenario(Clock(), *docs)
    reader = Reader(log, random.Random(seed))
    run(make_state(), log, reader, consultant=consultant_every(log, every))
    return log


@pytest.fixture
def docs(amina: Any, yonas: Any, fatima: Any, lager: Any, kantine: Any) -> tuple[Any, ...]:
    return amina, yonas, fatima, lager, kantine


def test_live_and_replay_agree_whatever_the_interleaving(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...]
) -> None:
    log = worked_log(make_state, docs)
    rejections = [e for e in log.placements() if isinstance(e.payload, SuggestionRejected)]
    assert len(rejections) >= 3
    digests = set()
    for seed in range(6):
        state = make_state()
        for _, event in Reader(log, random.Random(seed)):
            state.apply(event)  # decisions not appended: the log stays as it is
        digests.add(state.digest())
        digests.add(replay(log, make_state, seed=100 + seed).digest())
    assert len(digests) == 1
    assert state.rejected and state.emitted


def test_any_prefix_of_the_partitions_replays_to_the_live_state(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...]
) -> None:
    """What the e2e check does: a worker's digest at its positions against a fresh replay
    up to the same positions."""
    rng = random.Random(5)
    for seed, every in ((0, 7), (1, 3), (2, 4)):
        log = worked_log(make_state, docs, seed, every)
        for _ in range(10):
            cut = Log({tp: e[: rng.randint(0, len(e))] for tp, e in log.parts.items()})
            state = make_state()
            for _, event in Reader(cut, random.Random(rng.random())):
                state.apply(event)
            assert state.digest() == replay(cut, make_state, seed=rng.randint(0, 99)).digest()


# -- crashes --------------------------------------------------------------------------------------


def consultant_at(log: Log, *steps: int) -> Callable[[int], None]:
    def review(step: int) -> None:
        if step in steps:
            reject_first_live(log)

    return review


@pytest.mark.parametrize("seed", range(12))
def test_the_topic_shows_what_the_worker_holds_once_it_has_read_its_output(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...], seed: int
) -> None:
    """Also when the worker suggested a pair again after a consultant's rejection of it was
    written but before it read it (seeds 0, 7 and 10 here): that suggestion is retracted when
    the worker reads the rejection."""
    log = scenario(Clock(), *docs)
    state = make_state()
    run(state, log, Reader(log, random.Random(seed)), consultant=consultant_at(log, 6, 12, 18))
    assert state.in_flight == 0
    assert live_pairs(log) == held_pairs(state)
    assert state.divergence() == {"orphans": [], "missing": [], "stale": []}
    assert state.digest() == replay(log, make_state, seed).digest()


def crash_and_restart(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...], seed: int
) -> tuple[Log, MatchingState, dict[str, int]]:
    rng = random.Random(seed)
    log = scenario(Clock(), *docs)
    total = sum(len(events) for events in log.parts.values())
    first = make_state()
    reader = Reader(log, random.Random(seed))
    review = consultant_every(log, 5)
    # Killed part-way, maybe while sending the decisions of the record it was on.
    run(
        first,
        log,
        reader,
        steps=rng.randint(1, total),
        crash_keep=rng.randint(0, 3),
        consultant=review,
    )
    state, reader, counts = restart(log, make_state, seed)
    run(state, log, reader, consultant=review)
    return log, state, counts


@pytest.mark.parametrize("seed", range(12))
def test_a_crash_anywhere_leaves_the_topic_showing_what_the_worker_holds(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...], seed: int
) -> None:
    log, state, _ = crash_and_restart(make_state, docs, seed)
    assert live_pairs(log) == held_pairs(state)
    assert state.divergence() == {"orphans": [], "missing": [], "stale": []}
    assert state.digest() == replay(log, make_state, seed=seed + 7).digest()
    ids = log.event_ids()
    assert len(ids) == len(set(ids)), "an event was appended twice"
    # Started again on this log: nothing to reconcile.
    again, _, counts = restart(log, make_state, seed + 1)
    assert counts["retracted"] == counts["suggested"] == 0
    assert again.digest() == state.digest()


def test_crashes_do_leave_something_to_reconcile(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...]
) -> None:
    """The simulation does reach the crash windows: some restarts retract or re-announce."""
    work = [crash_and_restart(make_state, docs, seed)[2] for seed in range(12)]
    assert any(c["retracted"] for c in work)
    assert any(c["suggested"] for c in work)


def test_the_old_recovery_left_orphans(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...]
) -> None:
    """Replaying only to the committed positions and processing the rest again (no
    reconciliation), as before: the topic and the worker disagree after some crashes. This
    checks that the assertions above can fail."""
    disagreed = 0
    for seed in range(12):
        rng = random.Random(seed)
        log = scenario(Clock(), *docs)
        total = sum(len(events) for events in log.parts.values())
        reader = Reader(log, random.Random(seed))
        first = make_state()
        crash = rng.randint(2, total)
        run(first, log, reader, steps=crash - 2)
        committed = dict(reader.next_offset)
        run(first, log, reader, steps=2, crash_keep=rng.randint(0, 3))
        state = make_state()
        for _, event in Reader(
            Log({tp: e[: committed.get(tp, 0)] for tp, e in log.parts.items()}), rng
        ):
            state.load(event)
        state.rebuild_rankings()
        run(state, log, Reader(log, random.Random(seed + 1), start=committed))
        disagreed += live_pairs(log) != held_pairs(state)
    assert disagreed


# -- the reconciliation ---------------------------------------------------------------------------


def test_reconciliation_retracts_with_a_reason_and_re_announces_what_is_held(
    make_state: Callable[[], MatchingState], amina: Any, yonas: Any, lager: Any, kantine: Any
) -> None:
    ev = Clock()
    state = make_state()
    for event in [card_event(ev, amina), card_event(ev, yonas), order_event(ev, lager)]:
        state.load(event)
    # The log shows: a suggestion on an order matching never saw open (closed since), one
    # of a citizen who is unavailable, and no suggestion at all of the pair matching holds.
    closed = suggested(ev, amina, {**kantine, "job_order_id": "jo-closed"})
    state.load(closed)
    state.load(suggested(ev, yonas, lager))
    state.load(ev(CitizenAvailabilityChanged(citizen_id="cit-2b8e41d0", available=False)))
    state.rebuild_rankings()
    assert set(state.suggestions[LAGER]) == {AMINA}
    rec = state.reconcile()
    reasons = {(o.job_order_id, o.citizen_id): o.reason for o in rec.retract}
    assert reasons == {
        ("jo-closed", AMINA): "order_closed",
        (LAGER, "cit-2b8e41d0"): "citizen_unavailable",
    }
    assert [
        (u.suggest.order.job_order_id, u.suggest.candidate.citizen_id) for u in rec.announce
    ] == [(LAGER, AMINA)]
    events = reconciliation_events(rec, state.scorer.model_version, ev.at)
    # The same log gives the same events, ids included.
    assert [e.event_id for e in events] == [
        e.event_id for e in reconciliation_events(state.reconcile(), "rules-1", ev.at)
    ]
    retraction = next(e for e in events if e.payload.aggregate_id == "jo-closed")
    assert retraction.causation_id == closed.event_id
    for event in events:
        state.apply(event)
    after = state.reconcile()
    assert (after.retract, after.announce, after.adopted) == ([], [], 1)


def test_a_changed_model_re_announces_with_its_version(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any
) -> None:
    ev = Clock()
    state = make_state()
    for event in [card_event(ev, amina), order_event(ev, lager)]:
        state.load(event)
    state.rebuild_rankings()
    (held,) = state.suggestions[LAGER].values()
    old = suggested(ev, amina, lager)
    assert isinstance(old.payload, PlacementSuggested)
    state.load(
        Event.new(
            old.payload.model_copy(update={"score": held.scored.score, "model_version": "m-0"}),
            actor=SYSTEM_MATCHING,
            occurred_at=ev.at,
        )
    )
    rec = state.reconcile()
    assert rec.adopted == 0 and len(rec.announce) == 1 and not rec.retract
    (event,) = reconciliation_events(rec, "rules-1", ev.at)
    assert isinstance(event.payload, PlacementSuggested)
    assert event.payload.model_version == "rules-1"
