"""The projection loop: read the log from the tracked positions, apply views, repeat.

Partitions are assigned directly (no consumer group): one projector owns one keyspace, and
its positions live in Redis with the views rather than in the broker. A projector whose store
follows the active keyspace re-reads its positions there when a rebuild switches readers, and
goes on from where the rebuild stopped. One whose views vanish (a Redis wipe) starts again
from the beginning of the log, and is not `live` until it has caught up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from schemas.envelope import Event
from schemas.registry import REGISTRY
from schemas.topics import DEAD_LETTER, DOMAIN_TOPICS, Topic
from services.common.deadletter import dead_letter_headers, safe_key, safe_reason
from services.common.kafka import make_consumer, make_producer
from services.profiles.projections.views import project
from services.projection.store import TopicPartitionKey, Transaction, ViewStore
from services.projection.writes import Write

log = logging.getLogger(__name__)


class Projector:
    def __init__(
        self,
        bootstrap: str,
        store: ViewStore,
        topics: tuple[Topic, ...] = DOMAIN_TOPICS,
        project_fn: Callable[[Event], list[Write]] = project,
        name: str = "profiles",
        max_batch: int = 2000,
        fetch_max_wait_ms: int = 500,
        on_load: Callable[[ViewStore], Awaitable[None]] | None = None,
        dead_letter: bool = True,
        partitions: Sequence[TopicPartitionKey] | None = None,
    ) -> None:
        """`partitions`: only these of the topics (a share of a rebuild); default all."""
        self._bootstrap = bootstrap
        self._store = store
        self._topics = topics
        self._parts = [
            TopicPartition(t, p)
            for t, p in (
                partitions
                if partitions is not None
                else [(t.name, p) for t in topics for p in range(t.partitions)]
            )
        ]
        self._project = project_fn
        self._name = name
        self._max_batch = max_batch
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._on_load = on_load
        self._dead_letter_on = dead_letter
        self._pending: asyncio.Task[None] | None = None
        self.applied = 0
        self.dead_lettered = 0
        self.running = False
        # Caught up with the log since the views were (re)loaded: what the views show is
        # as recent as the last fetch.
        self.live = False
        self.replays = 0
        self.positions: dict[TopicPartitionKey, int] = {}
        # `positions` plus the batch being committed.
        self._projected: dict[TopicPartitionKey, int] = {}
        self.highwater: dict[TopicPartitionKey, int] = {}

    def lag(self) -> int:
        return sum(self.lag_by_topic().values())

    def lag_by_topic(self) -> dict[str, int]:
        out = {t.name: 0 for t in self._topics}
        for (topic, partition), hw in self.highwater.items():
            out[topic] += max(0, hw - self.positions.get((topic, partition), 0))
        return out

    def caught_up(self) -> bool:
        """Every partition's end is known from a fetch, and reached by what was applied or
        is being committed. (Counting only committed positions, a projector whose every
        fetch brings something would never be caught up: its last batch is always still
        being committed when the next fetch reports the end.)"""
        parts = [(tp.topic, tp.partition) for tp in self._parts]
        return all(
            tp in self.highwater and self._projected.get(tp, 0) >= self.highwater[tp]
            for tp in parts
        )

    @property
    def store(self) -> ViewStore:
        return self._store

    async def run(self, stop: asyncio.Event, until_caught_up: bool = False) -> None:
        """Project until `stop` is set (or, with `until_caught_up`, the log's end is reached)."""
        consumer = make_consumer(
            self._bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._fetch_max_wait_ms,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        producer = make_producer(self._bootstrap)
        await consumer.start()
        await producer.start()
        try:
            parts = self._parts
            consumer.assign(parts)
            await self._store.refresh()
            await self._load(consumer, parts)
            self.running = True
            while not stop.is_set():
                if await self._store.refresh():
                    log.info("keyspace switched", extra={"prefix": self._store.prefix})
                    await self._load(consumer, parts)
                elif not await self._store.intact():
                    log.warning(
                        "views gone (Redis wiped?): projecting again from the beginning",
                        extra={"projector": self._name, "prefix": self._store.prefix},
                    )
                    self.replays += 1
                    await self._load(consumer, parts)
                batch = await consumer.getmany(
                    timeout_ms=self._fetch_max_wait_ms, max_records=self._max_batch
                )
                for tp in parts:
                    hw = consumer.highwater(tp)
                    if hw is not None:
                        self.highwater[(tp.topic, tp.partition)] = hw
                if batch:
                    await self._apply(batch, producer)
                else:
                    await self._flush()
                if self.caught_up():
                    self.live = True
                    if until_caught_up:
                        break
        finally:
            self.running = False
            self.live = False
            try:
                await self._flush()
            finally:
                await self._store.close()
                await consumer.stop()
                await producer.stop()

    async def _load(self, consumer: AIOKafkaConsumer, parts: list[TopicPartition]) -> None:
        await self._flush()
        self.live = False
        self.positions = await self._store.claim()
        self._projected = dict(self.positions)
        self.highwater = {}
        for tp in parts:
            consumer.seek(tp, self.positions.get((tp.topic, tp.partition), 0))
        if self._on_load is not None:
            await self._on_load(self._store)

    async def _apply(
        self,
        batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
        producer: AIOKafkaProducer,
    ) -> None:
        writes: list[Write] = []
        positions: dict[TopicPartitionKey, int] = {}
        malformed: list[tuple[ConsumerRecord[bytes, bytes], str]] = []
        with _no_gc():
            for tp, records in batch.items():
                for record in records:
                    try:
                        event = REGISTRY.decode_record(record.value or b"", record.headers)
                        writes += self._project(event)
                        self.applied += 1
                    except ValueError as exc:
                        malformed.append((record, safe_reason(exc)))
                    positions[(tp.topic, tp.partition)] = record.offset + 1
            transaction = self._store.prepare(writes, positions)
            del writes
        for record, reason in malformed:
            if self._dead_letter_on:
                await self._dead_letter(producer, record, reason)
            self.dead_lettered += 1
        # Redis applies this batch while the next one is fetched and projected; batches
        # still commit one at a time, in order.
        await self._flush()
        self._projected.update(positions)
        self._pending = asyncio.create_task(self._commit(transaction, positions))

    async def _commit(
        self, transaction: Transaction, positions: dict[TopicPartitionKey, int]
    ) -> None:
        await self._store.execute(transaction)
        self.positions.update(positions)

    async def _flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending

    async def _dead_letter(
        self, producer: AIOKafkaProducer, record: ConsumerRecord[bytes, bytes], reason: str
    ) -> None:
        log.warning(
            "dead-lettered",
            extra={"topic": record.topic, "offset": record.offset, "reason": reason},
        )
        # Without the record's bytes: they stay at their source position (see deadletter).
        await producer.send_and_wait(
            DEAD_LETTER.name,
            key=safe_key(record.key),
            value=None,
            headers=dead_letter_headers(
                source_topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                consumer=self._name,
                reason=reason,
                value=record.value,
            ),
        )


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """No cyclic garbage collection while a batch is projected. Decoding and projecting
    allocate many objects that live until the batch is packed and none of them form cycles,
    yet each allocation burst triggered collections that scanned them again and again: a
    third of the rebuild's time went to the collector (bench/rebuild.md)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
