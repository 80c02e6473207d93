"""The parallel rebuild against the real broker and Redis: every partition replayed once,
and erasures final although another process read them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from schemas.citizens import CompetenceCard, CompetenceCardRegistered, ErasureRequested
from schemas.envelope import SYSTEM_MATCHING, Actor, Event, EventPayload
from schemas.placements import PlacementSuggested
from schemas.topics import PLACEMENTS
from services.profiles import keyspace
from services.profiles.projections import keys
from services.profiles.rebuild import log_ends, rebuild
from services.projection.store import ViewStore
from tests.integration.conftest import redis_on_db
from tests.integration.kafka_helpers import produce_events


def _suggested(order: str, citizen: str) -> PlacementSuggested:
    return PlacementSuggested(
        job_order_id=order,
        citizen_id=citizen,
        suggestion_id=f"sug-{order}-{citizen}",
        score=0.7,
        rank=1,
        model_version="rules-1",
        card_version="c",
        order_version="o",
    )


def _event(payload: EventPayload, actor: Actor = SYSTEM_MATCHING) -> Event:
    return Event.new(payload, actor=actor, occurred_at=datetime.now(UTC))


def _partition_of(order: str) -> tuple[str, int]:
    partitioner = DefaultPartitioner()
    index = partitioner(order.encode(), list(range(PLACEMENTS.partitions)), [])
    return PLACEMENTS.name, index


async def test_a_parallel_rebuild_replays_every_partition_and_keeps_erasures(
    broker: str, redis_url: str, amina: dict[str, Any]
) -> None:
    citizen, order = f"cit-rb-{uuid.uuid4().hex[:6]}", f"jo-rb-{uuid.uuid4().hex[:6]}"
    card = CompetenceCard.model_validate(amina | {"citizen_id": citizen})
    consultant = Actor(role="consultant", id="c-1")
    await produce_events(
        broker,
        [
            _event(CompetenceCardRegistered(citizen_id=citizen, version=1, card=card), consultant),
            _event(ErasureRequested(citizen_id=citizen), consultant),
            # Written after the erasure, on another topic: read by another worker process,
            # which does not know of the erasure, and (behind many others on its partition)
            # applied after it.
            *(_event(_suggested(order, f"cit-rb-other-{i}")) for i in range(20_000)),
            _event(_suggested(order, citizen)),
        ],
    )

    # A db of its own: the rebuild moves that db's pointer to the active keyspace.
    redis = redis_on_db(redis_url, 11)
    try:
        report = await rebuild(broker, redis, workers=64, grace_s=0)
        busy = {tp for tp, end in (await log_ends(broker)).items() if end > 0}
        assert report.workers == len(busy) >= 2, "one worker per partition with records"
        # Every partition replayed from offset 0 to its end, each record once.
        positions = await ViewStore(redis, report.prefix).positions()
        assert set(positions) == busy
        assert report.events + report.skipped == sum(positions.values())
        assert positions[_partition_of(order)] >= 20_001
        assert await keyspace.active(redis) == report.prefix

        for key in keys.citizen_keys(citizen):
            assert not await redis.exists(report.prefix + key), key
        assert await redis.hexists(report.prefix + keys.ERASED, citizen)
        # The order's own view keeps its suggestion; only the citizen's keys are erased.
        assert await redis.hexists(report.prefix + keys.order_suggestions(order), citizen)
    finally:
        await keyspace.drop(redis, await keyspace.active(redis))
        await redis.delete(keyspace.POINTER)
        await redis.aclose()
