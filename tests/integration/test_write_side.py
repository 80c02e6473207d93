"""The events service decides on a projection of the log: a Redis wipe, events of another
producer and a command that died holding its claim all leave decisions equal to a replay's.

Each test has a Redis of its own (it is wiped), on the session's broker."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from schemas.citizens import ConsentGiven
from schemas.envelope import Actor, Event
from services.common.kafka import make_producer
from services.events.app import create_app
from services.events.commands import citizen_key
from services.events.settings import EventsSettings
from services.events.store import AggregateStore
from services.profiles.app import create_app as create_profiles_app
from services.profiles.settings import ProfilesSettings
from services.stack import free_port, start_redis
from tests.conftest import Issuer
from tests.integration.conftest import MUNICIPALITY, caught_up, stores
from tests.integration.workflow_helpers import until

CARDS = "/v1/competence-cards"


@pytest.fixture
def own_redis_url(tmp_path: Path) -> Any:
    port = free_port()
    proc = start_redis(port, tmp_path / "redis", tmp_path / "logs", durable=False)
    yield f"redis://127.0.0.1:{port}/0"
    proc.stop()


@pytest.fixture
async def apps(
    broker: str, own_redis_url: str, issuer: Issuer
) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    settings = stores(broker, own_redis_url, issuer)
    events = create_app(
        EventsSettings(**settings, events_claim_ttl_ms=500)  # type: ignore[arg-type]
    )
    profiles = create_profiles_app(
        ProfilesSettings(**settings, profiles_fetch_max_wait_ms=100)  # type: ignore[arg-type]
    )
    async with events.router.lifespan_context(events), profiles.router.lifespan_context(profiles):
        await caught_up(events)
        yield events, profiles


def client(app: FastAPI, issuer: Issuer) -> httpx.AsyncClient:
    consultant = issuer.bearer("consultant", "kons-7", municipality=MUNICIPALITY)
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://svc", headers=consultant)


def fresh_card(amina: dict[str, Any]) -> dict[str, Any]:
    card = copy.deepcopy(amina)
    card["citizen_id"] = f"cit-{uuid.uuid4().hex[:8]}"
    return card


async def test_a_redis_wipe_is_replayed_from_the_log_not_resumed_at_its_end(
    apps: tuple[FastAPI, FastAPI], issuer: Issuer, own_redis_url: str, amina: dict[str, Any]
) -> None:
    events_app, profiles_app = apps
    card = fresh_card(amina)
    cid = card["citizen_id"]
    async with client(events_app, issuer) as events, client(profiles_app, issuer) as profiles:
        assert (await events.post(CARDS, json=card)).status_code == 202
        card["notes"] = "anden udgave"
        updated = await events.put(f"{CARDS}/{cid}", json=card, headers={"If-Match": '"1"'})
        assert updated.status_code == 202, updated.text

        redis = Redis.from_url(own_redis_url)
        try:
            await redis.flushall()
        finally:
            await redis.aclose()

        refused = await events.post(CARDS, json=card)
        assert refused.status_code == 503 and refused.headers["Retry-After"]

        async def ready_again() -> bool:
            replayed = events_app.state.projector.replays >= 1
            return replayed and (await events.get("/ready")).status_code == 200

        await until(ready_again, "the events service to replay the log", timeout=60)
        assert events_app.state.projector.replays >= 1
        # The card is at version 2, as the log says: not registered afresh, not version 1.
        again = await events.post(CARDS, json=card)
        assert again.status_code == 409 and "version 2" in again.text
        card["notes"] = "tredje udgave"
        third = await events.put(f"{CARDS}/{cid}", json=card, headers={"If-Match": '"2"'})
        assert third.status_code == 202 and third.json()["version"] == 3, third.text

        async def profile_back() -> bool:
            got = await profiles.get(
                f"/v1/citizens/{cid}", params={"min_position": third.json()["read_token"]}
            )
            return got.status_code == 200 and got.json()["version"] == 3

        await until(profile_back, "the profile to come back at version 3", timeout=60)
        assert profiles_app.state.projector.replays >= 1


async def test_events_of_another_producer_are_known_to_the_commands(
    apps: tuple[FastAPI, FastAPI], issuer: Issuer, broker: str, amina: dict[str, Any]
) -> None:
    events_app, _ = apps
    card = fresh_card(amina)
    cid = card["citizen_id"]
    async with client(events_app, issuer) as events:
        assert (await events.post(CARDS, json=card)).status_code == 202
        consent = ConsentGiven(citizen_id=cid, consent_id="fra-andet-system", scope="all")
        event = Event.new(
            consent,
            actor=Actor(role="system", id="sagssystem"),
            occurred_at=datetime.now(UTC),
            municipality_code=MUNICIPALITY,
        )
        producer = make_producer(broker)
        await producer.start()
        try:
            await producer.send_and_wait(
                event.topic, event.to_json(), key=cid.encode(), headers=event.headers()
            )
        finally:
            await producer.stop()
        store: AggregateStore = events_app.state.context.handlers.store

        async def known() -> bool:
            state = (await store.load([citizen_key(cid)]))[citizen_key(cid)].state
            return state is not None and "fra-andet-system" in state.consents  # type: ignore[attr-defined]

        await until(known, "the events service to read the other producer's consent")
        withdrawn = await events.delete(f"/v1/citizens/{cid}/consents/fra-andet-system")
        assert withdrawn.status_code == 202, withdrawn.text


async def test_a_command_that_died_holding_its_claim_blocks_the_record_only_briefly(
    apps: tuple[FastAPI, FastAPI], issuer: Issuer, amina: dict[str, Any]
) -> None:
    events_app, _ = apps
    card = fresh_card(amina)
    cid = card["citizen_id"]
    async with client(events_app, issuer) as events:
        assert (await events.post(CARDS, json=card)).status_code == 202
        store: AggregateStore = events_app.state.context.handlers.store
        key = citizen_key(cid)
        version = (await store.load([key]))[key].version
        # A command claimed the citizen, then its process died (it never settles).
        assert (await store.claim({key: version}, "dead-command")).value == 1
        body = {"available": False}
        blocked = await events.post(f"/v1/citizens/{cid}/availability", json=body)
        assert blocked.status_code == 409 and "under way" in blocked.text

        async def free() -> bool:
            got = await events.post(f"/v1/citizens/{cid}/availability", json=body)
            return got.status_code == 202

        await until(free, "the claim to expire", timeout=5)
