"""A newly approved model scores without a restart, and the state stays a function of the log.

The switch is a `ModelActivated` record on the reports topic: the live worker ranks every
open order again when it reads it and announces every suggestion with the new model; a
replay switches at the same record, whatever model it started with; a snapshot taken after
the switch restores the switched scorer; a version that cannot score here is ignored alike
by the worker and every replay.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from schemas.envelope import SYSTEM_MATCHING, Event
from schemas.placements import PlacementSuggested, SuggestionRetracted
from schemas.reports import ModelActivated
from services.matching.bootstrap import learned_scorer
from services.matching.domain.learned import LearnedScorer
from services.matching.domain.pair_features import FEATURES
from services.matching.domain.state import MatchingState
from services.matching.domain.vectorized import CardIndex
from services.matching.linking import TaxonomyLinker, skills_of
from services.matching.model.activation import ModelWatcher, ScorerCache
from services.matching.model.linear import LinearModel
from services.matching.model.registry import Models, Registry
from services.matching.recovery import Runtime
from services.matching.snapshot import dumps_state, fingerprint, restore_state
from tests.unit.matching.logsim import Log, Reader, held_pairs, live_pairs, replay, restart, run
from tests.unit.matching.test_log_derived import Clock, scenario

NEW = "20990101T000000-logistic"


OLD = "20980101T000000-logistic"


def a_model(version: str, shift: int = 0) -> LinearModel:
    """A model over this code's features; `shift` moves its weights round, so that it
    ranks differently."""
    n = len(FEATURES)
    coef = np.roll(np.linspace(1.0, -0.6, n), shift)
    return LinearModel(version, tuple(FEATURES), np.zeros(n), np.ones(n), coef, -1.0)


def shipped_model() -> LinearModel:
    return a_model(OLD)


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    Registry(root).save(a_model(OLD), {"training_data": "synthetic", "approved": True})
    Registry(root).save(a_model(NEW, 3), {"training_data": "synthetic", "approved": False})
    return root


@pytest.fixture
def make_state(linker: TaxonomyLinker, registry: Path) -> Callable[[], MatchingState]:
    """A small worker on the approved model OLD that follows the log's ModelActivated
    records."""
    scorers = ScorerCache(Models(registry), learned_scorer, FEATURES)
    base = Registry(registry).find(OLD)
    assert base is not None

    def make() -> MatchingState:
        return MatchingState(
            linker,
            learned_scorer(base),
            k=3,
            capacity=2,
            index=CardIndex(skills_of),
            models=scorers,
        )

    return make


def activated(ev: Clock, version: str, previous: str | None = None) -> Event:
    return ev(
        ModelActivated(
            report_id=f"model-{version}", model_version=version, previous_version=previous
        ),
        SYSTEM_MATCHING,
    )


def worked(make_state: Callable[[], MatchingState], docs: Sequence[Any], seed: int = 0) -> Log:
    """The scenario processed by a live worker, then an approval of NEW read live."""
    ev = Clock()
    log = scenario(ev, *docs)
    state = make_state()
    reader = Reader(log, random.Random(seed))
    run(state, log, reader)
    ev.at = log.latest()
    log.append(activated(ev, NEW, state.scorer.model_version))
    run(state, log, reader)
    return log


@pytest.fixture
def docs(amina: Any, yonas: Any, fatima: Any, lager: Any, kantine: Any) -> tuple[Any, ...]:
    return amina, yonas, fatima, lager, kantine


def test_the_live_worker_switches_and_announces_every_suggestion_with_the_new_model(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...]
) -> None:
    ev = Clock()
    log = scenario(ev, *docs)
    state = make_state()
    reader = Reader(log, random.Random(0))
    run(state, log, reader)
    before = dict(log.live())
    old = state.scorer.model_version
    assert before and {p.model_version for p in before.values()} == {old}

    ev.at = log.latest()
    log.append(activated(ev, NEW, old))
    run(state, log, reader)  # the record, and the worker's own output read back
    assert state.scorer.model_version == NEW and state.activated == NEW
    after = log.live()
    # Every suggestion the topic shows live now carries the new model, and it is what the
    # worker holds; those the new model no longer ranks were retracted as outranked.
    assert after and {p.model_version for p in after.values()} == {NEW}
    assert live_pairs(log) == held_pairs(state)
    retracted = [
        e.payload
        for e in log.placements()
        if isinstance(e.payload, SuggestionRetracted) and e.causation_id == log_last_id(log)
    ]
    assert {(r.job_order_id, r.citizen_id) for r in retracted} == set(before) - set(after)
    assert all(r.reason == "outranked" for r in retracted)
    # A standing suggestion re-scored keeps its id (its review goes on).
    kept = set(before) & set(after)
    assert kept and all(before[p].suggestion_id == after[p].suggestion_id for p in kept)


def log_last_id(log: Log) -> Any:
    (event,) = [e for e in log_events(log) if isinstance(e.payload, ModelActivated)]
    return event.event_id


def log_events(log: Log) -> list[Event]:
    return [e for events in log.parts.values() for e in events]


def test_a_replay_switches_at_the_record_whatever_it_started_with(
    make_state: Callable[[], MatchingState],
    docs: tuple[Any, ...],
    linker: TaxonomyLinker,
    registry: Path,
) -> None:
    log = worked(make_state, docs)
    live = make_state()
    for _, event in Reader(log, random.Random(3)):
        live.apply(event)
    digests = {replay(log, make_state, seed=s).digest() for s in range(4)}
    digests.add(live.digest())
    # A worker that starts with the new model already (approved before it started)
    # reaches the same state: after the record, only the record's model counts.
    scorers = ScorerCache(Models(registry), learned_scorer, FEATURES)

    def starts_new() -> MatchingState:
        return MatchingState(
            linker,
            scorers.load(NEW),
            k=3,
            capacity=2,
            index=CardIndex(skills_of),
            models=scorers,
        )

    digests.add(replay(log, starts_new).digest())
    assert len(digests) == 1
    assert live.snapshot()["model_version"] == NEW


def test_after_the_switch_a_restart_has_nothing_to_reconcile(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...]
) -> None:
    log = worked(make_state, docs)
    state, _, counts = restart(log, make_state)
    assert state.scorer.model_version == NEW
    assert counts["retracted"] == 0 and counts["suggested"] == 0 and counts["adopted"] > 0


def test_a_snapshot_after_the_switch_restores_the_new_model(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...]
) -> None:
    log = worked(make_state, docs)
    state = replay(log, make_state)
    assert state.activated == NEW
    body = dumps_state(state)
    fresh = make_state()
    assert fresh.scorer.model_version != NEW
    # The fingerprint a loader expects for a snapshot that activated NEW is the one the
    # worker wrote, whatever model the loading worker starts with.
    assert fingerprint(fresh, NEW) == fingerprint(state)
    restored = restore_state(body, make_state)
    assert restored.scorer.model_version == NEW
    assert restored.digest() == state.digest()


def test_a_version_that_cannot_score_here_is_ignored_by_worker_and_replay(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...], caplog: Any
) -> None:
    ev = Clock()
    log = scenario(ev, *docs)
    state = make_state()
    reader = Reader(log, random.Random(0))
    run(state, log, reader)
    old = state.scorer.model_version
    ev.at = log.latest()
    log.append(activated(ev, "20990101T000000-missing", old))
    before = len(log_events(log))
    run(state, log, reader)
    assert state.scorer.model_version == old and state.activated is None
    assert len(log_events(log)) == before  # nothing emitted
    assert "not available" in caplog.text
    assert replay(log, make_state).digest() == state.digest()


def test_the_scorer_cache_refuses_a_model_with_other_features(tmp_path: Path) -> None:
    base = shipped_model()
    odd = LinearModel(
        "20990202T000000-logistic",
        (*base.features[:-1], "something_else"),
        base.mean,
        base.scale,
        base.coef,
        base.intercept,
    )
    Registry(tmp_path).save(odd, {"approved": True})
    cache = ScorerCache(Models(tmp_path), learned_scorer, FEATURES)
    assert cache(odd.version) is None
    assert "something_else" in cache.errors[odd.version]
    assert cache("nope") is None and "not in the registry" in cache.errors["nope"]


# -- the watcher ----------------------------------------------------------------------------


class Appended:
    """Stands in for the broker's append (the e2e test appends for real)."""

    def __init__(self, fail: bool = False) -> None:
        self.events: list[Event] = []
        self.fail = fail

    async def __call__(self, events: Sequence[Event]) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.events += list(events)


def watcher_for(
    make_state: Callable[[], MatchingState], registry: Path, publish: Appended
) -> tuple[ModelWatcher, Runtime]:
    runtime = Runtime(make_state, exit_process=lambda code: None)
    runtime.recovered.set()
    scorers = ScorerCache(Models(registry), learned_scorer, FEATURES)
    return ModelWatcher(runtime, scorers.models, scorers, publish), runtime


def test_an_approval_appends_model_activated_once_and_the_state_switches_on_it(
    make_state: Callable[[], MatchingState], registry: Path
) -> None:
    publish = Appended()
    watcher, runtime = watcher_for(make_state, registry, publish)

    async def go() -> None:
        old = runtime.state.scorer.model_version
        assert (await watcher.check())["status"] == "in_use"  # OLD is the newest approved
        Registry(registry).approve(NEW, by="administrator:a1")
        result = await watcher.check()
        assert result["status"] == "appended" and result["previous_version"] == old
        assert (await watcher.check())["status"] == "appended"  # not sent twice
        (event,) = publish.events
        assert isinstance(event.payload, ModelActivated)
        assert event.payload.model_version == NEW
        assert event.payload.approved_by == "administrator:a1"
        assert watcher.health()["in_sync"] is False
        runtime.state.apply(event)  # the agent reads it back
        assert await watcher.wait_for(NEW, 1.0)
        assert (await watcher.check())["status"] == "in_use"
        health = watcher.health()
        assert health["in_sync"] and health["scoring"] == NEW
        assert health["switches"][-1]["from"] == old

    asyncio.run(go())


def test_a_model_that_does_not_load_keeps_the_old_one_and_says_so(
    make_state: Callable[[], MatchingState], registry: Path
) -> None:
    publish = Appended()
    watcher, runtime = watcher_for(make_state, registry, publish)
    (registry / NEW / "model.json").write_text("{not json")
    Registry(registry).approve(NEW)

    async def go() -> None:
        result = await watcher.check()
        assert result["status"] == "refused"
        assert publish.events == []
        health = watcher.health()
        assert health["in_sync"] is False and health["newest_approved"] == NEW
        assert "does not load" in (health["error"] or "")
        assert runtime.state.scorer.model_version != NEW

    asyncio.run(go())


def test_an_append_that_fails_is_retried_and_reported(
    make_state: Callable[[], MatchingState], registry: Path
) -> None:
    publish = Appended(fail=True)
    watcher, _ = watcher_for(make_state, registry, publish)
    Registry(registry).approve(NEW)

    async def go() -> None:
        assert (await watcher.check())["status"] == "error"
        assert "broker down" in (watcher.health()["error"] or "")
        publish.fail = False
        assert (await watcher.check())["status"] == "appended"
        assert len(publish.events) == 1

    asyncio.run(go())


def test_events_of_the_switch_are_ordinary_placement_events(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...]
) -> None:
    log = worked(make_state, docs)
    cause = log_last_id(log)
    caused = [e for e in log.placements() if e.causation_id == cause]
    assert caused
    assert all(isinstance(e.payload, PlacementSuggested | SuggestionRetracted) for e in caused)
    assert len({e.event_id for e in caused}) == len(caused)
    assert all(
        e.payload.model_version == NEW for e in caused if isinstance(e.payload, PlacementSuggested)
    )
    assert isinstance(make_state().scorer, LearnedScorer)
