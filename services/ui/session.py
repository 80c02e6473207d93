"""The signed-in session and the sign-in flow's state, sealed into cookies.

Both are encrypted and authenticated with Fernet (AES-128-CBC + HMAC-SHA256, from the
`cryptography` package): the browser holds them but can neither read nor change them, and
any instance of the application holding the key can open them (no server-side store).
The session holds the access token, so the cookie is HttpOnly, SameSite=Lax, Secure
outside localhost, and lives no longer than the token.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

SESSION_COOKIE = "jm_session"
FLOW_COOKIE = "jm_signin"
LANG_COOKIE = "jm_lang"
FLOW_TTL_S = 600


@dataclass(frozen=True)
class Session:
    token: str
    subject: str
    role: str
    name: str
    municipality: str | None
    cvr: str | None
    expires_at: float
    csrf: str

    def expired(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) >= self.expires_at


@dataclass(frozen=True)
class Flow:
    """What the callback checks: the state and nonce sent, the PKCE verifier, where to go."""

    state: str
    verifier: str
    nonce: str
    next: str


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


class Sealer:
    def __init__(self, key: str) -> None:
        self.fernet = Fernet(key.encode())

    def seal_session(self, session: Session) -> str:
        return self.fernet.encrypt(json.dumps(asdict(session)).encode()).decode()

    def open_session(self, raw: str | None, max_age_s: float) -> Session | None:
        doc = self._open(raw, max_age_s)
        if doc is None:
            return None
        try:
            session = Session(**doc)
        except TypeError:
            return None
        return None if session.expired() else session

    def seal_flow(self, flow: Flow) -> str:
        return self.fernet.encrypt(json.dumps(asdict(flow)).encode()).decode()

    def open_flow(self, raw: str | None) -> Flow | None:
        doc = self._open(raw, FLOW_TTL_S)
        if doc is None:
            return None
        try:
            return Flow(**doc)
        except TypeError:
            return None

    def _open(self, raw: str | None, max_age_s: float) -> dict[str, Any] | None:
        if not raw:
            return None
        try:
            data = self.fernet.decrypt(raw.encode(), ttl=int(max_age_s))
            doc = json.loads(data)
        except (InvalidToken, ValueError):
            return None
        return doc if isinstance(doc, dict) else None


def local_path(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this site (no scheme, host or `//`), else `default`:
    a redirect after sign-in or a language switch never leaves the application."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return default
    return target
