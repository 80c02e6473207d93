"""Redis adapter of the views: applies a batch of writes and its tracking in one atomic step.

The tracking hash records, per topic partition, the next offset to read. Because it is
written in the same transaction as the view, a crash leaves either both or neither, and a
restart resumes exactly after the last applied event: no double-apply, no gap.

The writes and the positions go to Redis as one Lua script call (atomic like MULTI/EXEC,
and much cheaper for the client than a pipeline of single commands).
Writes carry keys relative to a keyspace; the store puts the prefix in front. A store that
follows the active keyspace moves to a rebuilt one when readers are switched to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

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
        self._sha: str | None = None

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
        """All writes and the new positions in one script: Redis runs a script atomically,
        and one command with many arguments costs the client far less than a pipeline of
        many commands (the rebuild is bound by that cost)."""
        batch = list(writes)
        if positions:
            fields = tuple((f"{t}:{p}", str(off)) for (t, p), off in positions.items())
            batch.append(HashUpdate(keys.tracking(self.view), fields))
        args = encode(batch, self.prefix)
        if args:
            await self._run(args)

    async def _run(self, args: list[str]) -> None:
        if self._sha is None:
            self._sha = text(await self.redis.script_load(APPLY))
        packed = pack(["EVALSHA", self._sha, "0", *args])
        pool = self.redis.connection_pool
        conn = await pool.get_connection()
        try:
            await conn.send_packed_command(packed)
            await conn.read_response(disable_decoding=True)
        except NoScriptError:  # a whole reply was read: the connection is fine
            self._sha = None  # Redis restarted or its scripts were flushed
        except BaseException:
            # A half-read reply would poison the connection for the next user.
            await conn.disconnect()
            raise
        finally:
            await pool.release(conn)
        if self._sha is None:
            await self._run(args)


def pack(args: list[str]) -> bytes:
    """One command in the Redis protocol. redis-py's own packer costs about 3 µs per argument,
    which made it the rebuild's bottleneck (a batch has tens of thousands of arguments)."""
    encoded = [a.encode() for a in args]
    parts = [b"*%d\r\n" % len(encoded)]
    parts += [b"$%d\r\n%b\r\n" % (len(a), a) for a in encoded]
    return b"".join(parts)


def encode(writes: Iterable[Write], prefix: str) -> list[str]:
    """Writes as the flat argument list the APPLY script reads."""
    args: list[str] = []
    add = args.extend
    for w in writes:
        if isinstance(w, HashSet):
            add(("HS", prefix + w.key, w.field, w.value))
        elif isinstance(w, HashUpdate):
            add(("HU", prefix + w.key, str(len(w.fields))))
            for name, value in w.fields:
                add((name, value))
        elif isinstance(w, ZAdd):
            add(("ZA", prefix + w.key, w.member, repr(w.score)))
        elif isinstance(w, HashDelete):
            add(("HD", prefix + w.key, w.field))
        elif isinstance(w, ZRemove):
            add(("ZR", prefix + w.key, w.member))
        elif isinstance(w, Delete):
            add(("DL", prefix + w.key))
    return args


APPLY = """
local i, n = 1, #ARGV
while i <= n do
  local op, key = ARGV[i], ARGV[i + 1]
  if op == 'HS' then
    redis.call('HSET', key, ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif op == 'HU' then
    local count = tonumber(ARGV[i + 2])
    local fields = {}
    for j = 1, 2 * count do fields[j] = ARGV[i + 2 + j] end
    redis.call('HSET', key, unpack(fields)); i = i + 3 + 2 * count
  elseif op == 'ZA' then
    redis.call('ZADD', key, ARGV[i + 3], ARGV[i + 2]); i = i + 4
  elseif op == 'HD' then
    redis.call('HDEL', key, ARGV[i + 2]); i = i + 3
  elseif op == 'ZR' then
    redis.call('ZREM', key, ARGV[i + 2]); i = i + 3
  elseif op == 'DL' then
    redis.call('DEL', key); i = i + 2
  else
    return redis.error_reply('unknown write ' .. tostring(op))
  end
end
return n
"""


def parse_tracking(raw: Mapping[Any, Any]) -> dict[TopicPartitionKey, int]:
    out: dict[TopicPartitionKey, int] = {}
    for field, value in raw.items():
        topic, _, partition = text(field).rpartition(":")
        out[(topic, int(partition))] = int(value)
    return out
