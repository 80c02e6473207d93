"""`/health` (the process answers) and `/ready` (its dependencies answer) for FastAPI services."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from redis.asyncio import Redis

from services.common.kafka import broker_reachable

Check = Callable[[], Awaitable[bool]]


def health_router(service: str, checks: Mapping[str, Check]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health", summary="The process is up")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get("/ready", summary="Broker and Redis are reachable")
    async def ready() -> JSONResponse:
        names = list(checks)
        results = await asyncio.gather(*(checks[n]() for n in names), return_exceptions=True)
        status = {n: r is True for n, r in zip(names, results, strict=True)}
        ok = all(status.values())
        body = {"status": "ready" if ok else "not ready", "service": service, **status}
        return JSONResponse(body, status_code=200 if ok else 503)

    return router


def broker_check(bootstrap: str) -> Check:
    async def check() -> bool:
        return await broker_reachable(bootstrap)

    return check


def redis_check(get_redis: Callable[[], Redis]) -> Check:
    """`get_redis` because the client is made in the lifespan, after the routes."""

    async def check() -> bool:
        try:
            return bool(await asyncio.wait_for(get_redis().ping(), 2.0))
        except Exception:
            return False

    return check
