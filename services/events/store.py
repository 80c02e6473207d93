"""Redis adapter of the aggregate states: read the projection, claim, settle.

The states are the projection of the log in `projection.py`, kept by the service's projector.
A command reads the aggregates it needs, decides, and then:

1. `claim`s the aggregates its events change: all or none, only if no other command holds one
   of them and each is still at the version (`v`, the id of its last event) it was read at.
   Two concurrent commands on one aggregate: exactly one gets the claim, the other a 409.
2. appends its events to the log;
3. `settle`s: writes the events' effect on the states (the same writes the projector will
   make when it reads them, so doing both is harmless) unless the projector got there first,
   and lets go of the claims. The next command on these aggregates sees this one's effect
   without waiting for the projector.

A claim expires (`claim_ttl_ms`), so a command that dies between 1 and 3 blocks its
aggregates only that long; its events, if appended, reach the states through the projector.
Every key is read and written in the projection's keyspace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel
from redis.asyncio import Redis

from services.events import projection as keys
from services.events.commands import Key
from services.events.errors import Unavailable
from services.events.state import (
    Hash,
    SuggestionState,
    citizen_from,
    employer_from,
    order_from,
    placement_from,
    review_from,
    suggestion_from,
)
from services.projection.store import marker_key, text
from services.projection.writes import Write, coalesce

# A key's version is not compared (a record the command creates, not one it read).
UNCHECKED = "*"

_CLAIM = """
if redis.call('EXISTS', ARGV[3]) == 0 then return -2 end
local n = #KEYS / 2
for i = 1, n do
  if redis.call('EXISTS', KEYS[n + i]) == 1 then return 0 end
  local want = ARGV[3 + i]
  if want ~= '*' and (redis.call('HGET', KEYS[i], 'v') or '') ~= want then return -1 end
end
for i = 1, n do redis.call('SET', KEYS[n + i], ARGV[1], 'PX', ARGV[2]) end
return 1
"""

_SETTLE = """
local n = #KEYS / 2
local ours = {}
local ids = tonumber(ARGV[2])
for i = 1, ids do ours[ARGV[2 + i]] = true end
local current = true
for i = 1, n do
  if redis.call('GET', KEYS[n + i]) ~= ARGV[1] then current = false end
  local want = ARGV[2 + ids + i]
  local v = redis.call('HGET', KEYS[i], 'v') or ''
  if want ~= '*' and v ~= want and not ours[v] then current = false end
end
if current then
  local j = 2 + ids + n + 1
  for _ = 1, tonumber(ARGV[j]) do
    local name, key, count = ARGV[j + 1], ARGV[j + 2], tonumber(ARGV[j + 3])
    redis.call(name, key, unpack(ARGV, j + 4, j + 3 + count))
    j = j + 3 + count
  end
end
for i = 1, n do
  if redis.call('GET', KEYS[n + i]) == ARGV[1] then redis.call('DEL', KEYS[n + i]) end
end
if current then return 1 end
return 0
"""


class Wiped(Unavailable):
    pass


class Claimed(Enum):
    OK = 1
    BUSY = 0  # another command holds one of the aggregates
    MOVED = -1  # one changed since it was read
    WIPED = -2  # the states are gone (a Redis wipe): the projector replays the log


@dataclass(frozen=True)
class Loaded:
    version: str
    state: BaseModel | None


def _reads(key: Key) -> tuple[str, ...]:
    kind, ident = key
    if kind == "citizen":
        return keys.citizen(ident), keys.consents(ident), keys.citizen_placements(ident)
    if kind == "order":
        return keys.order(ident), keys.order_started(ident)
    if kind == "review":
        return (keys.review(ident),)
    if kind == "placement":
        return (keys.placement(ident),)
    if kind == "employer":
        return (keys.employer(ident),)
    raise ValueError(f"no aggregate of kind {kind!r}")


def assemble(key: Key, hashes: Sequence[Hash]) -> Loaded:
    """An aggregate from the hashes `_reads` names (pure; the in-memory store uses it too)."""
    kind = key[0]
    main = hashes[0]
    state: BaseModel | None
    if kind == "citizen":
        state = citizen_from(main, hashes[1], hashes[2])
    elif kind == "order":
        state = order_from(main, hashes[1])
    elif kind == "review":
        state = review_from(main)
    elif kind == "placement":
        state = placement_from(main)
    else:
        state = employer_from(main)
    return Loaded(main.get("v", ""), state)


def main_key(key: Key) -> str:
    return _reads(key)[0]


def claim_key(key: Key) -> str:
    return f"claim:{key[0]}:{key[1]}"


class AggregateStore:
    def __init__(self, redis: Redis, prefix: str, claim_ttl_ms: int = 10_000) -> None:
        self._redis = redis
        self._prefix = prefix
        # Set by the projector when it starts filling the keyspace (services.projection).
        self._marker = prefix + marker_key(keys.VIEW)
        self._ttl = claim_ttl_ms
        self._claim = redis.register_script(_CLAIM)
        self._settle = redis.register_script(_SETTLE)

    @property
    def prefix(self) -> str:
        return self._prefix

    async def load(self, aggregates: Sequence[Key]) -> dict[Key, Loaded]:
        """The aggregates; raises `Wiped` if the states are gone (a decision on nothing
        would contradict the log)."""
        reads = [_reads(k) for k in aggregates]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.exists(self._marker)
            for names in reads:
                for name in names:
                    pipe.hgetall(self._prefix + name)
            rows = iter(await pipe.execute())
        if not next(rows):
            raise Wiped("the service is reading the log again; try again shortly")
        out: dict[Key, Loaded] = {}
        for key, names in zip(aggregates, reads, strict=True):
            out[key] = assemble(key, [_hash(next(rows)) for _ in names])
        return out

    async def suggestion(self, suggestion_id: str) -> SuggestionState | None:
        raw = await self._redis.hgetall(self._prefix + keys.suggestion(suggestion_id))
        return suggestion_from(_hash(raw))

    async def claim(self, expected: Mapping[Key, str], token: str) -> Claimed:
        """Claim every aggregate in `expected` if free and at the version given (or
        `UNCHECKED`)."""
        aggregates = list(expected)
        result = await self._claim(
            keys=self._keys(aggregates),
            args=[token, self._ttl, self._marker, *(expected[k] for k in aggregates)],
        )
        return Claimed(int(result))

    async def settle(
        self, expected: Mapping[Key, str], token: str, events: Sequence[str], writes: list[Write]
    ) -> bool:
        """Apply `writes` (the effect of the command's `events`, by id) if the claims are
        still ours and no aggregate moved on but by those events (the projector may have
        applied some of them already: applying them again changes nothing); release the
        claims. False: something else moved an aggregate, the projector will bring it all."""
        aggregates = list(expected)
        commands = coalesce(writes)
        flat: list[Any] = [len(commands)]
        for name, key, args in commands:
            flat += [name, self._prefix + key, len(args), *args]
        result = await self._settle(
            keys=self._keys(aggregates),
            args=[token, len(events), *events, *(expected[k] for k in aggregates), *flat],
        )
        return bool(result)

    async def due(self, last_day: int) -> list[str]:
        """Open orders whose application deadline is on or before day `last_day` (ordinal)."""
        return _texts(
            await self._redis.zrangebyscore(self._prefix + keys.DEADLINES, "-inf", last_day)
        )

    async def filling(self, before: float) -> list[str]:
        """Orders that took a placement before `before` (epoch seconds) and are not closed."""
        return _texts(await self._redis.zrangebyscore(self._prefix + keys.FILLING, "-inf", before))

    def _keys(self, aggregates: Iterable[Key]) -> list[str]:
        listed = list(aggregates)
        return [self._prefix + main_key(k) for k in listed] + [
            self._prefix + claim_key(k) for k in listed
        ]


def _hash(raw: Mapping[Any, Any]) -> Hash:
    return {text(k): text(v) for k, v in raw.items()}


def _texts(raw: Iterable[Any]) -> list[str]:
    return [text(r) for r in raw]
