"""Citizen events: the competence card (kompetencekort) and what changes about the citizen."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.common import (
    Cefr,
    ConceptLink,
    Cvr,
    DrivingLicence,
    EscoOccupationUri,
    EscoSkillUri,
    MunicipalityCode,
    PostalCode,
    PseudonymousId,
    SaneDate,
)
from schemas.envelope import EventPayload
from schemas.topics import CITIZENS


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProgrammeStatus(_Doc):
    """What programme gates need: the birth year is used for eligibility only, never scoring."""

    target_group: Literal[
        "integration", "cash_benefit", "unemployment_benefit", "youth", "other"
    ] = "integration"
    residence_basis: (
        Literal["refugee", "family_reunified", "eu", "work", "danish", "other"] | None
    ) = None
    arrival_date: SaneDate | None = None
    birth_year: int | None = Field(default=None, ge=1940, le=2015)

    @model_validator(mode="after")
    def _arrived_after_birth(self) -> ProgrammeStatus:
        if self.arrival_date and self.birth_year and self.arrival_date.year < self.birth_year:
            raise ValueError("arrival_date lies before the birth year")
        return self


class DanishLevel(_Doc):
    course: Literal["DU1", "DU2", "DU3"] | None = None
    module: int | None = Field(default=None, ge=1, le=6)
    cefr: Cefr | None = None


class Experience(_Doc):
    title: str = Field(min_length=1, max_length=200)
    esco_occupation_uri: EscoOccupationUri | None = None
    years: float = Field(ge=0, le=60)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")


class SkillClaim(_Doc):
    label: str = Field(min_length=1, max_length=200)
    esco_skill_uri: EscoSkillUri | None = None


class Education(_Doc):
    isced_level: int | None = Field(default=None, ge=0, le=8)


class Availability(_Doc):
    hours_per_week: float = Field(gt=0, le=60)
    available_from: SaneDate | None = None


class Location(_Doc):
    postal_code: PostalCode
    max_commute_km: float = Field(default=25, ge=0, le=300)


class JobWish(_Doc):
    title: str = Field(min_length=1, max_length=200)
    esco_occupation_uri: EscoOccupationUri | None = None


class CompetenceCard(_Doc):
    """The kompetencekort as the API accepts it (see tests/data/competence_card_*.json)."""

    citizen_id: PseudonymousId
    municipality_code: MunicipalityCode
    programme: ProgrammeStatus = Field(default_factory=ProgrammeStatus)
    danish: DanishLevel = Field(default_factory=DanishLevel)
    experience: list[Experience] = Field(default_factory=list, max_length=50)
    skills: list[SkillClaim] = Field(default_factory=list, max_length=200)
    education: Education = Field(default_factory=Education)
    driving_licences: list[DrivingLicence] = Field(default_factory=list, max_length=20)
    certificates: list[str] = Field(default_factory=list, max_length=50)
    availability: Availability
    location: Location
    job_wishes: list[JobWish] = Field(default_factory=list, max_length=20)
    notes: str | None = Field(default=None, max_length=4000)


class _CitizenEvent(EventPayload):
    topic: ClassVar[str] = CITIZENS.name
    citizen_id: PseudonymousId

    @property
    def aggregate_id(self) -> str:
        return self.citizen_id


class ProgrammeEligibility(BaseModel):
    """Whether the citizen may enter a programme, and why (reason codes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    programme: str
    eligible: bool
    reasons: list[str]
    assessed_for: dt.date = Field(description="The start date the gates were checked for.")


# The card, the ESCO links of its texts and the programme gates drawn from it (age,
# residence): all about the person.
_CARD_FIELDS = ("card", "links", "eligibility")


class CompetenceCardRegistered(_CitizenEvent):
    event_type: ClassVar[str] = "CompetenceCardRegistered"
    personal_fields: ClassVar[tuple[str, ...]] = _CARD_FIELDS
    version: int = Field(ge=1, description="Card version after this event (1 here).")
    card: CompetenceCard
    links: list[ConceptLink] = Field(
        default_factory=list, description="ESCO concepts of the card's titles and skills."
    )
    eligibility: list[ProgrammeEligibility] = Field(default_factory=list)


class CompetenceCardUpdated(_CitizenEvent):
    event_type: ClassVar[str] = "CompetenceCardUpdated"
    personal_fields: ClassVar[tuple[str, ...]] = _CARD_FIELDS
    version: int = Field(ge=2, description="Card version after this event.")
    card: CompetenceCard
    links: list[ConceptLink] = Field(default_factory=list)
    eligibility: list[ProgrammeEligibility] = Field(default_factory=list)


class CitizenAvailabilityChanged(_CitizenEvent):
    event_type: ClassVar[str] = "CitizenAvailabilityChanged"
    personal_fields: ClassVar[tuple[str, ...]] = ("available_from", "hours_per_week", "reason")
    available: bool
    available_from: SaneDate | None = None
    hours_per_week: float | None = Field(default=None, gt=0, le=60)
    reason: str | None = Field(default=None, max_length=500)


SharedField = Literal[
    "skills",
    "experience",
    "danish",
    "education",
    "driving_licences",
    "certificates",
    "availability",
    "job_wishes",
    "postal_code",
]
# What an employer sees of a presented candidate when the consent names no fields: the
# professional profile, nothing about where the citizen lives or what they wish for.
DEFAULT_SHARED_FIELDS: tuple[SharedField, ...] = (
    "skills",
    "experience",
    "danish",
    "education",
    "driving_licences",
    "certificates",
)


class ConsentGiven(_CitizenEvent):
    event_type: ClassVar[str] = "ConsentGiven"
    consent_id: str = Field(min_length=1, max_length=64)
    scope: Literal["employer", "all"]
    employer_cvr: Cvr | None = None
    shared_fields: list[SharedField] | None = Field(
        default=None,
        description="Card fields the employer may see of the candidate; none given: "
        "the professional profile (skills, experience, Danish, education, driving licences, "
        "certificates).",
    )


class ConsentWithdrawn(_CitizenEvent):
    event_type: ClassVar[str] = "ConsentWithdrawn"
    consent_id: str = Field(min_length=1, max_length=64)
    scope: Literal["employer", "all"]
    employer_cvr: Cvr | None = None


class ErasureRequested(_CitizenEvent):
    event_type: ClassVar[str] = "ErasureRequested"
    personal_fields: ClassVar[tuple[str, ...]] = ("reason",)
    reason: str | None = Field(default=None, max_length=500)


class CitizenErased(_CitizenEvent):
    """The citizen's personal data is erased: delete what you hold about them.

    Appended after the citizen's data key was deleted (crypto-shredding, GDPR art. 17): the
    personal fields of every earlier event about the citizen can no longer be opened by
    anyone. A consumer must, on receiving it: delete every copy it made of the citizen's
    personal data (card content, free texts, suggestion reasons; in stores, caches, search
    indexes, files and backups it controls, backups as they rotate), stop processing the
    citizen, and not ask for the data again. It may keep the pseudonymous `citizen_id` and
    anonymous counts. Events about the citizen read afterwards (a replay) carry no personal
    fields. Idempotent: the same citizen may be announced more than once."""

    event_type: ClassVar[str] = "CitizenErased"
