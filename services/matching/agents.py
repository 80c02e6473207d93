"""The agent: decode each input event, apply it to the state, publish the decisions.

Thin by design: the decisions are made in `domain.state`; this only moves bytes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from schemas.registry import REGISTRY
from schemas.topics import CITIZENS, DEAD_LETTER, JOB_ORDERS, PLACEMENTS
from services.common.deadletter import dead_letter_headers
from services.matching.decisions import to_event
from services.matching.domain.state import MatchingState

log = logging.getLogger(__name__)
# Placements too: a consultant's rejection keeps that pair from being suggested again.
INPUTS = (CITIZENS, JOB_ORDERS, PLACEMENTS)


def register_agents(app: faust.App, state: MatchingState, ready: asyncio.Event) -> Any:
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    inputs = app.topic(*(t.name for t in INPUTS), **raw)
    placements = app.topic(PLACEMENTS.name, **raw)
    dead_letter = app.topic(DEAD_LETTER.name, **raw)

    @app.agent(inputs, name="match")
    async def match(stream: faust.StreamT[bytes]) -> None:
        await ready.wait()
        async for item in stream.events():
            msg = item.message
            try:
                event = REGISTRY.decode(msg.value or b"")
                outputs = [
                    to_event(d, event, state.scorer.model_version) for d in state.apply(event)
                ]
            except Exception as exc:
                # A record we cannot read or apply is parked, not retried forever.
                log.warning(
                    "dead-lettered",
                    extra={"topic": msg.topic, "offset": msg.offset, "reason": str(exc)[:200]},
                )
                await dead_letter_send(msg, exc)
                continue
            pending = [
                await placements.send(
                    key=out.aggregate_id.encode(), value=out.to_json(), headers=out.headers()
                )
                for out in outputs
            ]
            # Wait for the broker before the offset of the input may be committed.
            for fut in pending:
                await fut

    async def dead_letter_send(msg: Any, exc: Exception) -> None:
        fut = await dead_letter.send(
            key=msg.key,
            value=msg.value,
            headers=dead_letter_headers(
                source_topic=msg.topic,
                partition=msg.partition,
                offset=msg.offset,
                consumer="matching",
                reason=f"{type(exc).__name__}: {exc}",
            ),
        )
        await fut

    return match
