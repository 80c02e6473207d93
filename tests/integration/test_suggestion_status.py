"""An order's suggestion list carries each suggestion's status and shows the pending ones by
default (`status=` chooses, `all` shows every one): through the events and profiles APIs
against the real broker and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from schemas.placements import PlacementSuggested, SuggestionRetracted
from services.matching.domain.state import suggestion_id
from tests.conftest import Issuer
from tests.integration.workflow_helpers import PLACEMENT, Case, emit, letters, until


@pytest.fixture
async def case(
    events_api: httpx.AsyncClient, broker: str, redis: Redis, issuer: Issuer
) -> AsyncIterator[Case]:
    yield Case(events_api, broker, redis, issuer)


async def listed(
    profiles: httpx.AsyncClient, oid: str, status: str | None = None
) -> list[tuple[str, str, str | None]]:
    params = {"status": status} if status else {}
    r = await profiles.get(f"/v1/job-orders/{oid}/suggestions", params=params)
    if r.status_code == 404:
        return []
    assert r.status_code == 200, r.text
    return [(s["citizen_id"], s["status"], s["review"]) for s in r.json()["suggestions"]]


async def eventually(
    profiles: httpx.AsyncClient, oid: str, status: str | None, want: Any, what: str
) -> None:
    async def seen() -> bool:
        return await listed(profiles, oid, status) == want

    await until(seen, what, timeout=20)


async def test_the_list_shows_pending_by_default_and_every_status_on_request(
    case: Case,
    profiles: httpx.AsyncClient,
    amina: dict[str, Any],
    lager: dict[str, Any],
) -> None:
    await case.setup(amina, lager, positions=2)
    oid, cid = case.oid, case.cid
    await eventually(profiles, oid, None, [(cid, "pending", None)], "the pending suggestion")

    await case.advance("accepted")
    await eventually(profiles, oid, None, [], "the accepted one off the default list")
    assert await listed(profiles, oid, "accepted") == [(cid, "accepted", "accepted")]

    # Another citizen suggested and withdrawn again: retracted, shown on request only.
    other = f"cit-{letters()}"
    other_sid = suggestion_id(oid, other)
    await emit(
        case.broker,
        PlacementSuggested(
            job_order_id=oid,
            citizen_id=other,
            suggestion_id=other_sid,
            score=0.5,
            rank=2,
            model_version="rules-1",
            card_version="c",
            order_version="o",
        ),
        case.municipality,
    )
    await eventually(profiles, oid, None, [(other, "pending", None)], "the second suggestion")
    await emit(
        case.broker,
        SuggestionRetracted(
            job_order_id=oid, citizen_id=other, suggestion_id=other_sid, reason="placed"
        ),
        case.municipality,
    )
    await eventually(profiles, oid, "retracted", [(other, "retracted", None)], "the retraction")
    r = await profiles.get(f"/v1/job-orders/{oid}/suggestions", params={"status": "retracted"})
    assert r.json()["suggestions"][0]["retraction_reason"] == "placed"
    assert await listed(profiles, oid, None) == []

    # Hired and placed: `hired`, and it stays so when matching withdraws it (placed).
    assert (await case.act("present")).status_code == 202
    assert (await case.act("employer-decision", {"decision": "hired"})).status_code == 202
    start = PLACEMENT | {"suggestion_id": case.sid}
    assert (await case.post("/v1/placements", start)).status_code == 202
    await eventually(profiles, oid, "hired", [(cid, "hired", "placed")], "the placement")
    withdrawn = SuggestionRetracted(
        job_order_id=oid, citizen_id=cid, suggestion_id=case.sid, reason="placed"
    )
    await emit(case.broker, withdrawn, case.municipality)
    want_all = [(cid, "hired", "placed"), (other, "retracted", None)]
    await eventually(profiles, oid, "all", want_all, "every suggestion with its status")
    both = await listed(profiles, oid, "hired,retracted")
    assert both == want_all
    assert await listed(profiles, oid, "pending,accepted") == []
    head = (await profiles.get(f"/v1/job-orders/{oid}/suggestions?status=all")).json()
    assert head["total"] == 2 and head["shown"] == [
        "pending",
        "accepted",
        "rejected",
        "presented",
        "hired",
        "retracted",
    ]


async def test_an_unknown_status_is_a_422_naming_the_field(
    case: Case, profiles: httpx.AsyncClient, amina: dict[str, Any], lager: dict[str, Any]
) -> None:
    await case.setup(amina, lager)
    r = await profiles.get(f"/v1/job-orders/{case.oid}/suggestions", params={"status": "hyred"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "status"
