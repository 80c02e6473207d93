"""The agent: decode each input event, apply it to the state, publish the decisions.

Thin by design: the decisions are made in `domain.state`; this only moves bytes. It starts
once recovery has handed over the replayed state (see recovery.py) and skips the records
the state has already (loaded by the replay, or delivered again after a rebalance). A
record that does not decode is dead-lettered (the replay skips it too); any other failure
ends the process (the state may be half-updated; the restart replays the log and
reconciles the placements topic).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import faust
from aiokafka import TopicPartition

from schemas.citizens import (
    CitizenErased,
    CompetenceCardRegistered,
    CompetenceCardUpdated,
    ErasureRequested,
)
from schemas.envelope import Event
from schemas.jobs import JobOrderPosted, JobOrderUpdated
from schemas.registry import REGISTRY
from schemas.reports import ModelActivated
from schemas.sealing import installed
from schemas.topics import DEAD_LETTER, PLACEMENTS
from services.common.deadletter import dead_letter_headers, safe_key, safe_reason
from services.matching.decisions import to_event
from services.matching.recovery import Runtime, process_age
from services.matching.replay import INPUTS

log = logging.getLogger(__name__)


class Message(Protocol):
    """What the agent reads of a record (faust's Message has these)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


# Records whose texts the state links to ESCO (the other records need no taxonomy: the
# state holds what it linked, and a snapshot carries the linker's memo).
LINKED = (CompetenceCardRegistered, CompetenceCardUpdated, JobOrderPosted, JobOrderUpdated)

# Send one event; the result resolves when the broker has acknowledged it.
Send = Callable[[Event], Awaitable[Awaitable[Any]]]
DeadLetter = Callable[[Message, Exception], Awaitable[None]]


class Handler:
    """One record: skip it if the state has it already, else apply it and send the
    decisions."""

    def __init__(self, runtime: Runtime, send: Send, dead_letter: DeadLetter) -> None:
        self.runtime, self.send, self.dead_letter = runtime, send, dead_letter

    async def __call__(self, msg: Message) -> None:
        runtime = self.runtime
        tp = TopicPartition(msg.topic, msg.partition)
        if runtime.already_applied(tp, msg.offset):
            return
        try:
            event = REGISTRY.decode(msg.value or b"")
        except ValueError as exc:
            # A record we cannot read is parked, not retried forever.
            log.warning(
                "dead-lettered",
                extra={"topic": msg.topic, "offset": msg.offset, "reason": safe_reason(exc)},
            )
            await self.dead_letter(msg, exc)
            async with runtime.lock:
                runtime.advance(tp, msg.offset, msg.value)
            return
        if not runtime.tools_loaded.is_set() and isinstance(event.payload, LINKED):
            # Its texts are linked to ESCO: wait for the taxonomy, loading since the recovery.
            await runtime.tools_loaded.wait()
        # Between two records only may a snapshot pickle the state (it holds the lock).
        async with runtime.lock:
            state = runtime.state
            if isinstance(event.payload, ModelActivated):
                # A switch ranks every open order again: off the event loop (heartbeats).
                decisions = await asyncio.to_thread(state.apply, event)
            else:
                decisions = state.apply(event)
            outputs = [to_event(d, event, state.scorer.model_version) for d in decisions]
            state.sent(outputs)
            runtime.advance(tp, msg.offset, msg.value, event.occurred_at)
        pending = [await self.send(out) for out in outputs]
        # Wait for the broker before the offset of the input may be committed.
        for fut in pending:
            await fut
        if runtime.snapshots is not None:
            if isinstance(event.payload, ErasureRequested | CitizenErased):
                runtime.snapshots.erased(runtime)
            else:
                runtime.snapshots.maybe(runtime)


async def consume(
    runtime: Runtime,
    messages: AsyncIterator[Message],
    handle: Callable[[Message], Awaitable[None]],
    stopping: Callable[[], bool],
) -> None:
    """The agent's loop: wait for recovery, then handle every record. A failure, or the
    stream ending while the app is not stopping, ends the process (`Runtime.fatal`)."""
    try:
        await runtime.recovered.wait()
        runtime.agent_running = True
        runtime.breakdown.setdefault("ready_at_process_age", process_age())
        async for msg in messages:
            await handle(msg)
        if not stopping():
            raise RuntimeError("the agent's input stream ended")
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        runtime.fatal("agent", exc)
    finally:
        runtime.agent_running = False


def register_agents(app: faust.App, runtime: Runtime) -> Any:
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    inputs = app.topic(*(t.name for t in INPUTS), **raw)
    placements = app.topic(PLACEMENTS.name, **raw)
    dead_letter = app.topic(DEAD_LETTER.name, **raw)

    async def send(out: Event) -> Awaitable[Any]:
        return await placements.send(
            key=out.aggregate_id.encode(), value=out.to_json(installed()), headers=out.headers()
        )

    async def dead_letter_send(msg: Message, exc: Exception) -> None:
        # Without the record's bytes: they stay at their source position (see deadletter).
        fut = await dead_letter.send(
            key=safe_key(msg.key),
            value=None,
            headers=dead_letter_headers(
                source_topic=msg.topic,
                partition=msg.partition,
                offset=msg.offset,
                consumer="matching",
                reason=safe_reason(exc),
                value=msg.value,
            ),
        )
        await fut

    handle = Handler(runtime, send, dead_letter_send)

    @app.agent(inputs, name="match")
    async def match(stream: faust.StreamT[bytes]) -> None:
        async def messages() -> AsyncIterator[Message]:
            async for item in stream.events():
                yield item.message

        await consume(runtime, messages(), handle, lambda: bool(app.should_stop))

    return match
