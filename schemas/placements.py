"""Suggested matches and the review and placement lifecycle that follows them.

All of these are keyed by job order id, so the history of one order's matches stays ordered.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

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
    # Drawn from the card: the reasons quote it, `missing` and the gate's reasons too.
    personal_fields: ClassVar[tuple[str, ...]] = ("reasons", "missing", "eligibility")
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


RetractionReason = Literal[
    "outranked",
    "no_longer_eligible",
    "order_closed",
    "citizen_unavailable",
    "consent_withdrawn",
    "erased",
    # v2:
    "rejected",
    "not_held_on_restart",
    # v3:
    "placed",
]

# Each retraction reason in plain Danish and English (exported with the schema as
# `x-labels`): what a consultant's screen or a downstream consumer shows for the code.
RETRACTION_REASON_LABELS: dict[str, dict[str, str]] = {
    "outranked": {
        "da": "Andre borgere passer nu bedre til jobordren",
        "en": "Other citizens now fit the job order better",
    },
    "no_longer_eligible": {
        "da": "Borgeren opfylder ikke længere jobordrens krav",
        "en": "The citizen no longer meets the job order's requirements",
    },
    "order_closed": {
        "da": "Jobordren er lukket",
        "en": "The job order is closed",
    },
    "citizen_unavailable": {
        "da": "Borgeren er ikke til rådighed",
        "en": "The citizen is not available",
    },
    "consent_withdrawn": {
        "da": "Borgeren har trukket sit samtykke tilbage",
        "en": "The citizen withdrew their consent",
    },
    "erased": {
        "da": "Borgerens oplysninger er slettet",
        "en": "The citizen's data was erased",
    },
    "rejected": {
        "da": "En jobkonsulent har afvist matchet",
        "en": "A job consultant rejected the match",
    },
    "not_held_on_restart": {
        "da": "Matchningen har ikke længere forslaget efter en genstart",
        "en": "Matching no longer holds the suggestion after a restart",
    },
    "placed": {
        "da": "Borgeren er startet i et forløb og er ikke til rådighed, før det slutter",
        "en": "The citizen has started a placement and is unavailable until it ends",
    },
}

_LABELS_JSON: JsonDict = {
    code: {"da": labels["da"], "en": labels["en"]}
    for code, labels in RETRACTION_REASON_LABELS.items()
}


class SuggestionRetracted(_PlacementEvent):
    """Matching withdrew a suggestion. Version 2 adds reasons `rejected`, `not_held_on_restart`;
    version 3 adds `placed`.

    `rejected`: a consultant rejected the pair, and matching withdraws a suggestion of it
    that it sent before it read the rejection. `not_held_on_restart`: matching's start-up
    reconciliation withdraws a suggestion that its state, rebuilt from the log, does not
    hold. `placed`: the citizen started a placement (`PlacementStarted`) and is not
    suggested anywhere until it ends (`PlacementEnded`). A v1 or v2 record is read as v3
    unchanged (`upcast_suggestion_retracted_v1_v2`, `upcast_suggestion_retracted_v2_v3`)."""

    event_type: ClassVar[str] = "SuggestionRetracted"
    schema_version: ClassVar[int] = 3
    suggestion_id: str
    reason: RetractionReason = Field(
        description="Why the suggestion was withdrawn; `x-labels` gives each code in Danish "
        "and English.",
        json_schema_extra={"x-labels": _LABELS_JSON},
    )


class SuggestionAccepted(_PlacementEvent):
    event_type: ClassVar[str] = "SuggestionAccepted"
    suggestion_id: str


class SuggestionRejected(_PlacementEvent):
    event_type: ClassVar[str] = "SuggestionRejected"
    # A code such as `health` says something about the person, the text anything.
    personal_fields: ClassVar[tuple[str, ...]] = ("reason_code", "reason_text")
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
    personal_fields: ClassVar[tuple[str, ...]] = ("reason",)
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
    personal_fields: ClassVar[tuple[str, ...]] = ("note",)
    placement_id: str
    date: dt.date
    status: Literal["on_track", "at_risk", "needs_action"]
    note: str | None = Field(default=None, max_length=4000)


class PlacementEnded(_PlacementEvent):
    event_type: ClassVar[str] = "PlacementEnded"
    placement_id: str
    end_date: dt.date
    outcome: Literal["ordinary_job", "education", "positive_drop_out", "negative_drop_out"]
