"""What every page handler shares: the signed-in person, the language, CSRF, rendering."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment
from starlette.datastructures import FormData

from services.auth.authenticator import Authenticator
from services.ui import charts, present
from services.ui.api import Api
from services.ui.i18n import DA, code, translator
from services.ui.session import LANG_COOKIE, SESSION_COOKIE, Sealer, Session
from services.ui.settings import UiSettings

log = logging.getLogger(__name__)


@dataclass
class Oidc:
    """The provider's endpoints, from its discovery document (read at start, retried on
    sign-in while it is missing)."""

    issuer: str
    authorization_endpoint: str = ""
    token_endpoint: str = ""

    @property
    def loaded(self) -> bool:
        return bool(self.authorization_endpoint and self.token_endpoint)

    async def load(self, client: httpx.AsyncClient) -> bool:
        """Read the discovery document; False (and a log line) when the provider is down."""
        try:
            response = await client.get(f"{self.issuer}/.well-known/openid-configuration")
            response.raise_for_status()
            doc = response.json()
            self.authorization_endpoint = str(doc["authorization_endpoint"])
            self.token_endpoint = str(doc["token_endpoint"])
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("OIDC discovery failed", extra={"issuer": self.issuer, "error": str(exc)})
            return False
        return True


@dataclass
class Ui:
    settings: UiSettings
    templates: Environment
    sealer: Sealer
    api: Api
    oidc: Oidc
    authenticator: Authenticator
    client: httpx.AsyncClient


class SignInRequired(Exception):
    """No (valid) session: go to the front page and sign in."""

    def __init__(self, expired: bool = False) -> None:
        super().__init__("sign in")
        self.expired = expired


class NotAllowed(Exception):
    """Signed in, but the role has no business on this page (403)."""


class CsrfFailed(Exception):
    """A form without the session's token, or from another origin."""


class NotFoundPage(Exception):
    """An object the person may not see, or that does not exist (404)."""


def ui_of(request: Request) -> Ui:
    ui: Ui = request.app.state.ui
    return ui


def lang_of(request: Request) -> str:
    cached = getattr(request.state, "lang", None)
    if cached:
        return str(cached)
    value = request.cookies.get(LANG_COOKIE)
    lang = value if value in ("da", "en") else ui_of(request).settings.ui_default_language
    request.state.lang = lang
    return lang


def session_of(request: Request) -> Session | None:
    if hasattr(request.state, "session"):
        found: Session | None = request.state.session
        return found
    ui = ui_of(request)
    raw = request.cookies.get(SESSION_COOKIE)
    session = ui.sealer.open_session(raw, ui.settings.ui_session_hours * 3600)
    request.state.session = session
    request.state.session_expired = raw is not None and session is None
    return session


def require(*roles: str) -> Callable[[Request], Session]:
    """A dependency: the signed-in person, with one of `roles`."""

    def dependency(request: Request) -> Session:
        session = session_of(request)
        if session is None:
            raise SignInRequired(bool(getattr(request.state, "session_expired", False)))
        if session.role not in roles:
            raise NotAllowed()
        return session

    return dependency


def _same_origin(request: Request) -> bool:
    """The Origin (or else Referer) of a form post is this application, when sent."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent or sent == "null":
        return sent is None
    parts = urlsplit(sent)
    origin = f"{parts.scheme}://{parts.netloc}"
    public = urlsplit(ui_of(request).settings.public_url)
    allowed = {f"{public.scheme}://{public.netloc}", f"{request.url.scheme}://{request.url.netloc}"}
    return origin in allowed


async def form_of(request: Request, session: Session) -> FormData:
    """The posted form, once its CSRF token matches the session's (and it came from here)."""
    form = await request.form()
    sent = str(form.get("csrf_token") or request.headers.get("x-csrf-token") or "")
    if not sent or not hmac.compare_digest(sent, session.csrf) or not _same_origin(request):
        raise CsrfFailed()
    return form


def done_message(request: Request) -> str | None:
    """The confirmation a redirect after a command asked for (`?done=<key>`): only keys of
    the catalogue's confirmations, so the URL cannot make the page say anything else."""
    key = request.query_params.get("done", "")
    if key.endswith("_msg") and key in DA:
        return translator(lang_of(request))(key)
    return None


def after(path: str, done: str | None = None, seen: str | None = None, **extra: str) -> str:
    """Where a command sends the browser: the page, a confirmation and the read token, so
    that the page reads the views once they hold the command's events."""
    query = {k: v for k, v in {"done": done, "seen": seen, **extra}.items() if v}
    return f"{path}?{urlencode(query)}" if query else path


def seen_of(request: Request) -> str | None:
    """The read token of the command just made (passed on to queries as min_position)."""
    value = request.query_params.get("seen")
    if value and len(value) <= 2000 and all(ch.isalnum() or ch in ".:,-_" for ch in value):
        return value
    return None


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    ui = ui_of(request)
    lang = lang_of(request)
    session = session_of(request)
    t = translator(lang)
    started = getattr(request.state, "started", time.perf_counter())
    page = ui.templates.get_template(template).render(
        request=request,
        t=t,
        lang=lang,
        session=session,
        csrf_token=session.csrf if session else "",
        path=request.url.path,
        current=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        done=done_message(request),
        code=lambda prefix, value, **kw: code(lang, prefix, value, **kw),
        fmt=_Formatter(lang),
        charts=charts,
        **context,
    )
    response = HTMLResponse(page, status_code=status)
    response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


class _Formatter:
    """`fmt.date(x)`, `fmt.percent(x)` … in the page's language (see services.ui.present)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def date(self, value: Any) -> str:
        return present.date(value, self.lang)

    def moment(self, value: Any) -> str:
        return present.moment(value, self.lang)

    def month(self, value: str) -> str:
        return present.month(value, self.lang)

    def percent(self, value: Any) -> str:
        return present.percent(value, self.lang)

    def number(self, value: Any, digits: int = 0) -> str:
        return present.number(value, self.lang, digits)

    def hours(self, value: Any) -> str:
        return present.hours(value, self.lang)

    def missing(self, value: str) -> str:
        return present.missing(value, self.lang)

    def reasons(self, items: list[Any]) -> list[dict[str, Any]]:
        return present.reasons(items, self.lang)

    def eligibility(self, value: str) -> str:
        return present.eligibility(value, self.lang)

    def actor(self, value: Any) -> str:
        return present.actor(value, self.lang)

    def approver(self, value: str) -> str:
        """A caller's log label ("administrator:admin-1") as words."""
        return present.approver(value, self.lang)

    def review(self, value: str | None) -> str:
        return present.review_status(value, self.lang)
