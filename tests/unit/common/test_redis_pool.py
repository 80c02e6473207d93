"""The services' Redis clients: a pool that waits with a bound, configured from settings."""

from __future__ import annotations

import pytest
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.common.redis import connect, connect_with, pool_exhausted
from services.common.settings import InfraSettings


@pytest.fixture(autouse=True)
def environment(infra_env: pytest.MonkeyPatch) -> None:
    infra_env.setenv("REDIS_URL", "redis://redis:6379/3")


async def test_connect_makes_a_blocking_pool_from_the_url() -> None:
    client = connect("redis://jobmatch-events:s3cret@redis:6380/2", 7, 1.5)
    pool = client.connection_pool
    assert isinstance(pool, BlockingConnectionPool)
    assert (pool.max_connections, pool.timeout) == (7, 1.5)
    kwargs = pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("redis", 6380, 2)
    assert (kwargs["username"], kwargs["password"]) == ("jobmatch-events", "s3cret")
    await client.aclose()


async def test_tls_and_unix_socket_urls_keep_their_connection_class() -> None:
    tls = connect("rediss://redis:6380/0")
    unix = connect("unix:///run/redis.sock?db=1")
    assert issubclass(tls.connection_pool.connection_class, SSLConnection)
    assert issubclass(unix.connection_pool.connection_class, UnixDomainSocketConnection)
    assert unix.connection_pool.connection_kwargs["path"] == "/run/redis.sock"
    await tls.aclose()
    await unix.aclose()


@pytest.mark.parametrize(("size", "wait"), [(0, 1.0), (5, 0.0), (5, -1.0)])
def test_a_pool_without_bounds_is_refused(size: int, wait: float) -> None:
    with pytest.raises(ValueError):
        connect("redis://redis:6379/0", size, wait)


async def test_settings_size_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    default = InfraSettings()  # type: ignore[call-arg]
    assert (default.redis_max_connections, default.redis_pool_timeout_s) == (50, 2.0)
    monkeypatch.setenv("REDIS_MAX_CONNECTIONS", "12")
    monkeypatch.setenv("REDIS_POOL_TIMEOUT_S", "0.25")
    client = connect_with(InfraSettings())  # type: ignore[call-arg]
    pool = client.connection_pool
    assert isinstance(pool, BlockingConnectionPool)
    assert (pool.max_connections, pool.timeout) == (12, 0.25)
    assert pool.connection_kwargs["db"] == 3
    await client.aclose()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("REDIS_MAX_CONNECTIONS", "0"), ("REDIS_POOL_TIMEOUT_S", "0"), ("REDIS_POOL_TIMEOUT_S", "x")],
)
def test_settings_refuse_an_unbounded_pool(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable.lower()):
        InfraSettings()  # type: ignore[call-arg]


def test_pool_exhaustion_is_told_apart_from_redis_being_down() -> None:
    assert pool_exhausted(RedisConnectionError("No connection available."))
    assert pool_exhausted(MaxConnectionsError("Too many connections"))
    assert not pool_exhausted(RedisConnectionError("Error 111 connecting to redis:6379."))
    assert not pool_exhausted(RedisTimeoutError("Timeout reading from socket"))
    assert not pool_exhausted(ValueError("No connection available."))
