"""The events (command) API: FastAPI app factory with its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.asyncio import Redis

from schemas.topics import PLACEMENTS
from services.common.errors import install_error_handlers
from services.common.health import broker_check, health_router, redis_check
from services.events.context import CommandContext
from services.events.errors import CommandError
from services.events.handlers import Handlers
from services.events.publisher import EventPublisher
from services.events.routes import router
from services.events.settings import EventsSettings
from services.events.store import AggregateStore
from services.events.suggestions import VIEW, project_suggestions
from services.events.taxonomy import router as taxonomy_router
from services.profiles.projector import Projector
from services.profiles.store import ViewStore
from services.reference.esco import load_taxonomy
from services.reference.geo import load_geo

log = logging.getLogger(__name__)

DESCRIPTION = """Command API of jobmatch: validates commands against the current state and
appends events to the log.

Every accepted command answers **202** with the event id and its position in the log once
the broker has acknowledged the write (acks=all). Invalid input answers **422** naming each
bad field; a command that does not fit the current state answers **409** with the reason;
an unknown record **404**. Every command records its actor (`X-Actor-Role`, `X-Actor-Id`).

This service uses the ESCO classification of the European Commission."""


async def _sweep(ctx: CommandContext, interval: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            expired = await ctx.expire_due()
            if expired:
                log.info("job orders expired", extra={"job_order_ids": expired})
        except Exception:
            log.exception("deadline sweep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


def create_app(settings: EventsSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url)
        publisher = EventPublisher(settings.kafka_bootstrap_servers)
        await publisher.start()
        prefix = settings.redis_key_prefix
        taxonomy = await asyncio.to_thread(load_taxonomy)
        ctx = CommandContext(
            Handlers(publisher, AggregateStore(redis, prefix)), taxonomy, load_geo(), redis, prefix
        )
        projector = Projector(
            settings.kafka_bootstrap_servers,
            ViewStore(redis, prefix, VIEW),
            topics=(PLACEMENTS,),
            project_fn=project_suggestions,
            name="events",
            fetch_max_wait_ms=settings.events_fetch_max_wait_ms,
        )
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(projector.run(stop), name="suggestions"),
            asyncio.create_task(_sweep(ctx, settings.events_sweep_interval_s, stop), name="sweep"),
        ]
        app.state.context = ctx
        app.state.redis = redis
        app.state.projector = projector
        try:
            yield
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.gather(*tasks), 10)
            await publisher.stop()
            await redis.aclose()

    app = FastAPI(
        title="jobmatch events", version="0.2.0", description=DESCRIPTION, lifespan=lifespan
    )
    install_error_handlers(app)
    broker = broker_check(settings.kafka_bootstrap_servers)
    redis = redis_check(lambda: app.state.redis)
    app.include_router(health_router("events", {"broker": broker, "redis": redis}))
    app.include_router(router)
    app.include_router(taxonomy_router)

    @app.exception_handler(CommandError)
    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CommandError)
        return JSONResponse({"detail": exc.detail()}, status_code=exc.status)

    @app.exception_handler(KafkaError)
    async def broker_down(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": [{"field": None, "reason": f"event store unavailable: {exc}"}]},
            status_code=503,
        )

    return app
