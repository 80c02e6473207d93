"""Errors as clients want them: each bad field named with the reason, and overload as a 503
with Retry-After, never a 500.

Every error body has one shape: `{"detail": [{"field": ..., "reason": ...}, ...]}` (`field`
is null when no one field is at fault).

Overload and unreachable dependencies are the client's cue to come back later, not a bug:
a Redis connection that cannot be had (the pool's wait ran out, Redis refused or timed out)
and an asyncio timeout answer **503** with `Retry-After`. They are logged as one warning a
second at most per kind, with how many were answered since (a burst would otherwise write a
line per request). Anything else is a bug: no handler here catches it, so it is a 500 and
uvicorn logs it with its traceback ("Exception in ASGI application").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.common.redis import pool_exhausted

log = logging.getLogger(__name__)

# Seconds a client should wait before it tries again after a 503.
RETRY_AFTER_S = 1
# Overload warnings: at most one line per kind in this many seconds.
WARN_EVERY_S = 1.0


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": _field(err.get("loc", ())),
            "reason": err.get("msg", "invalid"),
            "type": err.get("type"),
            "loc": list(err.get("loc", ())),
        }
        for err in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


def unavailable(reason: str, retry_after_s: int = RETRY_AFTER_S) -> JSONResponse:
    """503 with Retry-After and the usual error body."""
    return JSONResponse(
        {"detail": [{"field": None, "reason": reason}]},
        status_code=503,
        headers={"Retry-After": str(retry_after_s)},
    )


class _Throttled:
    """Logs a warning per kind at most every WARN_EVERY_S, counting what it held back."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warn(self, kind: str, request: Request, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last.get(kind, -WARN_EVERY_S) < WARN_EVERY_S:
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        self._last[kind] = now
        log.warning(
            "answered 503: %s",
            kind,
            extra={
                "path": request.url.path,
                "error": f"{type(exc).__name__}: {exc}",
                "also_answered_503_since_last_warning": self._held.pop(kind, 0),
            },
        )


def _overload_reason(exc: BaseException) -> tuple[str, str]:
    """(kind for the log, reason for the client)."""
    if pool_exhausted(exc):
        return (
            "no free Redis connection",
            "the service is busy (no free connection to its store in time); retry later",
        )
    if isinstance(exc, RedisTimeoutError):
        return ("Redis timed out", "the service's store did not answer in time; retry later")
    if isinstance(exc, RedisConnectionError):
        return ("Redis unreachable", "the service's store is unavailable; retry later")
    return ("timed out", "the service did not finish in time; retry later")


Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]


def _overload_handler(throttled: _Throttled) -> Handler:
    async def overloaded(request: Request, exc: Exception) -> JSONResponse:
        kind, reason = _overload_reason(exc)
        throttled.warn(kind, request, exc)
        return unavailable(reason)

    return overloaded


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """The usual body for a 500; Starlette raises `exc` again afterwards, and uvicorn logs
    it with its traceback."""
    return JSONResponse({"detail": [{"field": None, "reason": "internal error"}]}, status_code=500)


# redis-py's TimeoutError is not the builtin one; asyncio.TimeoutError is (Python 3.11+).
OVERLOAD_ERRORS: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    TimeoutError,
)


def install_error_handlers(app: FastAPI) -> None:
    """422 naming each bad field; 503 with Retry-After for overload (OVERLOAD_ERRORS); a
    JSON body for a 500, which is still logged with its traceback."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _internal_error)
    overloaded = _overload_handler(_Throttled())
    for kind in OVERLOAD_ERRORS:
        app.add_exception_handler(kind, overloaded)
