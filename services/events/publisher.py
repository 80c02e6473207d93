"""The Kafka adapter of the events service: append one event, answer with its position."""

from __future__ import annotations

import logging

from aiokafka.errors import KafkaError
from pydantic import BaseModel

from schemas.envelope import Event
from services.common.kafka import make_producer

log = logging.getLogger(__name__)


class Position(BaseModel):
    """Where the event landed in the log (read-your-writes tokens are built from this)."""

    topic: str
    partition: int
    offset: int


class EventPublisher:
    def __init__(self, bootstrap: str) -> None:
        self._producer = make_producer(bootstrap)

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, event: Event, attempts: int = 2) -> Position:
        """Returns once the broker has acknowledged the write (acks=all).

        A failed write is tried again with the same event id: should both land, consumers
        are idempotent. The embedded broker's S3 engine occasionally refuses a batch under
        concurrent writes (offset race, HTTP 412 from the bucket), which a retry resolves.
        """
        for attempt in range(1, attempts + 1):
            try:
                meta = await self._producer.send_and_wait(
                    event.topic,
                    value=event.to_json(),
                    key=event.aggregate_id.encode(),
                    headers=event.headers(),
                )
                return Position(topic=meta.topic, partition=meta.partition, offset=meta.offset)
            except KafkaError as exc:
                log.error(
                    "append failed",
                    extra={
                        "event_id": str(event.event_id),
                        "event_type": event.event_type,
                        "attempt": attempt,
                        "error": repr(exc),
                    },
                )
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")
