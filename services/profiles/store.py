"""Redis adapter of the views: applies a batch of writes and its tracking in one atomic step.

The tracking hash records, per topic partition, the next offset to read. Because it is
written in the same transaction as the view, a crash leaves either both or neither, and a
restart resumes exactly after the last applied event: no double-apply, no gap.

The writes and the positions go to Redis as one MULTI/EXEC, merged into as few commands as
they allow. (A Lua script doing the same cost Redis twice the CPU: it copies every argument
into Lua and back.)
Writes carry keys relative to a keyspace; the store puts the prefix in front. A store that
follows the active keyspace moves to a rebuilt one when readers are switched to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from services.profiles import keyspace
from services.profiles.pipe import BatchConnection, pack_transaction
from services.profiles.projections import keys
from services.profiles.projections.writes import HashUpdate, Write, coalesce
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
        self._batches = BatchConnection(redis)

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
        await self.execute(self.prepare(writes, positions))

    def prepare(
        self, writes: Iterable[Write], positions: Mapping[TopicPartitionKey, int]
    ) -> Transaction:
        """All writes and the new positions as one MULTI/EXEC, in as few commands as the
        writes allow (see `coalesce`), packed by hand: redis-py's packer costs about 3 µs
        per argument, which made it the rebuild's bottleneck."""
        batch = list(writes)
        if positions:
            fields = tuple((f"{t}:{p}", str(off)) for (t, p), off in positions.items())
            batch.append(HashUpdate(keys.tracking(self.view), fields))
        commands = coalesce(batch)
        return Transaction(pack_transaction(commands, self.prefix), len(commands))

    async def execute(self, transaction: Transaction) -> None:
        if transaction.commands:
            await self._batches.transact(transaction.packed, transaction.commands)

    async def close(self) -> None:
        await self._batches.close()


@dataclass(frozen=True)
class Transaction:
    """A batch packed for Redis, ready to send."""

    packed: bytes
    commands: int


def parse_tracking(raw: Mapping[Any, Any]) -> dict[TopicPartitionKey, int]:
    out: dict[TopicPartitionKey, int] = {}
    for field, value in raw.items():
        topic, _, partition = text(field).rpartition(":")
        out[(topic, int(partition))] = int(value)
    return out
