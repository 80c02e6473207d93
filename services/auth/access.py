"""Per-route access rules for the FastAPI services: deny by default.

Every route names who may call it with an `Access` dependency (a route without one fails
the access-matrix test). Roles outside the rule get 403. Tenancy is checked by the route
against the object itself (object-level authorisation): an object of another municipality
or CVR answers 404, exactly as a missing one, so its existence is not revealed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.auth.authenticator import record_refusal
from services.auth.principal import Principal, Role

# Documents the scheme in OpenAPI (the docs' Authorize button); the gate does the checking.
BEARER = HTTPBearer(auto_error=False, description="An access token from the issuer (JWT)")


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', request.url.path)}"


def log_refusal(request: Request, principal: Principal | None, status: int, reason: str) -> None:
    actor = principal.label() if principal else "anonymous"
    record_refusal(status, _route(request), actor, reason)


class Access:
    """Who may call a route: roles, and for system accounts the scope they must be granted."""

    def __init__(self, *roles: Role, scope: str | None = None) -> None:
        self.roles = frozenset(roles)
        self.scope = scope

    def why_not(self, principal: Principal) -> str | None:
        """Why the rule refuses `principal`; None when it admits them."""
        if principal.role not in self.roles:
            return f"the role {principal.role} may not do this"
        ungranted = self.scope is not None and not principal.grants(self.scope)
        if principal.role == "system" and ungranted:
            return f"this service account is not granted {self.scope}"
        return None

    async def __call__(
        self,
        request: Request,
        _: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    ) -> Principal:
        principal: Principal | None = getattr(request.state, "principal", None)
        if principal is None:  # the gate lets no such request through; deny all the same
            log_refusal(request, None, 401, "no verified token")
            raise HTTPException(401, detail="sign in", headers={"WWW-Authenticate": "Bearer"})
        reason = self.why_not(principal)
        if reason is not None:
            log_refusal(request, principal, 403, reason)
            raise HTTPException(403, detail=[{"field": None, "reason": reason}])
        return principal


def hidden(request: Request, principal: Principal, kind: str, ident: str) -> HTTPException:
    """404 for an object outside the caller's tenant: the same answer as for a missing one."""
    log_refusal(request, principal, 404, f"{kind} {ident} is outside the caller's tenant")
    return HTTPException(404, detail=f"{kind} {ident!r} not found")


def forbidden(request: Request, principal: Principal, reason: str) -> HTTPException:
    log_refusal(request, principal, 403, reason)
    return HTTPException(403, detail=[{"field": None, "reason": reason}])
