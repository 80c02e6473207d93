"""The store's raw batch connection against a real Redis: replies counted, errors raised."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ResponseError

from services.projection.pipe import BatchConnection, pack, pack_transaction
from services.projection.writes import Command


def _prefix() -> str:
    return f"jm:test-{uuid.uuid4().hex[:8]}:"


def test_pack_speaks_the_redis_protocol() -> None:
    args = ["HSET", "k", "f", "væ"]
    assert pack(args) == b"".join(Connection().pack_command(*args))


async def test_a_large_batch_is_applied_and_its_replies_all_read(redis: Redis) -> None:
    prefix = _prefix()
    batches = BatchConnection(redis)
    # Enough commands that the replies arrive in many reads, and values with CRLF in them.
    commands: list[Command] = [("HSET", f"h{i}", ["f", f"line\r\n{i}"]) for i in range(20_000)]
    commands.append(("ZADD", "z", ["1.5", "m"]))
    try:
        await batches.transact(pack_transaction(commands, prefix), len(commands))
        await batches.transact(pack_transaction([("DEL", "z", [])], prefix), 1)
    finally:
        await batches.close()
    assert await redis.hget(prefix + "h19999", "f") == b"line\r\n19999"
    assert not await redis.exists(prefix + "z")


async def test_an_error_is_raised_and_the_connection_recovers(redis: Redis) -> None:
    prefix = _prefix()
    await redis.set(prefix + "text", "x")
    batches = BatchConnection(redis)
    try:
        # A command Redis refuses when queueing it aborts the whole transaction.
        with pytest.raises(ResponseError, match="wrong number of arguments"):
            await batches.transact(
                pack_transaction([("HSET", "h", ["a", "1"]), ("HSET", "h", ["odd"])], prefix), 2
            )
        assert not await redis.exists(prefix + "h")
        # A key of another type fails at run time; Redis does not roll back the others.
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await batches.transact(
                pack_transaction([("HSET", "text", ["a", "1"]), ("HSET", "h", ["b", "2"])], prefix),
                2,
            )
        await batches.transact(pack_transaction([("HSET", "h", ["c", "3"])], prefix), 1)
    finally:
        await batches.close()
    assert await redis.hgetall(prefix + "h") == {b"b": b"2", b"c": b"3"}


async def test_the_clients_user_password_and_db_are_used(redis: Redis, redis_url: str) -> None:
    user, password = f"u{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    await redis.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "+@all")
    base = redis_url.rsplit("/", 1)[0].replace("redis://", f"redis://{user}:{password}@")
    client = Redis.from_url(f"{base}/7")
    batches = BatchConnection(client)
    prefix = _prefix()
    try:
        await batches.transact(pack_transaction([("HSET", "h", ["a", "1"])], prefix), 1)
        assert await client.hget(prefix + "h", "a") == b"1"
        assert not await redis.exists(prefix + "h"), "written to db 7, not the default db"
        wrong = BatchConnection(Redis.from_url(base.replace(password, "wrong") + "/7"))
        with pytest.raises(ResponseError, match="WRONGPASS"):
            await wrong.transact(pack_transaction([("HSET", "h", ["a", "2"])], prefix), 1)
        await wrong.close()
    finally:
        await batches.close()
        await client.aclose()
        await redis.execute_command("ACL", "DELUSER", user)


async def test_tls_is_refused_clearly() -> None:
    batches = BatchConnection(Redis.from_url("rediss://127.0.0.1:1/0"))  # readers need no more
    with pytest.raises(ValueError, match="TLS"):
        await batches.transact(pack_transaction([("DEL", "k", [])], "p:"), 1)
