from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from services.events.app import create_app
from services.events.settings import EventsSettings


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
async def events_api(broker: str, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The events API in-process, talking to the session's real broker and Redis."""
    app = create_app(EventsSettings(kafka_bootstrap_servers=broker, redis_url=redis_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://events") as client:
            yield client
