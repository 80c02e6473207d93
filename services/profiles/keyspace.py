"""Which keyspace the views live in, switching it, and fingerprinting it.

All views of one build live under one key prefix: a keyspace. Readers and the live projector
find the current one through a pointer key. A rebuild fills a fresh keyspace from the log and
then sets the pointer: one SET, so every request reads either the old views or the new ones,
never a mixture.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from services.projection.store import text

POINTER = "jm:views:active"
# The keyspace in use before any rebuild (and the one a fresh install starts with).
LEGACY = "jm:view:"
REBUILD_LOCK = "jm:views:rebuild-lock"


async def active(redis: Redis) -> str:
    raw = await redis.get(POINTER)
    return text(raw) if raw else LEGACY


def fresh(now: dt.datetime | None = None) -> str:
    # Outside "jm:view:*", so dropping the legacy keyspace by pattern never touches it.
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S%f")
    return f"jm:views@{stamp}:"


async def activate(redis: Redis, prefix: str) -> str:
    """Point readers at `prefix`; returns the keyspace they read before."""
    previous = await redis.set(POINTER, prefix, get=True)
    return text(previous) if isinstance(previous, bytes | str) and previous else LEGACY


def _pattern(prefix: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "*"


async def keys_of(redis: Redis, prefix: str) -> list[str]:
    return sorted([text(k) async for k in redis.scan_iter(match=_pattern(prefix), count=1000)])


async def drop(redis: Redis, prefix: str) -> int:
    """Delete a keyspace (UNLINK: Redis frees the memory in the background)."""
    found = await keys_of(redis, prefix)
    for i in range(0, len(found), 1000):
        await redis.unlink(*found[i : i + 1000])
    return len(found)


@dataclass(frozen=True)
class Checksum:
    digest: str
    keys: int


async def checksum(redis: Redis, prefix: str) -> Checksum:
    """A digest of every key (relative to the keyspace), its type and its content: two
    keyspaces with the same views have the same checksum."""
    found = await keys_of(redis, prefix)
    sha = hashlib.sha256()
    for i in range(0, len(found), 500):
        chunk = found[i : i + 500]
        async with redis.pipeline(transaction=False) as pipe:
            for key in chunk:
                pipe.type(key)
            types = [text(t) for t in await pipe.execute()]
        async with redis.pipeline(transaction=False) as pipe:
            for key, kind in zip(chunk, types, strict=True):
                _read(pipe, key, kind)
            contents = await pipe.execute()
        for key, kind, content in zip(chunk, types, contents, strict=True):
            line = [key[len(prefix) :], kind, _canonical(kind, content)]
            sha.update(json.dumps(line, ensure_ascii=False).encode() + b"\n")
    return Checksum(sha.hexdigest(), len(found))


def _read(pipe: Any, key: str, kind: str) -> None:
    if kind == "hash":
        pipe.hgetall(key)
    elif kind == "zset":
        pipe.zrange(key, 0, -1, withscores=True)
    elif kind == "set":
        pipe.smembers(key)
    elif kind == "list":
        pipe.lrange(key, 0, -1)
    else:
        pipe.get(key)


def _canonical(kind: str, content: Any) -> Any:
    if kind == "hash":
        return sorted((text(k), text(v)) for k, v in content.items())
    if kind == "zset":
        return sorted((text(m), float(s)) for m, s in content)
    if kind == "set":
        return sorted(text(m) for m in content)
    if kind == "list":
        return [text(v) for v in content]
    return None if content is None else text(content)
