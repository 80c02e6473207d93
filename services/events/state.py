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

    def consents_to(self, cvr: str) -> bool:
        return any(c.scope == "all" or c.employer_cvr == cvr for c in self.consents.values())


OrderStatus = Literal["open", "closed_filled", "closed_withdrawn", "closed_expired"]


class OrderState(BaseModel):
    order_version: int = 0
    order: JobOrder | None = None
    status: OrderStatus = "open"
    started: int = 0


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
