"""The whole log: every domain topic from offset 0 to the highwater the fetches report.

Never ListOffsets(LATEST): the embedded broker answers it wrongly when the last batch holds
several records (see the broker notes); the highwater in fetch responses is right.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.envelope import Event
from schemas.registry import REGISTRY
from schemas.topics import DOMAIN_TOPICS, Topic
from services.common.kafka import make_consumer

Ends = dict[tuple[str, int], int]


@dataclass(frozen=True)
class LogRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    event: Event | None  # None: the record does not decode (dead-lettered by consumers)

    @property
    def event_id(self) -> str | None:
        return str(self.event.event_id) if self.event is not None else None


def decode(value: bytes | None) -> Event | None:
    try:
        return REGISTRY.decode(value or b"")
    except Exception:
        return None


class LogTail:
    """A consumer of assigned partitions (no group) that reads on from where it stopped.

    `read_to_end` reads every partition up to the highwater of its latest fetch; a fresh
    tail therefore reads the whole log from offset 0."""

    def __init__(
        self, bootstrap: str, topics: Iterable[Topic] = DOMAIN_TOPICS, keep: bool = True
    ) -> None:
        self.bootstrap = bootstrap
        self.keep = keep  # False: only follow the ends (decode and keep nothing)
        self.parts = [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
        self.records: list[LogRecord] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._next: dict[TopicPartition, int] = dict.fromkeys(self.parts, 0)

    async def _open(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = make_consumer(
                self.bootstrap,
                enable_auto_commit=False,
                fetch_max_wait_ms=100,
                max_partition_fetch_bytes=4 * 1024 * 1024,
                request_timeout_ms=10_000,
            )
            await consumer.start()
            consumer.assign(self.parts)
            for tp, offset in self._next.items():
                consumer.seek(tp, offset)
            self._consumer = consumer
        return self._consumer

    async def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def read_to_end(self, timeout: float = 120.0) -> Ends:
        """Read on until every partition is at its highwater; returns the ends (next
        offsets). On a broker error the consumer is reopened where it stopped."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                return await self._read(deadline)
            except TimeoutError:
                raise
            except Exception:
                await self.close()
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def _read(self, deadline: float) -> Ends:
        consumer = await self._open()
        loop = asyncio.get_running_loop()
        while True:
            batch = await consumer.getmany(timeout_ms=200, max_records=20_000)
            for tp, records in batch.items():
                for r in records:
                    if r.offset < self._next[tp]:
                        continue  # seen before a reopen
                    if self.keep:
                        self.records.append(
                            LogRecord(r.topic, r.partition, r.offset, r.key, decode(r.value))
                        )
                    self._next[tp] = r.offset + 1
            ends: Ends = {}
            for tp in self.parts:
                high = consumer.highwater(tp)
                if high is None or self._next[tp] < high:
                    break
                ends[(tp.topic, tp.partition)] = high
            else:
                return ends
            if loop.time() > deadline:
                raise TimeoutError("the log was not read to its end in time")


async def read_whole_log(
    bootstrap: str, topics: Iterable[Topic] = DOMAIN_TOPICS, timeout: float = 300.0
) -> tuple[list[LogRecord], Ends]:
    """Every record of `topics`, from offset 0, with a consumer of its own."""
    tail = LogTail(bootstrap, topics)
    try:
        ends = await tail.read_to_end(timeout)
    finally:
        await tail.close()
    return tail.records, ends
