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
from services.auth.access import log_refusal
from services.auth.fastapi import secure_app
from services.common.errors import install_error_handlers
from services.common.health import broker_check, health_router, redis_check
from services.events.context import CommandContext
from services.events.errors import CommandError, Forbidden, Hidden
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
an unknown record (or one outside the caller's municipality or CVR) **404**.

Every call needs an access token (`Authorization: Bearer …`, see docs/security.md): 401
without a valid one, 403 for a role that may never do this. The event records the actor
from the verified token (subject, role, municipality or CVR); no request header can set it.

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
        title="jobmatch events",
        version="0.3.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    auth = secure_app(app, settings, "events")
    broker = broker_check(settings.kafka_bootstrap_servers)
    redis = redis_check(lambda: app.state.redis)
    checks = {"broker": broker, "redis": redis, "signing_keys": auth.verifier.keys.ready}
    app.include_router(health_router("events", checks))
    app.include_router(router)
    app.include_router(taxonomy_router)

    @app.exception_handler(CommandError)
    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CommandError)
        if isinstance(exc, Forbidden | Hidden):
            why = exc.why if isinstance(exc, Hidden) else str(exc)
            principal = getattr(request.state, "principal", None)
            log_refusal(request, principal, exc.status, why)
        return JSONResponse({"detail": exc.detail()}, status_code=exc.status)

    @app.exception_handler(KafkaError)
    async def broker_down(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": [{"field": None, "reason": f"event store unavailable: {exc}"}]},
            status_code=503,
        )

    return app
