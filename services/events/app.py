"""The events (command) API: FastAPI app factory with its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.asyncio import Redis

from schemas.topics import CITIZENS, EMPLOYERS, JOB_ORDERS, PLACEMENTS
from services.auth.access import log_refusal
from services.auth.fastapi import secure_app
from services.common.audit import AuditedRoutes, AuditTrail
from services.common.errors import install_error_handlers, unavailable
from services.common.health import broker_check, health_router, redis_check
from services.common.redis import connect_with
from services.common.serve import LIFESPAN_STOP_S
from services.common.tasks import Supervised
from services.events import projection
from services.events.context import CommandContext
from services.events.erasure import announce_pending
from services.events.errors import CommandError, Forbidden, Hidden, Unavailable
from services.events.handlers import Handlers, Publisher
from services.events.publisher import EventPublisher
from services.events.routes import router
from services.events.settings import EventsSettings
from services.events.store import AggregateStore
from services.events.taxonomy import router as taxonomy_router
from services.keys.ring import CachedKeyRing
from services.keys.setup import install_keystore
from services.projection.projector import Projector
from services.projection.store import ViewStore
from services.reference.esco import load_taxonomy
from services.reference.geo import load_geo

log = logging.getLogger(__name__)

# The topics whose events change what commands are decided on.
SOURCES = (CITIZENS, EMPLOYERS, JOB_ORDERS, PLACEMENTS)


@dataclass(frozen=True)
class Adapters:
    """What the service talks to; `open_adapters` makes the real ones."""

    redis: Redis
    publisher: Publisher
    # The citizens' data keys (None: events are written unsealed).
    keys: CachedKeyRing | None = None


OpenAdapters = Callable[[EventsSettings], AbstractAsyncContextManager[Adapters]]


@asynccontextmanager
async def open_adapters(settings: EventsSettings) -> AsyncIterator[Adapters]:
    redis = connect_with(settings)
    keys = install_keystore(settings.keystore_path, "events")
    publisher = EventPublisher(settings.kafka_bootstrap_servers, keys=keys)
    try:
        await publisher.start()
        yield Adapters(redis, publisher, keys)
    finally:
        await publisher.stop()
        await redis.aclose()


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


def sweeper(
    ctx: CommandContext, interval_s: float, keys: CachedKeyRing | None = None
) -> Callable[[asyncio.Event], object]:
    """Expire orders past their deadline, and record fills and erasures' announcements a
    crash left unrecorded."""

    async def sweep(stop: asyncio.Event) -> None:
        while not stop.is_set():
            if ctx.handlers.live():
                expired = await ctx.expire_due()
                if expired:
                    log.info("job orders expired", extra={"job_order_ids": expired})
                filled = await ctx.record_filled()
                if filled:
                    log.warning("fills recorded late", extra={"job_order_ids": filled})
                if keys is not None:
                    await announce_pending(ctx.handlers.publisher, keys)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)

    return sweep


def create_app(settings: EventsSettings, adapters: OpenAdapters = open_adapters) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with adapters(settings) as io:
            await trail.start()
            prefix = settings.redis_key_prefix
            projector = Projector(
                settings.kafka_bootstrap_servers,
                ViewStore(io.redis, prefix, projection.VIEW),
                topics=SOURCES,
                project_fn=projection.project,
                name="events",
                fetch_max_wait_ms=settings.events_fetch_max_wait_ms,
            )
            store = AggregateStore(io.redis, prefix, settings.events_claim_ttl_ms)
            # What the projector has read was written before any append from now on.
            io.publisher.follow(lambda tp: projector.positions.get((tp.topic, tp.partition), 0))
            handlers = Handlers(io.publisher, store, live=lambda: projector.live)
            taxonomy = await asyncio.to_thread(load_taxonomy)
            ctx = CommandContext(handlers, taxonomy, load_geo())
            tasks = {
                "aggregates": Supervised("aggregates", projector.run),
                "sweeper": Supervised(
                    "sweeper",
                    sweeper(ctx, settings.events_sweep_interval_s, io.keys),  # type: ignore[arg-type]
                ),
            }
            stop = asyncio.Event()
            running = [t.start(stop) for t in tasks.values()]
            app.state.context = ctx
            app.state.redis = io.redis
            app.state.projector = projector
            app.state.tasks = tasks
            try:
                yield
            finally:
                stop.set()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*running), LIFESPAN_STOP_S)
                await trail.stop()

    app = FastAPI(
        title="jobmatch events",
        version="0.3.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    # Commands on a citizen go on the audit trail, refusals too (inside the gate: the
    # verified principal is the actor).
    trail = AuditTrail(settings.kafka_bootstrap_servers, "events")
    app.add_middleware(AuditedRoutes, trail=trail)
    app.state.audit_trail = trail
    auth = secure_app(app, settings, "events")
    broker = broker_check(settings.kafka_bootstrap_servers)
    redis = redis_check(lambda: app.state.redis)

    async def aggregates() -> bool:
        """The states are caught up with the log, and every background task runs."""
        tasks: dict[str, Supervised] = app.state.tasks
        return app.state.projector.live and all(t.healthy for t in tasks.values())

    checks = {
        "broker": broker,
        "redis": redis,
        "signing_keys": auth.verifier.keys.ready,
        "aggregates": aggregates,
    }
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
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, Unavailable) else None
        return JSONResponse({"detail": exc.detail()}, status_code=exc.status, headers=headers)

    @app.exception_handler(KafkaError)
    async def broker_down(request: Request, exc: Exception) -> JSONResponse:
        return unavailable(f"event store unavailable: {exc}")

    return app
