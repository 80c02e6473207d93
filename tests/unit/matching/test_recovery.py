"""The worker's life cycle without a broker: recovery retries with back-off, the agent skips
what the replay loaded, and a failure is logged and ends the process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import TopicPartition

from schemas.citizens import CompetenceCard, CompetenceCardRegistered
from schemas.envelope import Actor, Event
from schemas.jobs import JobOrder, JobOrderPosted
from schemas.placements import PlacementSuggested
from schemas.topics import CITIZENS, JOB_ORDERS
from services.matching import recovery
from services.matching.agents import Handler, Message, consume
from services.matching.domain.scoring import RuleScorer
from services.matching.domain.state import MatchingState
from services.matching.linking import TaxonomyLinker, distance_km
from services.matching.recovery import EXIT_FATAL, Runtime, recover
from services.matching.replay import Replayed

ACTOR = Actor(role="consultant", id="t")
T0 = datetime(2026, 11, 24, 9, tzinfo=UTC)


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None


class Exits:
    def __init__(self) -> None:
        self.codes: list[int] = []

    def __call__(self, code: int) -> None:
        self.codes.append(code)


@pytest.fixture
def make_state(linker: TaxonomyLinker) -> Callable[[], MatchingState]:
    return lambda: MatchingState(linker, RuleScorer(distance_km))


def test_a_failure_is_logged_with_its_exception_and_ends_the_process(
    make_state: Callable[[], MatchingState], caplog: pytest.LogCaptureFixture
) -> None:
    exits = Exits()
    runtime = Runtime(make_state, exit_process=exits)
    runtime.recovered.set()
    runtime.agent_running = True
    assert runtime.ready
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        runtime.fatal("agent", exc)
    assert exits.codes == [EXIT_FATAL]
    assert not runtime.ready
    assert runtime.health()["failed"] == {"agent": "RuntimeError: boom"}
    (record,) = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert record.exc_info is not None and "boom" in str(record.exc_info[1])


def test_recovery_retries_with_back_off_until_it_succeeds(
    make_state: Callable[[], MatchingState],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[float] = []
    sleeps: list[float] = []

    async def flaky(
        make: Callable[[], MatchingState], bootstrap: str, publish: Any, store: Any = None
    ) -> tuple[MatchingState, Replayed, dict[str, int]]:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) < 3:
            raise ConnectionError("broker not there yet")
        positions = {TopicPartition(CITIZENS.name, 0): 7}
        counts = {"retracted": 1, "suggested": 0, "adopted": 2}
        return make(), Replayed(positions, 7, 0, T0), counts

    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:
        sleeps.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(recovery, "recover_once", flaky)
    monkeypatch.setattr(recovery.asyncio, "sleep", sleep)
    runtime = Runtime(make_state, exit_process=Exits())
    asyncio.run(recover(runtime, "127.0.0.1:1", first_delay=1.0, max_delay=1.5))
    assert len(calls) == 3 and sleeps == [1.0, 1.5]
    assert runtime.recovered.is_set() and runtime.last_error is None
    assert runtime.health()["recovery"]["attempts"] == 3
    assert runtime.reconciled == {"retracted": 1, "suggested": 0, "adopted": 2}
    assert runtime.already_applied(TopicPartition(CITIZENS.name, 0), 6)
    assert not runtime.already_applied(TopicPartition(CITIZENS.name, 0), 7)
    # Recovered, but the agent has not started: not ready yet.
    assert not runtime.ready
    failures = [r for r in caplog.records if "recovery failed" in r.getMessage()]
    assert len(failures) == 2 and all(r.exc_info for r in failures)


def _records(amina: dict[str, Any], lager: dict[str, Any]) -> list[Record]:
    order = JobOrder.model_validate(lager)
    card = CompetenceCard.model_validate(amina)
    posted = Event.new(
        JobOrderPosted(job_order_id=order.job_order_id, version=1, order=order),
        actor=ACTOR,
        occurred_at=T0,
    )
    registered = Event.new(
        CompetenceCardRegistered(citizen_id=card.citizen_id, version=1, card=card),
        actor=ACTOR,
        occurred_at=T0,
    )
    return [
        Record(JOB_ORDERS.name, 0, 0, posted.to_json()),
        Record(CITIZENS.name, 1, 0, b"not json"),
        Record(CITIZENS.name, 1, 1, registered.to_json()),
    ]


def test_the_agent_skips_what_the_state_has_and_parks_what_it_cannot_read(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any
) -> None:
    sent: list[Event] = []
    parked: list[int] = []

    async def send(event: Event) -> Awaitable[None]:
        sent.append(event)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def dead_letter(msg: Message, exc: Exception) -> None:
        parked.append(msg.offset)

    async def main() -> Runtime:
        runtime = Runtime(make_state, exit_process=Exits())
        order, bad, card = _records(amina, lager)
        # The replay loaded the order already.
        state = make_state()
        runtime.hand_over(state, Replayed({TopicPartition(JOB_ORDERS.name, 0): 1}, 1, 0, T0), {})
        handle = Handler(runtime, send, dead_letter)
        for record in (order, bad, card):
            await handle(record)
        # Delivered again (faust resumes from the committed offsets after a rebalance).
        for record in (order, bad, card):
            await handle(record)
        return runtime

    runtime = asyncio.run(main())
    assert parked == [0]
    # The order was skipped (not in this empty state), so the card suggests nothing.
    assert sent == [] and list(runtime.state.cards) == [amina["citizen_id"]]
    assert runtime.positions == {
        TopicPartition(JOB_ORDERS.name, 0): 1,
        TopicPartition(CITIZENS.name, 1): 2,
    }


def test_the_agent_sends_its_decisions_and_remembers_them_until_read_back(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any
) -> None:
    sent: list[Event] = []

    async def send(event: Event) -> Awaitable[None]:
        sent.append(event)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def main() -> Runtime:
        runtime = Runtime(make_state, exit_process=Exits())
        runtime.hand_over(make_state(), Replayed({}, 0, 0, None), {})
        handle = Handler(runtime, send, lambda msg, exc: asyncio.sleep(0))
        order, _, card = _records(amina, lager)
        await handle(order)
        await handle(card)
        assert runtime.state.in_flight == 1
        (out,) = sent
        await handle(Record("jobmatch.placements", 0, 0, out.to_json()))
        return runtime

    runtime = asyncio.run(main())
    assert isinstance(sent[0].payload, PlacementSuggested)
    assert runtime.state.in_flight == 0
    assert runtime.state.divergence() == {"orphans": [], "missing": [], "stale": []}


@pytest.mark.parametrize("how", ["raises", "ends"])
def test_the_agent_loop_ends_the_process_when_it_fails_or_its_stream_ends(
    make_state: Callable[[], MatchingState], how: str
) -> None:
    exits = Exits()

    async def messages() -> AsyncIterator[Message]:
        yield Record(CITIZENS.name, 0, 0, b"{}")

    async def handle(msg: Message) -> None:
        if how == "raises":
            raise ValueError("state broke")

    async def main() -> Runtime:
        runtime = Runtime(make_state, exit_process=exits)
        runtime.recovered.set()
        await consume(runtime, messages(), handle, stopping=lambda: False)
        return runtime

    runtime = asyncio.run(main())
    assert exits.codes == [EXIT_FATAL]
    assert not runtime.agent_running and "agent" in runtime.failed


def test_the_agent_loop_ends_quietly_when_the_app_stops(
    make_state: Callable[[], MatchingState],
) -> None:
    exits = Exits()

    async def messages() -> AsyncIterator[Message]:
        for _ in ():
            yield Record(CITIZENS.name, 0, 0, b"{}")

    async def main() -> None:
        runtime = Runtime(make_state, exit_process=exits)
        runtime.recovered.set()
        await consume(runtime, messages(), lambda msg: asyncio.sleep(0), stopping=lambda: True)

    asyncio.run(main())
    assert exits.codes == []


def test_ready_while_the_taxonomy_loads_a_card_waits_for_it_and_other_records_do_not(
    make_state: Callable[[], MatchingState], amina: Any, lager: Any
) -> None:
    async def send(event: Event) -> Awaitable[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def main() -> None:
        runtime = Runtime(make_state, exit_process=Exits())
        runtime.tools_loaded.clear()  # as the composition root does until it has loaded
        runtime.hand_over(make_state(), Replayed({}, 0, 0, None), {})
        handle = Handler(runtime, send, lambda msg, exc: asyncio.sleep(0))
        _, bad, card = _records(amina, lager)
        records = asyncio.Queue[Record]()
        agent = asyncio.create_task(
            consume(runtime, _drain(records), handle, stopping=lambda: True)
        )
        await records.put(bad)  # unreadable: parked without the taxonomy
        await records.put(card)
        await asyncio.sleep(0.05)
        assert runtime.ready and runtime.health()["tools_loaded"] is False
        # The unreadable record went through; the card waits for the taxonomy.
        assert runtime.already_applied(TopicPartition(CITIZENS.name, 1), 0)
        assert not runtime.already_applied(TopicPartition(CITIZENS.name, 1), 1)
        runtime.tools_loaded.set()
        await asyncio.sleep(0.05)
        assert list(runtime.state.cards) == [amina["citizen_id"]]
        agent.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await agent

    asyncio.run(main())


async def _drain(queue: asyncio.Queue[Record]) -> AsyncIterator[Record]:
    while True:
        yield await queue.get()
