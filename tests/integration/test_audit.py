"""Every read of a citizen's personal data is on record before it is answered, refusals
too; a consultant of the citizen's municipality reads the access log; the records hold no
personal content; a read that cannot be recorded is not served."""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from schemas.audit import PersonalDataAccessed
from schemas.registry import REGISTRY
from schemas.topics import AUDIT
from services.events.commands import placement_id_for
from services.profiles.app import create_app as create_profiles_app
from services.profiles.settings import ProfilesSettings
from tests.conftest import Issuer
from tests.integration.conftest import MUNICIPALITY, stores
from tests.integration.kafka_helpers import read_all
from tests.integration.workflow_helpers import PLACEMENT, Case

MARKER = "Markør-Zebrafink-kvist"
_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def fresh_citizen_id() -> str:
    return f"cit-a-{uuid.uuid4().hex[:12].translate(_LETTERS)}"


@pytest.fixture
async def profiles(profiles_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=profiles_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://profiles") as client:
        yield client


async def _registered(events_api: httpx.AsyncClient, amina: dict[str, Any]) -> str:
    card = copy.deepcopy(amina) | {"citizen_id": fresh_citizen_id(), "notes": MARKER}
    accepted = await events_api.post("/v1/competence-cards", json=card)
    assert accepted.status_code == 202
    return str(card["citizen_id"])


async def _until(get: Any, path: str, headers: dict[str, str], status: int = 200) -> Any:
    for _ in range(200):
        response = await get(path, headers=headers)
        if response.status_code == status:
            return response
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path}: {response.status_code}")


async def test_reads_and_refusals_are_on_the_citizen_s_access_log(
    events_api: httpx.AsyncClient,
    profiles: httpx.AsyncClient,
    issuer: Issuer,
    broker: str,
    amina: dict[str, Any],
) -> None:
    cid = await _registered(events_api, amina)
    own = issuer.bearer("consultant", "kons-audit-1", municipality=MUNICIPALITY)
    other = issuer.bearer("consultant", "kons-audit-2", municipality="0101")
    employer = issuer.bearer("employer", "arbejdsgiver-audit", cvr="12345607")

    # A command refused to another municipality's consultant is on record too.
    refused = await events_api.post(
        f"/v1/citizens/{cid}/availability", json={"available": False}, headers=other
    )
    assert refused.status_code == 404
    await _until(profiles.get, f"/v1/citizens/{cid}", own)
    assert (await profiles.get(f"/v1/citizens/{cid}/timeline", headers=own)).status_code == 200
    assert (await profiles.get(f"/v1/citizens/{cid}", headers=other)).status_code == 404
    # A role that may never read the log: refused, and that refusal is on record as well.
    assert (
        await profiles.get(f"/v1/citizens/{cid}/access-log", headers=employer)
    ).status_code == 403
    assert (await profiles.get(f"/v1/citizens/{cid}/access-log", headers=other)).status_code == 404

    async def logged() -> list[dict[str, Any]]:
        response = await profiles.get(f"/v1/citizens/{cid}/access-log", headers=own)
        assert response.status_code == 200
        return list(response.json()["entries"])

    expected = {
        ("kons-audit-1", "/v1/citizens/{citizen_id}", 200, "read"),
        ("kons-audit-1", "/v1/citizens/{citizen_id}/timeline", 200, "read"),
        ("kons-audit-2", "/v1/citizens/{citizen_id}", 404, "read"),
        ("arbejdsgiver-audit", "/v1/citizens/{citizen_id}/access-log", 403, "read"),
        ("kons-audit-2", "/v1/citizens/{citizen_id}/access-log", 404, "read"),
        ("kons-7", "/v1/competence-cards", 202, "command"),
        ("kons-audit-2", "/v1/citizens/{citizen_id}/availability", 404, "command"),
    }
    seen: set[tuple[str, str, int, str]] = set()
    entries: list[dict[str, Any]] = []
    for _ in range(300):  # the view follows the topic
        entries = await logged()
        seen = {(e["actor"]["id"], e["route"], e["status"], e["kind"]) for e in entries}
        if expected <= seen:
            break
        await asyncio.sleep(0.05)
    assert expected <= seen, expected - seen
    own_entry = next(e for e in entries if e["actor"]["id"] == "kons-audit-1")
    assert own_entry["actor"] == {
        "role": "consultant",
        "id": "kons-audit-1",
        "municipality_code": MUNICIPALITY,
    }
    assert own_entry["service"] == "profiles" and own_entry["method"] == "GET"

    # The records themselves: the citizen's id and the readers, nothing of the card.
    records = [
        r for r in await read_all(broker, AUDIT.name, AUDIT.partitions) if r.key == cid.encode()
    ]
    assert len(records) >= 5
    for record in records:
        assert MARKER.encode() not in (record.value or b"")
        event = REGISTRY.decode(record.value or b"")
        assert isinstance(event.payload, PersonalDataAccessed)


async def test_a_read_that_cannot_be_recorded_is_not_served(
    broker: str, redis_url: str, issuer: Issuer
) -> None:
    """The trail's broker is away: the answer is 503 with Retry-After, not the data."""
    settings = ProfilesSettings(
        **stores(broker, redis_url, issuer),  # type: ignore[arg-type]
        profiles_fetch_max_wait_ms=100,
    )
    app = create_profiles_app(settings)
    async with app.router.lifespan_context(app):
        trail = app.state.audit_trail
        await trail.stop()
        trail._bootstrap, trail._producer = "127.0.0.1:1", None
        own = issuer.bearer("consultant", "kons-audit-3", municipality=MUNICIPALITY)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://p") as client:
            response = await client.get("/v1/citizens/cit-audit-nobody", headers=own)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "audit" in response.text


async def test_commands_addressed_by_suggestion_or_placement_are_on_the_access_log(
    events_api: httpx.AsyncClient,
    broker: str,
    redis: Redis,
    issuer: Issuer,
    amina: dict[str, Any],
    lager: dict[str, Any],
) -> None:
    """Review, presentation, the employer's decision, the placement and its follow-ups name
    the citizen through the suggestion or placement they address: each is on her record,
    and so is a refusal (another job centre's consultant probing the suggestion)."""
    case = Case(events_api, broker, redis, issuer)
    await case.setup(amina, lager)
    await case.advance("hired")
    placed = await case.post("/v1/placements", PLACEMENT | {"suggestion_id": case.sid})
    assert placed.status_code == 202, placed.text
    pid = placement_id_for(case.sid)
    followed = await case.post(
        f"/v1/placements/{pid}/follow-ups", {"date": "2027-01-11", "status": "on_track"}
    )
    assert followed.status_code == 202, followed.text
    stranger = issuer.bearer("consultant", "kons-fremmed", municipality="0101")
    probed = await case.act("employer-decision", {"decision": "declined"}, as_=stranger)
    assert probed.status_code == 404

    expected = {
        ("/v1/suggestions/{suggestion_id}/accept", 202),
        ("/v1/suggestions/{suggestion_id}/present", 202),
        ("/v1/suggestions/{suggestion_id}/employer-decision", 202),
        ("/v1/suggestions/{suggestion_id}/employer-decision", probed.status_code),
        ("/v1/placements", 202),
        ("/v1/placements/{placement_id}/follow-ups", 202),
    }
    seen: set[tuple[str, int]] = set()
    for record in await read_all(broker, AUDIT.name, AUDIT.partitions):
        if record.key != case.cid.encode():
            continue
        payload = REGISTRY.decode(record.value or b"").payload
        assert isinstance(payload, PersonalDataAccessed)
        seen.add((payload.route, payload.status))
    assert expected <= seen, expected - seen
