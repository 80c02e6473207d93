"""The events (command) API: FastAPI app factory with its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.asyncio import Redis

from services.common.errors import install_error_handlers
from services.common.health import broker_check, health_router, redis_check
from services.events.handlers import Handlers
from services.events.publisher import EventPublisher
from services.events.routes import router
from services.events.settings import EventsSettings
from services.events.versions import AggregateVersions

DESCRIPTION = """Command API of jobmatch: validates commands and appends events to the log.

Every accepted command answers **202** with the event id and its position in the log once
the broker has acknowledged the write. Invalid input answers **422** naming each bad field.

This service uses the ESCO classification of the European Commission."""


def create_app(settings: EventsSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url)
        publisher = EventPublisher(settings.kafka_bootstrap_servers)
        await publisher.start()
        app.state.handlers = Handlers(
            publisher, AggregateVersions(redis, settings.redis_key_prefix)
        )
        app.state.redis = redis
        try:
            yield
        finally:
            await publisher.stop()
            await redis.aclose()

    app = FastAPI(
        title="jobmatch events", version="0.1.0", description=DESCRIPTION, lifespan=lifespan
    )
    install_error_handlers(app)

    broker = broker_check(settings.kafka_bootstrap_servers)
    redis = redis_check(lambda: app.state.redis)
    app.include_router(health_router("events", {"broker": broker, "redis": redis}))
    app.include_router(router)

    @app.exception_handler(KafkaError)
    async def broker_down(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": [{"field": None, "reason": f"event store unavailable: {exc}"}]},
            status_code=503,
        )

    return app
