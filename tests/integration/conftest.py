from __future__ import annotations

import asyncio
import contextlib
import functools
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from services.events.app import create_app
from services.events.settings import EventsSettings
from services.profiles.app import create_app as create_profiles_app
from services.profiles.settings import ProfilesSettings
from tests.conftest import Issuer

# The municipality of the contract examples (Aarhus): the default client signs in there.
MUNICIPALITY = "0751"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def redis_on_db(redis_url: str, db: int) -> Redis:
    """A client of the session's Redis on logical database `db`: for tests that move the
    keyspace pointer, which the session's services (database 0) follow."""
    return Redis.from_url(redis_url.rsplit("/", 1)[0] + f"/{db}")


@contextlib.asynccontextmanager
async def consultant_client(
    app: FastAPI, issuer: Issuer, base_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an in-process service, signed in as a consultant of MUNICIPALITY (send
    other headers to be someone else)."""
    consultant = issuer.bearer("consultant", "kons-7", municipality=MUNICIPALITY, minutes=600)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=base_url, headers=consultant
    ) as client:
        yield client


@functools.cache
def session_keystore() -> str:
    """The session's key store (the citizens' data keys): one file all services share, as
    the embedded stack's do."""
    return str(Path(tempfile.mkdtemp(prefix="jobmatch-keys-")) / "keys.sqlite")


def stores(broker: str, redis_url: str, issuer: Issuer) -> dict[str, str]:
    """The settings that point a service at the session's broker, Redis, issuer and key
    store."""
    return {
        "kafka_bootstrap_servers": broker,
        "redis_url": redis_url,
        "auth_issuer": issuer.url,
        "auth_jwks_url": issuer.jwks_url,
        "keystore_path": session_keystore(),
    }


@pytest.fixture(scope="session")
async def events_app(broker: str, redis_url: str, issuer: Issuer) -> AsyncIterator[FastAPI]:
    """The events service in-process, talking to the session's real broker, Redis and issuer."""
    app = create_app(EventsSettings(**stores(broker, redis_url, issuer)))  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):
        await caught_up(app)
        yield app


async def caught_up(app: FastAPI, timeout_s: float = 30.0) -> None:
    """Until the service's projector has read the log to its end (commands answer 503
    before)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not app.state.projector.live:
        assert asyncio.get_running_loop().time() < deadline, "the projector never caught up"
        await asyncio.sleep(0.02)


@pytest.fixture(scope="session")
async def events_api(events_app: FastAPI, issuer: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the events service signed in as a consultant of Aarhus (send other
    headers to be someone else)."""
    async with consultant_client(events_app, issuer, "http://events") as client:
        yield client


@pytest.fixture(scope="session")
async def profiles_app(broker: str, redis_url: str, issuer: Issuer) -> AsyncIterator[FastAPI]:
    """The profiles service in-process (projector and query API), on the same stores."""
    settings = ProfilesSettings(
        **stores(broker, redis_url, issuer),  # type: ignore[arg-type]
        profiles_fetch_max_wait_ms=100,
    )
    app = create_profiles_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def profiles(profiles_app: FastAPI, issuer: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    """The profiles API as a consultant of MUNICIPALITY."""
    async with consultant_client(profiles_app, issuer, "http://profiles") as client:
        yield client
