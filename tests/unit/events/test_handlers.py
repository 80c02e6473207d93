"""The command handlers on in-memory adapters: decisions on the projected states, claims,
appends that fail, and states that always equal a fresh replay of the log."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest

from schemas.citizens import CompetenceCard, ErasureRequested
from schemas.envelope import SYSTEM_MATCHING, Actor, Event
from schemas.jobs import JobOrder
from schemas.placements import PlacementSuggested
from services.auth.principal import Principal
from services.events import commands as c
from services.events.context import CommandContext
from services.events.errors import Conflict, NotFound, Unavailable
from services.events.handlers import Handlers, Meta
from services.events.publisher import Position
from services.reference.esco import Taxonomy
from services.reference.geo import Geo
from tests.conftest import load_example
from tests.unit.events.memory import MemoryAggregates, MemoryLog

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
CONSULTANT = Principal(subject="kons-7", role="consultant", municipality_code="0751")
META = Meta(actor=Actor(role="consultant", id="kons-7", municipality_code="0751"))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


def context(log: MemoryLog, store: MemoryAggregates, clock: Clock | None = None) -> CommandContext:
    handlers = Handlers(log, store, clock or Clock())
    # Reference data is only used to link cards and orders, which these tests do not.
    return CommandContext(handlers, Taxonomy.__new__(Taxonomy), Geo.__new__(Geo))


def card(**changes: Any) -> CompetenceCard:
    doc = load_example("competence_card_amina.json")
    doc["citizen_id"] = f"cit-{uuid.uuid4().hex[:8]}"
    return CompetenceCard.model_validate({**doc, **changes})


def order(positions: int = 1) -> JobOrder:
    doc = load_example("job_order_lager.json")
    doc["job_order_id"] = f"jo-{uuid.uuid4().hex[:8]}"
    doc["positions"] = positions
    doc["application_deadline"] = None
    doc["start_date"] = "2027-03-01"
    return JobOrder.model_validate(doc)


def suggest(log: MemoryLog, store: MemoryAggregates, who: CompetenceCard, to: JobOrder) -> str:
    """Matching's suggestion, as the projector would bring it in from the log."""
    sid = f"sug-{uuid.uuid4().hex[:8]}"
    payload = PlacementSuggested(
        suggestion_id=sid,
        job_order_id=to.job_order_id,
        citizen_id=who.citizen_id,
        score=0.8,
        rank=1,
        model_version="test",
        card_version="1",
        order_version="1",
    )
    event = Event.new(
        payload, actor=SYSTEM_MATCHING, occurred_at=NOW, municipality_code=to.municipality_code
    )
    log.events.append(event)
    store.replay([event])
    return sid


def replayed(log: MemoryLog) -> MemoryAggregates:
    fresh = MemoryAggregates()
    fresh.replay(log.events)
    return fresh


async def hired(
    ctx: CommandContext,
    log: MemoryLog,
    store: MemoryAggregates,
    positions: int = 1,
    person: CompetenceCard | None = None,
    job: JobOrder | None = None,
) -> tuple[CompetenceCard, JobOrder, str]:
    """A card, an order, a suggestion accepted, consented, presented and hired."""
    person, job = person or card(), job or order(positions)
    await ctx.register_card(c.SubmitCompetenceCard(person, []), META)
    await ctx.post_order(c.PostJobOrder(job, []), META)
    sid = suggest(log, store, person, job)
    await ctx.on_suggestion(sid, CONSULTANT, lambda s, r: c.decide_accept(sid, s, r), META)
    consent = c.GiveConsent(person.citizen_id, "samtykke-1", "all")
    await ctx.on_citizen(
        person.citizen_id, CONSULTANT, lambda s: c.decide_give_consent(consent, s), META
    )
    await ctx.present(sid, CONSULTANT, META)
    await ctx.record_employer_decision(sid, "hired", None, CONSULTANT, META)
    return person, job, sid


def placement(sid: str) -> c.StartPlacement:
    return c.StartPlacement(sid, "IGU", dt.date(2027, 3, 1), None, 29, 8)


async def test_commands_are_decided_on_what_the_log_says() -> None:
    log, store = MemoryLog(), MemoryAggregates()
    ctx = context(log, store)
    person = card()
    first = await ctx.register_card(c.SubmitCompetenceCard(person, []), META)
    assert first.version == 1
    update = c.SubmitCompetenceCard(person, [], expected_version=1)
    second = await ctx.on_citizen(
        person.citizen_id, CONSULTANT, lambda s: c.decide_update_card(update, s, NOW.date()), META
    )
    assert second.version == 2
    with pytest.raises(Conflict, match="at version 2, not 1"):
        await ctx.on_citizen(
            person.citizen_id,
            CONSULTANT,
            lambda s: c.decide_update_card(update, s, NOW.date()),
            META,
        )
    with pytest.raises(Conflict, match="already has card version 2"):
        await ctx.register_card(c.SubmitCompetenceCard(person, []), META)
    assert [e.event_type for e in log.events] == [
        "CompetenceCardRegistered",
        "CompetenceCardUpdated",
    ]


async def test_the_states_equal_a_fresh_replay_of_the_log() -> None:
    log, store = MemoryLog(), MemoryAggregates()
    ctx = context(log, store)
    _, job, sid = await hired(ctx, log, store, positions=1)
    await ctx.start_placement(placement(sid), CONSULTANT, META)
    assert [e.event_type for e in log.events][-2:] == ["PlacementStarted", "JobOrderClosed"]
    fresh = replayed(log)
    assert fresh.hashes == store.hashes and fresh.zsets == store.zsets
    loaded = await fresh.load([c.order_key(job.job_order_id)])
    state = loaded[c.order_key(job.job_order_id)].state
    assert state is not None and state.status == "closed_filled"  # type: ignore[attr-defined]


async def test_a_new_employer_is_registered_with_its_first_order_only() -> None:
    log, store = MemoryLog(), MemoryAggregates()
    ctx = context(log, store)
    first, second = order(), order()
    await ctx.post_order(c.PostJobOrder(first, []), META)
    await ctx.post_order(c.PostJobOrder(second, []), META)
    assert [e.event_type for e in log.events] == [
        "EmployerRegistered",
        "JobOrderPosted",
        "JobOrderPosted",
    ]


async def test_a_failed_append_leaves_no_trace_and_frees_the_record() -> None:
    log, store = MemoryLog(fail_at=0), MemoryAggregates()
    ctx = context(log, store)
    person = card()
    with pytest.raises(ConnectionError):
        await ctx.register_card(c.SubmitCompetenceCard(person, []), META)
    assert log.events == [] and store.hashes == {} and store.claims == {}
    again = await ctx.register_card(c.SubmitCompetenceCard(person, []), META)
    assert again.version == 1


class SlowLog(MemoryLog):
    """A broker that takes a moment to acknowledge, so that commands overlap."""

    async def publish(self, event: Event) -> Position:
        await asyncio.sleep(0.01)
        return await super().publish(event)


async def test_of_two_concurrent_commands_on_one_record_exactly_one_succeeds() -> None:
    log, store = SlowLog(), MemoryAggregates()
    ctx = context(log, store)
    person = card()
    await ctx.register_card(c.SubmitCompetenceCard(person, []), META)

    async def withdraw_available() -> object:
        change = c.ChangeAvailability(person.citizen_id, available=False)
        return await ctx.on_citizen(
            person.citizen_id,
            CONSULTANT,
            lambda s: c.decide_change_availability(change, s),
            META,
        )

    results = await asyncio.gather(
        *(withdraw_available() for _ in range(5)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(refused) == 4 and len(log.events) == 2
    assert "under way" in str(refused[0])
    assert store.claims == {}


async def test_a_fill_a_crash_left_unrecorded_is_recorded_by_the_sweeper() -> None:
    clock = Clock()
    store = MemoryAggregates()
    log = MemoryLog()
    ctx = context(log, store, clock)
    _, job, sid = await hired(ctx, log, store, positions=1)
    log.fail_at = log.appends + 1  # PlacementStarted lands, JobOrderClosed does not
    with pytest.raises(ConnectionError):
        await ctx.start_placement(placement(sid), CONSULTANT, META)
    key = c.order_key(job.job_order_id)
    state = (await store.load([key]))[key].state
    assert state is not None and state.closure_pending  # type: ignore[attr-defined]
    # The order counts as filled at once: no second placement onto it.
    assert await ctx.record_filled() == [], "too recent: the command may still be at it"
    clock.now = NOW + dt.timedelta(minutes=5)
    assert await ctx.record_filled() == [job.job_order_id]
    assert log.events[-1].event_type == "JobOrderClosed"
    assert log.events[-1].payload.reason == "filled"  # type: ignore[attr-defined]
    assert await ctx.record_filled() == []
    fresh = replayed(log)
    assert fresh.hashes == store.hashes


async def test_events_of_another_producer_count_like_its_own() -> None:
    log, store = MemoryLog(), MemoryAggregates()
    ctx = context(log, store)
    person = card()
    await ctx.register_card(c.SubmitCompetenceCard(person, []), META)
    # Another producer erases the citizen; the projector brings it in.
    erased = Event.new(
        ErasureRequested(citizen_id=person.citizen_id, reason=None),
        actor=Actor(role="system", id="other"),
        occurred_at=NOW,
    )
    log.events.append(erased)
    store.replay([erased])
    change = c.ChangeAvailability(person.citizen_id, available=False)
    with pytest.raises(NotFound, match="has no competence card"):
        await ctx.on_citizen(
            person.citizen_id, CONSULTANT, lambda s: c.decide_change_availability(change, s), META
        )


async def test_commands_wait_for_the_states_to_catch_up() -> None:
    handlers = Handlers(MemoryLog(), MemoryAggregates(), Clock(), live=lambda: False)
    ctx = CommandContext(handlers, Taxonomy.__new__(Taxonomy), Geo.__new__(Geo))
    with pytest.raises(Unavailable):
        await ctx.register_card(c.SubmitCompetenceCard(card(), []), META)


class RacingLog(MemoryLog):
    """A projector that applies the command's first event before the command settles."""

    def __init__(self, store: MemoryAggregates) -> None:
        super().__init__()
        self.store = store

    async def publish(self, event: Event) -> Position:
        position = await super().publish(event)
        if len(self.events) == 1:
            self.store.replay([event])
        return position


async def test_a_command_shows_its_effect_though_the_projector_applied_part_of_it() -> None:
    store = MemoryAggregates()
    log = RacingLog(store)
    ctx = context(log, store)
    job = order()
    await ctx.post_order(c.PostJobOrder(job, []), META)  # EmployerRegistered, JobOrderPosted
    key = c.order_key(job.job_order_id)
    assert (await store.load([key]))[key].state is not None
