"""A producer that never sends a record twice on its own.

aiokafka resends a batch whenever a produce request fails with a retriable error, including
a lost connection or a timeout after the request went out, when the broker may already have
written it. Without an idempotent producer (the embedded broker has none, see
docs/operations.md) each such resend can put the record in the log a second time: a broker
killed after writing and before answering gave acknowledged events twice. This producer
resends only what the broker refused outright; the other failures reach the caller, which
looks in the log for the record (`find_record`) before it sends it again.

The class swap below relies on aiokafka's sender internals, pinned in pyproject.toml
(aiokafka==0.14.0); tests/unit/common/test_append.py fails if they change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    NotEnoughReplicasAfterAppendError,
    RequestTimedOutError,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.sender import Sender, SendProduceReqHandler

from services.common.kafka import Security, make_consumer

log = logging.getLogger(__name__)

# Failures after which the broker may hold the batch: the request may have been written
# (connection lost after sending, timed out, appended on the leader but not replicated).
MAYBE_WRITTEN: tuple[type[KafkaError], ...] = (
    KafkaConnectionError,
    RequestTimedOutError,
    NotEnoughReplicasAfterAppendError,
)


class AtMostOnceHandler(SendProduceReqHandler):  # type: ignore[misc]
    def _can_retry(self, error: Any, batch: Any) -> bool:
        if isinstance(error, MAYBE_WRITTEN):
            return False
        return bool(super()._can_retry(error, batch))


class AtMostOnceSender(Sender):  # type: ignore[misc]
    async def _send_produce_req(self, node_id: int, batches: dict[Any, Any]) -> None:
        # Sender._send_produce_req with the handler above.
        handler = AtMostOnceHandler(self, batches)
        await handler.do(node_id)
        self._in_flight.remove(node_id)
        for tp in batches:
            self._muted_partitions.remove(tp)


def at_most_once(producer: AIOKafkaProducer) -> AIOKafkaProducer:
    """The same producer, whose sender resends only batches the broker refused."""
    sender = producer._sender
    if type(sender) is not Sender:
        raise TypeError(f"unexpected aiokafka sender {type(sender).__name__}")
    sender.__class__ = AtMostOnceSender
    return producer


async def partition_for(producer: AIOKafkaProducer, topic: str, key: bytes) -> int:
    """The partition the producer's default partitioner sends `key` to."""
    partitions = sorted(await producer.partitions_for(topic))
    return int(DefaultPartitioner()(key, partitions, partitions))


async def find_record(
    bootstrap: str,
    tp: TopicPartition,
    start: int,
    header: str,
    value: bytes,
    *,
    budget_s: float,
    security: Security | None = None,
) -> int | None:
    """The offset of the first record of `tp` from `start` to the end of the partition whose
    `header` equals `value`; None if there is none. Retries while the broker is away, for at
    most `budget_s` seconds (then raises TimeoutError: the outcome is unknown)."""
    deadline = time.monotonic() + budget_s
    while True:
        consumer = make_consumer(
            bootstrap,
            security=security,
            enable_auto_commit=False,
            request_timeout_ms=5000,
            fetch_max_wait_ms=100,
        )
        try:
            await asyncio.wait_for(consumer.start(), max(0.1, deadline - time.monotonic()))
            consumer.assign([tp])
            consumer.seek(tp, start)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{tp.topic}:{tp.partition} not read in {budget_s} s")
                batch = await consumer.getmany(tp, timeout_ms=int(min(500, remaining * 1000)))
                for record in batch.get(tp, []):
                    if (header, value) in (record.headers or ()):
                        return int(record.offset)
                end = consumer.highwater(tp)
                if end is not None and await consumer.position(tp) >= end:
                    return None
        except (KafkaError, OSError) as exc:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{tp.topic}:{tp.partition} unreadable: {exc!r}") from exc
            log.info("log not readable yet", extra={"topic": tp.topic, "error": repr(exc)})
            await asyncio.sleep(0.5)
        finally:
            try:
                await consumer.stop()
            except Exception:
                log.debug("consumer stop failed", exc_info=True)
