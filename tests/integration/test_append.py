"""Appends whose answer is lost: a real broker behind a proxy that cuts the connection
after forwarding a produce request (the broker writes it, the producer never hears back),
or instead of forwarding it (the broker never sees it)."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest
from aiokafka.errors import KafkaError

from schemas.citizens import ConsentGiven
from schemas.envelope import HEADER_EVENT_ID, Actor, Event
from schemas.topics import CITIZENS
from services.common.kafka import ensure_topics, make_producer, read_log
from services.events.publisher import EventPublisher
from services.stack import Proc, free_port, start_tansu

PRODUCE = 0
Fault = Literal["lose_answer", "lose_request", "refuse_all"]


class CuttingProxy:
    """Forwards Kafka connections to the broker; `arm(fault)` makes the next produce
    request meet the fault once (`refuse_all`: every connection is cut from then on)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.fault: Fault | None = None
        self.cut = 0
        self.was_cut = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    def arm(self, fault: Fault | None) -> None:
        self.fault = fault

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.fault == "refuse_all":
            client_w.close()
            return
        broker_r, broker_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        answers = asyncio.create_task(self._pipe(broker_r, client_w))
        try:
            while True:
                head = await client_r.readexactly(4)
                body = await client_r.readexactly(struct.unpack(">i", head)[0])
                (api_key,) = struct.unpack(">h", body[:2])
                fault = self.fault
                if api_key == PRODUCE and fault is not None:
                    answers.cancel()  # nothing more reaches the client
                    self.cut += 1
                    self.was_cut.set()
                    self.fault = None if fault != "refuse_all" else fault
                    if fault == "lose_answer":
                        broker_w.write(head + body)
                        await broker_w.drain()
                        await asyncio.sleep(0.5)  # the broker writes it meanwhile
                    return
                broker_w.write(head + body)
                await broker_w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            answers.cancel()
            for writer in (client_w, broker_w):
                writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()


@pytest.fixture(scope="module")
async def proxy(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[str, CuttingProxy]]:
    """A broker that advertises the port of a proxy in front of it: (bootstrap, proxy)."""
    port, proxy_port = free_port(), free_port()
    proc: Proc = start_tansu(port, Path(tmp_path_factory.mktemp("cut")), advertised_port=proxy_port)
    cutter = CuttingProxy(port)
    await cutter.start(proxy_port)
    bootstrap = f"127.0.0.1:{proxy_port}"
    try:
        await ensure_topics(bootstrap)
        yield bootstrap, cutter
    finally:
        await cutter.stop()
        proc.stop()


@pytest.fixture(autouse=True)
def disarmed(proxy: tuple[str, CuttingProxy]) -> Iterator[None]:
    proxy[1].cut = 0
    proxy[1].was_cut.clear()
    yield
    proxy[1].arm(None)


def consent_event() -> Event:
    return Event.new(
        ConsentGiven(citizen_id=f"c-{uuid.uuid4().hex[:12]}", consent_id="samtykke", scope="all"),
        actor=Actor(role="system", id="test"),
        occurred_at=datetime.now(UTC),
        municipality_code="0101",
    )


async def copies(bootstrap: str, event: Event) -> list[int]:
    """The offsets at which the event id is in the log."""
    wanted = (HEADER_EVENT_ID, str(event.event_id).encode())
    return [r.offset for r in await read_log(bootstrap, [CITIZENS]) if wanted in r.headers]


async def test_a_plain_producer_writes_twice_when_the_answer_is_lost(
    proxy: tuple[str, CuttingProxy],
) -> None:
    """The hazard: aiokafka resends the batch it never heard back about."""
    bootstrap, cutter = proxy
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        event = consent_event()
        await producer.send_and_wait(  # warm up: metadata and a connection
            event.topic, consent_event().to_json(), key=b"warm", headers=[]
        )
        cutter.arm("lose_answer")
        await producer.send_and_wait(
            event.topic, event.to_json(), key=event.aggregate_id.encode(), headers=event.headers()
        )
    finally:
        await producer.stop()
    assert cutter.cut == 1
    assert len(await copies(bootstrap, event)) == 2


@contextlib.asynccontextmanager
async def warm_publisher(bootstrap: str, lookup_budget_s: float) -> AsyncIterator[EventPublisher]:
    """A publisher that has appended once (metadata and connections in place)."""
    publisher = EventPublisher(bootstrap, lookup_budget_s=lookup_budget_s)
    await publisher.start()
    try:
        await publisher.publish(consent_event())
        yield publisher
    finally:
        await publisher.stop()


@pytest.mark.parametrize("fault", ["lose_answer", "lose_request"])
async def test_the_publisher_appends_once_whatever_was_lost(
    proxy: tuple[str, CuttingProxy], fault: Fault
) -> None:
    bootstrap, cutter = proxy
    event = consent_event()
    async with warm_publisher(bootstrap, lookup_budget_s=10) as publisher:
        cutter.arm(fault)
        position = await publisher.publish(event)
    assert cutter.cut == 1
    assert await copies(bootstrap, event) == [position.offset]


async def test_an_append_whose_outcome_stays_unknown_fails(
    proxy: tuple[str, CuttingProxy],
) -> None:
    bootstrap, cutter = proxy
    async with warm_publisher(bootstrap, lookup_budget_s=2) as publisher:
        cutter.arm("lose_answer")
        task = asyncio.create_task(publisher.publish(consent_event()))
        await cutter.was_cut.wait()
        cutter.arm("refuse_all")
        with pytest.raises(KafkaError):
            await asyncio.wait_for(task, 30)
