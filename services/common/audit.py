"""The audit trail of personal data: every request that reads or changes a citizen's data is
on record before its answer leaves (`PersonalDataAccessed` on `jobmatch.audit`).

`AuditedRoutes` is ASGI middleware inside the sign-in gate (so the verified principal is in
the request state). A route concerns the citizens named by its `citizen_id` path parameter,
plus those a handler names with `audit_citizens(request, ids)` (lists: worklists, an
order's suggestions, an employer's candidates). When a request concerned any citizen, the
middleware holds the answer back, appends one record per citizen (acks=all) and then sends
it; if the trail cannot be written the caller gets 503 instead: a read that is not on
record is not served. Requests refused before a route runs (401, 413, 429) name no citizen
and are not recorded here: the gate logs them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.audit import PersonalDataAccessed
from schemas.common import PseudonymousId
from schemas.envelope import Event
from services.auth.principal import Principal
from services.common.kafka import make_producer

log = logging.getLogger(__name__)

_NAMED = "audit_citizens"
# At most this many citizens are recorded for one request (a page of a list).
MAX_CITIZENS = 500
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE"})


def audit_citizens(request: Request, citizen_ids: Iterable[str]) -> None:
    """Name citizens whose personal data this request shows or changes."""
    named: list[str] = request.scope.setdefault("state", {}).setdefault(_NAMED, [])
    named.extend(citizen_ids)


_ID = TypeAdapter(PseudonymousId)


def _is_id(value: object) -> bool:
    """A well-formed pseudonymous id: anything else (a typo, a CPR number) names no citizen."""
    try:
        _ID.validate_python(value)
    except ValidationError:
        return False
    return True


def _named(scope: Scope) -> list[str]:
    state: dict[str, Any] = scope.get("state", {})
    named = list(state.get(_NAMED, ()))
    cid = scope.get("path_params", {}).get("citizen_id")
    if isinstance(cid, str):
        named.insert(0, cid)
    return [c for c in dict.fromkeys(named) if _is_id(c)][:MAX_CITIZENS]


class AuditTrail:
    """Appends audit records (the producer is opened by `start`, not at construction)."""

    def __init__(self, bootstrap: str, service: Literal["profiles", "events"]) -> None:
        self.service = service
        self._bootstrap = bootstrap
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()
        self.recorded = 0

    async def start(self) -> None:
        """Connect; a broker that is away now is tried again on the first record."""
        try:
            await self._connected()
        except (KafkaError, OSError) as exc:
            log.warning("audit trail not connected yet", extra={"error": repr(exc)})

    async def _connected(self) -> AIOKafkaProducer:
        async with self._starting:
            if self._producer is None:
                producer = make_producer(self._bootstrap)
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def record(
        self,
        principal: Principal,
        citizen_ids: list[str],
        *,
        method: str,
        route: str,
        status: int,
    ) -> None:
        producer = await self._connected()
        now = datetime.now(UTC)
        request_id = uuid.uuid4()
        kind: Literal["read", "command"] = "read" if method == "GET" else "command"
        pending = []
        for cid in citizen_ids:
            event = Event.new(
                PersonalDataAccessed(
                    citizen_id=cid,
                    request_id=request_id,
                    service=self.service,
                    kind=kind,
                    method=method,  # type: ignore[arg-type]
                    route=route,
                    status=status,
                ),
                actor=principal.actor(),
                occurred_at=now,
                municipality_code=principal.municipality_code,
            )
            pending.append(
                await producer.send(
                    event.topic,
                    value=event.to_json(),
                    key=cid.encode(),
                    headers=event.headers(),
                )
            )
        await asyncio.gather(*pending)
        self.recorded += len(citizen_ids)


class AuditedRoutes:
    def __init__(self, app: ASGIApp, trail: AuditTrail) -> None:
        self.app = app
        self.trail = trail

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _METHODS:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        principal = scope.get("state", {}).get("principal")
        route = getattr(scope.get("route"), "path", None)
        citizens = _named(scope)
        start = next((m for m in held if m["type"] == "http.response.start"), None)
        if principal is not None and route and citizens and start is not None:
            try:
                await self.trail.record(
                    principal,
                    citizens,
                    method=scope["method"],
                    route=route,
                    status=int(start["status"]),
                )
            except (KafkaError, OSError) as exc:
                log.error(
                    "audit trail not written: answered 503",
                    extra={"route": route, "error": repr(exc)},
                )
                await _unavailable(send)
                return
        for message in held:
            await send(message)


async def _unavailable(send: Send) -> None:
    body = b'{"detail":[{"field":null,"reason":"the audit trail is unavailable; retry later"}]}'
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
