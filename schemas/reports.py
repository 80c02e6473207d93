"""Reports for administrators: how the model scored on held-out outcomes, and fairness."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.envelope import EventPayload
from schemas.topics import REPORTS


class ScorerMetrics(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    auc: float | None
    ndcg_at_10: float | None = Field(alias="ndcg@10")
    precision_at_10: float | None = Field(alias="precision@10")


class _Report(EventPayload):
    topic: ClassVar[str] = REPORTS.name
    report_id: str = Field(min_length=3, max_length=80)

    @property
    def aggregate_id(self) -> str:
        return self.report_id


class ModelEvaluated(_Report):
    """A time-based hold-out evaluation: the model beside the rule score and a text baseline."""

    event_type: ClassVar[str] = "ModelEvaluated"
    model_version: str | None = None
    training_data: Literal["synthetic", "log"]
    train_from: str
    train_to: str
    test_from: str
    test_to: str
    test_pairs: int = Field(ge=0)
    scorers: dict[str, ScorerMetrics]
    calibration: dict[str, float] = Field(
        default_factory=dict, description="Brier score and expected calibration error."
    )


class GroupRate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str
    eligible: int = Field(ge=0)
    selected: int = Field(ge=0)
    rate: float = Field(ge=0, le=1)
    ratio_to_highest: float = Field(ge=0)
    below_four_fifths: bool


class FairnessReported(_Report):
    """Selection rates per monitored group relative to the eligible pool (four-fifths rule).

    The monitoring attributes are optional, consent-based and never model features; only
    citizens who consented to monitoring are counted.
    """

    event_type: ClassVar[str] = "FairnessReported"
    model_version: str | None = None
    attribute: Literal["gender", "origin_group"]
    stage: Literal["suggested", "presented", "hired"]
    consented: int = Field(ge=0)
    groups: list[GroupRate]
    flagged: bool


class ModelActivated(_Report):
    """The matching service scores with `model_version` from this point in the log on.

    Appended by the matching worker when the newest approved version of the model registry
    differs from the one it scores with (an approval, at `POST /v1/models/{v}/approve` or
    `jobmatch model approve`); the worker switches when it reads the event back and ranks
    every open order again. A replay switches at the same record, so the state stays a
    function of the log. `report_id` is `model-<version>`.
    """

    event_type: ClassVar[str] = "ModelActivated"
    model_version: str = Field(min_length=1, max_length=100)
    previous_version: str | None = Field(default=None, max_length=100)
    kind: Literal["logistic", "rules"] = "logistic"
    training_data: Literal["synthetic", "log"] | None = None
    approved_by: str | None = Field(default=None, max_length=200)
    approved_at: str | None = Field(default=None, max_length=40)
