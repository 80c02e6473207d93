"""A citizen in a started placement is suggested nowhere until it ends: her open suggestions
are retracted (`placed`), she comes back after `PlacementEnded` (if her card lets her), and
the state stays a function of the log (any interleaving, any prefix, crashes and restarts)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

import pytest

from schemas.citizens import CitizenAvailabilityChanged
from schemas.envelope import Actor, Event
from schemas.placements import PlacementEnded, PlacementStarted, SuggestionRetracted
from services.matching.domain.state import MatchingState, Retract, Suggest
from tests.unit.matching.logsim import (
    Log,
    Reader,
    held_pairs,
    live_pairs,
    replay,
    restart,
    run,
)
from tests.unit.matching.test_log_derived import Clock, card_event, order_event, scenario

CONSULTANT = Actor(role="consultant", id="t")


def started(ev: Clock, oid: str, cid: str, pid: str = "plc-1") -> Event:
    return ev(
        PlacementStarted(
            job_order_id=oid,
            citizen_id=cid,
            placement_id=pid,
            suggestion_id=None,
            placement_type="IGU",
            start_date=dt.date(2027, 3, 1),
            weekly_hours_work=29,
            weekly_hours_school=8,
        ),
        CONSULTANT,
    )


def ended(ev: Clock, oid: str, cid: str, pid: str = "plc-1") -> Event:
    return ev(
        PlacementEnded(
            job_order_id=oid,
            citizen_id=cid,
            placement_id=pid,
            end_date=dt.date(2029, 3, 1),
            outcome="ordinary_job",
        ),
        CONSULTANT,
    )


def suggested_to(state: MatchingState, cid: str) -> set[str]:
    return {oid for oid, current in state.suggestions.items() if cid in current}


def test_a_placed_citizen_is_retracted_everywhere_and_back_after_the_end(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any, kantine: Any
) -> None:
    ev = Clock()
    state = make_state()
    for event in [order_event(ev, lager), order_event(ev, kantine), card_event(ev, amina)]:
        state.apply(event)
    cid, oid = amina["citizen_id"], lager["job_order_id"]
    before = suggested_to(state, cid)
    assert before, "she is suggested somewhere to begin with"

    decisions = state.apply(started(ev, oid, cid))
    retracted = [d for d in decisions if isinstance(d, Retract)]
    assert {d.job_order_id for d in retracted} == before
    assert {d.reason for d in retracted} == {"placed"}
    assert suggested_to(state, cid) == set()
    assert state.why_not_held(oid, cid) == "placed"
    assert state.best_orders(cid) == []
    # Her card changing meanwhile does not bring her back.
    assert not [
        d
        for d in state.apply(card_event(ev, {**amina, "notes": "ny note"}, version=2))
        if isinstance(d, Suggest) and d.candidate.citizen_id == cid
    ]

    decisions = state.apply(ended(ev, oid, cid))
    assert {d.order.job_order_id for d in decisions if isinstance(d, Suggest)} == before
    assert suggested_to(state, cid) == before
    assert state.placed == {}


def test_after_the_end_she_stays_away_if_her_card_says_she_is_unavailable(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any
) -> None:
    ev = Clock()
    state = make_state()
    cid, oid = amina["citizen_id"], lager["job_order_id"]
    for event in [order_event(ev, lager), card_event(ev, amina), started(ev, oid, cid)]:
        state.apply(event)
    state.apply(ev(CitizenAvailabilityChanged(citizen_id=cid, available=False)))
    assert state.apply(ended(ev, oid, cid)) == []
    assert suggested_to(state, cid) == set()
    decisions = state.apply(ev(CitizenAvailabilityChanged(citizen_id=cid, available=True)))
    assert any(isinstance(d, Suggest) and d.candidate.citizen_id == cid for d in decisions)


def test_two_placements_keep_her_away_until_both_end(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any, kantine: Any
) -> None:
    ev = Clock()
    state = make_state()
    cid = amina["citizen_id"]
    lag, kan = lager["job_order_id"], kantine["job_order_id"]
    for event in [order_event(ev, lager), order_event(ev, kantine), card_event(ev, amina)]:
        state.apply(event)
    state.apply(started(ev, lag, cid, "plc-a"))
    assert state.apply(started(ev, kan, cid, "plc-b")) == []
    assert state.apply(ended(ev, lag, cid, "plc-a")) == []
    assert suggested_to(state, cid) == set()
    assert state.apply(ended(ev, kan, cid, "plc-b"))
    assert suggested_to(state, cid)


def placed_scenario(ev: Clock, docs: tuple[Any, ...]) -> tuple[Log, list[Event]]:
    """The log-derived scenario with placements that start, and one that ends, on the
    placements partitions of their orders: the placement events, to append as the run goes."""
    amina, yonas, fatima, lager, kantine = docs
    log = scenario(ev, amina, yonas, fatima, lager, kantine)
    kan = f"{kantine['job_order_id']}-1"
    events = [
        started(ev, lager["job_order_id"], "cit-a000", "plc-a0"),
        started(ev, kan, "cit-y000", "plc-y0"),
        started(ev, kan, "cit-f001", "plc-f1"),
        ended(ev, lager["job_order_id"], "cit-a000", "plc-a0"),
        ended(ev, kan, "cit-f001", "plc-f1"),
    ]
    return log, events


@pytest.fixture
def docs(amina: Any, yonas: Any, fatima: Any, lager: Any, kantine: Any) -> tuple[Any, ...]:
    return amina, yonas, fatima, lager, kantine


@pytest.mark.parametrize("seed", range(4))
def test_placements_leave_the_state_a_function_of_the_log(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...], seed: int
) -> None:
    log, placements = placed_scenario(Clock(), docs)
    state = make_state()
    reader = Reader(log, random.Random(seed))
    run(state, log, reader)
    was_suggested = {cid for _, cid in held_pairs(state)}
    for event in placements:
        log.append(event)
    run(state, log, reader)
    assert state.placed == {"cit-y000": {"plc-y0"}}
    placed = {
        e.payload.citizen_id
        for e in log.placements()
        if isinstance(e.payload, SuggestionRetracted) and e.payload.reason == "placed"
    }
    assert placed == {"cit-a000", "cit-y000", "cit-f001"} & was_suggested
    assert placed, "someone was suggested and then placed"
    assert live_pairs(log) == held_pairs(state)
    assert not [pair for pair in held_pairs(state) if pair[1] == "cit-y000"]
    # Any interleaving and any prefix of the partitions replays to the live state.
    digests = {state.digest()}
    for other in range(3):
        digests.add(replay(log, make_state, seed=seed * 10 + other).digest())
    assert len(digests) == 1
    rng = random.Random(seed)
    for _ in range(6):
        cut = Log({tp: e[: rng.randint(0, len(e))] for tp, e in log.parts.items()})
        live = make_state()
        for _, event in Reader(cut, random.Random(rng.random())):
            live.apply(event)
        assert live.digest() == replay(cut, make_state, seed=rng.randint(0, 99)).digest()


@pytest.mark.parametrize("seed", range(6))
def test_a_crash_with_placements_leaves_the_topic_showing_what_is_held(
    make_state: Callable[[], MatchingState], docs: tuple[Any, ...], seed: int
) -> None:
    rng = random.Random(seed)
    log, placements = placed_scenario(Clock(), docs)
    for event in placements[:3]:
        log.append(event)
    total = sum(len(events) for events in log.parts.values())
    first = make_state()
    run(
        first,
        log,
        Reader(log, random.Random(seed)),
        steps=rng.randint(1, total),
        crash_keep=rng.randint(0, 3),
    )
    for event in placements[3:]:
        log.append(event)
    state, reader, _ = restart(log, make_state, seed)
    run(state, log, reader)
    assert live_pairs(log) == held_pairs(state)
    assert state.divergence() == {"orphans": [], "missing": [], "stale": []}
    assert state.digest() == replay(log, make_state, seed=seed + 7).digest()
    assert state.placed == {"cit-y000": {"plc-y0"}}
