"""The query API's first read (`services/profiles/reads.py`) against a real Redis: the
keyspace pointer and the request's keys in one script, with replies shaped as redis-py
shapes them for the same commands.

The tests use a logical database of their own: the pointer key is the one the services
read, and the session's services use database 0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from services.profiles import keyspace
from services.profiles.reads import Command, Unresolved, Views, read
from tests.integration.conftest import redis_on_db

DB = 9


@pytest.fixture
async def db(redis_url: str) -> AsyncIterator[Redis]:
    client = redis_on_db(redis_url, DB)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


async def test_without_a_pointer_the_legacy_keyspace_is_read(db: Redis) -> None:
    await db.hset(keyspace.LEGACY + "citizen:a", mapping={"status": '"active"', "n": "1"})
    views, (doc,) = await read(Unresolved(db), [("HGETALL", "citizen:a")])
    assert views.prefix == keyspace.LEGACY
    assert doc == await db.hgetall(keyspace.LEGACY + "citizen:a")
    assert doc == {b"status": b'"active"', b"n": b"1"}


async def test_the_pointer_chooses_the_keyspace_and_a_request_keeps_its_own(db: Redis) -> None:
    fresh = keyspace.fresh()
    await db.hset(keyspace.LEGACY + "citizen:a", "v", "old")
    await db.hset(fresh + "citizen:a", "v", "new")
    await keyspace.activate(db, fresh)

    views, (doc,) = await read(Unresolved(db), [("HGETALL", "citizen:a")])
    assert views.prefix == fresh
    assert doc == {b"v": b"new"}
    # Resolved before the switch: the request goes on reading the keyspace it started in.
    kept, (old,) = await read(Views(db, keyspace.LEGACY), [("HGETALL", "citizen:a")])
    assert kept.prefix == keyspace.LEGACY
    assert old == {b"v": b"old"}
    # The views returned read the same keyspace in later calls.
    assert await views.hgetall("citizen:a") == {b"v": b"new"}


async def test_replies_have_the_shapes_redis_py_gives(db: Redis) -> None:
    p = keyspace.LEGACY
    await db.hset(p + "h", mapping={"a": "1", "b": "2"})
    await db.zadd(p + "z", {"x": 1.5, "y": -2.0, "w": 10.0})
    _, replies = await read(
        Unresolved(db),
        [
            ("HGETALL", "h"),
            ("HGETALL", "missing"),
            ("HMGET", "h", "b", "nope", "a"),
            ("ZRANGE", "z", 0, -1, "WITHSCORES"),
            ("ZCARD", "z"),
            ("ZRANGE", "z", 0, 0),
        ],
    )
    hgetall, missing, hmget, scored, zcard, plain = replies
    assert hgetall == await db.hgetall(p + "h") == {b"a": b"1", b"b": b"2"}
    assert missing == {} == await db.hgetall(p + "missing")
    assert hmget == await db.hmget(p + "h", ["b", "nope", "a"]) == [b"2", None, b"1"]
    pairs: list[Any] = await db.zrange(p + "z", 0, -1, withscores=True)
    ours = [(member, float(score)) for member, score in pairs]
    assert scored == ours == [(b"y", -2.0), (b"x", 1.5), (b"w", 10.0)]
    assert zcard == 3
    assert plain == [b"y"]


async def test_only_reads_are_run(db: Redis) -> None:
    await db.set(keyspace.LEGACY + "k", "kept")
    refused: list[Command] = [("DEL", "k"), ("SET", "k", "changed"), ("hgetall", "k")]
    for command in refused:
        with pytest.raises(ValueError, match="not a read"):
            await read(Unresolved(db), [("HGETALL", "h"), command])
    assert await db.get(keyspace.LEGACY + "k") == b"kept"
