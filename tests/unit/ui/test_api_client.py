"""The web application's API client: refusals become `ApiError`s with the API's status,
detail and Retry-After, and its log lines name the API under `api` (the log line's own
`service` names the process writing it: ui)."""

from __future__ import annotations

import logging

import httpx
import pytest

from services.ui.api import Api
from services.ui.errors import ApiError

URLS = {"events": "http://events", "profiles": "http://profiles", "matching": "http://m"}


def api(handler: httpx.MockTransport) -> Api:
    return Api(httpx.AsyncClient(transport=handler), URLS)  # type: ignore[arg-type]


async def test_a_refusal_keeps_status_detail_and_retry_after(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer t"
        return httpx.Response(429, json={"detail": "slow down"}, headers={"Retry-After": "3"})

    caplog.set_level(logging.INFO, logger="services.ui.api")
    with pytest.raises(ApiError) as raised:
        await api(httpx.MockTransport(answer)).get("profiles", "/v1/x", "t")
    assert (raised.value.status, raised.value.detail) == (429, "slow down")
    assert (raised.value.service, raised.value.retry_after) == ("profiles", "3")
    [record] = [r for r in caplog.records if r.getMessage() == "api refused"]
    assert record.__dict__["api"] == "profiles"
    assert "service" not in record.__dict__


async def test_an_unreachable_api_is_a_503_logged_with_its_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    caplog.set_level(logging.INFO, logger="services.ui.api")
    with pytest.raises(ApiError) as raised:
        await api(httpx.MockTransport(fail)).post("events", "/v1/y", "t", json={})
    assert (raised.value.status, raised.value.service) == (503, "events")
    [record] = [r for r in caplog.records if r.getMessage() == "api unreachable"]
    assert record.__dict__["api"] == "events"
    assert "service" not in record.__dict__
    assert "ConnectError: connection refused" in record.__dict__["error"]
