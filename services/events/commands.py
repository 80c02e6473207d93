"""Commands (imperative) and the pure rules that turn them into events (past tense)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.citizens import CompetenceCard, CompetenceCardRegistered, CompetenceCardUpdated
from schemas.envelope import EventPayload
from schemas.jobs import EmployerRegistered, JobOrder, JobOrderPosted, JobOrderUpdated


@dataclass(frozen=True)
class SubmitCompetenceCard:
    card: CompetenceCard


@dataclass(frozen=True)
class PostJobOrder:
    order: JobOrder


def card_event(cmd: SubmitCompetenceCard, version: int) -> EventPayload:
    """The first card of a citizen registers it; later ones update it."""
    if version == 1:
        return CompetenceCardRegistered(citizen_id=cmd.card.citizen_id, version=1, card=cmd.card)
    return CompetenceCardUpdated(citizen_id=cmd.card.citizen_id, version=version, card=cmd.card)


def job_order_event(cmd: PostJobOrder, version: int) -> EventPayload:
    order = cmd.order
    if version == 1:
        return JobOrderPosted(job_order_id=order.job_order_id, version=1, order=order)
    return JobOrderUpdated(job_order_id=order.job_order_id, version=version, order=order)


def employer_event(cmd: PostJobOrder) -> EmployerRegistered:
    return EmployerRegistered(cvr=cmd.order.employer.cvr, name=cmd.order.employer.name)
