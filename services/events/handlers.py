"""Command handlers: load the aggregates, decide (pure), commit the new states, append.

The states are committed first (optimistic concurrency: a concurrent change makes the
commit fail and the command answer 409), then the events are appended with acks=all. If
the append fails the states are put back, so a refused write leaves no trace.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, Field

from schemas.envelope import Actor, Event
from services.events.commands import Decision, Key
from services.events.errors import Conflict
from services.events.publisher import EventPublisher, Position
from services.events.state import CitizenState, OrderState, PlacementState, ReviewState
from services.events.store import AggregateStore

STATE_MODELS: dict[str, type[BaseModel]] = {
    "citizen": CitizenState,
    "order": OrderState,
    "review": ReviewState,
    "placement": PlacementState,
}


class AppendedEvent(BaseModel):
    event_id: uuid.UUID
    event_type: str
    position: Position


class Accepted(BaseModel):
    """The answer to an accepted command: its main event and where it landed in the log."""

    event_id: uuid.UUID
    event_type: str
    aggregate_id: str
    version: int | None = None
    position: Position
    events: list[AppendedEvent]
    read_token: str = Field(
        description="Pass as `min_position` to a query to read this command's effect "
        "(topic:partition:offset of every event, comma-separated)"
    )


@dataclass(frozen=True)
class Meta:
    actor: Actor
    correlation_id: uuid.UUID | None = None


class States:
    """The loaded aggregates of one command, parsed into their models."""

    def __init__(self, loaded: dict[Key, tuple[int, str | None]]) -> None:
        self.loaded = loaded

    def get(self, key: Key) -> Any:
        _, text = self.loaded[key]
        if text is None:
            return None
        model = STATE_MODELS.get(key[0])
        return model.model_validate_json(text) if model else text


@dataclass
class Handlers:
    publisher: EventPublisher
    store: AggregateStore
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def today(self) -> date:
        return self.clock().date()

    async def execute(
        self,
        keys: Sequence[Key],
        decide: Callable[[States], Decision],
        meta: Meta,
        municipality_code: str | None = None,
        primary: int = 0,
    ) -> Accepted:
        loaded = await self.store.load(list(keys))
        decision = decide(States(loaded))
        municipality_code = municipality_code or decision.municipality_code
        for key in decision.changes:
            loaded.setdefault(key, (0, None))
        changes = {k: (loaded[k][0], state) for k, state in decision.changes.items()}
        if not await self.store.commit(changes):
            raise Conflict("another command changed this record at the same time; try again")
        now = self.clock()
        correlation = meta.correlation_id or uuid.uuid4()
        events = [
            Event.new(
                payload,
                actor=meta.actor,
                occurred_at=now,
                correlation_id=correlation,
                municipality_code=municipality_code,
            )
            for payload in decision.events
        ]
        appended: list[AppendedEvent] = []
        try:
            for event in events:
                position = await self.publisher.publish(event)
                appended.append(
                    AppendedEvent(
                        event_id=event.event_id, event_type=event.event_type, position=position
                    )
                )
        except BaseException:
            # Put the states back; only if nothing else moved them on in the meantime.
            await self.store.commit({k: (loaded[k][0] + 1, loaded[k][1]) for k in decision.changes})
            raise
        main = events[primary] if primary >= 0 else events[-1]
        return Accepted(
            event_id=main.event_id,
            event_type=main.event_type,
            aggregate_id=main.aggregate_id,
            version=decision.version,
            position=appended[events.index(main)].position,
            events=appended,
            read_token=",".join(
                f"{a.position.topic}:{a.position.partition}:{a.position.offset}" for a in appended
            ),
        )
