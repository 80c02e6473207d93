"""Redis clients whose pool waits, with a bound, instead of failing.

redis-py's default asyncio pool raises `ConnectionError("Too many connections")` the moment
its connections are all in use: under a burst of queries that is a 500 for every request
past the pool's size. A `BlockingConnectionPool` makes such a request wait for a connection
to come back, at most `timeout_s` seconds; past that it raises
`ConnectionError("No connection available.")`, which the error handlers
(`services.common.errors`) answer with 503 and Retry-After.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

from services.common.settings import (
    DEFAULT_REDIS_MAX_CONNECTIONS,
    DEFAULT_REDIS_POOL_TIMEOUT_S,
    InfraSettings,
)


def connect(
    url: str,
    max_connections: int = DEFAULT_REDIS_MAX_CONNECTIONS,
    timeout_s: float = DEFAULT_REDIS_POOL_TIMEOUT_S,
    **options: Any,
) -> Redis:
    """A client for `url` (redis://, rediss:// or unix://) with at most `max_connections`
    connections; a command that finds them all busy waits up to `timeout_s` for one.

    `options` are redis-py connection options (e.g. `socket_timeout`). The client owns the
    pool: `await client.aclose()` closes both."""
    if max_connections < 1:
        raise ValueError(f"max_connections must be at least 1, got {max_connections}")
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=timeout_s, **options
    )
    return Redis.from_pool(pool)


def connect_with(settings: InfraSettings, **options: Any) -> Redis:
    """`connect` with the service's REDIS_URL, REDIS_MAX_CONNECTIONS and REDIS_POOL_TIMEOUT_S."""
    return connect(
        settings.redis_url,
        settings.redis_max_connections,
        settings.redis_pool_timeout_s,
        **options,
    )


def pool_exhausted(exc: BaseException) -> bool:
    """Whether `exc` says every connection of the pool was busy (the process is overloaded),
    rather than that Redis cannot be reached: a blocking pool's wait that ran out, or the
    default pool's refusal."""
    if isinstance(exc, MaxConnectionsError):
        return True
    return isinstance(exc, RedisConnectionError) and str(exc) == "No connection available."
