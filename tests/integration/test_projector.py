"""The profiles projector against the real broker and Redis: views, tracking, dead letters."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from schemas.citizens import CompetenceCard, CompetenceCardRegistered, CompetenceCardUpdated
from schemas.envelope import Actor, Event, EventPayload
from schemas.topics import CITIZENS, DEAD_LETTER
from services.common.kafka import make_producer
from services.profiles import queries
from services.profiles.projector import Projector
from services.profiles.store import ViewStore
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


async def test_views_resume_after_restart_without_reapplying(
    broker: str, redis: Redis, amina: dict[str, Any]
) -> None:
    view = f"test-{uuid.uuid4().hex[:8]}"
    cid = f"cit-proj-{uuid.uuid4().hex[:6]}"
    amina["citizen_id"] = cid
    card = CompetenceCard.model_validate(amina)
    producer = make_producer(broker)
    await producer.start()
    try:
        await _publish(producer, CompetenceCardRegistered(citizen_id=cid, version=1, card=card))
        first = Projector(broker, ViewStore(redis, view))
        await _run_until_caught_up(first, 1)
        seen = first.applied
        assert seen >= 1
        doc = await queries.citizen(redis, cid)
        assert doc is not None and doc["version"] == 1

        tracked = await ViewStore(redis, view).positions()
        assert sum(tracked.values()) == seen, "tracking counts exactly the applied events"

        # Restarting reads on from the tracked positions: nothing is applied twice.
        second = Projector(broker, ViewStore(redis, view))
        await _run_until_caught_up(second, 0)
        assert second.applied == 0

        updated = card.model_copy(update={"notes": "opdateret"})
        await _publish(producer, CompetenceCardUpdated(citizen_id=cid, version=2, card=updated))
        third = Projector(broker, ViewStore(redis, view))
        await _run_until_caught_up(third, 1)
        assert third.applied == 1
        doc = await queries.citizen(redis, cid)
        assert doc is not None and doc["version"] == 2 and doc["card"]["notes"] == "opdateret"
    finally:
        await producer.stop()


async def test_malformed_record_goes_to_dead_letter_and_views_survive(
    broker: str, redis: Redis, amina: dict[str, Any]
) -> None:
    view = f"test-{uuid.uuid4().hex[:8]}"
    cid = f"cit-dlq-{uuid.uuid4().hex[:6]}"
    amina["citizen_id"] = cid
    card = CompetenceCard.model_validate(amina)
    producer = make_producer(broker)
    await producer.start()
    try:
        await _publish(producer, CompetenceCardRegistered(citizen_id=cid, version=1, card=card))
        bad = b'{"event_type": "CompetenceCardUpdated", "schema_version": 1, "payload": {}}'
        await producer.send_and_wait(CITIZENS.name, bad, key=cid.encode())
        projector = Projector(broker, ViewStore(redis, view))
        await _run_until_caught_up(projector, 1)
        assert projector.dead_lettered >= 1
        doc = await queries.citizen(redis, cid)
        assert doc is not None and doc["version"] == 1

        parked = [
            r
            for r in await read_all(broker, DEAD_LETTER.name, DEAD_LETTER.partitions)
            if r.key == cid.encode()
        ]
        assert parked and parked[-1].value == bad
        headers = dict(parked[-1].headers)
        assert headers["dlq_consumer"] == b"profiles"
        assert b"validation error" in headers["dlq_reason"]
        assert headers["dlq_source_topic"] == CITIZENS.name.encode()
    finally:
        await producer.stop()
