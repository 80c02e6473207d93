"""How the query API reads Redis: the views of one keyspace, and one round trip for a
request's first read.

A request reads the keyspace pointer once (`keyspace.active`) and keeps to that keyspace, so
it never mixes views from before and after a rebuild. The hot routes (a citizen, a job
order, an order's suggestions) do not read the pointer on its own: their first read is a
script that reads the pointer and then the request's keys in that keyspace, in one round
trip (each Redis command cost the service ~150-250 µs of CPU: bench/auth.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from services.profiles import keyspace
from services.profiles.projections import keys
from services.projection.store import text

# KEYS: the ranked worklist (sorted set), its filter fields (hash: "score\tpostal\turi"),
# its documents (hash). ARGV: minimum score, postal prefix ("" for any), occupation URI,
# "1" if the URI filters, offset, limit. Returns {matching count, the page's documents...}.
# Entries without filter fields (projected before they existed) are read from their
# documents. Scores compare as doubles on both sides, exactly as `doc["score"] >= min`.
FILTERED_WORKLIST = """
local ids = redis.call('ZREVRANGE', KEYS[1], 0, -1)
local min = tonumber(ARGV[1])
local prefix = ARGV[2]
local plen = string.len(prefix)
local occupation = ARGV[3]
local by_occupation = ARGV[4] == '1'
local offset = tonumber(ARGV[5])
local limit = tonumber(ARGV[6])
local total = 0
local page = {}
local n = #ids
local i = 1
while i <= n do
  local last = math.min(i + 999, n)
  local chunk = {}
  for j = i, last do chunk[#chunk + 1] = ids[j] end
  local values = redis.call('HMGET', KEYS[2], unpack(chunk))
  for k = 1, #chunk do
    local v = values[k]
    local score, postal, uri
    if v then
      local a = string.find(v, '\t', 1, true)
      local b = string.find(v, '\t', a + 1, true)
      score = tonumber(string.sub(v, 1, a - 1))
      postal = string.sub(v, a + 1, b - 1)
      uri = string.sub(v, b + 1)
    else
      local doc = redis.call('HGET', KEYS[3], chunk[k])
      if doc then
        local d = cjson.decode(doc)
        score = tonumber(d['score'])
        postal = d['worksite_postal_code']
        if type(postal) ~= 'string' then postal = '' end
        uri = d['occupation_uri']
        if type(uri) ~= 'string' then uri = '' end
      end
    end
    if score and score >= min
      and (plen == 0 or string.sub(postal, 1, plen) == prefix)
      and ((not by_occupation) or uri == occupation) then
      total = total + 1
      if total > offset and #page < limit then page[#page + 1] = chunk[k] end
    end
  end
  i = last + 1
end
local out = {total}
if #page > 0 then
  local docs = redis.call('HMGET', KEYS[3], unpack(page))
  for k = 1, #docs do out[#out + 1] = docs[k] end
end
return out
"""


# KEYS: the employer's order summaries (hash), then per order: its document, reviews and
# placements (hashes). ARGV: "1" to return each order as posted too, then the order ids.
# Returns one JSON text, a row per order: [summary, employer_cvr, status, updated_at,
# version, the order as posted (null unless asked for), presented candidates, filled
# positions], the stored values spliced in as they are (each is JSON already): one reply to
# parse, where 8 replies an order cost ~20 ms of parsing at 250 orders. The counts are those
# `job_order` works out, from field names only: citizens with a `presented` review (fields
# "{citizen}:presented"), placements started (fields "{placement}:started").
EMPLOYER_ORDERS = """
local with_order = ARGV[1] == '1'
local fields = {'employer_cvr', 'status', 'updated_at', 'version'}
if with_order then fields[5] = 'order' end
local rows = {}
for i = 2, #ARGV do
  local k = 2 + (i - 2) * 3
  local row = {redis.call('HGET', KEYS[1], ARGV[i]) or 'null'}
  local doc = redis.call('HMGET', KEYS[k], unpack(fields))
  for j = 1, 5 do row[j + 1] = doc[j] or 'null' end
  local presented = 0
  for _, f in ipairs(redis.call('HKEYS', KEYS[k + 1])) do
    if string.sub(f, -10) == ':presented' then presented = presented + 1 end
  end
  local filled = 0
  for _, f in ipairs(redis.call('HKEYS', KEYS[k + 2])) do
    local c = string.find(f, ':', 1, true)
    if c and string.sub(f, c + 1) == 'started' then filled = filled + 1 end
  end
  row[7] = tostring(presented)
  row[8] = tostring(filled)
  rows[#rows + 1] = '[' .. table.concat(row, ',') .. ']'
end
return '[' .. table.concat(rows, ',') .. ']'
"""


# KEYS[1]: the keyspace pointer. ARGV[1]: the keyspace to read ("" for the pointer's: the
# legacy one, ARGV[2], when it is unset); then per command: its name, its argument count
# and the arguments, the first a key relative to the keyspace. Returns {keyspace, replies}.
# Only the read commands of `READABLE` are sent (the script runs what it is given).
FIRST_READ = """
local prefix = ARGV[1]
if prefix == '' then prefix = redis.call('GET', KEYS[1]) or ARGV[2] end
local out = {prefix}
local i = 3
while i <= #ARGV do
  local name, n = ARGV[i], tonumber(ARGV[i + 1])
  local args = {prefix .. ARGV[i + 2]}
  for j = 2, n do args[j] = ARGV[i + 1 + j] end
  out[#out + 1] = redis.call(name, unpack(args))
  i = i + 2 + n
end
return out
"""
READABLE = frozenset({"HGETALL", "HMGET", "ZRANGE", "ZCARD"})
Command = tuple[Any, ...]


@dataclass(frozen=True)
class Views:
    """The views of one keyspace: keys are relative to its prefix."""

    redis: Redis
    prefix: str

    async def hgetall(self, key: str) -> dict[Any, Any]:
        raw: dict[Any, Any] = await self.redis.hgetall(self.prefix + key)
        return raw

    async def zcard(self, key: str) -> int:
        return int(await self.redis.zcard(self.prefix + key))

    async def zrevrange(self, key: str, start: int, end: int) -> list[Any]:
        raw: list[Any] = await self.redis.zrevrange(self.prefix + key, start, end)
        return raw

    async def page(self, key: str, offset: int, limit: int) -> tuple[int, list[Any]]:
        """ZCARD and one page of ZREVRANGE, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(self.prefix + key)
            pipe.zrevrange(self.prefix + key, offset, offset + limit - 1)
            total, ids = await pipe.execute()
        return int(total), list(ids)

    async def filtered_worklist(
        self,
        ranked: str,
        filters: str,
        docs: str,
        *,
        min_score: float,
        postal_prefix: str | None,
        occupation_uri: str | None,
        offset: int,
        limit: int,
    ) -> tuple[int, list[bytes]]:
        """(how many entries of `ranked` pass the filters, one page of their documents), in
        one script: ~10 ms of Redis at 10k entries, where sending the 10k entries to be
        filtered here cost ~0.5 s of parsing replies (bench/ui_pages.py)."""
        script = self.redis.register_script(FILTERED_WORKLIST)
        reply: list[Any] = await script(
            keys=[self.prefix + ranked, self.prefix + filters, self.prefix + docs],
            args=[
                repr(float(min_score)),
                postal_prefix or "",
                occupation_uri or "",
                "1" if occupation_uri is not None else "0",
                offset,
                limit,
            ],
        )
        return int(reply[0]), [doc for doc in reply[1:] if doc is not None]

    async def employer_orders(
        self, cvr: str, job_order_ids: Sequence[str], with_order: bool
    ) -> list[list[Any]]:
        """Per order: [summary, employer_cvr, status, updated_at, version, order, presented
        candidates, filled positions], decoded (see EMPLOYER_ORDERS), in one script."""
        if not job_order_ids:
            return []
        per_order = [
            self.prefix + key
            for oid in job_order_ids
            for key in (keys.job_order(oid), keys.order_reviews(oid), keys.order_placements(oid))
        ]
        script = self.redis.register_script(EMPLOYER_ORDERS)
        reply = await script(
            keys=[self.prefix + keys.employer_order_summaries(cvr), *per_order],
            args=["1" if with_order else "0", *job_order_ids],
        )
        rows: list[list[Any]] = orjson.loads(reply)
        return rows

    async def zrange_withscores(self, key: str) -> list[tuple[str, float]]:
        raw: list[Any] = await self.redis.zrange(self.prefix + key, 0, -1, withscores=True)
        return [(text(member), float(score)) for member, score in raw]

    async def hmget(self, key: str, fields: list[Any]) -> list[Any]:
        if not fields:
            return []
        raw: list[Any] = await self.redis.hmget(self.prefix + key, fields)
        return raw

    async def exists(self, key: str) -> bool:
        return bool(await self.redis.exists(self.prefix + key))

    async def hkeys(self, key: str) -> list[str]:
        return [text(k) for k in await self.redis.hkeys(self.prefix + key)]


@dataclass(frozen=True)
class Unresolved:
    """A request's views whose keyspace its first read resolves (see `read`)."""

    redis: Redis


async def read(source: Views | Unresolved, commands: Sequence[Command]) -> tuple[Views, list[Any]]:
    """Run `commands` ((name, key relative to the keyspace, *args), names from `READABLE`)
    in one round trip; with `Unresolved`, the keyspace pointer is read in the same script.
    Returns the views read (use them for the request's further reads) and the replies,
    shaped as redis-py shapes them: HGETALL a dict, ZRANGE … WITHSCORES (member, score)
    pairs."""
    flat: list[Any] = []
    for name, *args in commands:
        if name not in READABLE:
            raise ValueError(f"not a read the first-read script may run: {name}")
        flat += [name, len(args), *args]
    prefix = source.prefix if isinstance(source, Views) else ""
    script = source.redis.register_script(FIRST_READ)
    reply: list[Any] = await script(keys=[keyspace.POINTER], args=[prefix, keyspace.LEGACY, *flat])
    views = Views(source.redis, text(reply[0]))
    return views, [_shaped(c, r) for c, r in zip(commands, reply[1:], strict=True)]


def _shaped(command: Command, reply: Any) -> Any:
    name = command[0]
    if name == "HGETALL":
        return dict(zip(reply[::2], reply[1::2], strict=True))
    if name == "ZRANGE" and "WITHSCORES" in command:
        return [(m, float(s)) for m, s in zip(reply[::2], reply[1::2], strict=True)]
    return reply
