"""The filtered worklist (score, postal area, occupation, programme) against a real Redis:
what `queries.worklist` returns from the compact filter fields is exactly what reading and
parsing every document gives, page for page, also for entries projected before the filter
fields existed (read from their documents then)."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from schemas.envelope import SYSTEM_MATCHING, Event
from schemas.placements import PlacementSuggested, Reason
from services.profiles.projections import keys
from services.profiles.projections.views import project
from services.profiles.queries import worklist
from services.profiles.reads import Views
from services.projection.writes import coalesce

MUNI = "0751"
URIS = (None, "http://data.europa.eu/esco/occupation/a", "http://data.europa.eu/esco/occupation/b")
POSTALS = (None, "8000", "8200", "8210", "8320", "7100")
PROGRAMMES = ("IGU", "ordinary", "løntilskud", None)


def _events(n: int) -> list[Event]:
    rng = random.Random(5)
    day = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    out = []
    for i in range(n):
        payload = PlacementSuggested(
            job_order_id=f"jo-{i % 17}",
            citizen_id=f"cit-{i:04d}",
            suggestion_id=f"sug-{i:04d}",
            # Ties on purpose: equal scores on a day are ordered by id in both readings.
            score=rng.choice((0.5, 0.25, 0.75, round(rng.random(), 6), 1.0, 0.0)),
            rank=1,
            model_version="rules-1",
            card_version="c",
            order_version="o",
            reasons=[Reason(code="danish", text_da="Dansk", text_en="Danish", contribution=0.1)],
            programme=rng.choice(PROGRAMMES),
            occupation_uri=rng.choice(URIS),
            worksite_postal_code=rng.choice(POSTALS),
            title="Lagermedarbejder",
        )
        at = day - dt.timedelta(days=rng.randrange(4), minutes=i)
        out.append(
            Event.new(payload, actor=SYSTEM_MATCHING, occurred_at=at, municipality_code=MUNI)
        )
    return out


async def _reference(v: Views, programme: str | None, **f: Any) -> list[str]:
    """The worklist as it was read before the filter fields: every document parsed."""
    ranked = keys.worklist_programme(MUNI, programme) if programme else keys.worklist(MUNI)
    ids = await v.zrevrange(ranked, 0, -1)
    docs = [json.loads(d) for d in await v.hmget(keys.worklist_docs(MUNI), ids)]
    return [
        d["suggestion_id"]
        for d in docs
        if (f["occupation_uri"] is None or d.get("occupation_uri") == f["occupation_uri"])
        and (
            f["postal_prefix"] is None
            or str(d.get("worksite_postal_code") or "").startswith(f["postal_prefix"])
        )
        and d["score"] >= f["min_score"]
    ]


FILTERS: list[dict[str, Any]] = [
    {"occupation_uri": None, "postal_prefix": None, "min_score": 0.5},
    {"occupation_uri": None, "postal_prefix": "82", "min_score": 0.0},
    {"occupation_uri": None, "postal_prefix": "8", "min_score": 0.25},
    {"occupation_uri": URIS[1], "postal_prefix": None, "min_score": 0.0},
    {"occupation_uri": URIS[2], "postal_prefix": "8200", "min_score": 0.75},
    {"occupation_uri": None, "postal_prefix": "9", "min_score": 0.0},
    {"occupation_uri": None, "postal_prefix": None, "min_score": 1.0},
]


@pytest.mark.parametrize("fields_missing", [False, True], ids=["filter-fields", "old-keyspace"])
async def test_filtered_worklists_equal_reading_every_document(
    redis: Redis, fields_missing: bool
) -> None:
    prefix = f"test-worklist-{uuid.uuid4().hex[:8]}:"
    v = Views(redis, prefix)
    events = _events(600)
    writes = [w for e in events for w in project(e)]
    async with redis.pipeline(transaction=True) as pipe:
        for name, key, args in coalesce(writes):
            pipe.execute_command(name, prefix + key, *args)
        await pipe.execute()
    try:
        filters = await v.hgetall(keys.worklist_filters(MUNI))
        assert len(filters) == 600
        if fields_missing:  # projected before the filter fields existed: half of them
            await redis.hdel(prefix + keys.worklist_filters(MUNI), *list(filters)[::2])
        for programme in (None, "IGU"):
            for f in FILTERS:
                expected = await _reference(v, programme, **f)
                for offset, limit in ((0, 25), (25, 25), (len(expected) - 3, 25)):
                    offset = max(0, offset)
                    total, page = await worklist(
                        v, MUNI, programme, f["occupation_uri"], f["postal_prefix"],
                        f["min_score"], offset, limit,
                    )  # fmt: skip
                    assert total == len(expected), (programme, f)
                    got = [json.loads(doc)["suggestion_id"] for doc in page]
                    assert got == expected[offset : offset + limit], (programme, f, offset)
    finally:
        found = [k async for k in redis.scan_iter(match=prefix + "*")]
        if found:
            await redis.delete(*found)
