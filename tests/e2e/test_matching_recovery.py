"""SIGKILL the matching worker mid-stream: after restart its state equals a fresh replay,
and the suggestions the profiles API serves equal that state."""

from __future__ import annotations

import asyncio
import copy
import time
from datetime import UTC, datetime
from typing import Any

from schemas.citizens import CompetenceCard, CompetenceCardRegistered
from schemas.envelope import Actor, Event
from schemas.jobs import JobOrder, JobOrderPosted
from services.demo import example_documents
from services.stack import Proc, Stack, free_port, service_env, start_service, wait_ready
from tests.e2e.signin import User, administrator, consultant
from tests.integration.kafka_helpers import produce_events

N_CARDS = 4000
POSTALS = ["8000", "8200", "8210", "8220", "8230", "8240", "8250", "8260", "8270", "8300"]


def _events() -> list[Event]:
    cards, orders = example_documents()
    actor = Actor(role="consultant", id="recovery-test")
    now = datetime.now(UTC)
    out = []
    for doc in orders:
        order = copy.deepcopy(doc)
        order["job_order_id"] = "rec-" + order["job_order_id"]
        model = JobOrder.model_validate(order)
        out.append(
            Event.new(
                JobOrderPosted(job_order_id=model.job_order_id, version=1, order=model),
                actor=actor,
                occurred_at=now,
            )
        )
    for i in range(N_CARDS):
        doc = copy.deepcopy(cards[i % len(cards)])
        doc["citizen_id"] = f"cit-rec-{i:04d}"
        doc["location"]["postal_code"] = POSTALS[i % len(POSTALS)]
        doc["availability"]["hours_per_week"] = 20 + i % 18
        card = CompetenceCard.model_validate(doc)
        out.append(
            Event.new(
                CompetenceCardRegistered(citizen_id=card.citizen_id, version=1, card=card),
                actor=actor,
                occurred_at=now,
            )
        )
    return out


def _state(admin: User, port: int) -> dict[str, Any]:
    response = admin.get(f"http://127.0.0.1:{port}/v1/state", timeout=5)
    response.raise_for_status()
    doc: dict[str, Any] = response.json()
    return doc


def _rec_cards(state: dict[str, Any]) -> int:
    return sum(1 for cid in state["state"]["cards"] if cid.startswith("cit-rec-"))


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _matching(stack: Stack, group: str, port: int) -> Proc:
    assert stack.bootstrap and stack.redis_url
    env = service_env(
        "matching", port, stack.bootstrap, stack.redis_url, stack.home / group, stack.issuer
    )
    env["MATCHING_GROUP_ID"] = group
    proc = start_service("matching", env, stack.home / "logs" / group)
    stack.procs.append(proc)
    wait_ready(proc, port)
    return proc


def test_state_after_sigkill_and_restart_equals_fresh_replay(stack: Stack) -> None:
    assert stack.bootstrap
    matching = next(p for p in stack.procs if p.name == "matching")
    port = stack.ports.matching
    admin = administrator(stack)  # the state page is for administrators
    asyncio.run(produce_events(stack.bootstrap, _events()))

    # Kill it while it is part-way through the stream.
    _wait_for(lambda: _rec_cards(_state(admin, port)) >= 20, 60, "matching to start on the stream")
    before = _rec_cards(_state(admin, port))
    matching.kill()
    assert before < N_CARDS, "the worker finished before it could be killed mid-stream"

    restarted = _matching(stack, "jobmatch-matching", port)
    _wait_for(
        lambda: _rec_cards(_state(admin, port)) == N_CARDS, 120, "restarted worker to catch up"
    )

    fresh_port = free_port()
    _matching(stack, f"jobmatch-fresh-{fresh_port}", fresh_port)
    _wait_for(
        lambda: _rec_cards(_state(admin, fresh_port)) == N_CARDS, 120, "fresh replay to catch up"
    )
    _wait_for(
        lambda: _state(admin, port)["digest"] == _state(admin, fresh_port)["digest"],
        30,
        "digests to agree",
    )
    assert restarted.alive()

    # What consultants see is what the restarted worker holds.
    aarhus = consultant(stack)  # the orders are copies of the Aarhus examples
    state = _state(admin, port)["state"]
    for order_id in ("rec-jo-4410-aarhus-lager", "rec-jo-4411-aarhus-kantine"):
        want = [c[0] for c in state["suggestions"][order_id]]
        assert want, order_id
        url = f"{stack.urls['profiles']}/v1/job-orders/{order_id}/suggestions?limit=200"
        _wait_for(
            lambda u=url, w=want: (
                [s["citizen_id"] for s in aarhus.get(u, timeout=5).json()["suggestions"]] == w
            ),
            30,
            f"profiles view of {order_id} to equal the matching state",
        )
