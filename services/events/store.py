"""Aggregate states in Redis with optimistic concurrency.

A command reads the aggregates it touches with their versions, decides, and `commit`
writes all new states only if every version is still the one it read (one Lua script, so
all-or-nothing). Two concurrent commands on one aggregate: exactly one commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from redis.asyncio import Redis

from services.events.commands import Key

_COMMIT = """
for i, key in ipairs(KEYS) do
  local v = tonumber(redis.call('HGET', key, 'v') or '0')
  if v ~= tonumber(ARGV[2 * i - 1]) then return 0 end
end
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, 'v', tonumber(ARGV[2 * i - 1]) + 1, 's', ARGV[2 * i])
end
return 1
"""

Loaded = tuple[int, str | None]


class AggregateStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._commit = redis.register_script(_COMMIT)

    def key(self, key: Key) -> str:
        return f"{self._prefix}agg:{key[0]}:{key[1]}"

    async def load(self, keys: Sequence[Key]) -> dict[Key, Loaded]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(self.key(key), "v", "s")
            rows = await pipe.execute()
        out: dict[Key, Loaded] = {}
        for key, (version, state) in zip(keys, rows, strict=True):
            text = state.decode() if isinstance(state, bytes) else state
            out[key] = (int(version or 0), text or None)
        return out

    async def commit(self, changes: Mapping[Key, tuple[int, BaseModel | str | None]]) -> bool:
        """Write each key's new state if its version is still the expected one."""
        if not changes:
            return True
        keys = list(changes)
        args: list[Any] = []
        for key in keys:
            expected, state = changes[key]
            text = state.model_dump_json() if isinstance(state, BaseModel) else (state or "")
            args += [expected, text]
        return bool(await self._commit(keys=[self.key(k) for k in keys], args=args))
