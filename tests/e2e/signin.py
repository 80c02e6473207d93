"""Calls as a signed-in user: httpx with a bearer token from the stack's issuer.

Every route but /health, /ready and the docs needs `Authorization: Bearer <JWT>`; the tests
call as the user who would make the call for real (a consultant of the municipality, the
employer of the CVR, an administrator).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from services.auth.principal import Role
from services.stack import Stack

AARHUS = "0751"  # every contract example (tests/data) is in Aarhus


@dataclass(frozen=True)
class User:
    """One signed-in caller; methods as httpx's module-level ones, with the token sent."""

    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 5.0,
        **kwargs: Any,
    ) -> httpx.Response:
        merged = {**self.headers, **(headers or {})}
        return httpx.request(method, url, headers=merged, timeout=timeout, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


def signed_in(stack: Stack, role: Role, subject: str | None = None, **claims: Any) -> User:
    return User(stack.token(role, subject, **claims))


def consultant(stack: Stack, municipality: str = AARHUS) -> User:
    return signed_in(stack, "consultant", f"consultant-{municipality}", municipality=municipality)


def employer(stack: Stack, cvr: str) -> User:
    return signed_in(stack, "employer", f"employer-{cvr}", cvr=cvr)


def administrator(stack: Stack) -> User:
    return signed_in(stack, "administrator")
