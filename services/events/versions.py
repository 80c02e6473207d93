"""Aggregate versions, kept in Redis so concurrent commands get distinct, ordered versions.

Kafka cannot append conditionally, so the version is reserved here first (atomic INCR) and
handed back if the append fails. The log stays the source of truth for the content.
"""

from __future__ import annotations

from redis.asyncio import Redis

# Give a reservation back only if nobody reserved after it, so versions never repeat.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[1] == '1' then return redis.call('DEL', KEYS[1]) end
  return redis.call('DECR', KEYS[1])
end
return -1
"""


class AggregateVersions:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._release = redis.register_script(_RELEASE)

    def _key(self, kind: str, aggregate_id: str) -> str:
        return f"{self._prefix}version:{kind}:{aggregate_id}"

    async def reserve(self, kind: str, aggregate_id: str) -> int:
        return int(await self._redis.incr(self._key(kind, aggregate_id)))

    async def release(self, kind: str, aggregate_id: str, version: int) -> None:
        await self._release(keys=[self._key(kind, aggregate_id)], args=[str(version)])

    async def claim_first(self, kind: str, aggregate_id: str) -> bool:
        """True exactly once per aggregate: for events that register something once."""
        return bool(await self._redis.set(self._key(kind, aggregate_id), 1, nx=True))
