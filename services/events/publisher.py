"""The Kafka adapter of the events service: append one event, answer with its position."""

from __future__ import annotations

from pydantic import BaseModel

from schemas.envelope import Event
from services.common.kafka import make_producer


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

    async def publish(self, event: Event) -> Position:
        """Returns once the broker has acknowledged the write (acks=all)."""
        meta = await self._producer.send_and_wait(
            event.topic,
            value=event.to_json(),
            key=event.aggregate_id.encode(),
            headers=event.headers(),
        )
        return Position(topic=meta.topic, partition=meta.partition, offset=meta.offset)
