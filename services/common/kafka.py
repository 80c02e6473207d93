"""Thin aiokafka helpers shared by the services: topics, producers, readiness, replay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas.topics import CATALOGUE, Topic

log = logging.getLogger(__name__)


async def ensure_topics(bootstrap: str, topics: Iterable[Topic] = CATALOGUE) -> list[str]:
    """Create each missing topic with its catalogued partition count; return those created.

    Never rely on auto-creation: it picks the broker's default partition count.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        for topic in topics:
            if topic.name in existing:
                continue
            try:
                await admin.create_topics(
                    [NewTopic(topic.name, num_partitions=topic.partitions, replication_factor=1)]
                )
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
    return created


def make_producer(bootstrap: str, **overrides: object) -> AIOKafkaProducer:
    """acks=all: a command is answered only when the broker has the event."""
    options: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        # Bigger batches under load: the embedded broker's S3 engine stores one object per
        # batch and a fetch returns about one object per partition, so batch size sets the
        # read throughput there. A lone request waits at most this long.
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        "request_timeout_ms": 15000,
        # The broker has no idempotent producer (InitProducerId fails); see notes on broker.
        "enable_idempotence": False,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)  # type: ignore[arg-type]


async def broker_reachable(bootstrap: str, timeout: float = 2.0) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout)
        await asyncio.wait_for(admin.list_topics(), timeout)
        return True
    except Exception:
        return False
    finally:
        try:
            await admin.close()
        except Exception:
            log.debug("admin close failed", exc_info=True)


async def read_until(
    consumer: AIOKafkaConsumer,
    stop_at: dict[TopicPartition, int],
    batch_timeout_ms: int = 200,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Yield records of assigned partitions until each reaches its `stop_at` offset.

    The stop offsets come from the caller (tracked or committed positions, or the fetch
    highwater), never from ListOffsets(LATEST), which the embedded broker answers wrongly.
    """
    pending = {tp: off for tp, off in stop_at.items() if off > 0}
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=batch_timeout_ms)
        for tp, records in batch.items():
            for record in records:
                if tp in pending and record.offset < pending[tp]:
                    yield record
        for tp in list(pending):
            if await consumer.position(tp) >= pending[tp]:
                del pending[tp]


async def read_log(
    bootstrap: str, topics: Iterable[Topic], idle_ms: int = 1000, timeout: float | None = None
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topics` from the start to the end the fetches report (highwater),
    or what has arrived when `timeout` seconds have passed."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    out: list[ConsumerRecord[bytes, bytes]] = []
    try:
        parts = [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
        consumer.assign(parts)
        for tp in parts:
            consumer.seek(tp, 0)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        quiet = 0
        while quiet < idle_ms and (deadline is None or loop.time() < deadline):
            batch = await consumer.getmany(timeout_ms=200, max_records=10000)
            for records in batch.values():
                out.extend(records)
            done = True
            for tp in parts:
                high = consumer.highwater(tp)
                done = done and high is not None and await consumer.position(tp) >= high
            quiet = quiet + 200 if done and not batch else 0
    finally:
        await consumer.stop()
    return out
