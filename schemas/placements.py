"""Suggested matches and the review and placement lifecycle that follows them.

All of these are keyed by job order id, so the history of one order's matches stays ordered.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Cvr, PseudonymousId, ResourceId
from schemas.envelope import EventPayload
from schemas.topics import PLACEMENTS

PlacementType = Literal["virksomhedspraktik", "IGU", "IO-stilling", "løntilskud", "ordinary"]


class Reason(BaseModel):
    """One factor behind a score, in plain Danish and English, with its signed contribution."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    text_da: str
    text_en: str
    contribution: float


class AppliedEligibility(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    programme: str
    eligible: bool
    reasons: list[str]


class _PlacementEvent(EventPayload):
    topic: ClassVar[str] = PLACEMENTS.name
    job_order_id: ResourceId
    citizen_id: PseudonymousId

    @property
    def aggregate_id(self) -> str:
        return self.job_order_id


class PlacementSuggested(_PlacementEvent):
    """Version 2: score is a 0-1 value and the scoring model is named (v1 had 0-100, no model)."""

    event_type: ClassVar[str] = "PlacementSuggested"
    schema_version: ClassVar[int] = 2
    suggestion_id: str
    score: float = Field(ge=0, le=1)
    rank: int = Field(ge=1)
    model_version: str
    card_version: str
    order_version: str
    reasons: list[Reason] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    eligibility: AppliedEligibility | None = Field(
        default=None, description="The programme gate that applied to this order."
    )
    # What a consultant's worklist filters on, copied from the order when suggested.
    programme: str | None = None
    occupation_uri: str | None = None
    title: str | None = None
    worksite_postal_code: str | None = None


class SuggestionRetracted(_PlacementEvent):
    event_type: ClassVar[str] = "SuggestionRetracted"
    suggestion_id: str
    reason: Literal[
        "outranked",
        "no_longer_eligible",
        "order_closed",
        "citizen_unavailable",
        "consent_withdrawn",
        "erased",
    ]


class SuggestionAccepted(_PlacementEvent):
    event_type: ClassVar[str] = "SuggestionAccepted"
    suggestion_id: str


class SuggestionRejected(_PlacementEvent):
    event_type: ClassVar[str] = "SuggestionRejected"
    suggestion_id: str
    reason_code: Literal[
        "danish_level", "transport", "health", "citizen_declines", "employer_mismatch", "other"
    ]
    reason_text: str | None = Field(default=None, max_length=1000)


class CandidatePresented(_PlacementEvent):
    event_type: ClassVar[str] = "CandidatePresented"
    suggestion_id: str
    employer_cvr: Cvr


class EmployerDecisionRecorded(_PlacementEvent):
    event_type: ClassVar[str] = "EmployerDecisionRecorded"
    suggestion_id: str
    decision: Literal["interview", "hired", "declined"]
    reason: str | None = Field(default=None, max_length=1000)


class PlacementStarted(_PlacementEvent):
    event_type: ClassVar[str] = "PlacementStarted"
    placement_id: str
    suggestion_id: str | None = None
    placement_type: PlacementType
    start_date: dt.date
    end_date: dt.date | None = None
    weekly_hours_work: float = Field(ge=0, le=60)
    weekly_hours_school: float = Field(default=0, ge=0, le=60)


class FollowUpRecorded(_PlacementEvent):
    event_type: ClassVar[str] = "FollowUpRecorded"
    placement_id: str
    date: dt.date
    status: Literal["on_track", "at_risk", "needs_action"]
    note: str | None = Field(default=None, max_length=4000)


class PlacementEnded(_PlacementEvent):
    event_type: ClassVar[str] = "PlacementEnded"
    placement_id: str
    end_date: dt.date
    outcome: Literal["ordinary_job", "education", "positive_drop_out", "negative_drop_out"]
