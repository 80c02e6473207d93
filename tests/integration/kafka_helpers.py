"""Reading what landed in the broker, for assertions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from schemas.envelope import Event
from services.common.kafka import make_producer


async def read_record(
    bootstrap: str, topic: str, partition: int, offset: int
) -> ConsumerRecord[bytes, bytes]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        record = await asyncio.wait_for(consumer.getone(), 10)
        return record
    finally:
        await consumer.stop()


async def read_all(
    bootstrap: str, topic: str, partitions: int, timeout: float = 3.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of the topic, read until the fetch highwater of each partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    out: list[ConsumerRecord[bytes, bytes]] = []
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(parts)
        for tp in parts:
            consumer.seek(tp, 0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                out.extend(records)
            done = True
            for tp in parts:
                high = consumer.highwater(tp)
                done = done and high is not None and await consumer.position(tp) >= high
            if done and not batch:
                break
    finally:
        await consumer.stop()
    return out


async def produce_events(bootstrap: str, events: Iterable[Event]) -> None:
    """Append events as the services would (batched, then flushed)."""
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for event in events:
            await producer.send(
                event.topic,
                event.to_json(),
                key=event.aggregate_id.encode(),
                headers=event.headers(),
            )
        await producer.flush()
    finally:
        await producer.stop()
