"""Programme rules at the moment a placement starts, through the events API against the real
broker and Redis: the type must fit the order's programme and the citizen's eligibility on
the start date, and the hours the arrangement; refusals are 409/422 in Danish, naming the
field, with nothing appended."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from schemas.registry import REGISTRY
from schemas.topics import PLACEMENTS
from services.common.kafka import read_log
from tests.conftest import Issuer
from tests.integration.workflow_helpers import Case


@pytest.fixture
async def case(
    events_api: httpx.AsyncClient, broker: str, redis: Redis, issuer: Issuer
) -> AsyncIterator[Case]:
    yield Case(events_api, broker, redis, issuer)


def start(case: Case, kind: str, work: float, school: float) -> dict[str, Any]:
    return {
        "suggestion_id": case.sid,
        "placement_type": kind,
        "start_date": "2027-03-01",
        "weekly_hours_work": work,
        "weekly_hours_school": school,
    }


async def started_for(case: Case) -> list[str]:
    records = await read_log(case.broker, [PLACEMENTS], timeout=10)
    events = [REGISTRY.decode(r.value or b"") for r in records]
    return [
        e.event_type
        for e in events
        if e.event_type == "PlacementStarted" and getattr(e.payload, "job_order_id", "") == case.oid
    ]


async def test_an_igu_on_a_loentilskud_order_is_refused_409_in_danish(
    case: Case, amina: dict[str, Any], lager: dict[str, Any]
) -> None:
    order = copy.deepcopy(lager) | {"programme": "løntilskud"}
    await case.setup(amina, order)
    await case.advance("hired")
    refused = await case.post("/v1/placements", start(case, "IGU", 29, 8))
    assert refused.status_code == 409, refused.text
    (detail,) = refused.json()["detail"]
    assert detail["field"] == "placement_type"
    assert detail["code"] == "programme_type_mismatch"
    assert "passer ikke til en jobordre under løntilskud" in detail["reason"]
    assert "does not fit" in detail["reason_en"]
    assert await started_for(case) == []
    ok = await case.post("/v1/placements", start(case, "løntilskud", 37, 0))
    assert ok.status_code == 202, ok.text
    assert await started_for(case) == ["PlacementStarted"]


async def test_igu_hours_and_eligibility_on_the_start_date(
    case: Case, amina: dict[str, Any], lager: dict[str, Any]
) -> None:
    # Born 1975: 52 at a 2027 start, outside IGU's 18-50.
    older = copy.deepcopy(amina)
    older["programme"]["birth_year"] = 1975
    await case.setup(older, lager)
    await case.advance("hired")
    hours = await case.post("/v1/placements", start(case, "IGU", 50, 20))
    assert hours.status_code == 422, hours.text
    assert [(d["field"], d["code"]) for d in hours.json()["detail"]] == [
        ("weekly_hours_work", "igu_hours_over_full_time")
    ]
    assert "50 + 20 = 70 timer" in hours.json()["detail"][0]["reason"]
    age = await case.post("/v1/placements", start(case, "IGU", 29, 8))
    assert age.status_code == 409, age.text
    (detail,) = age.json()["detail"]
    assert (detail["field"], detail["code"]) == ("start_date", "igu_age_outside_18_50")
    assert "52 år" in detail["reason"]
    assert await started_for(case) == []
    # An ordinary job on the IGU order asks no IGU eligibility of her.
    ok = await case.post("/v1/placements", start(case, "ordinary", 37, 0))
    assert ok.status_code == 202, ok.text


async def test_an_eligible_igu_of_29_and_8_hours_starts(
    case: Case, amina: dict[str, Any], lager: dict[str, Any]
) -> None:
    await case.setup(amina, lager)
    await case.advance("hired")
    ok = await case.post("/v1/placements", start(case, "IGU", 29, 8))
    assert ok.status_code == 202, ok.text
    assert await started_for(case) == ["PlacementStarted"]
