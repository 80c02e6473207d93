"""The events API against the real broker: 202 after the write, 422 naming the bad field."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from schemas.registry import REGISTRY
from schemas.topics import CITIZENS, EMPLOYERS
from tests.conftest import Issuer
from tests.integration.kafka_helpers import read_all, read_record


async def test_card_is_in_the_log_when_202_is_answered(
    events_api: httpx.AsyncClient, broker: str, amina: dict[str, Any], issuer: Issuer
) -> None:
    amina["citizen_id"] = "cit-api-0001"
    response = await events_api.post(
        "/v1/competence-cards",
        json=amina,
        headers=issuer.bearer("consultant", "kons-42", municipality="0751"),
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["event_type"] == "CompetenceCardRegistered" and body["version"] == 1
    pos = body["position"]
    assert pos["topic"] == CITIZENS.name

    record = await read_record(broker, pos["topic"], pos["partition"], pos["offset"])
    assert record.key == b"cit-api-0001"
    assert dict(record.headers)["event_type"] == b"CompetenceCardRegistered"
    event = REGISTRY.decode(record.value or b"")
    assert str(event.event_id) == body["event_id"]
    assert event.actor.id == "kons-42" and event.municipality_code == "0751"


async def test_card_updates_need_the_current_version(
    events_api: httpx.AsyncClient, amina: dict[str, Any]
) -> None:
    amina["citizen_id"] = "cit-api-0002"
    first = await events_api.post("/v1/competence-cards", json=amina)
    assert first.status_code == 202 and first.json()["version"] == 1
    again = await events_api.post("/v1/competence-cards", json=amina)
    assert again.status_code == 409 and "PUT" in again.json()["detail"][0]["reason"]

    amina["availability"]["hours_per_week"] = 25
    url = "/v1/competence-cards/cit-api-0002"
    assert (await events_api.put(url, json=amina)).status_code == 428
    second = await events_api.put(url, json=amina, headers={"If-Match": '"1"'})
    assert second.status_code == 202, second.text
    assert (second.json()["event_type"], second.json()["version"]) == ("CompetenceCardUpdated", 2)
    stale = await events_api.put(url, json=amina, headers={"If-Match": "1"})
    assert stale.status_code == 409 and "version 2" in stale.json()["detail"][0]["reason"]


async def test_job_order_registers_its_employer_once(
    events_api: httpx.AsyncClient, broker: str, lager: dict[str, Any]
) -> None:
    lager["employer"]["cvr"] = "11223346"
    for i in range(2):
        order = copy.deepcopy(lager)
        order["job_order_id"] = f"jo-api-{i}"
        response = await events_api.post("/v1/job-orders", json=order)
        assert response.status_code == 202
        assert response.json()["event_type"] == "JobOrderPosted"
    employers = [
        REGISTRY.decode(r.value or b"")
        for r in await read_all(broker, EMPLOYERS.name, EMPLOYERS.partitions)
    ]
    assert [e.aggregate_id for e in employers].count("11223346") == 1


async def test_invalid_card_is_422_naming_each_field(
    events_api: httpx.AsyncClient, broker: str, amina: dict[str, Any]
) -> None:
    amina["citizen_id"] = "010190-1234"
    amina["danish"]["cefr"] = "D7"
    del amina["location"]
    response = await events_api.post("/v1/competence-cards", json=amina)
    assert response.status_code == 422
    fields = {e["field"]: e["reason"] for e in response.json()["detail"]}
    assert set(fields) == {"citizen_id", "danish.cefr", "location"}
    assert "CPR" in fields["citizen_id"]
    # No event for the refused card (other tests park malformed records in the topic, one
    # with this very id: those are not events and are skipped).
    for record in await read_all(broker, CITIZENS.name, CITIZENS.partitions):
        try:
            event = REGISTRY.decode(record.value or b"")
        except ValueError:
            continue
        assert event.aggregate_id != "010190-1234"


async def test_a_token_naming_no_jobmatch_role_is_401(
    events_api: httpx.AsyncClient, amina: dict[str, Any], issuer: Issuer
) -> None:
    wizard = issuer.bearer("consultant", municipality="0751", extra={"role": "wizard"})
    response = await events_api.post("/v1/competence-cards", json=amina, headers=wizard)
    assert response.status_code == 401
    assert "no jobmatch role" in response.json()["detail"][0]["reason"]


async def test_health_and_ready(events_api: httpx.AsyncClient) -> None:
    assert (await events_api.get("/health")).json()["status"] == "ok"
    ready = await events_api.get("/ready")
    assert ready.status_code == 200 and ready.json() == {
        "status": "ready",
        "service": "events",
        "broker": True,
        "redis": True,
        "signing_keys": True,
        "aggregates": True,
    }


async def test_occupation_autocomplete(events_api: httpx.AsyncClient) -> None:
    response = await events_api.get(
        "/v1/taxonomy/occupations", params={"q": "lagermedarbejder", "lang": "da", "limit": 5}
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 5
    assert results[0]["uri"].endswith("bea705fe-06ac-4147-b8e0-6e8ac1208d8f")
    assert results[0]["label"] == "lagermedarbejder" or "lager" in results[0]["label"]
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    english = await events_api.get("/v1/taxonomy/occupations", params={"q": "cook", "lang": "en"})
    assert english.json()["results"][0]["label"] == "cook"
    assert (await events_api.get("/v1/taxonomy/occupations", params={"q": ""})).status_code == 422
