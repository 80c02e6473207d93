"""Redis adapter of the views: applies a batch of writes and its tracking in one MULTI/EXEC.

The tracking hash records, per topic partition, the next offset to read. Because it is
written in the same transaction as the view, a crash leaves either both or neither, and a
restart resumes exactly after the last applied event: no double-apply, no gap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from redis.asyncio import Redis

from services.profiles.projections import keys
from services.profiles.projections.writes import (
    Delete,
    HashDelete,
    HashSet,
    HashUpdate,
    Write,
    ZAdd,
    ZRemove,
)
from services.profiles.queries import text

TopicPartitionKey = tuple[str, int]


class ViewStore:
    def __init__(self, redis: Redis, view: str = "views") -> None:
        self.redis = redis
        self._tracking = keys.tracking(view)

    async def positions(self) -> dict[TopicPartitionKey, int]:
        raw = await self.redis.hgetall(self._tracking)
        out: dict[TopicPartitionKey, int] = {}
        for field, value in raw.items():
            topic, _, partition = text(field).rpartition(":")
            out[(topic, int(partition))] = int(value)
        return out

    async def apply(
        self, writes: Iterable[Write], positions: Mapping[TopicPartitionKey, int]
    ) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for w in writes:
                if isinstance(w, HashUpdate):
                    pipe.hset(w.key, mapping=dict(w.fields))
                elif isinstance(w, HashSet):
                    pipe.hset(w.key, w.field, w.value)
                elif isinstance(w, HashDelete):
                    pipe.hdel(w.key, w.field)
                elif isinstance(w, ZAdd):
                    pipe.zadd(w.key, {w.member: w.score})
                elif isinstance(w, ZRemove):
                    pipe.zrem(w.key, w.member)
                elif isinstance(w, Delete):
                    pipe.delete(w.key)
            if positions:
                pipe.hset(
                    self._tracking, mapping={f"{t}:{p}": off for (t, p), off in positions.items()}
                )
            await pipe.execute()
