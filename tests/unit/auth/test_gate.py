"""The gate in front of every service: body limit, headers, sign-in, rate limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.auth.authenticator import Authenticator
from services.auth.gate import Gate
from services.auth.issuer import mint
from services.auth.ratelimit import RateLimiter
from services.auth.verifier import TokenVerifier
from tests.unit.auth.conftest import ISSUER, Keys

LIMIT = 4096
seen: list[int] = []


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    seen.append(len(body))
    principal = getattr(request.state, "principal", None)
    return JSONResponse(
        {"bytes": len(body), "who": principal.subject if principal else None},
        headers={"server": "uvicorn/0.30", "cache-control": "public, max-age=600"},
    )


def gated(verifier: TokenVerifier, limiter: RateLimiter | None = None) -> Gate:
    routes = [Route(p, echo, methods=["GET", "POST"]) for p in ("/v1/x", "/health", "/docs")]
    app = Starlette(routes=routes)
    auth = Authenticator(verifier, limiter or RateLimiter(0, 1))
    return Gate(app, authenticator=auth, max_body=LIMIT, service="events")


@pytest.fixture
async def client(verifier: TokenVerifier) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=gated(verifier))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as c:
        yield c


def bearer(keys: Keys, subject: str = "kons-1") -> dict[str, str]:
    t = mint(
        keys.store,
        ISSUER,
        role="consultant",
        subject=subject,
        municipality="0751",
        audiences=("jobmatch-events",),
    )
    return {"Authorization": f"Bearer {t}"}


async def test_no_token_is_401_with_a_challenge_and_secure_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v1/x", content=b"{}")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="jobmatch"'
    assert response.json()["detail"][0]["field"] == "Authorization"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    bad = await client.get("/v1/x", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    basic = await client.get("/v1/x", headers={"Authorization": "Basic a2FsbGU6MTIz"})
    assert basic.status_code == 401 and "invalid_request" in basic.headers["www-authenticate"]


async def test_a_signed_in_call_passes_with_the_callers_identity(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    response = await client.post("/v1/x", content=b'{"a": 1}', headers=bearer(keys))
    assert response.status_code == 200
    assert response.json() == {"bytes": 8, "who": "kons-1"}
    # The route's own caching and banner are replaced: personal data is never stored.
    assert response.headers["cache-control"] == "no-store"
    assert "server" not in response.headers
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_health_and_docs_are_open(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).status_code == 200
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "script-src 'self'" in docs.headers["content-security-policy"]


async def test_a_body_over_the_limit_is_refused_before_anyone_reads_it(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    seen.clear()
    big = b"x" * (LIMIT + 1)
    # Refused on its Content-Length, before sign-in is even looked at.
    response = await client.post("/v1/x", content=big)
    assert response.status_code == 413
    assert str(LIMIT) in response.json()["detail"][0]["reason"]
    assert response.json()["detail"][0]["field"] == "body"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"y" * 1000

    chunked = await client.post("/v1/x", content=chunks(), headers=bearer(keys))
    assert chunked.status_code == 413
    assert seen == []  # the route never ran

    async def small() -> AsyncIterator[bytes]:
        yield b"a" * 1000
        yield b"b" * 1000

    fine = await client.post("/v1/x", content=small(), headers=bearer(keys))
    assert fine.status_code == 200 and fine.json()["bytes"] == 2000
    odd = await client.post("/v1/x", content=b"{}", headers={"Content-Length": "lots"})
    assert odd.status_code == 400


async def test_a_caller_over_the_rate_limit_gets_429_with_retry_after(
    verifier: TokenVerifier, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="services.auth.refusals")
    gate = gated(verifier, RateLimiter(per_minute=60, burst=3))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gate), base_url="http://svc"
    ) as client:
        codes = [(await client.get("/v1/x", headers=bearer(keys))).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = await client.get("/v1/x", headers=bearer(keys))
        assert limited.headers["retry-after"] == "1"
        assert "at most 60 a minute" in limited.json()["detail"][0]["reason"]
        # Counted per caller: someone else is not held up.
        other = await client.get("/v1/x", headers=bearer(keys, "kons-2"))
        assert other.status_code == 200
    # The refusal names who was held back: the token had been verified.
    limits = [r for r in caplog.records if getattr(r, "status", None) == 429]
    assert {r.actor for r in limits} == {"consultant:kons-1@0751"}  # type: ignore[attr-defined]
