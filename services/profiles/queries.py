"""Read models as the API returns them, assembled from the Redis views."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from services.profiles.projections import keys


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode(raw: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, value in raw.items():
        try:
            out[text(field)] = json.loads(value)
        except json.JSONDecodeError:
            out[text(field)] = text(value)
    return out


def _ranked(raw: Mapping[Any, Any]) -> list[dict[str, Any]]:
    docs = [json.loads(v) for v in raw.values()]
    # Best first; ties by citizen id so every reader sees the same order.
    docs.sort(key=lambda d: (-d["score"], d["citizen_id"], d["job_order_id"]))
    for rank, doc in enumerate(docs, start=1):
        doc["rank"] = rank
    return docs


async def job_order(redis: Redis, job_order_id: str) -> dict[str, Any] | None:
    raw = await redis.hgetall(keys.job_order(job_order_id))
    return _decode(raw) if raw else None


async def job_order_suggestions(redis: Redis, job_order_id: str) -> list[dict[str, Any]]:
    return _ranked(await redis.hgetall(keys.order_suggestions(job_order_id)))


async def citizen(redis: Redis, citizen_id: str) -> dict[str, Any] | None:
    raw = await redis.hgetall(keys.citizen(citizen_id))
    if not raw:
        return None
    doc = _decode(raw)
    doc.setdefault("available", True)
    doc["suggestions"] = _ranked(await redis.hgetall(keys.citizen_suggestions(citizen_id)))
    return doc


async def reports(redis: Redis, kind: str) -> list[dict[str, Any]]:
    docs = [json.loads(v) for v in (await redis.hgetall(keys.reports(kind))).values()]
    return sorted(docs, key=lambda d: d["reported_at"], reverse=True)


async def timeline(
    redis: Redis, key: str, offset: int, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """Newest first, one page."""
    total = int(await redis.zcard(key))
    raw = await redis.zrevrange(key, offset, offset + limit - 1)
    return total, [json.loads(text(v)) for v in raw]  # type: ignore[arg-type]
