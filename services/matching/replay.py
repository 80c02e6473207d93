"""Rebuild the in-memory state from the log up to the group's committed offsets.

Faust resumes the agent at the committed offsets; the state must then equal what the
events before them produced. We read them again with a plain consumer (no group join),
stopping at the committed offset of each partition, which the broker reports correctly
(unlike ListOffsets(LATEST), which faust's own table recovery relies on).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka import TopicPartition

from schemas.registry import REGISTRY
from schemas.topics import Topic
from services.common.kafka import make_consumer, read_until
from services.matching.domain.state import MatchingState

log = logging.getLogger(__name__)


async def replay_committed(
    state: MatchingState, bootstrap: str, group_id: str, topics: Iterable[Topic]
) -> int:
    """Load every event before the committed offsets into `state`; return how many."""
    consumer = make_consumer(
        bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    count = 0
    try:
        parts = [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
        committed = {tp: (await consumer.committed(tp)) or 0 for tp in parts}
        consumer.assign(parts)
        for tp in parts:
            consumer.seek(tp, 0)
        async for record in read_until(consumer, committed):
            try:
                event = REGISTRY.decode(record.value or b"")
            except ValueError:
                # The live agent dead-lettered it the first time round.
                continue
            state.load(event)
            count += 1
    finally:
        await consumer.stop()
    state.rebuild_rankings()
    log.info("state replayed", extra={"events": count, "digest": state.digest()})
    return count
