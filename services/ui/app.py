"""The web application consultants, employers and administrators work in.

`create_app(settings)` is the composition root: templates, the sealed sessions, the OIDC
provider, the one HTTP client to the APIs (opened in the lifespan, never at import), the
security headers, and the routes split by area (services/ui/routes/).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.auth.authenticator import Authenticator
from services.ui.api import Api
from services.ui.errors import ApiError
from services.ui.routes import admin, common, consultant, employer
from services.ui.session import SESSION_COOKIE, Sealer
from services.ui.settings import UiSettings
from services.ui.web import (
    CsrfFailed,
    NotAllowed,
    NotFoundPage,
    Oidc,
    SignInRequired,
    Ui,
    render,
)

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent

# Scripts and styles from this application only: no inline script, no inline style, no
# CDN; forms post here only; never framed.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "content-security-policy": PAGE_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeaders:
    """Every answer carries the headers above; pages (personal data) are never cached,
    the static files may be for an hour; no `Server` banner."""

    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = set(HEADERS) | {"cache-control", "server"}
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.decode().lower() not in names
                ]
                headers += [(k.encode(), v.encode()) for k, v in HEADERS.items()]
                cache = "public, max-age=3600" if static else "no-store"
                headers.append((b"cache-control", cache.encode()))
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, wrapped)


def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(("html", "svg")),
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def create_app(settings: UiSettings) -> FastAPI:
    sealer = Sealer(settings.ui_session_key.get_secret_value())
    authenticator = Authenticator.from_settings(settings, "ui")
    oidc = Oidc(settings.ui_oidc_issuer)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Connections kept open as many as may be used: under a burst of pages a closed one
        # would be opened again at once, which costs the services more than it saves.
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        async with httpx.AsyncClient(timeout=settings.ui_api_timeout_s, limits=limits) as client:
            api = Api(
                client,
                {
                    "events": settings.ui_events_url,
                    "profiles": settings.ui_profiles_url,
                    "matching": settings.ui_matching_url,
                },
            )
            app.state.ui = Ui(settings, templates(), sealer, api, oidc, authenticator, client)
            await oidc.load(client)
            yield

    app = FastAPI(
        title="jobmatch ui",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(common.router)
    app.include_router(consultant.router)
    app.include_router(employer.router)
    app.include_router(admin.router)

    @app.middleware("http")
    async def timing(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request.state.started = time.perf_counter()
        return await call_next(request)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": "ui"}

    @app.get("/ready", include_in_schema=False)
    async def ready(request: Request) -> JSONResponse:
        ui: Ui = request.app.state.ui
        if not ui.oidc.loaded:
            await ui.oidc.load(ui.client)
        ok = ui.oidc.loaded
        body = {"status": "ready" if ok else "not ready", "service": "ui", "oidc": ok}
        return JSONResponse(body, status_code=200 if ok else 503)

    install_error_pages(app)
    app.add_middleware(SecurityHeaders, hsts=settings.cookie_secure)
    return app


def install_error_pages(app: FastAPI) -> None:
    """Every refusal as a page in the person's language (never a JSON body or a trace)."""

    def page(request: Request, status: int, key: str) -> Response:
        return render(request, "error.html", status=status, key=key)

    @app.exception_handler(SignInRequired)
    async def sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        target = "/?expired=1" if exc.expired else "/"
        if request.headers.get("hx-request"):
            response: Response = Response(status_code=204, headers={"HX-Redirect": target})
        else:
            response = RedirectResponse(target, status_code=303)
        if exc.expired:
            response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, exc: Exception) -> Response:
        return page(request, 403, "403")

    @app.exception_handler(NotFoundPage)
    async def not_found_page(request: Request, exc: Exception) -> Response:
        return page(request, 404, "404")

    @app.exception_handler(CsrfFailed)
    async def csrf(request: Request, exc: Exception) -> Response:
        return page(request, 403, "csrf")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        if exc.status == 401:
            return await sign_in(request, SignInRequired(expired=True))
        if exc.status in (404, 403):
            return page(request, exc.status, str(exc.status))
        if exc.status == 429:
            # The person's own pace (the API's limit per caller): say so, and when to retry.
            limited = page(request, 429, "429")
            if exc.retry_after:
                limited.headers["Retry-After"] = exc.retry_after
            return limited
        if exc.status in (503, 504):
            return page(request, 503, "503")
        log.error("api error on a page", extra={"error": str(exc)})
        return page(request, 500, "500")

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: Exception) -> Response:
        # An address typed or edited by hand (an over-long filter, a nonsense parameter):
        # a page in the person's language, not the framework's JSON.
        return page(request, 400, "400")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        return page(
            request, status if status in (403, 404) else 404, "403" if status == 403 else "404"
        )

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("page failed")
        return page(request, 500, "500")
