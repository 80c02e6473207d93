"""The profiles service: projection loop plus query API, in one process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from schemas.topics import VIEW_TOPICS
from services.auth.access import Access
from services.auth.fastapi import secure_app
from services.common.audit import AuditedRoutes, AuditTrail
from services.common.errors import install_error_handlers
from services.common.health import broker_check, health_router, redis_check
from services.common.redis import connect_with
from services.common.serve import LIFESPAN_STOP_S
from services.common.tasks import Supervised
from services.keys.setup import install_keystore
from services.profiles import keyspace
from services.profiles.api import router
from services.profiles.projections.guarded import ProfileProjection
from services.profiles.projections.views import SOURCES
from services.profiles.settings import ProfilesSettings
from services.projection.projector import Projector
from services.projection.store import ViewStore

DESCRIPTION = """Query API of jobmatch: views of the event log, kept in Redis.

Every call needs an access token (`Authorization: Bearer …`, see docs/security.md).
Consultants read their own municipality's citizens, job orders, worklists and KPIs;
employers their own CVR's orders and the candidates presented to them; administrators
reports, KPIs and projection status; system accounts what their token's scopes grant.
An object of another tenant answers 404, as a missing one does.

This service uses the ESCO classification of the European Commission."""


def create_app(settings: ProfilesSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = connect_with(settings)
        install_keystore(settings.keystore_path, "profiles")
        await trail.start()
        projection = ProfileProjection()
        projector = Projector(
            settings.kafka_bootstrap_servers,
            ViewStore(redis, keyspace.LEGACY, follow=keyspace.active),
            topics=VIEW_TOPICS,
            project_fn=projection,
            on_load=projection.load,
            fetch_max_wait_ms=settings.profiles_fetch_max_wait_ms,
        )
        stop = asyncio.Event()
        supervised = Supervised("projector", projector.run)
        task = supervised.start(stop)
        app.state.redis = redis
        app.state.projector = projector
        app.state.max_wait_s = settings.profiles_max_wait_ms / 1000
        app.state.projector_task = supervised
        try:
            yield
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, LIFESPAN_STOP_S)
            await trail.stop()
            await redis.aclose()

    app = FastAPI(
        title="jobmatch profiles",
        version="0.2.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    # Inside the gate (added before it): the verified principal is known to the trail.
    trail = AuditTrail(settings.kafka_bootstrap_servers, "profiles")
    app.add_middleware(AuditedRoutes, trail=trail)
    app.state.audit_trail = trail
    auth = secure_app(app, settings, "profiles")

    broker = broker_check(settings.kafka_bootstrap_servers)
    redis = redis_check(lambda: app.state.redis)

    async def projector() -> bool:
        """Running, and caught up with the log since it (re)loaded the views."""
        supervised: Supervised = app.state.projector_task
        return supervised.healthy and bool(app.state.projector.live)

    app.include_router(
        health_router(
            "profiles",
            {
                "broker": broker,
                "redis": redis,
                "projector": projector,
                "signing_keys": auth.verifier.keys.ready,
            },
        )
    )
    app.include_router(router)

    @app.get(
        "/v1/projections/status",
        tags=["operations"],
        summary="The keyspace readers use, applied events, and the consumer lag of each view",
        dependencies=[Depends(Access("administrator"))],
    )
    async def status() -> dict[str, Any]:
        p: Projector = app.state.projector
        by_topic = p.lag_by_topic()
        return {
            "running": p.running,
            "live": p.live,
            "replays": p.replays,
            "failures": app.state.projector_task.failures,
            "keyspace": p.store.prefix,
            "applied": p.applied,
            "dead_lettered": p.dead_lettered,
            "lag": p.lag(),
            "lag_by_topic": by_topic,
            "views": {
                view: {"topics": list(topics), "lag": sum(by_topic.get(t, 0) for t in topics)}
                for view, topics in SOURCES.items()
            },
            "positions": {f"{t}:{n}": off for (t, n), off in sorted(p.positions.items())},
        }

    return app
