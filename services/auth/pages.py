"""The same sign-in and access rules for the matching worker's faust (aiohttp) pages."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from faust.web import Request, Response, View

from services.auth.access import Access
from services.auth.authenticator import Authenticator, Refusal, record_refusal
from services.auth.headers import as_dict
from services.auth.principal import Principal, Role

Page = Callable[..., Awaitable[Response]]
GuardedPage = Callable[..., Awaitable[Response]]


def secured(response: Response) -> Response:
    """Security headers, and no version banner (aiohttp would name itself)."""
    response.headers.update(as_dict())
    response.headers["Server"] = "jobmatch"
    return response


def _refused(view: View, request: Request, status: int, reason: str, who: str) -> Response:
    record_refusal(status, f"{request.method} {request.url.path}", who, reason)
    field = "Authorization" if status in (401, 429, 503) else None
    return view.json({"detail": [{"field": field, "reason": reason}]}, status=status)


def guarded(
    authenticator: Authenticator, *roles: Role, scope: str | None = None
) -> Callable[[GuardedPage], Page]:
    """A page that needs a verified token of one of `roles`; the handler gets the Principal."""
    rule = Access(*roles, scope=scope)

    def wrap(handler: GuardedPage) -> Page:
        @functools.wraps(handler)
        async def page(self: View, request: Request, **kwargs: Any) -> Response:
            try:
                principal: Principal = await authenticator.authenticate(
                    request.headers.get("Authorization")
                )
            except Refusal as refusal:
                response = _refused(self, request, refusal.status, refusal.reason, refusal.actor)
                response.headers.update(refusal.headers)
                return secured(response)
            reason = rule.why_not(principal)
            if reason is not None:
                return secured(_refused(self, request, 403, reason, principal.label()))
            return secured(await handler(self, request, principal, **kwargs))

        page.access = rule  # type: ignore[attr-defined]
        return page

    return wrap


def open_page(handler: Page) -> Page:
    """A page anyone may read (health, readiness): security headers only."""

    @functools.wraps(handler)
    async def page(self: View, request: Request, **kwargs: Any) -> Response:
        return secured(await handler(self, request, **kwargs))

    page.access = None  # type: ignore[attr-defined]
    return page
