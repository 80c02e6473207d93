"""The review and placement workflow through the HTTP API, against the real broker.

Suggestions are produced to the log as the matching service would produce them; the events
service learns them from there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from schemas.placements import SuggestionRetracted
from schemas.registry import REGISTRY
from schemas.topics import JOB_ORDERS, PLACEMENTS
from services.common.kafka import read_log
from services.events.commands import placement_id_for
from services.events.projection import suggestion as suggestion_key
from services.matching.domain.state import suggestion_id
from tests.conftest import Issuer
from tests.integration.workflow_helpers import PREFIX, Case, emit, letters, until


@pytest.fixture
async def case(
    events_api: httpx.AsyncClient, broker: str, redis: Redis, issuer: Issuer
) -> AsyncIterator[Case]:
    yield Case(events_api, broker, redis, issuer)


def _reason(response: httpx.Response) -> str:
    reason: str = response.json()["detail"][0]["reason"]
    return reason


async def test_full_path_from_suggestion_to_placement_end(
    case: Case, amina: dict[str, Any], lager: dict[str, Any]
) -> None:
    await case.setup(amina, lager)
    accepted = await case.act("accept")
    assert accepted.status_code == 202 and accepted.json()["event_type"] == "SuggestionAccepted"

    refused = await case.act("present")
    assert refused.status_code == 409 and "consent" in _reason(refused)
    other = {"scope": "employer", "employer_cvr": "87654303"}
    assert (await case.post(f"/v1/citizens/{case.cid}/consents", other)).status_code == 202
    assert (await case.act("present")).status_code == 409, "consent for another employer"
    mine = {"consent_id": "c-1", "scope": "employer", "employer_cvr": case.cvr}
    assert (await case.post(f"/v1/citizens/{case.cid}/consents", mine)).status_code == 202

    presented = await case.act("present")
    assert presented.status_code == 202, presented.text
    assert presented.json()["event_type"] == "CandidatePresented"
    assert (await case.act("employer-decision", {"decision": "interview"})).status_code == 202
    assert (await case.act("employer-decision", {"decision": "hired"})).status_code == 202

    started = await case.post(
        "/v1/placements",
        {
            "suggestion_id": case.sid,
            "placement_type": "IGU",
            "start_date": "2027-01-04",
            "end_date": "2027-12-31",
            "weekly_hours_work": 29,
            "weekly_hours_school": 8,
        },
    )
    assert started.status_code == 202, started.text
    # The order had one position: starting the placement fills and closes it.
    types = [e["event_type"] for e in started.json()["events"]]
    assert types == ["PlacementStarted", "JobOrderClosed"]
    again = await case.act("present")
    assert again.status_code == 409

    placement_id = placement_id_for(case.sid)
    follow = {"date": "2027-02-04", "status": "on_track", "note": "Trives på lageret"}
    assert (await case.post(f"/v1/placements/{placement_id}/follow-ups", follow)).status_code == 202
    early = {"date": "2026-12-01", "status": "at_risk"}
    assert (await case.post(f"/v1/placements/{placement_id}/follow-ups", early)).status_code == 422
    end = {"end_date": "2027-12-31", "outcome": "ordinary_job"}
    assert (await case.post(f"/v1/placements/{placement_id}/end", end)).status_code == 202
    after = await case.post(f"/v1/placements/{placement_id}/follow-ups", follow)
    assert after.status_code == 409 and "ended" in _reason(after)


async def test_review_and_placement_events_carry_the_orders_municipality(
    case: Case, amina: dict[str, Any], lager: dict[str, Any], broker: str
) -> None:
    """Per-municipality views (worklists, follow-ups, KPIs) are keyed by it without a lookup."""
    amina = {**amina, "municipality_code": "0101"}
    lager = {**lager, "municipality_code": "0851"}
    await case.setup(amina, lager)
    consent = {"consent_id": "c-1", "scope": "all"}
    # The order's job centre may not record the consent of another municipality's citizen.
    assert (
        await case.post(f"/v1/citizens/{case.cid}/consents", consent, case.order_office)
    ).status_code == 404
    assert (await case.consent(consent)).status_code == 202
    # ... nor may the citizen's job centre review the match on the other's order.
    assert (await case.act("accept", None, case.citizen_office)).status_code == 404
    for verb, body in [
        ("accept", None),
        ("present", None),
        ("employer-decision", {"decision": "hired"}),
    ]:
        assert (await case.act(verb, body)).status_code == 202
    start = {
        "suggestion_id": case.sid,
        "placement_type": "ordinary",
        "start_date": "2027-01-04",
        "weekly_hours_work": 37,
    }
    assert (await case.post("/v1/placements", start)).status_code == 202
    pid = placement_id_for(case.sid)
    follow = {"date": "2027-02-04", "status": "on_track"}
    assert (await case.post(f"/v1/placements/{pid}/follow-ups", follow)).status_code == 202
    end = {"end_date": "2027-06-30", "outcome": "ordinary_job"}
    assert (await case.post(f"/v1/placements/{pid}/end", end)).status_code == 202

    records = await read_log(broker, [PLACEMENTS, JOB_ORDERS], timeout=10)
    mine = [REGISTRY.decode(r.value or b"") for r in records]
    mine = [e for e in mine if getattr(e.payload, "job_order_id", None) == case.oid]
    seen = {e.event_type: e.municipality_code for e in mine}
    assert set(seen) >= {
        "PlacementSuggested",
        "SuggestionAccepted",
        "CandidatePresented",
        "EmployerDecisionRecorded",
        "PlacementStarted",
        "JobOrderClosed",
        "FollowUpRecorded",
        "PlacementEnded",
    }
    assert set(seen.values()) == {"0851"}, seen


async def test_concurrent_decisions_exactly_one_wins(
    case: Case, yonas: dict[str, Any], kantine: dict[str, Any]
) -> None:
    await case.setup(yonas, kantine)
    for _ in range(3):
        answers = await asyncio.gather(
            case.act("accept"),
            case.act("reject", {"reason_code": "transport"}),
            case.act("accept"),
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [202, 409, 409], [a.text for a in answers]
        # A fresh pair for the next round.
        case.cid, case.oid = f"cit-{letters()}", f"jo-{letters()}"
        case.sid = suggestion_id(case.oid, case.cid)
        await case.setup(yonas, kantine)


async def test_rejection_needs_a_known_code_and_text_for_other(
    case: Case, yonas: dict[str, Any], kantine: dict[str, Any]
) -> None:
    await case.setup(yonas, kantine)
    assert (await case.act("reject", {"reason_code": "weather"})).status_code == 422
    no_text = await case.act("reject", {"reason_code": "other"})
    assert no_text.status_code == 422 and no_text.json()["detail"][0]["field"] == "reason_text"
    rejected = await case.act("reject", {"reason_code": "danish_level"})
    assert rejected.status_code == 202
    # A rejected suggestion can be neither accepted nor presented.
    assert (await case.act("accept")).status_code == 409
    assert (await case.act("present")).status_code == 409


async def test_presenting_needs_an_open_order(
    case: Case, amina: dict[str, Any], lager: dict[str, Any]
) -> None:
    await case.setup(amina, lager)
    assert (await case.act("accept")).status_code == 202
    consent = {"scope": "all"}
    assert (await case.post(f"/v1/citizens/{case.cid}/consents", consent)).status_code == 202
    closed = await case.post(f"/v1/job-orders/{case.oid}/close", {"reason": "withdrawn"})
    assert closed.status_code == 202
    refused = await case.act("present")
    assert refused.status_code == 409 and "withdrawn" in _reason(refused)


async def test_withdrawn_consent_stops_presentation(
    case: Case, amina: dict[str, Any], lager: dict[str, Any]
) -> None:
    await case.setup(amina, lager)
    assert (await case.act("accept")).status_code == 202
    body = {"consent_id": "all-1", "scope": "all"}
    assert (await case.post(f"/v1/citizens/{case.cid}/consents", body)).status_code == 202
    withdrawn = await case.api.delete(f"/v1/citizens/{case.cid}/consents/all-1")
    assert withdrawn.status_code == 202 and withdrawn.json()["event_type"] == "ConsentWithdrawn"
    assert (await case.act("present")).status_code == 409


async def test_retracted_or_unknown_suggestions_are_refused(
    case: Case, amina: dict[str, Any], lager: dict[str, Any]
) -> None:
    await case.setup(amina, lager)
    await emit(
        case.broker,
        SuggestionRetracted(
            job_order_id=case.oid, citizen_id=case.cid, suggestion_id=case.sid, reason="outranked"
        ),
    )

    async def retracted() -> bool:
        raw = await case.redis.hget(PREFIX + suggestion_key(case.sid), "retracted")
        return raw in (b"outranked", "outranked")

    await until(retracted, "the retraction to arrive")
    refused = await case.act("accept")
    assert refused.status_code == 409 and "retracted" in _reason(refused)
    unknown = await case.api.post("/v1/suggestions/sug-doesnotexist/accept")
    assert unknown.status_code == 404


async def test_employer_decides_only_on_presented_candidates(
    case: Case, amina: dict[str, Any], lager: dict[str, Any]
) -> None:
    await case.setup(amina, lager)
    early = await case.act("employer-decision", {"decision": "hired"})
    assert early.status_code == 409
    hire_first = await case.post(
        "/v1/placements",
        {
            "suggestion_id": case.sid,
            "placement_type": "IGU",
            "start_date": "2027-01-04",
            "weekly_hours_work": 29,
            "weekly_hours_school": 8,
        },
    )
    assert hire_first.status_code == 409 and "hired" in _reason(hire_first)


async def test_erased_citizen_refuses_further_commands(
    case: Case, fatima: dict[str, Any], kantine: dict[str, Any]
) -> None:
    await case.setup(fatima, kantine)
    erased = await case.post(f"/v1/citizens/{case.cid}/erasure", {"reason": "citizen request"})
    assert erased.status_code == 202 and erased.json()["event_type"] == "ErasureRequested"
    again = await case.post(f"/v1/citizens/{case.cid}/availability", {"available": False})
    assert again.status_code in (404, 409)
