"""Read-your-writes and conditional requests for the query API.

Every command answer from the events service carries its position in the log
(`read_token`, "topic:partition:offset"). A query that passes it as `min_position` waits,
at most `profiles_max_wait_ms`, until the views have applied that event.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from fastapi import Request, Response

Position = tuple[str, int, int]


def parse_positions(text: str) -> list[Position]:
    """'topic:partition:offset[,topic:partition:offset...]'; ValueError when malformed."""
    out = []
    for part in text.split(","):
        topic, _, rest = part.strip().rpartition(":")
        topic, _, partition = topic.rpartition(":")
        if not topic or not partition.isdigit() or not rest.isdigit():
            raise ValueError(f"expected topic:partition:offset, got {part.strip()!r}")
        out.append((topic, int(partition), int(rest)))
    return out


def reached(applied: Mapping[tuple[str, int], int], positions: list[Position]) -> bool:
    # Tracking holds the next offset to read, so offset N is applied once it is above N.
    return all(applied.get((t, p), 0) > offset for t, p, offset in positions)


async def wait_until(
    applied: Callable[[], Awaitable[Mapping[tuple[str, int], int]]],
    positions: list[Position],
    timeout_s: float,
) -> bool:
    """Poll the tracked positions of the views being read until they hold `positions`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not reached(await applied(), positions):
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def encoded(body: Any) -> bytes:
    """The answer's bytes: keys sorted, so equal documents give equal bytes and ETags."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str)


def etag_of(body: Any) -> str:
    return _tag(encoded(body))


def _tag(raw: bytes) -> str:
    return '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'


def _unchanged(request: Request, tag: str) -> bool:
    wanted = request.headers.get("if-none-match", "")
    return tag in {t.strip() for t in wanted.split(",")} or wanted.strip() == "*"


def conditional(request: Request, body: Any) -> Response:
    """200 with an ETag, or 304 when the client already holds this version. The body is
    serialised once, for the tag and the answer alike."""
    raw = encoded(body)
    tag = _tag(raw)
    if _unchanged(request, tag):
        return Response(status_code=304, headers={"ETag": tag})
    return Response(raw, media_type="application/json", headers={"ETag": tag})


def conditional_raw(
    request: Request, head: dict[str, Any], name: str, items: list[bytes]
) -> Response:
    """Like `conditional`, for a list of documents already stored as JSON: they go out as
    they are, without being parsed and serialised again (the worklist's hot path)."""
    opening = json.dumps(head, ensure_ascii=False)[:-1].encode()
    body = b"".join([opening, b', "', name.encode(), b'": [', b", ".join(items), b"]}"])
    tag = _tag(body)
    if _unchanged(request, tag):
        return Response(status_code=304, headers={"ETag": tag})
    return Response(body, media_type="application/json", headers={"ETag": tag})
