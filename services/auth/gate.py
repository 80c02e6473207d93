"""ASGI middleware in front of every FastAPI service: nothing reaches a route unchecked.

In order: security headers on every answer (413, 401 and 429 included) and no server
banner; a body over the limit refused with 413 before anything reads it; every path but
the open ones (health, readiness, the API docs) needs a verified bearer token (401), and a
caller over the rate limit gets 429 with Retry-After. The Principal goes to the routes in
`request.state.principal`; which roles and tenants a route admits is `access.py`'s job.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.auth.authenticator import Authenticator, Refusal, record_refusal
from services.auth.headers import secure

OPEN_PATHS = frozenset({"/health", "/ready", "/docs", "/openapi.json"})
DOCS_PREFIX = "/docs"


def is_docs(path: str) -> bool:
    return path == DOCS_PREFIX or path.startswith(DOCS_PREFIX + "/")


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or is_docs(path)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def _answer(send: Send, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    raw = orjson.dumps(body)
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    head += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": raw})


class Gate:
    def __init__(
        self, app: ASGIApp, authenticator: Authenticator, max_body: int, service: str
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.max_body = max_body
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        docs = is_docs(path)

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = secure(list(message.get("headers", [])), docs)
            await send(message)

        length = _header(scope, b"content-length")
        too_big = self._too_big(length)
        if too_big is not None:
            await self._refuse(scope, send_secure, too_big)
            return
        if not is_open(path) and scope["method"] != "OPTIONS":  # CORS preflights carry no token
            try:
                principal = await self.authenticator.authenticate(
                    (_header(scope, b"authorization") or b"").decode("latin-1") or None
                )
            except Refusal as refusal:
                await self._refuse(scope, send_secure, refusal)
                return
            scope.setdefault("state", {})["principal"] = principal
        if length is None and scope["method"] in ("POST", "PUT", "PATCH"):
            buffered = await self._buffer(receive)
            if buffered is None:
                await self._refuse(scope, send_secure, self._limit_refusal())
                return
            receive = buffered
        await self.app(scope, receive, send_secure)

    def _limit_refusal(self) -> Refusal:
        return Refusal(413, f"the body is larger than the limit of {self.max_body} bytes")

    def _too_big(self, raw: bytes | None) -> Refusal | None:
        if raw is None:
            return None
        if not raw.isdigit():
            return Refusal(400, "Content-Length is not a number")
        return self._limit_refusal() if int(raw) > self.max_body else None

    async def _buffer(self, receive: Receive) -> Receive | None:
        """A chunked body read up to the limit (None when it goes over), then replayed."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                return None
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    async def _refuse(self, scope: Scope, send: Send, refusal: Refusal) -> None:
        field = "body" if refusal.status == 413 else "Authorization"
        if refusal.status == 400:
            field = "Content-Length"
        route = f"{scope['method']} {scope['path']}"
        record_refusal(refusal.status, route, refusal.actor, refusal.reason)
        body = {"detail": [{"field": field, "reason": refusal.reason}]}
        await _answer(send, refusal.status, body, refusal.headers)
