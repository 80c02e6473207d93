"""A pair that matching suggests again after its suggestion ended can be reviewed again.

The write side keys a review by suggestion id; matching gives the pair's return a new one.
Matching's real state and decisions run here against the events service's handlers on the
in-memory adapters: the log is shared, and each side reads what the other appended.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest

from schemas.envelope import Event
from schemas.placements import PlacementSuggested, SuggestionRetracted
from services.events import commands as c
from services.events.context import CommandContext
from services.events.errors import Conflict
from services.matching.decisions import to_event
from services.matching.domain.scoring import RuleScorer
from services.matching.domain.state import MatchingState
from services.matching.domain.vectorized import CardIndex
from services.matching.linking import default_linker, distance_km, skills_of
from services.profiles.projections import keys
from services.profiles.projections.views import project as profile_views
from tests.unit.events.memory import MemoryAggregates, MemoryLog
from tests.unit.events.test_handlers import CONSULTANT, META, NOW, card, context, order


class Matching:
    """The matching worker on the shared log: reads every event it has not read yet, appends
    its decisions, and the events service's projector brings them into the write side."""

    def __init__(self, log: MemoryLog, store: MemoryAggregates) -> None:
        self.log, self.store = log, store
        self.state = MatchingState(
            default_linker(), RuleScorer(distance_km), k=3, capacity=2, index=CardIndex(skills_of)
        )
        self.read = 0

    def catch_up(self) -> list[Event]:
        out: list[Event] = []
        while self.read < len(self.log.events):
            event = self.log.events[self.read]
            self.read += 1
            model = self.state.scorer.model_version
            decided = [to_event(d, event, model) for d in self.state.apply(event)]
            self.state.sent(decided)
            self.log.events += decided
            self.store.replay(decided)
            out += decided
        return out


def suggested(events: list[Event], citizen_id: str) -> Iterator[PlacementSuggested]:
    for e in events:
        if isinstance(e.payload, PlacementSuggested) and e.payload.citizen_id == citizen_id:
            yield e.payload


def worklist(log: MemoryLog, municipality: str) -> set[str]:
    """The suggestion ids on the municipality's worklist in the profiles views, built from
    the same log (`MemoryAggregates` applies the views' writes alike)."""
    views = MemoryAggregates()
    for event in log.events:
        views.apply(profile_views(event))
    return set(views.zsets.get(keys.worklist(municipality), {}))


def replayed(log: MemoryLog) -> MemoryAggregates:
    fresh = MemoryAggregates()
    fresh.replay(log.events)
    return fresh


async def review(ctx: CommandContext, sid: str, accept: bool) -> None:
    if accept:
        decide = lambda s, r: c.decide_accept(sid, s, r)  # noqa: E731
    else:
        decide = lambda s, r: c.decide_reject(sid, "transport", None, s, r)  # noqa: E731
    await ctx.on_suggestion(sid, CONSULTANT, decide, META)


async def test_a_pair_suggested_again_after_a_rejection_can_be_accepted() -> None:
    log, store = MemoryLog(), MemoryAggregates()
    ctx = context(log, store)
    matching = Matching(log, store)
    person, job = card(), order()
    await ctx.register_card(c.SubmitCompetenceCard(person, []), META)
    await ctx.post_order(c.PostJobOrder(job, []), META)
    (first,) = suggested(matching.catch_up(), person.citizen_id)
    assert first.job_order_id == job.job_order_id

    await review(ctx, first.suggestion_id, accept=False)
    assert matching.catch_up() == []  # the rejection ends the suggestion, no retraction
    with pytest.raises(Conflict, match="already rejected"):
        await review(ctx, first.suggestion_id, accept=True)

    # The citizen's card changes: the rejection no longer holds, the pair comes back.
    changed = person.model_copy(
        update={"availability": person.availability.model_copy(update={"hours_per_week": 30})}
    )
    update = c.SubmitCompetenceCard(changed, [], expected_version=1)
    await ctx.on_citizen(
        person.citizen_id, CONSULTANT, lambda s: c.decide_update_card(update, s, NOW.date()), META
    )
    (again,) = suggested(matching.catch_up(), person.citizen_id)
    assert again.suggestion_id != first.suggestion_id
    # On the consultants' worklist for review, the rejected one not.
    assert worklist(log, job.municipality_code) == {again.suggestion_id}
    await review(ctx, again.suggestion_id, accept=True)
    assert log.events[-1].event_type == "SuggestionAccepted"
    assert log.events[-1].payload.suggestion_id == again.suggestion_id  # type: ignore[attr-defined]
    # The earlier suggestion stays rejected; the states equal a fresh replay of the log.
    with pytest.raises(Conflict, match="already rejected"):
        await review(ctx, first.suggestion_id, accept=True)
    fresh = replayed(log)
    assert fresh.hashes == store.hashes and fresh.zsets == store.zsets


async def test_a_pair_suggested_again_after_a_retraction_is_reviewed_afresh() -> None:
    """Accepted, then retracted (the citizen unavailable for a while), then back: the return
    is a new suggestion awaiting review, not the accepted one back from the dead."""
    log, store = MemoryLog(), MemoryAggregates()
    ctx = context(log, store)
    matching = Matching(log, store)
    person, job = card(), order()
    await ctx.register_card(c.SubmitCompetenceCard(person, []), META)
    await ctx.post_order(c.PostJobOrder(job, []), META)
    (first,) = suggested(matching.catch_up(), person.citizen_id)
    await review(ctx, first.suggestion_id, accept=True)
    matching.catch_up()

    decided: list[Event] = []
    for available in (False, True):
        change = c.ChangeAvailability(person.citizen_id, available)
        await ctx.on_citizen(
            person.citizen_id, CONSULTANT, partial(c.decide_change_availability, change), META
        )
        decided = matching.catch_up()
    retracted = [e.payload for e in log.events if isinstance(e.payload, SuggestionRetracted)]
    assert [(r.suggestion_id, r.reason) for r in retracted] == [
        (first.suggestion_id, "citizen_unavailable")
    ]
    (again,) = suggested(decided, person.citizen_id)
    assert again.suggestion_id != first.suggestion_id
    assert worklist(log, job.municipality_code) == {again.suggestion_id}
    await review(ctx, again.suggestion_id, accept=False)
    assert worklist(log, job.municipality_code) == set()
    assert log.events[-1].event_type == "SuggestionRejected"
