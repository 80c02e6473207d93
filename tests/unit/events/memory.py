"""In-memory adapters of the events service, for unit tests of its handlers.

`MemoryAggregates` keeps the projection's hashes and sorted sets in dicts and follows the
same rules as the Redis store (claims, versions, settle); `MemoryLog` is the log: it appends
each event with a position and can fail on a chosen append, like a broker that goes away.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from schemas.envelope import Event
from services.events import projection
from services.events.commands import Key
from services.events.publisher import Floor, Position
from services.events.state import SuggestionState, suggestion_from
from services.events.store import UNCHECKED, Claimed, Loaded, _reads, assemble, main_key
from services.projection.writes import Delete, HashDelete, HashSet, HashUpdate, Write, ZAdd


@dataclass
class MemoryAggregates:
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)
    zsets: dict[str, dict[str, float]] = field(default_factory=dict)
    claims: dict[Key, str] = field(default_factory=dict)

    def apply(self, writes: Iterable[Write]) -> None:
        for w in writes:
            if isinstance(w, HashSet):
                self.hashes.setdefault(w.key, {})[w.field] = w.value
            elif isinstance(w, HashUpdate):
                self.hashes.setdefault(w.key, {}).update(dict(w.fields))
            elif isinstance(w, HashDelete):
                self.hashes.get(w.key, {}).pop(w.field, None)
            elif isinstance(w, ZAdd):
                self.zsets.setdefault(w.key, {})[w.member] = w.score
            elif isinstance(w, Delete):
                self.hashes.pop(w.key, None)
                self.zsets.pop(w.key, None)
            else:
                self.zsets.get(w.key, {}).pop(w.member, None)

    def replay(self, events: Iterable[Event]) -> None:
        for event in events:
            self.apply(projection.project(event))

    def _version(self, key: Key) -> str:
        return self.hashes.get(main_key(key), {}).get("v", "")

    async def load(self, aggregates: Sequence[Key]) -> dict[Key, Loaded]:
        return {
            k: assemble(k, [dict(self.hashes.get(name, {})) for name in _reads(k)])
            for k in aggregates
        }

    async def suggestion(self, suggestion_id: str) -> SuggestionState | None:
        return suggestion_from(self.hashes.get(projection.suggestion(suggestion_id), {}))

    async def claim(self, expected: Mapping[Key, str], token: str) -> Claimed:
        for key, version in expected.items():
            if key in self.claims:
                return Claimed.BUSY
            if version != UNCHECKED and self._version(key) != version:
                return Claimed.MOVED
        self.claims.update(dict.fromkeys(expected, token))
        return Claimed.OK

    async def settle(
        self, expected: Mapping[Key, str], token: str, events: Sequence[str], writes: list[Write]
    ) -> bool:
        current = all(
            self.claims.get(k) == token
            and (v == UNCHECKED or self._version(k) == v or self._version(k) in events)
            for k, v in expected.items()
        )
        if current:
            self.apply(writes)
        for key in expected:
            if self.claims.get(key) == token:
                del self.claims[key]
        return current

    async def due(self, last_day: int) -> list[str]:
        deadlines = self.zsets.get(projection.DEADLINES, {})
        return sorted(m for m, day in deadlines.items() if day <= last_day)

    async def filling(self, before: float) -> list[str]:
        filling = self.zsets.get(projection.FILLING, {})
        return sorted(m for m, at in filling.items() if at <= before)


@dataclass
class MemoryLog:
    events: list[Event] = field(default_factory=list)
    # Fail the append with this (0-based) number among all appends, once.
    fail_at: int | None = None
    appends: int = 0

    async def publish(self, event: Event) -> Position:
        number = self.appends
        self.appends += 1
        if number == self.fail_at:
            raise ConnectionError("the broker went away")
        self.events.append(event)
        return Position(topic=event.topic, partition=0, offset=len(self.events) - 1)

    def follow(self, floor: Floor) -> None:
        """Every append here has a known outcome."""
