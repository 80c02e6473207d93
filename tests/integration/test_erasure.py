"""Erasure that reaches the log (crypto-shredding), end to end on the real broker and Redis.

A citizen whose card and free texts carry marker strings goes through suggestion, review
(one order rejected with a reason, one accepted), consent, presentation, the employer's
decisions, a placement and follow-ups with notes. After the erasure the markers are in no
topic's raw bytes (read from the start), no Redis value (every key, every type), no answer
of the APIs and no log record; after a rebuild of the views still nowhere; the key figures
are unchanged.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from schemas.envelope import SYSTEM_MATCHING, Event
from schemas.placements import PlacementSuggested, Reason, SuggestionRetracted
from schemas.registry import REGISTRY
from schemas.sealing import installed
from schemas.topics import CATALOGUE, DEAD_LETTER
from services.common.kafka import make_producer, read_log
from services.events.commands import placement_id_for
from services.keys.setup import installed_ring
from services.matching.domain.state import suggestion_id
from services.profiles import keyspace
from services.profiles.rebuild import rebuild
from tests.conftest import Issuer
from tests.integration.workflow_helpers import PLACEMENT, Case, emit, letters, until


async def _emit_sealed(broker: str, payload: PlacementSuggested, municipality: str | None) -> None:
    """As the matching worker writes a suggestion: its reasons sealed with the citizen's key."""
    event = Event.new(
        payload,
        actor=SYSTEM_MATCHING,
        occurred_at=datetime.now(UTC),
        municipality_code=municipality,
    )
    producer = make_producer(broker)
    await producer.start()
    try:
        await producer.send_and_wait(
            event.topic,
            event.to_json(installed()),
            key=event.aggregate_id.encode(),
            headers=event.headers(),
        )
    finally:
        await producer.stop()


def marker(what: str) -> str:
    return f"Markoer{what}{letters(12)}"


@pytest.fixture
async def profiles(profiles_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=profiles_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://profiles") as client:
        yield client


async def _redis_values(redis: Any) -> list[Any]:
    """Every key and every value in the Redis database, whatever its type."""
    out: list[Any] = []
    async for key in redis.scan_iter(count=1000):
        out.append(key)
        kind = (await redis.type(key)).decode()
        if kind == "string":
            out.append(await redis.get(key) or b"")
        elif kind == "hash":
            for field, value in (await redis.hgetall(key)).items():
                out += [field, value]
        elif kind == "set":
            out += list(await redis.smembers(key))
        elif kind == "zset":
            out += [m for m, _ in await redis.zrange(key, 0, -1, withscores=True)]
        elif kind == "list":
            out += list(await redis.lrange(key, 0, -1))
        elif kind == "stream":
            for _, fields in await redis.xrange(key):
                for field, value in fields.items():
                    out += [field, value]
    return out


async def _log_bytes(broker: str) -> list[bytes]:
    records = await read_log(broker, [*CATALOGUE, DEAD_LETTER], timeout=30)
    out: list[bytes] = []
    for r in records:
        out += [r.key or b"", r.value or b""]
        out += [v for _, v in r.headers or ()]
    return out


def _found(markers: list[str], blobs: list[Any]) -> set[str]:
    joined = [b.decode("utf-8", "replace") if isinstance(b, bytes) else b for b in blobs]
    return {m for m in markers for blob in joined if m in blob}


async def test_an_erased_citizen_s_data_is_found_nowhere(
    events_api: httpx.AsyncClient,
    profiles: httpx.AsyncClient,
    broker: str,
    redis: Redis,
    issuer: Issuer,
    amina: dict[str, Any],
    lager: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    card_markers = {
        "notes": marker("Note"),
        "skill": marker("Skill"),
        "experience": marker("Erfaring"),
        "wish": marker("Oenske"),
        "certificate": marker("Certifikat"),
    }
    texts = {
        "reject": marker("Afvist"),
        "decision": marker("Beslutning"),
        "hired": marker("Ansat"),
        "follow_up": marker("Opfoelgning"),
        "follow_up_2": marker("Opfoelgning"),
        "erasure": marker("Sletning"),
    }
    markers = [*card_markers.values(), *texts.values()]
    card = copy.deepcopy(amina)
    card["notes"] = f"Har arbejdet på lager. {card_markers['notes']}"
    card["skills"].append({"label": card_markers["skill"]})
    card["experience"].append({"title": card_markers["experience"], "years": 2})
    card["job_wishes"].append({"title": card_markers["wish"]})
    card["certificates"].append(card_markers["certificate"])

    case = Case(events_api, broker, redis, issuer)
    await case.setup(card, lager)
    kpi_path = f"/v1/kpis/{case.municipality}"
    muni = case.order_office

    # A second order, suggested with reasons quoting the card (as matching's do), rejected
    # with a reason.
    other_oid = f"jo-{letters()}"
    other = {**copy.deepcopy(lager), "job_order_id": other_oid}
    other["employer"]["cvr"] = case.cvr
    assert (await case.post("/v1/job-orders", other)).status_code == 202
    other_sid = suggestion_id(other_oid, case.cid)
    reasons = [
        Reason(
            code="skills",
            text_da=f"Kan {card_markers['skill']}",
            text_en=f"Knows {card_markers['skill']}",
            contribution=0.4,
        )
    ]
    suggested = PlacementSuggested(
        job_order_id=other_oid,
        citizen_id=case.cid,
        suggestion_id=other_sid,
        score=0.8,
        rank=1,
        model_version="rules-1",
        card_version="c",
        order_version="o",
        reasons=reasons,
        missing=[card_markers["certificate"]],
    )
    await _emit_sealed(broker, suggested, case.municipality)

    async def known() -> bool:
        answer = await case.post(
            f"/v1/suggestions/{other_sid}/reject",
            {"reason_code": "health", "reason_text": texts["reject"]},
        )
        return answer.status_code == 202

    await until(known, "the second suggestion to be rejected")

    await case.advance("consented")
    assert (await case.act("accept")).status_code == 202
    assert (await case.act("present")).status_code == 202
    decided = await case.act(
        "employer-decision", {"decision": "interview", "reason": texts["decision"]}
    )
    assert decided.status_code == 202
    hired = await case.act("employer-decision", {"decision": "hired", "reason": texts["hired"]})
    assert hired.status_code == 202
    started = await case.post("/v1/placements", PLACEMENT | {"suggestion_id": case.sid})
    assert started.status_code == 202, started.text
    pid = placement_id_for(case.sid)
    for day, note in (("2027-02-04", texts["follow_up"]), ("2027-03-04", texts["follow_up_2"])):
        follow = {"date": day, "status": "at_risk", "note": note}
        answer = await case.post(f"/v1/placements/{pid}/follow-ups", follow)
        assert answer.status_code == 202, answer.text

    # While the key exists, the texts are in the citizen's view, and sealed in the log.
    seen = await _until_view(
        profiles, f"/v1/citizens/{case.cid}", case.citizen_office, texts["follow_up_2"]
    )
    assert card_markers["notes"] in seen
    raw = await _log_bytes(broker)
    assert not _found(markers, raw), "personal fields must be sealed in the log"
    kpis_before = (await profiles.get(kpi_path, headers=muni)).json()

    erased = await case.post(
        f"/v1/citizens/{case.cid}/erasure", {"reason": texts["erasure"]}, case.citizen_office
    )
    assert erased.status_code == 202, erased.text
    assert [e["event_type"] for e in erased.json()["events"]] == [
        "ErasureRequested",
        "CitizenErased",
    ]
    ring = installed_ring()
    assert ring is not None and ring.store.get(case.cid) is None
    assert ring.store.unannounced() == [] or case.cid not in ring.store.unannounced()
    # Matching retracts the citizen's suggestions when it reads the erasure.
    for oid, sid in ((case.oid, case.sid), (other_oid, other_sid)):
        retracted = SuggestionRetracted(
            job_order_id=oid, citizen_id=case.cid, suggestion_id=sid, reason="erased"
        )
        await emit(broker, retracted, case.municipality)

    # Nothing more about the citizen is recorded: no new key (410, with a Danish reason).
    again = await events_api.post(
        "/v1/competence-cards", json=card | {"citizen_id": case.cid}, headers=case.citizen_office
    )
    assert again.status_code == 410, again.text
    assert "slettet" in again.json()["detail"][0]["reason"]
    assert ring.store.get(case.cid) is None

    await _until_gone(profiles, f"/v1/citizens/{case.cid}", case.citizen_office)
    await _until_retracted(profiles, case.oid, muni, case.cid)

    answers = await _answers(profiles, case, other_oid, pid)
    assert not _found(markers, answers), "API answers"
    assert not _found(markers, await _redis_values(redis)), "Redis"
    assert not _found(markers, await _log_bytes(broker)), "the log"
    # The log read with the keys: the personal fields are gone for good.
    for r in await read_log(broker, [*CATALOGUE], timeout=30):
        if r.value and case.cid.encode() in r.value:
            event = REGISTRY.decode_record(r.value, r.headers or ())
            assert not _found(markers, [event.model_dump_json()])
    assert (await profiles.get(kpi_path, headers=muni)).json() == kpis_before

    # A rebuild of the views from the log brings nothing back.
    report = await rebuild(broker, redis, grace_s=0)
    assert await keyspace.active(redis) == report.prefix
    assert not _found(markers, await _redis_values(redis)), "Redis after the rebuild"
    assert not _found(markers, await _answers(profiles, case, other_oid, pid)), "after rebuild"
    assert (await profiles.get(kpi_path, headers=muni)).json() == kpis_before

    logged = [caplog.text] + [repr(vars(r)) for r in caplog.records]
    assert not _found(markers, logged), "service logs"


async def _until_view(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], text: str
) -> str:
    for _ in range(300):
        answer = await client.get(path, headers=headers)
        if answer.status_code == 200 and text in answer.text:
            return answer.text
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never showed the text")


async def _until_gone(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> None:
    for _ in range(300):
        if (await client.get(path, headers=headers)).status_code in (404, 410):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} still answers")


async def _until_retracted(
    client: httpx.AsyncClient, oid: str, headers: dict[str, str], cid: str
) -> None:
    for _ in range(300):
        answer = await client.get(f"/v1/job-orders/{oid}/suggestions", headers=headers)
        if cid not in answer.text:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the suggestion was never retracted in the views")


async def _answers(client: httpx.AsyncClient, case: Case, other_oid: str, pid: str) -> list[str]:
    """What every read route answers about the citizen, the orders and the municipality."""
    own, muni = case.citizen_office, case.order_office
    employer = case.issuer.bearer("employer", "arbejdsgiver-erasure", cvr=case.cvr)
    admin = case.issuer.bearer("administrator", "admin-erasure")
    paths = [
        (f"/v1/citizens/{case.cid}", own),
        (f"/v1/citizens/{case.cid}/timeline", own),
        (f"/v1/citizens/{case.cid}/access-log", own),
        (f"/v1/job-orders/{case.oid}", muni),
        (f"/v1/job-orders/{other_oid}", muni),
        (f"/v1/job-orders/{case.oid}/suggestions", muni),
        (f"/v1/job-orders/{other_oid}/suggestions", muni),
        (f"/v1/job-orders/{case.oid}/timeline", muni),
        (f"/v1/job-orders/{other_oid}/timeline", muni),
        (f"/v1/worklists/{case.municipality}", muni),
        (f"/v1/worklists/{case.municipality}/follow-ups?until=2028-12-31", muni),
        (f"/v1/employers/{case.cvr}", employer),
        (f"/v1/employers/{case.cvr}/candidates", employer),
        (f"/v1/kpis/{case.municipality}", muni),
        ("/v1/reports", admin),
    ]
    out = []
    for path, headers in paths:
        answer = await client.get(path, headers=headers)
        assert answer.status_code in (200, 404, 410), (path, answer.status_code, answer.text)
        out.append(answer.text)
    return out
