"""The read side over a year of synthetic history: KPIs equal to counts taken from the log
itself, follow-ups due, and `jobmatch projections rebuild` giving the same views."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from schemas.citizens import CompetenceCardRegistered, ErasureRequested
from schemas.envelope import Actor, Event
from schemas.jobs import JobOrderPosted
from schemas.placements import (
    CandidatePresented,
    FollowUpRecorded,
    PlacementEnded,
    PlacementStarted,
    PlacementSuggested,
)
from schemas.registry import REGISTRY
from schemas.topics import DOMAIN_TOPICS
from services.common.kafka import read_log
from services.demo import example_documents
from services.demo.synthetic import generate
from services.keys.setup import keystore_path
from services.profiles import keyspace
from services.stack import Stack, free_port_base
from tests.e2e.signin import administrator, consultant
from tests.integration.kafka_helpers import produce_events


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(home=tmp_path_factory.mktemp("rebuild"), ports=free_port_base(), memory=True)
    with running.running():
        yield running


def _status(stack: Stack) -> dict[str, Any]:
    body: dict[str, Any] = (
        administrator(stack).get(f"{stack.urls['profiles']}/v1/projections/status").json()
    )
    return body


def _quiet(stack: Stack, still: float = 3.0, timeout: float = 90.0) -> dict[str, Any]:
    """Wait until the views hold the whole log and nothing new has arrived for `still` s
    (the matching service reacts to what was produced, so the log grows for a while)."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        status = _status(stack)
        mark = (status["applied"], status["keyspace"])
        if status["lag"] or mark != last:
            last, since = mark, time.monotonic()
        elif time.monotonic() - since >= still:
            return status
        time.sleep(0.2)
    raise AssertionError(f"the views did not settle: {_status(stack)}")


def _checksum(stack: Stack, prefix: str) -> keyspace.Checksum:
    async def run() -> keyspace.Checksum:
        redis = Redis.from_url(stack.redis_url or "")
        try:
            return await keyspace.checksum(redis, prefix)
        finally:
            await redis.aclose()

    return asyncio.run(run())


def _jobmatch(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap or "",
        "REDIS_URL": stack.redis_url or "",
        # The stack's key store: the rebuild opens the sealed events with it, as the
        # services do (`JOBMATCH_HOME` would name it too).
        "KEYSTORE_PATH": str(keystore_path(stack.home)),
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@functools.cache
def history() -> Any:
    return generate(150, 40, seed=3, start=dt.date(2025, 1, 1), months=12)


@functools.cache
def busiest() -> str:
    """The municipality with the most job orders in the history (which one depends on the
    reference data the generator draws from, so it is looked up, not written down)."""
    posted = Counter(
        e.payload.order.municipality_code
        for e in history().events
        if isinstance(e.payload, JobOrderPosted)
    )
    return posted.most_common(1)[0][0]


FOLLOWED = "plc-followed-igu"


@pytest.fixture(scope="module")
def log(stack: Stack) -> list[Event]:
    """The history, an erasure and a hand-made IGU placement in the log; views settled."""
    assert stack.bootstrap
    erased = next(
        e.payload.citizen_id
        for e in history().events
        if isinstance(e.payload, CompetenceCardRegistered)
    )
    consultant = Actor(role="consultant", id="k-1")
    at = dt.datetime(2027, 1, 4, 9, tzinfo=dt.UTC)
    extra = [
        Event.new(
            ErasureRequested(citizen_id=erased),
            actor=consultant,
            occurred_at=dt.datetime(2025, 6, 1, 9, tzinfo=dt.UTC),
        ),
        Event.new(
            PlacementStarted(
                job_order_id="jo-followed",
                citizen_id="cit-followed",
                placement_id=FOLLOWED,
                placement_type="IGU",
                start_date=dt.date(2027, 1, 4),
                end_date=dt.date(2028, 12, 31),
                weekly_hours_work=29,
                weekly_hours_school=8,
            ),
            actor=consultant,
            occurred_at=at,
            municipality_code=busiest(),
        ),
        Event.new(
            FollowUpRecorded(
                job_order_id="jo-followed",
                citizen_id="cit-followed",
                placement_id=FOLLOWED,
                date=dt.date(2027, 2, 3),
                status="on_track",
            ),
            actor=consultant,
            occurred_at=at + dt.timedelta(days=30),
            municipality_code=busiest(),
        ),
    ]
    asyncio.run(produce_events(stack.bootstrap, [*history().events, *extra]))
    _quiet(stack)
    records = asyncio.run(read_log(stack.bootstrap, DOMAIN_TOPICS, timeout=30))
    return [REGISTRY.decode(r.value or b"") for r in records]


def test_kpis_equal_what_the_log_says(stack: Stack, log: list[Event]) -> None:
    posted = {
        e.payload.job_order_id: e
        for e in log
        if isinstance(e.payload, JobOrderPosted) and e.payload.order.municipality_code == busiest()
    }
    assert len(posted) >= 5, "the busiest municipality of the history"
    created: Counter[str] = Counter(e.occurred_at.strftime("%Y-%m") for e in posted.values())
    suggested = {e.payload.job_order_id for e in log if isinstance(e.payload, PlacementSuggested)}
    presented = {e.payload.job_order_id for e in log if isinstance(e.payload, CandidatePresented)}
    with_suggestions: Counter[str] = Counter()
    with_presented: Counter[str] = Counter()
    for oid, e in posted.items():
        month = e.occurred_at.strftime("%Y-%m")
        with_suggestions[month] += oid in suggested
        with_presented[month] += oid in presented
    started: Counter[str] = Counter()
    by_type: Counter[tuple[str, str]] = Counter()
    outcomes: Counter[tuple[str, str]] = Counter()
    for e in log:
        p = e.payload
        if e.municipality_code != busiest():
            continue
        if isinstance(p, PlacementStarted):
            started[p.start_date.strftime("%Y-%m")] += 1
            by_type[(p.start_date.strftime("%Y-%m"), p.placement_type)] += 1
        if isinstance(p, PlacementEnded):
            outcomes[(p.end_date.strftime("%Y-%m"), p.outcome)] += 1
    assert sum(started.values()) >= 3

    mine = consultant(stack, busiest())
    body = mine.get(
        f"{stack.urls['profiles']}/v1/kpis/{busiest()}",
        params={"from": "2025-01", "to": "2027-12", "as_of": "2027-12-31"},
        timeout=10,
    ).json()
    rows = {row["month"]: row for row in body["months"]}
    assert len(rows) == 36
    for month, row in rows.items():
        jobs = row["job_orders"]
        assert jobs["created"] == created[month], month
        assert jobs["with_suggestions"] == with_suggestions[month], month
        assert jobs["with_presented_candidates"] == with_presented[month], month
        assert row["placements"]["started"] == started[month], month
        for kind, n in row["placements"]["by_type"].items():
            assert by_type[(month, kind)] == n, (month, kind)
        for outcome, n in row["outcomes"].items():
            assert outcomes[(month, outcome)] == n, (month, outcome)
    busy = max(rows.values(), key=lambda r: r["job_orders"]["created"])["job_orders"]
    assert busy["share_with_suggestions"] == round(busy["with_suggestions"] / busy["created"], 4)
    default = mine.get(f"{stack.urls['profiles']}/v1/kpis/{busiest()}", timeout=10).json()
    assert len(default["months"]) == 12
    bad = mine.get(f"{stack.urls['profiles']}/v1/kpis/{busiest()}", params={"from": "2025-13"})
    assert bad.status_code == 422
    # Administrators read every municipality's KPIs; there are none for an unknown code.
    admin = administrator(stack)
    assert admin.get(f"{stack.urls['profiles']}/v1/kpis/9999", timeout=5).status_code == 404


def test_follow_ups_due_follow_the_rhythm(stack: Stack, log: list[Event]) -> None:
    url = f"{stack.urls['profiles']}/v1/worklists/{busiest()}/follow-ups"
    mine = consultant(stack, busiest())

    def due(as_of: str, within: int) -> list[tuple[str, str, bool]]:
        body = mine.get(
            url, params={"as_of": as_of, "within_days": within, "limit": 500}, timeout=10
        ).json()
        return [
            (i["due_date"], i["reason"], i["overdue"])
            for i in body["items"]
            if i["placement_id"] == FOLLOWED
        ]

    # 4 Feb was covered by the follow-up on 3 Feb; 4 March is overdue by 10 March.
    assert due("2027-03-10", 14) == [("2027-03-04", "monthly", True)]
    assert due("2027-01-20", 45) == [("2027-03-04", "monthly", False)]
    late = due("2028-09-20", 14)
    assert late[-1] == ("2028-09-30", "igu_ends_in_3_months", False)
    assert len(late) == 6, "five monthly ones missed, and the IGU notice"
    today = mine.get(url, params={"as_of": "2027-03-10", "within_days": 0}, timeout=10).json()
    assert today["total"] >= 1 and today["until"] == "2027-03-10"


def test_rebuild_gives_the_same_views_and_switches_readers(stack: Stack, log: list[Event]) -> None:
    before = _quiet(stack)
    assert before["keyspace"] == keyspace.LEGACY and before["applied"] >= len(log)
    erased = next(e.payload.citizen_id for e in log if isinstance(e.payload, ErasureRequested))
    erased_in = next(
        e.payload.card.municipality_code
        for e in log
        if isinstance(e.payload, CompetenceCardRegistered) and e.payload.citizen_id == erased
    )
    assert set(before["views"]) >= {"citizens", "job-orders", "worklists", "kpis", "employers"}
    assert all(v["lag"] == 0 for v in before["views"].values())
    incremental = _checksum(stack, keyspace.LEGACY)
    assert incremental.keys > 500

    done = _jobmatch(stack, "projections", "rebuild", "--grace", "0")
    assert done.returncode == 0, done.stderr
    prefix = done.stdout.strip()
    assert prefix.startswith("jm:views@") and "events/s" in done.stderr

    rebuilt = _checksum(stack, prefix)
    assert rebuilt == incremental, "the rebuilt views differ from the incrementally built ones"
    assert _checksum(stack, keyspace.LEGACY).keys == 0, "the old keyspace is dropped"
    shown = _jobmatch(stack, "projections", "checksum")
    assert shown.stdout.split()[0] == incremental.digest

    # The running service follows the switch and goes on writing the new keyspace.
    deadline = time.monotonic() + 10
    while _status(stack)["keyspace"] != prefix:
        assert time.monotonic() < deadline, "the live projector did not follow the switch"
        time.sleep(0.1)
    profiles = stack.urls["profiles"]
    # Not even a consultant of the citizen's own municipality sees an erased citizen.
    their_consultant = consultant(stack, erased_in)
    assert their_consultant.get(f"{profiles}/v1/citizens/{erased}", timeout=5).status_code == 404
    aarhus = consultant(stack)
    card = example_documents()[0][0] | {"citizen_id": "cit-after-rebuild"}
    token = aarhus.post(f"{stack.urls['events']}/v1/competence-cards", json=card, timeout=10).json()
    seen = aarhus.get(
        f"{profiles}/v1/citizens/cit-after-rebuild",
        params={"min_position": token["read_token"]},
        timeout=10,
    )
    assert seen.status_code == 200 and seen.json()["version"] == 1


def test_a_second_rebuild_waits_for_the_first(stack: Stack) -> None:
    async def hold() -> None:
        redis = Redis.from_url(stack.redis_url or "")
        try:
            await redis.set(keyspace.REBUILD_LOCK, "someone", ex=30)
        finally:
            await redis.aclose()

    asyncio.run(hold())
    refused = _jobmatch(stack, "projections", "rebuild")
    assert refused.returncode == 1 and "another rebuild is running" in refused.stderr
