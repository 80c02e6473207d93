"""Read models as the API returns them, assembled from the Redis views."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from services.profiles.projections import keys


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class Views:
    """The views of one keyspace: keys are relative to its prefix."""

    redis: Redis
    prefix: str

    async def hgetall(self, key: str) -> dict[Any, Any]:
        raw: dict[Any, Any] = await self.redis.hgetall(self.prefix + key)
        return raw

    async def zcard(self, key: str) -> int:
        return int(await self.redis.zcard(self.prefix + key))

    async def zrevrange(self, key: str, start: int, end: int) -> list[Any]:
        raw: list[Any] = await self.redis.zrevrange(self.prefix + key, start, end)
        return raw


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


async def job_order(v: Views, job_order_id: str) -> dict[str, Any] | None:
    raw = await v.hgetall(keys.job_order(job_order_id))
    if not raw:
        return None
    doc = _decode(raw)
    doc["reviews"] = _latest(await v.hgetall(keys.order_reviews(job_order_id)), "citizen_id")
    doc["presented"] = [r for r in doc["reviews"] if "presented" in r["history"]]
    doc["placements"] = _placements(await v.hgetall(keys.order_placements(job_order_id)))
    positions = int(doc.get("order", {}).get("positions", 1))
    filled = sum(1 for p in doc["placements"] if p.get("placement_type"))
    doc["positions"] = {"total": positions, "filled": filled, "open": max(0, positions - filled)}
    return doc


async def job_order_suggestions(v: Views, job_order_id: str) -> list[dict[str, Any]]:
    return _ranked(await v.hgetall(keys.order_suggestions(job_order_id)))


async def citizen(v: Views, citizen_id: str) -> dict[str, Any] | None:
    raw = await v.hgetall(keys.citizen(citizen_id))
    if not raw:
        return None
    doc = _decode(raw)
    doc.setdefault("available", True)
    doc["suggestions"] = _ranked(await v.hgetall(keys.citizen_suggestions(citizen_id)))
    doc["consents"] = sorted(
        _decode(await v.hgetall(keys.citizen_consents(citizen_id))).values(),
        key=lambda c: c["at"],
    )
    doc["reviews"] = _latest(await v.hgetall(keys.citizen_reviews(citizen_id)), "job_order_id")
    doc["placements"] = _placements(await v.hgetall(keys.citizen_placements(citizen_id)))
    return doc


def _latest(raw: Mapping[Any, Any], other: str) -> list[dict[str, Any]]:
    """The latest review decision per counterpart, with the earlier ones as history."""
    by: dict[str, list[dict[str, Any]]] = {}
    for field, value in raw.items():
        who = text(field).rsplit(":", 1)[0]
        by.setdefault(who, []).append(json.loads(value))
    out = []
    for who, docs in sorted(by.items()):
        docs.sort(key=lambda d: d["at"])
        out.append({other: who, **docs[-1], "history": [d["status"] for d in docs]})
    return out


def _placements(raw: Mapping[Any, Any]) -> list[dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for field, value in raw.items():
        pid, _, kind = text(field).partition(":")
        doc = json.loads(value)
        entry = merged.setdefault(pid, {"placement_id": pid, "follow_ups": []})
        if kind == "started":
            entry.update({k: v for k, v in doc.items() if k not in ("at", "actor", "event_type")})
        elif kind == "ended":
            entry.update(status="ended", outcome=doc["outcome"], end_date=doc["end_date"])
        else:
            entry["follow_ups"].append(
                {"date": doc["date"], "status": doc["status"], "note": doc.get("note")}
            )
    for entry in merged.values():
        entry["follow_ups"].sort(key=lambda f: f["date"])
    return [merged[k] for k in sorted(merged)]


async def reports(v: Views, kind: str) -> list[dict[str, Any]]:
    docs = [json.loads(v) for v in (await v.hgetall(keys.reports(kind))).values()]
    return sorted(docs, key=lambda d: d["reported_at"], reverse=True)


async def timeline(v: Views, key: str, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """Newest first, one page."""
    total = await v.zcard(key)
    raw = await v.zrevrange(key, offset, offset + limit - 1)
    return total, [json.loads(text(entry)) for entry in raw]


async def worklist(
    v: Views,
    municipality_code: str,
    programme: str | None,
    occupation_uri: str | None,
    postal_prefix: str | None,
    min_score: float,
) -> list[dict[str, Any]]:
    """Suggestions awaiting review in one municipality: newest day first, best first within."""
    docs = [json.loads(v) for v in (await v.hgetall(keys.WORKLIST)).values()]
    keep = [
        d
        for d in docs
        if d.get("municipality_code") == municipality_code
        and (programme is None or d.get("programme") == programme)
        and (occupation_uri is None or d.get("occupation_uri") == occupation_uri)
        and (
            postal_prefix is None
            or str(d.get("worksite_postal_code") or "").startswith(postal_prefix)
        )
        and d["score"] >= min_score
    ]
    keep.sort(key=lambda d: (d["suggested_at"][:10], d["score"], d["suggestion_id"]), reverse=True)
    return keep
