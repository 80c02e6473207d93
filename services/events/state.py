"""The state each command is checked against, one model per aggregate.

Kept in Redis by the events service (see `store.py`); every command reads the aggregates it
touches, decides, and writes them back only if nobody changed them meanwhile.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from schemas.citizens import CompetenceCard
from schemas.jobs import JobOrder


class Consent(BaseModel):
    scope: Literal["employer", "all"]
    employer_cvr: str | None = None


class CitizenState(BaseModel):
    card_version: int = 0
    card: CompetenceCard | None = None
    consents: dict[str, Consent] = Field(default_factory=dict)
    available: bool = True
    erased: bool = False
    # Her placements: placement id -> "active" or "ended".
    placements: dict[str, str] = Field(default_factory=dict)

    @property
    def active_placements(self) -> list[str]:
        return sorted(pid for pid, status in self.placements.items() if status == "active")

    def consents_to(self, cvr: str) -> bool:
        return any(c.scope == "all" or c.employer_cvr == cvr for c in self.consents.values())


OrderStatus = Literal["open", "closed_filled", "closed_withdrawn", "closed_expired"]


class OrderState(BaseModel):
    order_version: int = 0
    order: JobOrder | None = None
    status: OrderStatus = "open"
    started: int = 0
    # Filled by its placements, but the JobOrderClosed that says so is not in the log.
    closure_pending: bool = False


class SuggestionState(BaseModel):
    """What the matching service suggested (projected from the placements topic)."""

    job_order_id: str
    citizen_id: str
    score: float
    retracted: str | None = None
    # The order's municipality, which the review and placement events about it carry too.
    municipality_code: str | None = None


ReviewStatus = Literal[
    "suggested", "accepted", "rejected", "presented", "interview", "hired", "declined", "placed"
]


class ReviewState(BaseModel):
    """The consultant's and the employer's decisions on one suggestion."""

    status: ReviewStatus = "suggested"
    placement_id: str | None = None


class PlacementState(BaseModel):
    suggestion_id: str | None
    job_order_id: str
    citizen_id: str
    placement_type: str
    start_date: dt.date
    status: Literal["active", "ended"] = "active"
    outcome: str | None = None
    municipality_code: str | None = None


# -- assembled from the projection's hashes (see projection.py) --------------------------------

Hash = dict[str, str]


def citizen_from(main: Hash, consents: Hash, placements: Hash | None = None) -> CitizenState | None:
    if not main:
        return None
    card = main.get("card")
    return CitizenState(
        card_version=int(main.get("card_version") or 0),
        card=CompetenceCard.model_validate_json(card) if card else None,
        consents={k: Consent.model_validate_json(v) for k, v in consents.items()},
        available=main.get("available", "1") == "1",
        erased=main.get("erased") == "1",
        placements=dict(placements or {}),
    )


def order_from(main: Hash, started: Hash) -> OrderState | None:
    if not main or not main.get("order"):
        return None
    order = JobOrder.model_validate_json(main["order"])
    status = main.get("status") or "open"
    # The order is full once its placements take every position, whether or not the
    # JobOrderClosed that says so is in the log yet.
    pending = status == "open" and len(started) >= order.positions
    return OrderState(
        order_version=int(main.get("order_version") or 0),
        order=order,
        status="closed_filled" if pending else status,  # type: ignore[arg-type]
        started=len(started),
        closure_pending=pending,
    )


def review_from(main: Hash) -> ReviewState | None:
    if not main:
        return None
    return ReviewState(
        status=main.get("status") or "suggested",  # type: ignore[arg-type]
        placement_id=main.get("placement_id") or None,
    )


def placement_from(main: Hash) -> PlacementState | None:
    if not main or not main.get("job_order_id"):
        return None
    return PlacementState(
        suggestion_id=main.get("suggestion_id") or None,
        job_order_id=main["job_order_id"],
        citizen_id=main["citizen_id"],
        placement_type=main["placement_type"],
        start_date=dt.date.fromisoformat(main["start_date"]),
        status=main.get("status") or "active",  # type: ignore[arg-type]
        outcome=main.get("outcome") or None,
        municipality_code=main.get("municipality_code") or None,
    )


class EmployerState(BaseModel):
    """The employer aggregate only records that it exists."""

    registered: bool = True


def employer_from(main: Hash) -> EmployerState | None:
    return EmployerState() if main.get("registered") == "1" else None


def suggestion_from(main: Hash) -> SuggestionState | None:
    if not main:
        return None
    return SuggestionState(
        job_order_id=main["job_order_id"],
        citizen_id=main["citizen_id"],
        score=float(main.get("score") or 0),
        retracted=main.get("retracted") or None,
        municipality_code=main.get("municipality_code") or None,
    )
