"""The worklist's counts (`GET /v1/worklists/{m}/counts`: in all and per programme, what the
worklist page shows beside the list) against a real Redis and the in-process profiles
service: the same numbers as counting the documents, and as the list's own totals."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import httpx
from redis.asyncio import Redis

from schemas.placements import PlacementSuggested
from services.profiles.projections import keys
from services.profiles.projections.views import PROGRAMMES, project
from services.profiles.queries import worklist_counts
from services.profiles.reads import Views
from services.projection.writes import coalesce
from tests.integration.conftest import MUNICIPALITY
from tests.integration.test_worklist_filters import MUNI, _events
from tests.integration.workflow_helpers import emit, letters, until


async def test_the_counts_are_those_of_the_documents(redis: Redis) -> None:
    prefix = f"test-counts-{uuid.uuid4().hex[:8]}:"
    v = Views(redis, prefix)
    empty = {"total": 0, "by_programme": dict.fromkeys(PROGRAMMES, 0)}
    assert await worklist_counts(v, MUNI) == empty
    writes = [w for e in _events(300) for w in project(e)]
    async with redis.pipeline(transaction=True) as pipe:
        for name, key, args in coalesce(writes):
            pipe.execute_command(name, prefix + key, *args)
        await pipe.execute()
    try:
        docs = [json.loads(d) for d in (await v.hgetall(keys.worklist_docs(MUNI))).values()]
        by_programme = Counter(d["programme"] for d in docs if d["programme"])
        counts = await worklist_counts(v, MUNI)
        assert len(docs) == 300
        assert counts == {
            "total": 300,
            "by_programme": {p: by_programme[p] for p in PROGRAMMES},
        }
        assert sum(counts["by_programme"].values()) < counts["total"], "some have no programme"
    finally:
        found = [k async for k in redis.scan_iter(match=prefix + "*")]
        if found:
            await redis.delete(*found)


async def test_one_call_gives_the_totals_the_page_made_seven_calls_for(
    profiles: httpx.AsyncClient, broker: str
) -> None:
    url = f"/v1/worklists/{MUNICIPALITY}"
    before = (await profiles.get(url, params={"limit": 1})).json()["total"]
    for i, programme in enumerate(("IGU", "IGU", "jobpakke", None)):
        oid, cid = f"jo-{letters()}", f"cit-{letters()}"
        suggested = PlacementSuggested(
            job_order_id=oid, citizen_id=cid, suggestion_id=f"sug-{oid}-{cid}", score=0.5 + i / 10,
            rank=1, model_version="rules-1", card_version="c", order_version="o",
            programme=programme,
        )  # fmt: skip
        await emit(broker, suggested, MUNICIPALITY)

    async def listed() -> bool:
        return (await profiles.get(url, params={"limit": 1})).json()["total"] == before + 4

    await until(listed, "the four suggestions on the worklist", timeout=20)
    answer = await profiles.get(f"{url}/counts")
    assert answer.status_code == 200, answer.text
    counts = answer.json()
    # What the page read before: the list's total, unfiltered and per programme.
    assert counts["municipality_code"] == MUNICIPALITY
    assert counts["total"] == before + 4
    for programme in PROGRAMMES:
        page = await profiles.get(url, params={"programme": programme, "limit": 1})
        assert counts["by_programme"][programme] == page.json()["total"], programme
    assert counts["by_programme"]["IGU"] >= 2 and counts["by_programme"]["jobpakke"] >= 1
    unchanged = await profiles.get(
        f"{url}/counts", headers={"If-None-Match": answer.headers["etag"]}
    )
    assert unchanged.status_code == 304
    # Another municipality's counts are hidden like its list; an unknown one is missing.
    assert (await profiles.get("/v1/worklists/0101/counts")).status_code == 404
    assert (await profiles.get("/v1/worklists/9999/counts")).status_code == 404
