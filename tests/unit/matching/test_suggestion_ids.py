"""A pair suggested again after its suggestion ended is a new suggestion, with a new id.

A rejection holds against the card and order versions it rejected, so the pair may come back
when either changes; a retraction (the citizen unavailable for a while, outranked) may be
followed by the pair's return too. The review side (the events service, the worklist) keys
its decisions by suggestion id, so the pair's next suggestion must have another id to be
reviewed again; re-scoring a standing suggestion keeps its id. The ids are a function of the
pair's events on its placements partition: a restart, a snapshot and a fresh replay agree.

Retractions say why from what the log says: `rejected` when a consultant rejected the pair,
`not_held_on_restart` when the start-up reconciliation withdraws what the rebuilt state does
not hold for no reason the log names.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

import pytest

from schemas.citizens import (
    CitizenAvailabilityChanged,
    CompetenceCard,
    CompetenceCardRegistered,
    CompetenceCardUpdated,
    ErasureRequested,
)
from schemas.envelope import SYSTEM_MATCHING, Event, EventPayload
from schemas.jobs import JobOrder, JobOrderPosted
from schemas.placements import PlacementSuggested, SuggestionRejected, SuggestionRetracted
from services.matching.decisions import to_event
from services.matching.domain.scoring import RuleScorer
from services.matching.domain.state import MatchingState, suggestion_id
from services.matching.linking import TaxonomyLinker, distance_km
from services.matching.snapshot import dumps_state, restore_state
from tests.unit.matching.logsim import Log, held_pairs, live_pairs, replay, restart
from tests.unit.matching.test_log_derived import Clock

LAGER = "jo-4410-aarhus-lager"
AMINA = "cit-7f3a9c2e"


def card(ev: Clock, doc: dict[str, Any], version: int) -> Event:
    c = CompetenceCard.model_validate(doc)
    if version == 1:
        return ev(CompetenceCardRegistered(citizen_id=c.citizen_id, version=1, card=c))
    return ev(CompetenceCardUpdated(citizen_id=c.citizen_id, version=version, card=c))


def posted(ev: Clock, doc: dict[str, Any]) -> Event:
    order = JobOrder.model_validate(doc)
    return ev(JobOrderPosted(job_order_id=order.job_order_id, version=1, order=order))


def with_hours(doc: dict[str, Any], hours: int) -> dict[str, Any]:
    changed = copy.deepcopy(doc)
    changed["availability"]["hours_per_week"] = hours
    return changed


def reject(ev: Clock, sid: str) -> Event:
    return ev(
        SuggestionRejected(
            job_order_id=LAGER, citizen_id=AMINA, suggestion_id=sid, reason_code="transport"
        )
    )


class Worker:
    """The live worker on an in-memory log: applies a record, appends its decisions, and
    reads them back (now, or later with `read_back=False`)."""

    def __init__(self, state: MatchingState, log: Log) -> None:
        self.state, self.log = state, log
        self.unread: list[Event] = []

    def feed(self, event: Event, read_back: bool = True) -> list[Event]:
        self.log.append(event)
        model = self.state.scorer.model_version
        outputs = [to_event(d, event, model) for d in self.state.apply(event)]
        self.state.sent(outputs)
        for out in outputs:
            self.log.append(out)
        self.unread += outputs
        if read_back:
            self.read_back()
        return outputs

    def read_back(self) -> None:
        unread, self.unread = self.unread, []
        for out in unread:
            assert self.state.apply(out) == []

    def read(self, event: Event) -> list[Event]:
        """A record already on the log (someone else's), read now."""
        model = self.state.scorer.model_version
        outputs = [to_event(d, event, model) for d in self.state.apply(event)]
        self.state.sent(outputs)
        for out in outputs:
            self.log.append(out)
        self.unread += outputs
        return outputs


def of_amina(events: list[Event]) -> list[EventPayload]:
    return [
        e.payload
        for e in events
        if isinstance(e.payload, PlacementSuggested | SuggestionRetracted)
        and e.payload.citizen_id == AMINA
        and e.payload.job_order_id == LAGER
    ]


def suggested_id(events: list[Event]) -> str:
    (p,) = [p for p in of_amina(events) if isinstance(p, PlacementSuggested)]
    return p.suggestion_id


def assert_log_derived(worker: Worker, make_state: Callable[[], MatchingState]) -> None:
    """The live state equals a fresh replay and a snapshot of it; a restart has nothing to
    reconcile; the topic shows what the state holds."""
    state, log = worker.state, worker.log
    assert state.in_flight == 0
    assert live_pairs(log) == held_pairs(state)
    assert state.divergence() == {"orphans": [], "missing": [], "stale": []}
    for seed in range(3):
        assert replay(log, make_state, seed).digest() == state.digest()
    assert restore_state(dumps_state(state), make_state).digest() == state.digest()
    again, _, counts = restart(log, make_state, seed=5)
    assert counts["retracted"] == counts["suggested"] == 0
    assert again.digest() == state.digest()


def test_a_pair_suggested_again_after_a_rejection_is_a_new_suggestion(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any
) -> None:
    ev = Clock()
    worker = Worker(make_state(), Log())
    worker.feed(card(ev, amina, 1))
    first = suggested_id(worker.feed(posted(ev, lager)))
    assert first == suggestion_id(LAGER, AMINA)
    assert worker.feed(reject(ev, first)) == []
    assert AMINA not in worker.state.suggestions[LAGER]

    # The card changes: the rejection no longer holds, the pair is back, as a new suggestion.
    again = suggested_id(worker.feed(card(ev, with_hours(amina, 30), 2)))
    assert again != first
    assert again == suggestion_id(LAGER, AMINA, after=first)
    # Re-scoring a standing suggestion updates it in place.
    assert suggested_id(worker.feed(card(ev, with_hours(amina, 32), 3))) == again
    assert_log_derived(worker, make_state)

    # Rejected too, and back once more: a third id.
    assert worker.feed(reject(ev, again)) == []
    third = suggested_id(worker.feed(card(ev, with_hours(amina, 34), 4)))
    assert third not in (first, again)
    assert_log_derived(worker, make_state)


def test_a_pair_suggested_again_after_a_retraction_is_a_new_suggestion(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any
) -> None:
    """The retracted suggestion may have been reviewed (accepted, say): its id stays with
    that review, and the pair's return is reviewed afresh."""
    ev = Clock()
    worker = Worker(make_state(), Log())
    worker.feed(card(ev, amina, 1))
    first = suggested_id(worker.feed(posted(ev, lager)))
    away = worker.feed(ev(CitizenAvailabilityChanged(citizen_id=AMINA, available=False)))
    (retracted,) = of_amina(away)
    assert isinstance(retracted, SuggestionRetracted)
    assert (retracted.suggestion_id, retracted.reason) == (first, "citizen_unavailable")
    back = worker.feed(ev(CitizenAvailabilityChanged(citizen_id=AMINA, available=True)))
    assert suggested_id(back) == suggestion_id(LAGER, AMINA, after=first)
    assert_log_derived(worker, make_state)


def test_suggested_again_before_the_rejection_was_read_it_is_suggested_anew(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any
) -> None:
    """The consultant rejects the suggestion while the card changes: the worker re-scores
    the pair under the rejected id (it has not read the rejection yet), which the review
    side can no longer take up. Reading the rejection, it withdraws that one and suggests
    the pair under a new id."""
    ev = Clock()
    worker = Worker(make_state(), Log())
    worker.feed(card(ev, amina, 1))
    first = suggested_id(worker.feed(posted(ev, lager)))
    rejection = reject(ev, first)
    worker.log.append(rejection)  # written by the events service, not read yet
    rescored = worker.feed(card(ev, with_hours(amina, 30), 2), read_back=False)
    assert suggested_id(rescored) == first
    decided = of_amina(worker.read(rejection))
    assert [type(p).__name__ for p in decided] == ["SuggestionRetracted", "PlacementSuggested"]
    retracted, suggested = decided
    assert isinstance(retracted, SuggestionRetracted)
    assert isinstance(suggested, PlacementSuggested)
    assert (retracted.suggestion_id, retracted.reason) == (first, "rejected")
    assert suggested.suggestion_id == suggestion_id(LAGER, AMINA, after=first)
    worker.read_back()
    assert worker.log.live()[(LAGER, AMINA)].suggestion_id == suggested.suggestion_id
    assert_log_derived(worker, make_state)


def test_a_restart_withdraws_a_suggestion_under_a_rejected_id_and_suggests_it_anew(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any
) -> None:
    """As above, but the worker dies before it reads the rejection: the start-up
    reconciliation does it, with the same ids."""
    ev = Clock()
    worker = Worker(make_state(), Log())
    worker.feed(card(ev, amina, 1))
    first = suggested_id(worker.feed(posted(ev, lager)))
    worker.log.append(reject(ev, first))
    worker.feed(card(ev, with_hours(amina, 30), 2), read_back=False)
    # Killed here.
    before = len(list(worker.log.placements()))
    state, _, counts = restart(worker.log, make_state)
    assert counts == {"retracted": 1, "suggested": 1, "adopted": 0}
    reconciled = list(worker.log.placements())[before:]
    retracted, suggested = (e.payload for e in reconciled)
    assert isinstance(retracted, SuggestionRetracted)
    assert isinstance(suggested, PlacementSuggested)
    assert (retracted.suggestion_id, retracted.reason) == (first, "rejected")
    assert suggested.suggestion_id == suggestion_id(LAGER, AMINA, after=first)
    for event in reconciled:
        state.apply(event)
    assert live_pairs(worker.log) == held_pairs(state)
    assert state.digest() == replay(worker.log, make_state).digest()


def test_a_rejection_of_an_earlier_suggestion_leaves_the_pairs_next_one_alone(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any
) -> None:
    """The events service may take a rejection of a suggestion it has not yet read was
    withdrawn; by then the pair is suggested anew under another id, which stands."""
    ev = Clock()
    worker = Worker(make_state(), Log())
    worker.feed(card(ev, amina, 1))
    first = suggested_id(worker.feed(posted(ev, lager)))
    worker.feed(ev(CitizenAvailabilityChanged(citizen_id=AMINA, available=False)))
    second = suggested_id(
        worker.feed(ev(CitizenAvailabilityChanged(citizen_id=AMINA, available=True)))
    )
    assert worker.feed(reject(ev, first)) == []
    assert AMINA in worker.state.suggestions[LAGER]
    assert worker.log.live()[(LAGER, AMINA)].suggestion_id == second
    assert_log_derived(worker, make_state)


@pytest.mark.parametrize("seed", range(4))
def test_ids_in_any_interleaving_equal_a_fresh_replay(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any, seed: int
) -> None:
    """Rejections and returns repeated, read live in any interleaving of the partitions:
    the same ids as a replay (the ids are kept in the state's digest)."""
    ev = Clock()
    worker = Worker(make_state(), Log())
    worker.feed(card(ev, amina, 1))
    worker.feed(posted(ev, lager))
    for version in range(2, 6):
        live = worker.log.live()
        if (LAGER, AMINA) in live:
            worker.feed(reject(ev, live[(LAGER, AMINA)].suggestion_id))
        worker.feed(card(ev, with_hours(amina, 20 + version), version))
    ids = [
        p.suggestion_id
        for p in (e.payload for e in worker.log.placements())
        if isinstance(p, PlacementSuggested)
    ]
    assert len(set(ids)) == 5
    rng = random.Random(seed)
    state = make_state()
    # The partitions interleaved at random, each partition in its order.
    by_partition = {tp: list(es) for tp, es in worker.log.parts.items()}
    cursors = dict.fromkeys(by_partition, 0)
    while any(cursors[tp] < len(es) for tp, es in by_partition.items()):
        tp = rng.choice([tp for tp, es in by_partition.items() if cursors[tp] < len(es)])
        state.apply(by_partition[tp][cursors[tp]])
        cursors[tp] += 1
    assert state.digest() == worker.state.digest() == replay(worker.log, make_state).digest()


# -- retraction reasons: what the log says, not a guess ------------------------------------------


def retractions(events: list[Event]) -> list[tuple[str, str, str]]:
    return [
        (e.payload.citizen_id, e.payload.suggestion_id, e.payload.reason)
        for e in events
        if isinstance(e.payload, SuggestionRetracted)
    ]


def test_a_suggestion_sent_again_before_a_rejection_was_read_is_withdrawn_as_rejected(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any
) -> None:
    """Rejected while the worker retracted the suggestion and suggested the pair again at the
    same versions (the citizen away and back): reading the rejection, it withdraws that
    later suggestion, because a consultant rejected the pair, not as `no_longer_eligible`."""
    ev = Clock()
    worker = Worker(make_state(), Log())
    worker.feed(card(ev, amina, 1))
    first = suggested_id(worker.feed(posted(ev, lager)))
    rejection = reject(ev, first)
    worker.log.append(rejection)
    worker.feed(ev(CitizenAvailabilityChanged(citizen_id=AMINA, available=False)), False)
    back = worker.feed(ev(CitizenAvailabilityChanged(citizen_id=AMINA, available=True)), False)
    second = suggested_id(back)
    assert retractions(worker.read(rejection)) == [(AMINA, second, "rejected")]
    worker.read_back()
    assert AMINA not in worker.state.suggestions[LAGER]
    assert_log_derived(worker, make_state)


def test_a_restart_names_the_reason_the_log_gives_or_says_it_is_a_reconciliation(
    linker: TaxonomyLinker, amina: Any, lager: Any
) -> None:
    """Live on the topic, not held by the state rebuilt from the log: an erased citizen's
    suggestion is retracted as `erased`; one the ranking leaves out (the previous worker
    died before it said so) as `not_held_on_restart`, not as `outranked`."""

    def make() -> MatchingState:
        return MatchingState(linker, RuleScorer(distance_km), k=1, capacity=2)

    ev = Clock()
    worker = Worker(make(), Log())
    other = with_hours(amina, 25) | {"citizen_id": "cit-a0000002"}
    worker.feed(card(ev, amina, 1))
    worker.feed(card(ev, other, 1))
    worker.feed(posted(ev, lager))
    state = worker.state
    (held,) = state.suggestions[LAGER]
    (left_out,) = set(state.shortlists[LAGER]) - {held}
    c = state.shortlists[LAGER][left_out]
    # What a worker that died before retracting it would have left on the topic.
    worker.log.append(
        ev(
            PlacementSuggested(
                job_order_id=LAGER,
                citizen_id=left_out,
                suggestion_id=suggestion_id(LAGER, left_out),
                score=c.scored.score,
                rank=2,
                model_version=state.scorer.model_version,
                card_version=c.card_version,
                order_version=state.orders[LAGER].version,
            ),
            SYSTEM_MATCHING,
        )
    )
    before = len(list(worker.log.placements()))
    _, _, counts = restart(worker.log, make)
    assert counts == {"retracted": 1, "suggested": 0, "adopted": 1}
    reconciled = list(worker.log.placements())[before:]
    assert retractions(reconciled) == [
        (left_out, suggestion_id(LAGER, left_out), "not_held_on_restart")
    ]
    # The held one's citizen is erased; the worker dies before it retracts the suggestion.
    worker.log.append(ev(ErasureRequested(citizen_id=held)))
    before = len(list(worker.log.placements()))
    state, _, counts = restart(worker.log, make)
    reconciled = list(worker.log.placements())[before:]
    assert (held, suggestion_id(LAGER, held), "erased") in retractions(reconciled)
