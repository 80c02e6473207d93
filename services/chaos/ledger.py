"""What the load generator sent and what it was told: the ground truth the log is checked
against."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AckedEvent:
    """One event of a 202 answer and where the events service said it landed."""

    event_id: str
    event_type: str
    topic: str
    partition: int
    offset: int


@dataclass
class CommandRecord:
    seq: int
    phase: str
    name: str
    aggregate: str
    method: str
    path: str
    # The answers the generator's model of the log allows (None: no prediction).
    expect: frozenset[int] | None
    sent_at: float
    # The fault being injected (or recovered from) when the command was sent, if any.
    fault: str | None = None
    status: int | None = None
    error: str | None = None
    detail: str | None = None
    seconds: float = 0.0
    events: tuple[AckedEvent, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.status == 202

    @property
    def answered(self) -> bool:
        return self.status is not None

    @property
    def outcome_unknown(self) -> bool:
        """No answer, or a 5xx: the command may or may not have reached the log."""
        return self.status is None or self.status >= 500

    def describe(self) -> str:
        told = self.status if self.status is not None else f"no answer ({self.error})"
        return f"#{self.seq} {self.name} {self.aggregate}: {told}"


@dataclass
class QueryRecord:
    name: str
    status: int | None
    seconds: float
    fault: str | None = None
    error: str | None = None


def status_class(status: int | None) -> str:
    if status is None:
        return "no answer"
    return f"{status // 100}xx"


@dataclass
class Ledger:
    commands: list[CommandRecord] = field(default_factory=list)
    queries: list[QueryRecord] = field(default_factory=list)

    def next_seq(self) -> int:
        return len(self.commands) + 1

    def add(self, record: CommandRecord) -> CommandRecord:
        self.commands.append(record)
        return record

    def command_classes(self) -> Counter[str]:
        return Counter(status_class(c.status) for c in self.commands)

    def query_classes(self) -> Counter[str]:
        return Counter(status_class(q.status) for q in self.queries)

    def http_500(self) -> list[str]:
        """Internal errors: a service may answer 503/504 (or 429) under faults, never 500."""
        out = [c.describe() for c in self.commands if c.status == 500]
        out += [f"query {q.name}: 500" for q in self.queries if q.status == 500]
        return out
