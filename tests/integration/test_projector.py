"""The profiles projector against the real broker and Redis: views, tracking, dead letters."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from schemas.citizens import CompetenceCard, CompetenceCardRegistered, CompetenceCardUpdated
from schemas.envelope import Actor, Event, EventPayload
from schemas.topics import CITIZENS, DEAD_LETTER
from services.common.kafka import make_producer
from services.profiles import queries
from services.profiles.reads import Views
from services.projection.projector import Projector
from services.projection.store import ViewStore
from services.projection.writes import (
    Delete,
    HashDelete,
    HashSet,
    HashUpdate,
    Write,
    ZAdd,
    ZRemove,
)
from tests.integration.kafka_helpers import read_all

ACTOR = Actor(role="consultant", id="t")


async def _publish(producer: AIOKafkaProducer, payload: EventPayload) -> None:
    event = Event.new(payload, actor=ACTOR, occurred_at=datetime.now(UTC))
    await producer.send_and_wait(
        event.topic, event.to_json(), key=event.aggregate_id.encode(), headers=event.headers()
    )


async def _run_until_caught_up(projector: Projector, want_applied: int) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(projector.run(stop))
    try:
        for _ in range(200):
            await asyncio.sleep(0.05)
            if projector.running and projector.applied >= want_applied and projector.lag() == 0:
                break
        await asyncio.sleep(0.3)  # a little longer: anything extra would show as applied
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def producer(broker: str) -> AsyncIterator[AIOKafkaProducer]:
    client = make_producer(broker)
    await client.start()
    yield client
    await client.stop()


async def _registered(producer: AIOKafkaProducer, amina: dict[str, Any]) -> CompetenceCard:
    """A fresh citizen (new id) registered in the log; a fresh view name for the test."""
    amina["citizen_id"] = f"cit-proj-{uuid.uuid4().hex[:6]}"
    card = CompetenceCard.model_validate(amina)
    await _publish(
        producer, CompetenceCardRegistered(citizen_id=card.citizen_id, version=1, card=card)
    )
    return card


async def test_views_resume_after_restart_without_reapplying(
    broker: str, redis: Redis, producer: AIOKafkaProducer, amina: dict[str, Any]
) -> None:
    prefix = f"jm:test-{uuid.uuid4().hex[:8]}:"
    card = await _registered(producer, amina)
    cid = card.citizen_id
    first = Projector(broker, ViewStore(redis, prefix))
    await _run_until_caught_up(first, 1)
    seen = first.applied
    assert seen >= 1
    doc = await queries.citizen(Views(redis, prefix), cid)
    assert doc is not None and doc["version"] == 1

    tracked = await ViewStore(redis, prefix).positions()
    assert sum(tracked.values()) == seen, "tracking counts exactly the applied events"

    # Restarting reads on from the tracked positions: nothing is applied twice.
    second = Projector(broker, ViewStore(redis, prefix))
    await _run_until_caught_up(second, 0)
    assert second.applied == 0

    updated = card.model_copy(update={"notes": "opdateret"})
    await _publish(producer, CompetenceCardUpdated(citizen_id=cid, version=2, card=updated))
    third = Projector(broker, ViewStore(redis, prefix))
    await _run_until_caught_up(third, 1)
    assert third.applied == 1
    doc = await queries.citizen(Views(redis, prefix), cid)
    assert doc is not None and doc["version"] == 2 and doc["card"]["notes"] == "opdateret"


async def test_malformed_record_goes_to_dead_letter_and_views_survive(
    broker: str, redis: Redis, producer: AIOKafkaProducer, amina: dict[str, Any]
) -> None:
    prefix = f"jm:test-{uuid.uuid4().hex[:8]}:"
    cid = (await _registered(producer, amina)).citizen_id
    bad = b'{"event_type": "CompetenceCardUpdated", "schema_version": 1, "payload": {}}'
    await producer.send_and_wait(CITIZENS.name, bad, key=cid.encode())
    projector = Projector(broker, ViewStore(redis, prefix))
    await _run_until_caught_up(projector, 1)
    assert projector.dead_lettered >= 1
    doc = await queries.citizen(Views(redis, prefix), cid)
    assert doc is not None and doc["version"] == 1

    # Each consumer that cannot read it parks it, under its own name.
    parked = [
        r
        for r in await read_all(broker, DEAD_LETTER.name, DEAD_LETTER.partitions)
        if r.key == cid.encode() and dict(r.headers)["dlq_consumer"] == b"profiles"
    ]
    # It points at the record and says what is wrong, without its bytes.
    assert parked and parked[-1].value is None
    headers = dict(parked[-1].headers)
    assert b"validation error" in headers["dlq_reason"]
    assert headers["dlq_source_topic"] == CITIZENS.name.encode()
    assert headers["dlq_value_sha256"] == hashlib.sha256(bad).hexdigest().encode()


async def test_a_dead_letter_and_the_log_line_hold_nothing_of_the_record(
    broker: str,
    redis: Redis,
    producer: AIOKafkaProducer,
    amina: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A foreign producer's record with a CPR number as its key and in a note, and a name
    where a version belongs: parked with field paths and error kinds only."""
    prefix = f"jm:test-{uuid.uuid4().hex[:8]}:"
    cpr, name = "010190-1234", "Amina Hassan Nielsen"
    card = dict(amina, notes=f"CPR {cpr}", citizen_id=cpr)
    bad = json.dumps(
        {
            "event_type": "CompetenceCardRegistered",
            "schema_version": 1,
            "payload": {"citizen_id": cpr, "version": name, "card": card, name: cpr},
        }
    ).encode()
    await producer.send_and_wait(CITIZENS.name, bad, key=cpr.encode())
    projector = Projector(broker, ViewStore(redis, prefix))
    with caplog.at_level(logging.INFO):
        await _run_until_caught_up(projector, 1)
    parked = [
        r
        for r in await read_all(broker, DEAD_LETTER.name, DEAD_LETTER.partitions)
        if dict(r.headers).get("dlq_value_sha256") == hashlib.sha256(bad).hexdigest().encode()
        and dict(r.headers)["dlq_consumer"] == b"profiles"
    ]
    assert parked
    reason = dict(parked[-1].headers)["dlq_reason"].decode()
    assert "version: int_parsing" in reason and "?: extra_forbidden" in reason
    everything = b"".join(
        [parked[-1].key or b"", parked[-1].value or b""]
        + [v for _, v in parked[-1].headers]
        + [caplog.text.encode()]
    )
    for secret in (cpr, cpr.replace("-", ""), "Amina", "0101901234"):
        assert secret.encode() not in everything, secret


async def test_store_applies_a_batch_in_order_per_key(redis: Redis) -> None:
    prefix = f"jm:test-{uuid.uuid4().hex[:8]}:"
    store = ViewStore(redis, prefix)
    writes: list[Write] = [
        HashUpdate("h", (("a", "1"), ("b", "ä 2"))),
        HashSet("h", "c", "3"),
        ZAdd("z", "m", 0.25),
        HashDelete("h", "a"),
    ]
    await store.apply(writes, {("t", 0): 5})
    await store.apply([ZRemove("z", "m"), HashSet("gone", "x", "1"), Delete("gone")], {("t", 0): 7})
    assert await redis.hgetall(prefix + "h") == {b"b": "ä 2".encode(), b"c": b"3"}
    assert await redis.zcard(prefix + "z") == 0 and not await redis.exists(prefix + "gone")
    assert await store.positions() == {("t", 0): 7}
