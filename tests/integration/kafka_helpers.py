"""Reading what landed in the broker, for assertions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from schemas.envelope import Event
from schemas.topics import Topic
from services.common.kafka import make_producer, read_log


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
    return await read_log(
        bootstrap, [Topic(topic, "", partitions, "")], idle_ms=200, timeout=timeout
    )


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
