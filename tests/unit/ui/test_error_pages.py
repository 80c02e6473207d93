"""The page a person gets when an API refuses them for their pace (429, the per-caller rate
limit of docs/security.md): its own page in their language, with the API's Retry-After,
not the "service unavailable" page; an API that is away still gets that one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.stack import ui_env
from services.ui.app import create_app
from services.ui.errors import ApiError
from services.ui.settings import UiSettings
from services.ui.web import LANG_COOKIE

UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture
async def ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    urls = {"events": UNREACHABLE, "profiles": UNREACHABLE, "matching": UNREACHABLE}
    for name, value in ui_env(tmp_path, 8707, urls, UNREACHABLE).items():
        monkeypatch.setenv(name, value)
    app: FastAPI = create_app(UiSettings())  # type: ignore[call-arg]

    @app.get("/refused/{status}")
    async def refused(status: int) -> None:
        raise ApiError(status, "refused", "profiles", "7" if status == 429 else None)

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            yield client


async def test_too_many_requests_has_its_own_page_with_retry_after(ui: httpx.AsyncClient) -> None:
    r = await ui.get("/refused/429")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "7"
    assert "For mange forespørgsler" in r.text
    assert "midlertidigt utilgængelig" not in r.text
    r = await ui.get("/refused/429", cookies={LANG_COOKIE: "en"})
    assert "Too many requests" in r.text


async def test_an_unavailable_api_still_gets_the_unavailable_page(ui: httpx.AsyncClient) -> None:
    for status in (503, 504):
        r = await ui.get(f"/refused/{status}")
        assert r.status_code == 503
        assert "Tjenesten er midlertidigt utilgængelig" in r.text
        assert "retry-after" not in r.headers
