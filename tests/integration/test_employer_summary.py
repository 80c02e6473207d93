"""The employer's list of job orders against a real Redis (and a rebuild against the real
broker): what `queries.employer` answers from the employer's order summaries is exactly what
assembling every order from its whole views gave (`reference` below: the query as it was),
for orders updated, moved to another employer and back, closed and reopened, with
candidates presented (twice, too), placements started and ended, and a presented citizen
erased; also for views projected before the summaries existed (read as before), in any order
a rebuild's workers apply the topics, and after a real rebuild."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from schemas.citizens import ErasureRequested
from schemas.envelope import Actor, Event, EventPayload
from schemas.jobs import JobOrder, JobOrderClosed, JobOrderPosted, JobOrderUpdated
from schemas.placements import (
    CandidatePresented,
    EmployerDecisionRecorded,
    FollowUpRecorded,
    PlacementEnded,
    PlacementStarted,
    SuggestionAccepted,
    SuggestionRejected,
)
from services.profiles import keyspace, queries
from services.profiles.projections import keys
from services.profiles.projections.guarded import ProfileProjection
from services.profiles.queries import employer, job_order
from services.profiles.reads import Views
from services.profiles.rebuild import _erase_again, rebuild
from services.projection.store import text
from services.projection.writes import coalesce
from tests.conftest import Issuer
from tests.integration.conftest import redis_on_db
from tests.integration.kafka_helpers import produce_events
from tests.integration.workflow_helpers import Case, until

MUNI = "0751"
T0 = dt.datetime(2026, 9, 1, 8, tzinfo=dt.UTC)
CONSULTANT = Actor(role="consultant", id="kons-es")
EMPLOYER = Actor(role="employer", id="arbejdsgiver-es")
PROGRAMMES = ("IGU", "ordinary", "løntilskud", "jobpakke")


async def reference(
    v: Views, cvr: str, job_order_id: str | None = None, with_order: bool = True
) -> dict[str, Any] | None:
    """The employer's answer as it was assembled before the summaries: every order of the
    employer read and decoded whole (`job_order`), one by one; then only `job_order_id`, if
    one is named (whether the employer exists does not depend on it)."""
    registered = {
        text(k): json.loads(val) for k, val in (await v.hgetall(keys.employer(cvr))).items()
    }
    orders = []
    for oid in await v.hkeys(keys.employer_orders(cvr)):
        doc = await job_order(v, oid)
        if doc is None or doc.get("employer_cvr") != cvr:  # moved to another employer
            continue
        order = doc.get("order", {})
        row = {
            "job_order_id": oid,
            "title": order.get("title"),
            "programme": order.get("programme"),
            "status": doc.get("status"),
            "positions": doc["positions"],
            "presented_candidates": len(doc["presented"]),
            "updated_at": doc.get("updated_at"),
            "version": doc.get("version"),
            "order": order,
        }
        if not with_order:
            del row["order"]
        orders.append(row)
    if not registered and not orders:
        return None
    orders.sort(key=lambda o: (o["updated_at"] or "", o["job_order_id"]), reverse=True)
    orders = [o for o in orders if job_order_id in (None, o["job_order_id"])]
    return {"cvr": cvr, "name": registered.get("name"), "job_orders": orders}


def valid_cvr(rng: random.Random) -> str:
    """A random CVR number with its modulus-11 check digit."""
    while True:
        digits = [rng.randrange(1, 10)] + [rng.randrange(10) for _ in range(6)]
        rest = sum(d * w for d, w in zip(digits, (2, 7, 6, 5, 4, 3, 2), strict=True)) % 11
        check = (11 - rest) % 11
        if check < 10:
            return "".join(map(str, digits)) + str(check)


class World:
    """Job orders of two employers and what became of them, as events in log order."""

    def __init__(self, lager: dict[str, Any], seed: int, orders: int = 40) -> None:
        self.rng = rng = random.Random(seed)
        self.tag = uuid.uuid4().hex[:6]
        self.cvrs = (valid_cvr(rng), valid_cvr(rng))
        self.events: list[Event] = []
        self.at = T0
        self.moved = self.closed = self.reopened = self.presented = self.started = 0
        citizens = [f"cit-es-{self.tag}-{i:02d}" for i in range(12)]
        for i in range(orders):
            self._order(lager, f"jo-es-{self.tag}-{i:03d}", citizens)
        # A citizen presented to several orders asks to be erased: the orders keep their side.
        self.erased = citizens[0]
        self._add(ErasureRequested(citizen_id=self.erased), CONSULTANT)

    def _add(self, payload: EventPayload, actor: Actor) -> None:
        self.at += dt.timedelta(minutes=1)
        self.events.append(
            Event.new(payload, actor=actor, occurred_at=self.at, municipality_code=MUNI)
        )

    def _order(self, lager: dict[str, Any], oid: str, citizens: list[str]) -> None:
        rng = self.rng
        cvr = rng.choice(self.cvrs)
        doc = copy.deepcopy(lager) | {"job_order_id": oid, "title": f"Lager {oid[-3:]}"}

        def order(owner: str) -> JobOrder:
            doc["employer"]["cvr"] = owner
            doc["positions"] = rng.randint(1, 3)
            doc["programme"] = rng.choice(PROGRAMMES)
            return JobOrder.model_validate(doc)

        self._add(JobOrderPosted(job_order_id=oid, version=1, order=order(cvr)), EMPLOYER)
        version = 1
        for _ in range(rng.randrange(3)):
            version += 1
            if rng.random() < 0.3:
                cvr = self.cvrs[1 - self.cvrs.index(cvr)]
                self.moved += 1
            updated = JobOrderUpdated(job_order_id=oid, version=version, order=order(cvr))
            self._add(updated, EMPLOYER)
        picked = rng.sample(citizens[1:], rng.randrange(5))
        if rng.random() < 0.5:
            picked.append(citizens[0])  # the citizen erased at the end
        for cid in picked:
            self._review(oid, cid, cvr)
        if rng.random() < 0.35:
            reason = rng.choice(("filled", "withdrawn", "expired"))
            self._add(JobOrderClosed(job_order_id=oid, reason=reason), EMPLOYER)
            self.closed += 1
            if rng.random() < 0.3:  # an update after a close opens the order again
                self.reopened += 1
                updated = JobOrderUpdated(job_order_id=oid, version=version + 1, order=order(cvr))
                self._add(updated, EMPLOYER)

    def _review(self, oid: str, cid: str, cvr: str) -> None:
        rng = self.rng
        sid = f"sug-{oid}-{cid}"
        ids = {"job_order_id": oid, "citizen_id": cid, "suggestion_id": sid}
        if rng.random() < 0.2:
            self._add(SuggestionRejected(**ids, reason_code="transport"), CONSULTANT)
            return
        self._add(SuggestionAccepted(**ids), CONSULTANT)
        if rng.random() < 0.3:
            return
        for _ in range(rng.choice((1, 1, 2))):  # presented twice: one candidate all the same
            self._add(CandidatePresented(**ids, employer_cvr=cvr), CONSULTANT)
        self.presented += 1
        decision = rng.choice(("interview", "hired", "declined", None))
        if decision:
            self._add(EmployerDecisionRecorded(**ids, decision=decision), EMPLOYER)
        if decision != "hired" or rng.random() < 0.3:
            return
        pid = f"plc-{oid[-3:]}-{cid[-2:]}"
        start = dt.date(2026, 10, 1)
        self._add(
            PlacementStarted(**ids, placement_id=pid, placement_type="ordinary",
                             start_date=start, weekly_hours_work=37),
            CONSULTANT,
        )  # fmt: skip
        self.started += 1
        if rng.random() < 0.5:
            done = {"job_order_id": oid, "citizen_id": cid, "placement_id": pid}
            self._add(
                FollowUpRecorded(**done, date=start + dt.timedelta(days=30), status="on_track"),
                CONSULTANT,
            )
            if rng.random() < 0.5:
                ended = PlacementEnded(
                    **done, end_date=start + dt.timedelta(days=60), outcome="ordinary_job"
                )
                self._add(ended, CONSULTANT)


async def apply(redis: Redis, prefix: str, events: list[Event], guard: ProfileProjection) -> None:
    """The events' view writes, a MULTI per 25 events, as the projector applies a batch."""
    for at in range(0, len(events), 25):
        writes = [w for e in events[at : at + 25] for w in guard(e)]
        async with redis.pipeline(transaction=True) as pipe:
            for name, key, args in coalesce(writes):
                pipe.execute_command(name, prefix + key, *args)
            await pipe.execute()


async def as_rebuilt(redis: Redis, prefix: str, events: list[Event], seed: int) -> None:
    """As a parallel rebuild applies the log: each aggregate's events of one topic (a
    partition's share) in their order, given to one of three workers with a guard of its
    own, the workers' events interleaved at random; then the erasures once more."""
    rng = random.Random(seed)
    streams: dict[tuple[str, str], list[Event]] = {}
    for e in events:
        streams.setdefault((e.topic, e.aggregate_id), []).append(e)
    workers: list[list[list[Event]]] = [[], [], []]
    for stream in streams.values():
        rng.choice(workers).append(stream)
    guards = [ProfileProjection() for _ in workers]
    queues = [[e for stream in share for e in stream] for share in workers]
    mixed: list[tuple[int, Event]] = []
    while any(queues):
        w = rng.choice([i for i, q in enumerate(queues) if q])
        mixed.append((w, queues[w].pop(0)))
    for at in range(0, len(mixed), 25):
        writes = [wr for w, e in mixed[at : at + 25] for wr in guards[w](e)]
        async with redis.pipeline(transaction=True) as pipe:
            for name, key, args in coalesce(writes):
                pipe.execute_command(name, prefix + key, *args)
            await pipe.execute()
    await _erase_again(redis, prefix)


@pytest.fixture
async def prefixes(redis: Redis) -> AsyncIterator[list[str]]:
    made: list[str] = []
    yield made
    for prefix in made:
        await keyspace.drop(redis, prefix)


def _fresh(made: list[str]) -> str:
    made.append(f"test-employer-{uuid.uuid4().hex[:8]}:")
    return made[-1]


async def _same_answers(v: Views, world: World) -> int:
    """Every variant of the employer's answer equals the reference; the number of orders."""
    listed = 0
    for cvr in world.cvrs:
        want = await reference(v, cvr)
        assert want is not None
        assert await employer(v, cvr) == want, cvr
        assert await employer(v, cvr, with_order=False) == await reference(v, cvr, None, False)
        for oid in [o["job_order_id"] for o in want["job_orders"][:3]] + ["jo-missing"]:
            assert await employer(v, cvr, job_order_id=oid) == await reference(v, cvr, oid)
        listed += len(want["job_orders"])
    return listed


@pytest.mark.parametrize("summaries", ["all", "half", "none"])
async def test_the_employers_list_from_the_summaries_equals_assembling_every_order(
    redis: Redis,
    prefixes: list[str],
    lager: dict[str, Any],
    summaries: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(lager, seed=11)
    assert world.moved and world.closed and world.reopened and world.presented and world.started
    prefix = _fresh(prefixes)
    await apply(redis, prefix, world.events, ProfileProjection())
    v = Views(redis, prefix)
    for cvr in world.cvrs:
        key = prefix + keys.employer_order_summaries(cvr)
        written = list(await redis.hkeys(key))
        assert written, "the projection writes the summaries"
        if summaries == "half":  # projected before the summaries existed: some of them
            await redis.hdel(key, *written[::2])
        elif summaries == "none":
            await redis.delete(key)
    assembled: list[str] = []  # the orders read whole, as before the summaries

    async def spied(v: Views, cvr: str, ids: list[str], with_order: bool) -> Any:
        assembled.extend(ids)
        return await whole(v, cvr, ids, with_order)

    whole = queries._assembled
    monkeypatch.setattr(queries, "_assembled", spied)
    assert await _same_answers(v, world) == 40, "every order listed by one of the employers"
    # With the summaries, not even an order that moved to the other employer is read whole.
    assert bool(assembled) == (summaries != "all")
    rows = [o for cvr in world.cvrs for o in (await employer(v, cvr) or {})["job_orders"]]
    assert any(o["presented_candidates"] > 1 for o in rows)
    assert any(o["positions"]["filled"] for o in rows)
    assert any(o["status"].startswith("closed_") for o in rows)
    for cvr in world.cvrs:
        summary_only = await employer(v, cvr, with_order=False)
        assert summary_only is not None
        assert not any("order" in o for o in summary_only["job_orders"])


async def test_a_summary_of_another_version_than_the_order_is_not_trusted(
    redis: Redis, prefixes: list[str], lager: dict[str, Any]
) -> None:
    """Written by the same event as the order's document, a summary always has the
    document's version; one that has not (written by other code) is read past."""
    world = World(lager, seed=12, orders=12)
    prefix = _fresh(prefixes)
    await apply(redis, prefix, world.events, ProfileProjection())
    v = Views(redis, prefix)
    cvr = world.cvrs[0]
    want = await reference(v, cvr)
    assert want is not None
    oid = want["job_orders"][0]["job_order_id"]
    stale = '{"positions":99,"programme":"IGU","title":"Forældet","version":0}'
    await redis.hset(prefix + keys.employer_order_summaries(cvr), oid, stale)
    assert await employer(v, cvr) == want


async def test_views_applied_in_a_rebuilds_order_are_the_same(
    redis: Redis, prefixes: list[str], lager: dict[str, Any]
) -> None:
    """Applied topic by topic and aggregate by aggregate in any interleaving (as a parallel
    rebuild's workers do), the views, summaries included, are byte for byte those of the
    log's order, and so are the answers."""
    world = World(lager, seed=13)
    live = _fresh(prefixes)
    await apply(redis, live, world.events, ProfileProjection())
    expected = await keyspace.checksum(redis, live)
    for seed in (1, 2, 3):
        rebuilt = _fresh(prefixes)
        await as_rebuilt(redis, rebuilt, world.events, seed)
        assert await keyspace.checksum(redis, rebuilt) == expected, seed
        for cvr in world.cvrs:
            assert await employer(Views(redis, rebuilt), cvr) == await reference(
                Views(redis, live), cvr
            )
    # The erased citizen's own keys are gone; the orders still count them as presented.
    for key in keys.citizen_keys(world.erased):
        assert not await redis.exists(live + key)


async def test_a_rebuild_from_the_log_writes_the_summaries(
    broker: str, redis_url: str, lager: dict[str, Any]
) -> None:
    world = World(lager, seed=14, orders=20)
    await produce_events(broker, world.events)
    # A db of its own: the rebuild moves that db's pointer to the active keyspace.
    redis = redis_on_db(redis_url, 12)
    incremental = f"test-employer-{uuid.uuid4().hex[:8]}:"
    try:
        await apply(redis, incremental, world.events, ProfileProjection())
        report = await rebuild(broker, redis, workers=2, grace_s=0)
        rebuilt, live = Views(redis, report.prefix), Views(redis, incremental)
        for cvr in world.cvrs:
            summaries = keys.employer_order_summaries(cvr)
            assert await rebuilt.hgetall(summaries) == await live.hgetall(summaries) != {}
            answer = await employer(rebuilt, cvr)
            assert answer == await reference(live, cvr) == await reference(rebuilt, cvr)
    finally:
        await keyspace.drop(redis, await keyspace.active(redis))
        await keyspace.drop(redis, incremental)
        await redis.delete(keyspace.POINTER)
        await redis.aclose()


async def test_the_employer_api_lists_summaries_or_one_order_as_posted(
    events_api: httpx.AsyncClient,
    profiles_app: FastAPI,
    broker: str,
    redis: Redis,
    issuer: Issuer,
    amina: dict[str, Any],
    lager: dict[str, Any],
) -> None:
    """What the employer's pages ask for: the list without the orders as posted
    (`include_order=false`), and one order with it (`job_order_id`, the edit form)."""
    case = Case(events_api, broker, redis, issuer)
    await case.setup(amina, lager, positions=2)
    await case.advance("placed")
    own = issuer.bearer("employer", "arbejdsgiver-es", cvr=case.cvr)
    transport = httpx.ASGITransport(app=profiles_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://profiles", headers=own
    ) as client:
        url = f"/v1/employers/{case.cvr}"

        async def placed() -> bool:
            answer = await client.get(url, params={"job_order_id": case.oid})
            rows = answer.json()["job_orders"] if answer.status_code == 200 else []
            return bool(rows) and rows[0]["positions"]["filled"] == 1

        await until(placed, "the placement in the employer's view", timeout=20)
        (one,) = (await client.get(url, params={"job_order_id": case.oid})).json()["job_orders"]
        assert one["positions"] == {"total": 2, "filled": 1, "open": 1}
        assert one["presented_candidates"] == 1 and one["status"] == "open"
        assert one["order"]["title"] == lager["title"] and one["version"] == 1

        everything = (await client.get(url)).json()
        summaries = (await client.get(url, params={"include_order": "false"})).json()
        assert everything == await reference(Views(redis, await keyspace.active(redis)), case.cvr)
        assert summaries["job_orders"] == [
            {k: v for k, v in o.items() if k != "order"} for o in everything["job_orders"]
        ]
        assert one == next(o for o in everything["job_orders"] if o["job_order_id"] == case.oid)
        # Not the employer's order (or none): no order listed, the employer still found.
        other = (await client.get(url, params={"job_order_id": "jo-not-ours"})).json()
        assert other["cvr"] == case.cvr and other["job_orders"] == []
        too_long = await client.get(url, params={"job_order_id": "x" * 65})
        assert too_long.status_code == 422
