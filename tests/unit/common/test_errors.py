"""Error answers: overload is a 503 with Retry-After in the usual body, a bug is still a 500
that is logged with its traceback."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Query
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.common import errors
from services.common.errors import install_error_handlers
from services.stack import free_port

RAISED: dict[str, BaseException] = {
    "pool-wait": RedisConnectionError("No connection available."),
    "pool-full": MaxConnectionsError("Too many connections"),
    "refused": RedisConnectionError("Error 111 connecting to 127.0.0.1:6379."),
    "redis-timeout": RedisTimeoutError("Timeout reading from socket"),
    "asyncio-timeout": TimeoutError(),  # what asyncio.wait_for raises
    "bug": ZeroDivisionError("division by zero"),
}


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/raise/{what}")
    async def fail(what: str) -> None:
        raise RAISED[what]

    @app.get("/paged")
    async def paged(offset: int = Query(ge=0, le=10)) -> dict[str, int]:
        return {"offset": offset}

    return app


async def _get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path)


@pytest.mark.parametrize(
    ("what", "reason"),
    [
        ("pool-wait", "busy"),
        ("pool-full", "busy"),
        ("refused", "unavailable"),
        ("redis-timeout", "did not answer in time"),
        ("asyncio-timeout", "did not finish in time"),
    ],
)
async def test_overload_is_a_503_with_retry_after(what: str, reason: str) -> None:
    answer = await _get(f"/raise/{what}")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == str(errors.RETRY_AFTER_S)
    (detail,) = answer.json()["detail"]
    assert detail["field"] is None
    assert reason in detail["reason"] and "retry later" in detail["reason"]


async def test_a_bug_is_a_500_in_the_usual_body() -> None:
    answer = await _get("/raise/bug")
    assert answer.status_code == 500
    assert answer.json() == {"detail": [{"field": None, "reason": "internal error"}]}
    assert "Retry-After" not in answer.headers


async def test_validation_errors_name_the_field() -> None:
    answer = await _get("/paged?offset=11")
    assert answer.status_code == 422
    assert [d["field"] for d in answer.json()["detail"]] == ["offset"]


async def test_a_burst_of_503s_is_one_warning_a_second(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(errors.time, "monotonic", lambda: clock[0])
    app = make_app()
    transport = httpx.ASGITransport(app=app)
    with caplog.at_level(logging.WARNING, logger=errors.__name__):
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for _ in range(5):
                assert (await client.get("/raise/pool-wait")).status_code == 503
            clock[0] += errors.WARN_EVERY_S
            assert (await client.get("/raise/pool-wait")).status_code == 503
    warnings = [r for r in caplog.records if r.name == errors.__name__]
    assert [r.getMessage() for r in warnings] == ["answered 503: no free Redis connection"] * 2
    assert [r.__dict__["also_answered_503_since_last_warning"] for r in warnings] == [0, 4]


@pytest.fixture
def served() -> Iterator[str]:
    """The app behind a real uvicorn on a loopback port, as the services run."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(make_app(), host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_a_bug_is_logged_with_its_traceback(served: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        answer = httpx.get(f"{served}/raise/bug", timeout=5)
        overloaded = httpx.get(f"{served}/raise/pool-wait", timeout=5)
    assert answer.status_code == 500 and overloaded.status_code == 503
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1, [r.getMessage() for r in caplog.records]
    assert logged[0].exc_info is not None and logged[0].exc_info[0] is ZeroDivisionError
