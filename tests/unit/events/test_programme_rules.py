"""Programme rules at the moment a placement starts: the pure rules
(`services.rules.programmes`) and the handler that applies them to the states of the log
(409/422 with a Danish reason naming the field, English beside it)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from schemas.citizens import CompetenceCard
from services.events import commands as c
from services.events.errors import Conflict, Invalid
from services.rules.programmes import (
    TYPE_FITS,
    PlacementPlan,
    Refusal,
    eligibility_refusals,
    hours_refusals,
    placement_refusals,
    type_refusals,
)
from tests.conftest import load_example
from tests.unit.events.memory import MemoryAggregates, MemoryLog
from tests.unit.events.test_handlers import (
    CONSULTANT,
    META,
    card,
    context,
    hired,
    order,
    suggest,
)

START = dt.date(2027, 3, 1)


def amina(**programme: Any) -> CompetenceCard:
    doc = load_example("competence_card_amina.json")
    doc["programme"] = {**doc["programme"], **programme}
    return CompetenceCard.model_validate(doc)


def plan(kind: str = "IGU", work: float = 29, school: float = 8, **more: Any) -> PlacementPlan:
    values: dict[str, Any] = {"start_date": START, "end_date": None, **more}
    return PlacementPlan(kind, values["start_date"], values["end_date"], work, school)


def codes(refusals: list[Refusal]) -> list[tuple[str, str, int]]:
    return [(r.field, r.code, r.status) for r in refusals]


# -- pure rules ---------------------------------------------------------------------------------


def test_an_eligible_igu_of_29_and_8_hours_on_an_igu_order_may_start() -> None:
    assert placement_refusals(plan(), "IGU", amina()) == []


def test_the_type_must_fit_the_orders_programme() -> None:
    (refusal,) = type_refusals("IGU", "løntilskud")
    assert (refusal.field, refusal.code, refusal.status) == (
        "placement_type",
        "programme_type_mismatch",
        409,
    )
    assert "løntilskud" in refusal.da and "IGU" in refusal.da
    assert refusal.en.startswith("A placement as IGU") and "wage subsidy" in refusal.en
    # An ordinary job fits every order; a jobpakke takes praktik, løntilskud or a job.
    for programme in TYPE_FITS:
        assert type_refusals("ordinary", programme) == []
    assert type_refusals("løntilskud", "jobpakke") == []
    assert type_refusals("IGU", "jobpakke") != []
    assert type_refusals("løntilskud", "ordinary") != []


def test_igu_hours_are_at_most_a_full_time_week_with_school() -> None:
    assert hours_refusals(plan(work=29, school=8)) == []
    assert hours_refusals(plan(work=30, school=7)) == []
    refused = hours_refusals(plan(work=50, school=20))
    assert codes(refused) == [("weekly_hours_work", "igu_hours_over_full_time", 422)]
    assert "50 + 20 = 70 timer" in refused[0].da and "29 timers arbejde" in refused[0].da
    assert codes(hours_refusals(plan(work=37, school=0))) == [
        ("weekly_hours_school", "igu_without_school", 422)
    ]


def test_an_io_stilling_spends_a_fifth_of_the_hours_on_training() -> None:
    assert hours_refusals(plan("IO-stilling", work=29.6, school=7.4)) == []
    assert hours_refusals(plan("IO-stilling", work=30, school=7)) == []
    refused = hours_refusals(plan("IO-stilling", work=37, school=0))
    assert codes(refused) == [("weekly_hours_school", "io_training_share", 422)]
    assert "20 %" in refused[0].da and "7,4" in refused[0].da


def test_no_placement_is_over_48_hours_or_without_work() -> None:
    assert hours_refusals(plan("ordinary", work=37, school=0)) == []
    assert codes(hours_refusals(plan("ordinary", work=45, school=10))) == [
        ("weekly_hours_work", "hours_over_limit", 422)
    ]
    assert codes(hours_refusals(plan("virksomhedspraktik", work=0, school=0))) == [
        ("weekly_hours_work", "hours_no_work", 422)
    ]


def test_igu_eligibility_is_judged_on_the_start_date() -> None:
    # Born 1991: 36 at a 2027 start; refugee; arrived 2019.
    assert eligibility_refusals(plan(), amina()) == []
    old = eligibility_refusals(plan(), amina(birth_year=1975))
    assert codes(old) == [("start_date", "igu_age_outside_18_50", 409)]
    assert "52 år" in old[0].da and "18-50" in old[0].da
    # 17 in 2026, 18 in the year of a 2027 start.
    young = amina(birth_year=2009, arrival_date="2015-01-01")
    assert eligibility_refusals(plan(start_date=dt.date(2027, 1, 4)), young) == []
    assert codes(eligibility_refusals(plan(start_date=dt.date(2026, 12, 1)), young)) == [
        ("start_date", "igu_age_outside_18_50", 409)
    ]
    long_ago = amina(birth_year=1985, arrival_date="2006-06-01")
    refused = eligibility_refusals(plan(), long_ago)
    assert codes(refused) == [("start_date", "igu_arrived_over_20_years_ago", 409)]
    assert "1. juni 2006" in refused[0].da
    assert codes(eligibility_refusals(plan(), amina(residence_basis="work"))) == [
        ("placement_type", "igu_not_refugee_or_family_reunified", 409)
    ]
    assert codes(eligibility_refusals(plan(), amina(birth_year=None))) == [
        ("placement_type", "igu_age_unknown", 409)
    ]


def test_an_io_stilling_needs_the_newly_arrived_or_the_young() -> None:
    io = plan("IO-stilling", work=29.6, school=7.4)
    assert eligibility_refusals(io, amina(arrival_date="2024-01-01")) == []
    refused = eligibility_refusals(io, amina(arrival_date="2015-01-01"))
    assert codes(refused) == [("placement_type", "io_not_newly_arrived_nor_under_25", 409)]


def test_igu_after_2027_is_refused_on_the_start_date() -> None:
    late = plan(start_date=dt.date(2028, 1, 3))
    assert codes(placement_refusals(late, "IGU", amina())) == [
        ("start_date", "igu_scheme_ends_2027_12_31", 422)
    ]


def test_the_requests_own_faults_come_before_those_of_order_and_citizen() -> None:
    refused = placement_refusals(plan(work=50, school=20), "løntilskud", amina(birth_year=1960))
    assert {r.status for r in refused} == {422}
    refused = placement_refusals(plan(), "løntilskud", amina(birth_year=1960))
    assert codes(refused) == [
        ("placement_type", "programme_type_mismatch", 409),
        ("start_date", "igu_age_outside_18_50", 409),
    ]


def test_every_refusal_speaks_danish_and_english() -> None:
    cases = [
        placement_refusals(plan(work=50, school=20), "IGU", amina()),
        placement_refusals(plan(), "løntilskud", amina(residence_basis="work", birth_year=1960)),
        placement_refusals(plan("IO-stilling", 37, 0), "IO-stilling", amina()),
    ]
    for refusal in (r for refused in cases for r in refused):
        assert refusal.da and refusal.en and refusal.da != refusal.en
        assert refusal.status in (409, 422)


# -- the handler ----------------------------------------------------------------------------


async def _hired(
    ctx: Any, log: MemoryLog, store: MemoryAggregates, person: CompetenceCard, programme: str
) -> str:
    job = order().model_copy(update={"programme": programme})
    return (await hired(ctx, log, store, person=person, job=job))[2]


async def test_an_igu_on_a_loentilskud_order_is_refused_with_409_in_danish() -> None:
    log, store = MemoryLog(), MemoryAggregates()
    ctx = context(log, store)
    sid = await _hired(ctx, log, store, card(), "løntilskud")
    before = len(log.events)
    with pytest.raises(Conflict) as refused:
        await ctx.start_placement(
            c.StartPlacement(sid, "IGU", START, None, 29, 8), CONSULTANT, META
        )
    (detail,) = refused.value.detail()
    assert detail["field"] == "placement_type"
    assert detail["code"] == "programme_type_mismatch"
    assert "passer ikke til en jobordre under løntilskud" in str(detail["reason"])
    assert "does not fit" in str(detail["reason_en"])
    assert len(log.events) == before, "nothing appended"
    started = await ctx.start_placement(
        c.StartPlacement(sid, "løntilskud", START, None, 37, 0), CONSULTANT, META
    )
    assert started.event_type == "PlacementStarted"


async def test_an_ineligible_citizen_and_too_many_hours_are_refused() -> None:
    log, store = MemoryLog(), MemoryAggregates()
    ctx = context(log, store)
    old = card(programme={**card().programme.model_dump(mode="json"), "birth_year": 1970})
    sid = await _hired(ctx, log, store, old, "IGU")
    with pytest.raises(Invalid) as hours:
        await ctx.start_placement(
            c.StartPlacement(sid, "IGU", START, None, 50, 20), CONSULTANT, META
        )
    assert [(d["field"], d["code"]) for d in hours.value.detail()] == [
        ("weekly_hours_work", "igu_hours_over_full_time")
    ]
    with pytest.raises(Conflict) as age:
        await ctx.start_placement(
            c.StartPlacement(sid, "IGU", START, None, 29, 8), CONSULTANT, META
        )
    assert [(d["field"], d["code"]) for d in age.value.detail()] == [
        ("start_date", "igu_age_outside_18_50")
    ]
    assert "57 år" in str(age.value.detail()[0]["reason"])
    # An ordinary job on the IGU order needs no IGU eligibility.
    ok = await ctx.start_placement(
        c.StartPlacement(sid, "ordinary", START, None, 37, 0), CONSULTANT, META
    )
    assert ok.event_type == "PlacementStarted"


async def _hired_twice(
    ctx: Any, log: MemoryLog, store: MemoryAggregates
) -> tuple[CompetenceCard, str, str]:
    """One citizen hired by two employers' orders (two suggestions, both hired)."""
    person = card()
    await ctx.register_card(c.SubmitCompetenceCard(person, []), META)
    consent = c.GiveConsent(person.citizen_id, "samtykke-1", "all")
    await ctx.on_citizen(
        person.citizen_id, CONSULTANT, lambda s: c.decide_give_consent(consent, s), META
    )
    sids = []
    for _ in range(2):
        job = order().model_copy(update={"programme": "ordinary"})
        await ctx.post_order(c.PostJobOrder(job, []), META)
        sid = suggest(log, store, person, job)
        await ctx.on_suggestion(sid, CONSULTANT, lambda s, r, i=sid: c.decide_accept(i, s, r), META)
        await ctx.present(sid, CONSULTANT, META)
        await ctx.record_employer_decision(sid, "hired", None, CONSULTANT, META)
        sids.append(sid)
    return person, sids[0], sids[1]


async def test_a_citizen_in_a_placement_cannot_start_a_second_until_it_ends() -> None:
    log, store = MemoryLog(), MemoryAggregates()
    ctx = context(log, store)
    _, first, second = await _hired_twice(ctx, log, store)
    started = await ctx.start_placement(
        c.StartPlacement(first, "ordinary", START, None, 37, 0), CONSULTANT, META
    )
    with pytest.raises(Conflict) as refused:
        await ctx.start_placement(
            c.StartPlacement(second, "ordinary", START, None, 37, 0), CONSULTANT, META
        )
    (detail,) = refused.value.detail()
    assert (detail["field"], detail["code"]) == ("suggestion_id", "already_placed")
    assert "allerede i et forløb" in str(detail["reason"])
    pid = c.placement_id_for(first)
    await ctx.on_placement(
        pid,
        CONSULTANT,
        lambda p: c.decide_end_placement(pid, START, "positive_drop_out", p),
        META,
    )
    again = await ctx.start_placement(
        c.StartPlacement(second, "ordinary", START, None, 37, 0), CONSULTANT, META
    )
    assert started.event_type == again.event_type == "PlacementStarted"


async def test_of_two_placements_started_for_one_citizen_at_once_one_starts() -> None:
    log, store = MemoryLog(), MemoryAggregates()
    ctx = context(log, store)
    _, first, second = await _hired_twice(ctx, log, store)
    results = await asyncio.gather(
        *(
            ctx.start_placement(
                c.StartPlacement(sid, "ordinary", START, None, 37, 0), CONSULTANT, META
            )
            for sid in (first, second)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
