"""The Kafka adapter of the events service: append one event, answer with its position.

An append that fails may still have been written (the broker died after writing, before
answering). Sending it again blindly would put it in the log twice, so the publisher reads
the event's partition back from a position known to be before it and looks for its event id:
found, the append succeeded; not there, it sends it again; unreadable within the budget,
the outcome is unknown and the command fails with 503 (the client may retry: the write side
decides again on what the log then holds). The producer itself never resends a batch the
broker may have written (`services.common.append`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError, KafkaTimeoutError
from pydantic import BaseModel

from schemas.citizens import CitizenErased
from schemas.envelope import HEADER_EVENT_ID, Event
from services.common.append import at_most_once, find_record, partition_for
from services.common.kafka import make_producer
from services.events.errors import ERASED_REASON, Gone
from services.keys.ring import CachedKeyRing

log = logging.getLogger(__name__)

# A position of a partition before anything appended from now on (a projector's position).
Floor = Callable[[TopicPartition], int]


class Position(BaseModel):
    """Where the event landed in the log (read-your-writes tokens are built from this)."""

    topic: str
    partition: int
    offset: int


class EventPublisher:
    """`keys`: the citizens' data keys. Personal fields are sealed with them; an event about
    an erased citizen is refused (410), and `CitizenErased` deletes the key before it is
    appended (crypto-shredding, docs/privacy.md)."""

    def __init__(
        self,
        bootstrap: str,
        *,
        attempts: int = 3,
        lookup_budget_s: float = 20.0,
        keys: CachedKeyRing | None = None,
    ):
        self._bootstrap = bootstrap
        self._keys = keys
        self._producer = at_most_once(make_producer(bootstrap))
        self._attempts = attempts
        self._lookup_budget_s = lookup_budget_s
        # Per partition, the end of what this publisher saw acknowledged.
        self._acked: dict[TopicPartition, int] = {}
        self._floor: Floor | None = None

    def follow(self, floor: Floor) -> None:
        """Where to start looking for an append whose outcome is unknown, besides what this
        publisher saw acknowledged (e.g. the service's projector positions)."""
        self._floor = floor

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, event: Event) -> Position:
        """Returns once the broker has acknowledged the write (acks=all), or once the
        event is found in the log after a failure; raises KafkaError or TimeoutError if it
        is not in the log and could not be appended, or if its outcome is unknown."""
        if self._keys is not None and isinstance(event.payload, CitizenErased):
            # The key goes before the announcement: once it is in the log, nobody can read.
            await asyncio.to_thread(self._keys.erase, event.payload.citizen_id)
            log.info("data key deleted", extra={"citizen_id": event.payload.citizen_id})
        # Off the event loop: making a citizen's first key is a committed (fsynced) write.
        # (`is not None`: a key ring with nothing cached yet has length 0, so it is falsy.)
        value = (
            await asyncio.to_thread(self._value, event)
            if self._keys is not None
            else event.to_json()
        )
        key = event.aggregate_id.encode()
        tp = TopicPartition(event.topic, await partition_for(self._producer, event.topic, key))
        # Anything appended from here on lands at or after this offset.
        start = max(self._acked.get(tp, 0), self._floor(tp) if self._floor else 0)
        event_id = str(event.event_id).encode()
        for attempt in range(1, self._attempts + 1):
            try:
                meta = await self._producer.send_and_wait(
                    event.topic,
                    value=value,
                    key=key,
                    partition=tp.partition,
                    headers=event.headers(),
                )
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
                try:
                    offset = await find_record(
                        self._bootstrap,
                        tp,
                        start,
                        HEADER_EVENT_ID,
                        event_id,
                        budget_s=self._lookup_budget_s,
                    )
                except TimeoutError as unknown:
                    raise KafkaTimeoutError(f"outcome of the append unknown: {unknown}") from exc
                if offset is not None:
                    log.warning(
                        "append had landed",
                        extra={"event_id": str(event.event_id), "offset": offset},
                    )
                    return self._acknowledged(tp, offset, event)
                if attempt == self._attempts:
                    raise
                continue
            return self._acknowledged(tp, meta.offset, event)
        raise AssertionError("unreachable")

    def _value(self, event: Event) -> bytes:
        """The record's value, sealed; refused for an erased citizen (but their erasure)."""
        citizen_id = getattr(event.payload, "citizen_id", None)
        if self._keys is None or not isinstance(citizen_id, str):
            return event.to_json()
        if not isinstance(event.payload, CitizenErased) and self._keys.is_erased(citizen_id):
            raise Gone(ERASED_REASON)
        return event.to_json(self._keys)

    def _acknowledged(self, tp: TopicPartition, offset: int, event: Event) -> Position:
        self._acked[tp] = max(self._acked.get(tp, 0), offset + 1)
        if self._keys is not None and isinstance(event.payload, CitizenErased):
            self._keys.store.announced(event.payload.citizen_id)
        return Position(topic=tp.topic, partition=tp.partition, offset=offset)
