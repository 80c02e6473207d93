"""Training examples from the log's own outcomes.

Every suggestion whose fate is known becomes one example: the card and the order as they
were when it was suggested, and a label. Good (1): the employer hired and the placement did
not end in a negative drop-out. Poor (0): the consultant rejected it, the employer declined,
or the placement ended in a negative drop-out. Suggestions still under way are left out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.citizens import CompetenceCard, CompetenceCardRegistered, CompetenceCardUpdated
from schemas.envelope import Event
from schemas.jobs import JobOrder, JobOrderPosted, JobOrderUpdated
from schemas.placements import (
    EmployerDecisionRecorded,
    PlacementEnded,
    PlacementStarted,
    PlacementSuggested,
    SuggestionRejected,
)


@dataclass
class Example:
    suggestion_id: str
    citizen_id: str
    job_order_id: str
    card: CompetenceCard
    order: JobOrder
    suggested_at: dt.datetime
    label: int | None = None


@dataclass
class Dataset:
    examples: list[Example] = field(default_factory=list)

    @property
    def labelled(self) -> list[Example]:
        return sorted(
            (e for e in self.examples if e.label is not None), key=lambda e: e.suggested_at
        )

    def window(self) -> tuple[str, str] | None:
        done = self.labelled
        if not done:
            return None
        return done[0].suggested_at.isoformat(), done[-1].suggested_at.isoformat()


def from_events(events: Iterable[Event]) -> Dataset:
    cards: dict[str, CompetenceCard] = {}
    orders: dict[str, JobOrder] = {}
    by_suggestion: dict[str, Example] = {}
    placements: dict[str, str] = {}
    for event in events:
        p = event.payload
        if isinstance(p, CompetenceCardRegistered | CompetenceCardUpdated):
            cards[p.citizen_id] = p.card
        elif isinstance(p, JobOrderPosted | JobOrderUpdated):
            orders[p.job_order_id] = p.order
        elif isinstance(p, PlacementSuggested):
            card, order = cards.get(p.citizen_id), orders.get(p.job_order_id)
            if card is not None and order is not None and p.suggestion_id not in by_suggestion:
                by_suggestion[p.suggestion_id] = Example(
                    p.suggestion_id, p.citizen_id, p.job_order_id, card, order, event.occurred_at
                )
        elif isinstance(p, SuggestionRejected):
            _label(by_suggestion, p.suggestion_id, 0)
        elif isinstance(p, EmployerDecisionRecorded):
            if p.decision == "hired":
                _label(by_suggestion, p.suggestion_id, 1)
            elif p.decision == "declined":
                _label(by_suggestion, p.suggestion_id, 0)
        elif isinstance(p, PlacementStarted):
            if p.suggestion_id:
                placements[p.placement_id] = p.suggestion_id
                _label(by_suggestion, p.suggestion_id, 1)
        elif isinstance(p, PlacementEnded) and p.outcome == "negative_drop_out":
            sid = placements.get(p.placement_id)
            if sid:
                _label(by_suggestion, sid, 0)
    return Dataset(list(by_suggestion.values()))


def _label(examples: dict[str, Example], suggestion_id: str, label: int) -> None:
    example = examples.get(suggestion_id)
    if example is not None:
        example.label = label
