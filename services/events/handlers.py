"""Command handlers: load the aggregates, decide (pure), claim, append, settle.

The aggregates come from the projection of the log (`projection.py`), so what a command is
decided on is what a replay of the log gives. A command claims the aggregates its events
change at the versions it read them at (a concurrent change: 409), appends its events one
record each, in order, with acks=all, then writes their effect on the states and lets go
(`store.py`). A command appends one event, or two where the second records a consequence of
the first that the states already draw from it (an order's last placement fills the order;
an unseen CVR's first order registers the employer): a crash between the two leaves a log
that a replay and the sweeper complete, and never an event without its cause.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field

from schemas.envelope import Actor, Event
from services.events.commands import Decision, Key
from services.events.errors import Conflict, Unavailable
from services.events.projection import project
from services.events.publisher import Floor, Position
from services.events.state import SuggestionState
from services.events.store import UNCHECKED, Claimed, Loaded
from services.projection.writes import Write


class Publisher(Protocol):
    async def publish(self, event: Event) -> Position: ...

    def follow(self, floor: Floor) -> None:
        """Where in each partition to look for an append whose outcome is unknown."""


class Aggregates(Protocol):
    """The states commands are decided on (Redis in the service, a dict in unit tests)."""

    async def load(self, aggregates: Sequence[Key]) -> dict[Key, Loaded]: ...

    async def suggestion(self, suggestion_id: str) -> SuggestionState | None: ...

    async def claim(self, expected: Mapping[Key, str], token: str) -> Claimed: ...

    async def settle(
        self, expected: Mapping[Key, str], token: str, events: Sequence[str], writes: list[Write]
    ) -> bool: ...

    async def due(self, last_day: int) -> list[str]: ...

    async def filling(self, before: float) -> list[str]: ...


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
    """The loaded aggregates of one command."""

    def __init__(self, loaded: dict[Key, Loaded]) -> None:
        self.loaded = loaded

    def get(self, key: Key) -> Any:
        return self.loaded[key].state


def _always_live() -> bool:
    return True


@dataclass
class Handlers:
    publisher: Publisher
    store: Aggregates
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    # Whether the states are caught up with the log (the projector's `live`).
    live: Callable[[], bool] = _always_live

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
        if not self.live():
            raise Unavailable("the service is catching up with the log; try again shortly")
        loaded = await self.store.load(list(keys))
        decision = decide(States(loaded))
        municipality_code = municipality_code or decision.municipality_code
        expected = {k: loaded[k].version if k in loaded else UNCHECKED for k in decision.touches}
        token = uuid.uuid4().hex
        claimed = await self.store.claim(expected, token)
        if claimed is Claimed.BUSY:
            raise Conflict("another command on this record is under way; try again")
        if claimed is Claimed.MOVED:
            raise Conflict("another command changed this record at the same time; try again")
        if claimed is Claimed.WIPED:
            raise Unavailable("the service is reading the log again; try again shortly")
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
        finally:
            # The effect of what was appended (nothing, part, all); the claims go either way.
            done = events[: len(appended)]
            writes = [w for event in done for w in project(event)]
            await self.store.settle(expected, token, [str(e.event_id) for e in done], writes)
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
