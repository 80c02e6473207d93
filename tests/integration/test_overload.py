"""The profiles service under a burst of queries, against the real Redis, broker and issuer:
overload is a 503 (or the gate's 429) with Retry-After, never a 500, and the service serves
again once the burst is over. Query parameters out of bounds are a 422 naming the field.

Before the Redis pools waited (redis-py's default asyncio pool of 100 connections raises at
once when all are busy), 200 concurrent GETs on one route gave about 100 HTTP 500s.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import BlockingConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError

from schemas.citizens import CompetenceCard, CompetenceCardRegistered
from schemas.envelope import Actor, Event
from services.common.redis import connect, pool_exhausted
from services.profiles.api import FIRST_DAY, LAST_DAY, MAX_OFFSET
from tests.conftest import Issuer
from tests.integration.conftest import MUNICIPALITY
from tests.integration.kafka_helpers import produce_events

BURST = 400
# Callers in the burst: each stays under the gate's burst allowance (200), so what is
# measured is the service behind the gate, not its rate limit.
CALLERS = 8


@pytest.fixture
async def client(profiles_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # A 500 is an answer to count, as a client would see it, not an exception in the test.
    transport = httpx.ASGITransport(app=profiles_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://profiles") as c:
        yield c


def _consultants(issuer: Issuer, count: int) -> list[dict[str, str]]:
    return [
        issuer.bearer("consultant", f"kons-burst-{n}", municipality=MUNICIPALITY, minutes=60)
        for n in range(count)
    ]


@pytest.fixture
async def citizen(
    broker: str,
    amina: dict[str, Any],
    client: httpx.AsyncClient,
    issuer: Issuer,
) -> str:
    """A citizen registered in the log and projected into the views: its URL path."""
    amina["citizen_id"] = f"cit-burst-{uuid.uuid4().hex[:8]}"
    card = CompetenceCard.model_validate(amina)
    payload = CompetenceCardRegistered(citizen_id=card.citizen_id, version=1, card=card)
    event = Event.new(
        payload, actor=Actor(role="consultant", id="t"), occurred_at=datetime.now(UTC)
    )
    await produce_events(broker, [event])
    path = f"/v1/citizens/{card.citizen_id}"
    headers = _consultants(issuer, 1)[0]
    deadline = time.monotonic() + 30
    while (answer := await client.get(path, headers=headers)).status_code != 200:
        assert time.monotonic() < deadline, f"never projected: {answer.status_code}"
        await asyncio.sleep(0.1)
    return path


async def _burst(
    client: httpx.AsyncClient, path: str, callers: list[dict[str, str]], count: int
) -> list[httpx.Response]:
    """`count` GETs of `path` at once, spread over `callers`."""
    return list(
        await asyncio.gather(
            *(client.get(path, headers=callers[n % len(callers)]) for n in range(count))
        )
    )


def _statuses(answers: list[httpx.Response]) -> Counter[int]:
    return Counter(a.status_code for a in answers)


def _assert_overload_answers(answers: list[httpx.Response]) -> None:
    """200, or 503/429 with Retry-After and the usual error body: nothing else."""
    counts = _statuses(answers)
    assert set(counts) <= {200, 429, 503}, counts
    for answer in answers:
        if answer.status_code in (429, 503):
            assert int(answer.headers["Retry-After"]) >= 1, answer.headers
        if answer.status_code == 503:
            (detail,) = answer.json()["detail"]
            assert detail["field"] is None and "retry" in detail["reason"], detail


async def test_the_pool_waits_for_a_connection_then_gives_up(redis_url: str) -> None:
    """With its one connection busy, a command waits for it, and is served once it is
    back; past the bound it fails as pool exhaustion (the errors' 503), not Redis down."""
    client = connect(redis_url, max_connections=1, timeout_s=5.0)
    try:
        pool = client.connection_pool
        assert isinstance(pool, BlockingConnectionPool)
        held = await pool.get_connection()

        async def ping() -> bool:
            return bool(await client.ping())

        waiting = asyncio.create_task(ping())
        await asyncio.sleep(0.2)
        assert not waiting.done(), "did not wait for the busy connection"
        await pool.release(held)
        assert await asyncio.wait_for(waiting, 5) is True
        held = await pool.get_connection()
        pool.timeout = 0.05
        started = time.monotonic()
        with pytest.raises(RedisConnectionError) as raised:
            await client.ping()
        assert 0.04 <= time.monotonic() - started < 2
        assert pool_exhausted(raised.value)
        await pool.release(held)
    finally:
        await client.aclose()


async def test_the_query_side_uses_a_bounded_waiting_pool(profiles_app: FastAPI) -> None:
    """REDIS_MAX_CONNECTIONS and REDIS_POOL_TIMEOUT_S reach the client the routes use."""
    pool = profiles_app.state.redis.connection_pool
    assert isinstance(pool, BlockingConnectionPool), type(pool)
    assert pool.max_connections >= 1 and pool.timeout is not None and pool.timeout > 0


async def test_a_burst_of_concurrent_gets_gets_no_500(
    profiles_app: FastAPI, client: httpx.AsyncClient, citizen: str, issuer: Issuer
) -> None:
    callers = _consultants(issuer, CALLERS)
    started = time.monotonic()
    answers = await _burst(client, citizen, callers, BURST)
    took = time.monotonic() - started
    counts = _statuses(answers)
    print(f"\n{BURST} concurrent GETs {citizen}: {dict(counts)} in {took:.2f} s")
    _assert_overload_answers(answers)
    assert counts[200] > 0, counts
    # Afterwards the service serves, and its projector still runs.
    assert (await client.get(citizen, headers=callers[0])).status_code == 200
    assert (await client.get("/ready")).status_code == 200


async def test_no_free_connection_in_time_is_a_503_with_retry_after(
    profiles_app: FastAPI, client: httpx.AsyncClient, citizen: str, issuer: Issuer, redis_url: str
) -> None:
    """A pool of two connections that waits at most a millisecond: most of the burst cannot
    get one. Those requests are 503s with Retry-After; the service recovers at once."""
    callers = _consultants(issuer, CALLERS)
    served_by = profiles_app.state.redis
    tiny = connect(redis_url, max_connections=2, timeout_s=0.001)
    profiles_app.state.redis = tiny
    try:
        answers = await _burst(client, citizen, callers, BURST)
        counts = _statuses(answers)
        print(f"\n{BURST} concurrent GETs, pool of 2: {dict(counts)}")
        _assert_overload_answers(answers)
        assert counts[503] > 0, counts
        busy = next(a for a in answers if a.status_code == 503)
        assert "busy" in busy.json()["detail"][0]["reason"]
        assert (await client.get(citizen, headers=callers[0])).status_code == 200
    finally:
        profiles_app.state.redis = served_by
        await tiny.aclose()
    assert (await client.get("/ready")).status_code == 200


async def test_redis_unreachable_is_a_503(
    profiles_app: FastAPI, client: httpx.AsyncClient, citizen: str, issuer: Issuer
) -> None:
    served_by = profiles_app.state.redis
    # A port nothing listens on (the discard port of the loopback, closed here).
    gone = connect("redis://127.0.0.1:9/0", max_connections=4, timeout_s=0.5)
    profiles_app.state.redis = gone
    try:
        answer = await client.get(citizen, headers=_consultants(issuer, 1)[0])
    finally:
        profiles_app.state.redis = served_by
        await gone.aclose()
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "1"
    assert answer.json() == {
        "detail": [{"field": None, "reason": "the service's store is unavailable; retry later"}]
    }


def _people(issuer: Issuer) -> dict[str, dict[str, str]]:
    return {
        "consultant": issuer.bearer("consultant", "kons-bounds", municipality=MUNICIPALITY),
        "employer": issuer.bearer("employer", "emp-bounds", cvr="12345607"),
        "administrator": issuer.bearer("administrator", "admin-bounds"),
    }


# (who asks, the route) for every route with a paging or date parameter.
PAGED = [
    ("consultant", "/v1/citizens/cit-x/timeline"),
    ("consultant", "/v1/job-orders/jo-x/timeline"),
    ("consultant", f"/v1/worklists/{MUNICIPALITY}"),
    ("consultant", f"/v1/worklists/{MUNICIPALITY}/follow-ups"),
    ("employer", "/v1/employers/12345607/candidates"),
]
HUGE = "1" + "0" * 30


@pytest.mark.parametrize(("who", "path"), PAGED)
async def test_an_offset_past_the_bound_is_a_422_naming_it(
    client: httpx.AsyncClient, issuer: Issuer, who: str, path: str
) -> None:
    headers = _people(issuer)[who]
    for offset in (HUGE, str(MAX_OFFSET + 1), "-1"):
        answer = await client.get(path, params={"offset": offset}, headers=headers)
        assert answer.status_code == 422, (offset, answer.status_code, answer.text)
        assert [d["field"] for d in answer.json()["detail"]] == ["offset"], answer.text
    for limit in (HUGE, "0"):
        answer = await client.get(path, params={"limit": limit}, headers=headers)
        assert answer.status_code == 422, (limit, answer.text)
        assert [d["field"] for d in answer.json()["detail"]] == ["limit"]
    # The bound itself is accepted: whatever the route answers, it is not a 422 or a 500.
    answer = await client.get(path, params={"offset": str(MAX_OFFSET)}, headers=headers)
    assert answer.status_code in (200, 404), answer.text


@pytest.mark.parametrize(
    ("who", "path", "params", "field"),
    [
        ("consultant", "/v1/job-orders/jo-x/suggestions", {"limit": HUGE}, "limit"),
        ("administrator", "/v1/reports", {"limit": HUGE}, "limit"),
        ("consultant", "/v1/citizens/cit-x", {"min_position": "a:1:1," * 1000}, "min_position"),
        ("consultant", f"/v1/worklists/{MUNICIPALITY}", {"min_score": "nan"}, "min_score"),
        ("consultant", f"/v1/worklists/{MUNICIPALITY}", {"min_score": HUGE}, "min_score"),
        (
            "consultant",
            f"/v1/worklists/{MUNICIPALITY}/follow-ups",
            {"as_of": "9999-12-31"},
            "as_of",
        ),
        (
            "consultant",
            f"/v1/worklists/{MUNICIPALITY}/follow-ups",
            {"within_days": HUGE},
            "within_days",
        ),
        ("consultant", f"/v1/kpis/{MUNICIPALITY}", {"as_of": "0001-01-01"}, "as_of"),
        ("consultant", f"/v1/kpis/{MUNICIPALITY}", {"to": "0000-01"}, "to"),
        ("consultant", f"/v1/kpis/{MUNICIPALITY}", {"from": "9999-01"}, "from"),
        ("consultant", f"/v1/kpis/{MUNICIPALITY}", {"from": "1900-01", "to": "2999-12"}, "from"),
    ],
)
async def test_query_parameters_out_of_bounds_are_422s(
    client: httpx.AsyncClient,
    issuer: Issuer,
    who: str,
    path: str,
    params: dict[str, str],
    field: str,
) -> None:
    answer = await client.get(path, params=params, headers=_people(issuer)[who])
    assert answer.status_code == 422, answer.text
    assert field in [d["field"] for d in answer.json()["detail"]], answer.text


@pytest.mark.parametrize("as_of", [FIRST_DAY.isoformat(), LAST_DAY.isoformat()])
async def test_the_date_bounds_are_served(
    client: httpx.AsyncClient, issuer: Issuer, as_of: str
) -> None:
    headers = _people(issuer)["consultant"]
    for path in (f"/v1/worklists/{MUNICIPALITY}/follow-ups", f"/v1/kpis/{MUNICIPALITY}"):
        answer = await client.get(
            path, params={"as_of": as_of, "within_days": "366"}, headers=headers
        )
        assert answer.status_code == 200, (path, answer.text)
