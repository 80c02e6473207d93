"""`jobmatch projections rebuild` against the running stack: same views, readers switched."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from schemas.citizens import ErasureRequested
from schemas.envelope import Actor, Event
from services.demo import example_documents
from services.demo.synthetic import generate
from services.profiles import keyspace
from services.stack import Stack, free_port_base
from tests.integration.kafka_helpers import produce_events


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(home=tmp_path_factory.mktemp("rebuild"), ports=free_port_base(), memory=True)
    with running.running():
        yield running


def _status(stack: Stack) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(
        f"{stack.urls['profiles']}/v1/projections/status", timeout=5
    ).json()
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
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_rebuild_gives_the_same_views_and_switches_readers(stack: Stack) -> None:
    assert stack.bootstrap
    history = generate(150, 40, seed=3, start=dt.date(2025, 1, 1), months=12)
    erased = history.events[0].payload.citizen_id  # type: ignore[attr-defined]
    erasure = Event.new(
        ErasureRequested(citizen_id=erased),
        actor=Actor(role="consultant", id="k-1"),
        occurred_at=dt.datetime(2025, 6, 1, 9, tzinfo=dt.UTC),
    )
    asyncio.run(produce_events(stack.bootstrap, [*history.events, erasure]))
    before = _quiet(stack)
    assert before["keyspace"] == keyspace.LEGACY and before["applied"] > len(history.events)
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
    assert httpx.get(f"{profiles}/v1/citizens/{erased}", timeout=5).status_code == 404
    card = example_documents()[0][0] | {"citizen_id": "cit-after-rebuild"}
    token = httpx.post(f"{stack.urls['events']}/v1/competence-cards", json=card, timeout=10).json()
    seen = httpx.get(
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
