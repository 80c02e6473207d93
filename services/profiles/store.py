"""Redis adapter of the views: applies a batch of writes and its tracking in one MULTI/EXEC.

The tracking hash records, per topic partition, the next offset to read. Because it is
written in the same transaction as the view, a crash leaves either both or neither, and a
restart resumes exactly after the last applied event: no double-apply, no gap.

Writes carry keys relative to a keyspace; the store puts the prefix in front. A store that
follows the active keyspace moves to a rebuilt one when readers are switched to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from redis.asyncio import Redis

from services.profiles import keyspace
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
    def __init__(
        self, redis: Redis, prefix: str = keyspace.LEGACY, view: str = "views", follow: bool = False
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.view = view
        self._follow = follow

    @property
    def tracking(self) -> str:
        return self.prefix + keys.tracking(self.view)

    async def refresh(self) -> bool:
        """Whether a store that follows the active keyspace has just moved to another."""
        if not self._follow:
            return False
        current = await keyspace.active(self.redis)
        moved = current != self.prefix
        self.prefix = current
        return moved

    async def positions(self) -> dict[TopicPartitionKey, int]:
        return parse_tracking(await self.redis.hgetall(self.tracking))

    async def hash(self, key: str) -> dict[str, str]:
        raw = await self.redis.hgetall(self.prefix + key)
        return {text(k): text(v) for k, v in raw.items()}

    async def apply(
        self, writes: Iterable[Write], positions: Mapping[TopicPartitionKey, int]
    ) -> None:
        at = self.prefix
        async with self.redis.pipeline(transaction=True) as pipe:
            for w in writes:
                if isinstance(w, HashUpdate):
                    pipe.hset(at + w.key, mapping=dict(w.fields))
                elif isinstance(w, HashSet):
                    pipe.hset(at + w.key, w.field, w.value)
                elif isinstance(w, HashDelete):
                    pipe.hdel(at + w.key, w.field)
                elif isinstance(w, ZAdd):
                    pipe.zadd(at + w.key, {w.member: w.score})
                elif isinstance(w, ZRemove):
                    pipe.zrem(at + w.key, w.member)
                elif isinstance(w, Delete):
                    pipe.delete(at + w.key)
            if positions:
                pipe.hset(
                    self.tracking, mapping={f"{t}:{p}": off for (t, p), off in positions.items()}
                )
            await pipe.execute()


def parse_tracking(raw: Mapping[Any, Any]) -> dict[TopicPartitionKey, int]:
    out: dict[TopicPartitionKey, int] = {}
    for field, value in raw.items():
        topic, _, partition = text(field).rpartition(":")
        out[(topic, int(partition))] = int(value)
    return out
