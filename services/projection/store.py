"""Redis adapter of a projection: applies a batch of writes and its tracking in one atomic step.

The tracking hash records, per topic partition, the next offset to read. Because it is
written in the same transaction as the view, a crash leaves either both or neither, and a
restart resumes exactly after the last applied event: no double-apply, no gap.

The writes and the positions go to Redis as one MULTI/EXEC, merged into as few commands as
they allow. (A Lua script doing the same cost Redis twice the CPU: it copies every argument
into Lua and back.)
Writes carry keys relative to a keyspace; the store puts the prefix in front. A store that
follows the active keyspace moves to a rebuilt one when readers are switched to it.

A marker key says the keyspace holds this view. Tracking positions without views would make
the projector resume at the end of the log over nothing (after a FLUSHALL, say), so a
missing marker means: start again from the beginning.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from services.projection.pipe import BatchConnection, pack_transaction
from services.projection.writes import HashUpdate, Write, coalesce

TopicPartitionKey = tuple[str, int]
VIEWS = "views"
# Where the readers' keyspace is now (a store that follows it asks before each batch).
Locate = Callable[[Redis], Awaitable[str]]


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def tracking_key(view: str) -> str:
    return f"tracking:{view}"


def marker_key(view: str) -> str:
    return f"marker:{view}"


class ViewStore:
    def __init__(
        self, redis: Redis, prefix: str, view: str = VIEWS, follow: Locate | None = None
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.view = view
        self._follow = follow
        self._batches = BatchConnection(redis)

    @property
    def tracking(self) -> str:
        return self.prefix + tracking_key(self.view)

    @property
    def marker(self) -> str:
        return self.prefix + marker_key(self.view)

    async def refresh(self) -> bool:
        """Whether a store that follows the active keyspace has just moved to another."""
        if self._follow is None:
            return False
        current = await self._follow(self.redis)
        moved = current != self.prefix
        self.prefix = current
        return moved

    async def positions(self) -> dict[TopicPartitionKey, int]:
        return parse_tracking(await self.redis.hgetall(self.tracking))

    async def claim(self) -> dict[TopicPartitionKey, int]:
        """The positions to resume from, marking the keyspace as this view's. Without the
        marker the views are gone (or were never there): the old positions are dropped and
        the projection starts from the beginning; views still there are overwritten with the
        same values, since every write is a plain set or delete."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.exists(self.marker)
            pipe.hgetall(self.tracking)
            present, raw = await pipe.execute()
        if present:
            return parse_tracking(raw)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.tracking)
            pipe.set(self.marker, "1")
            await pipe.execute()
        return {}

    async def intact(self) -> bool:
        """Whether the keyspace still holds this view (see `claim`)."""
        return bool(await self.redis.exists(self.marker))

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
            batch.append(HashUpdate(tracking_key(self.view), fields))
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
