"""Employer and job order (jobordre) events."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import (
    Cefr,
    ConceptLink,
    Cvr,
    DrivingLicence,
    EscoOccupationUri,
    EscoSkillUri,
    MunicipalityCode,
    PostalCode,
    ResourceId,
    SaneDate,
)
from schemas.envelope import EventPayload
from schemas.topics import EMPLOYERS, JOB_ORDERS

Programme = Literal[
    "IGU", "IO-stilling", "virksomhedspraktik", "løntilskud", "jobpakke", "ordinary"
]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmployerRef(_Doc):
    cvr: Cvr
    name: str = Field(min_length=1, max_length=200)
    contact_role: str | None = Field(default=None, max_length=100)


class Worksite(_Doc):
    postal_code: PostalCode


class RequiredSkill(_Doc):
    label: str = Field(min_length=1, max_length=200)
    esco_skill_uri: EscoSkillUri | None = None
    must: bool = False


class Requirements(_Doc):
    danish_min_cefr: Cefr | None = None
    driving_licences: list[DrivingLicence] = Field(default_factory=list, max_length=20)
    certificates: list[str] = Field(default_factory=list, max_length=50)
    skills: list[RequiredSkill] = Field(default_factory=list, max_length=100)


class JobOrder(_Doc):
    """The jobordre as the API accepts it (see tests/data/job_order_*.json)."""

    job_order_id: ResourceId
    employer: EmployerRef
    municipality_code: MunicipalityCode
    title: str = Field(min_length=1, max_length=200)
    esco_occupation_uri: EscoOccupationUri | None = None
    description: str | None = Field(default=None, max_length=8000)
    programme: Programme
    positions: int = Field(default=1, ge=1, le=500)
    worksite: Worksite
    hours_per_week: float = Field(gt=0, le=60)
    start_date: SaneDate | None = None
    requirements: Requirements = Field(default_factory=Requirements)
    mentor_available: bool = False
    application_deadline: SaneDate | None = None


class EmployerRegistered(EventPayload):
    topic: ClassVar[str] = EMPLOYERS.name
    event_type: ClassVar[str] = "EmployerRegistered"
    cvr: Cvr
    name: str = Field(min_length=1, max_length=200)

    @property
    def aggregate_id(self) -> str:
        return self.cvr


class _JobOrderEvent(EventPayload):
    topic: ClassVar[str] = JOB_ORDERS.name
    job_order_id: ResourceId

    @property
    def aggregate_id(self) -> str:
        return self.job_order_id


class JobOrderPosted(_JobOrderEvent):
    event_type: ClassVar[str] = "JobOrderPosted"
    version: int = Field(ge=1)
    order: JobOrder
    links: list[ConceptLink] = Field(
        default_factory=list, description="ESCO concepts of the title and required skills."
    )


class JobOrderUpdated(_JobOrderEvent):
    event_type: ClassVar[str] = "JobOrderUpdated"
    version: int = Field(ge=2)
    order: JobOrder
    links: list[ConceptLink] = Field(default_factory=list)


class JobOrderClosed(_JobOrderEvent):
    event_type: ClassVar[str] = "JobOrderClosed"
    reason: Literal["filled", "withdrawn", "expired"]
