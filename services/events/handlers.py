"""Command handlers: reserve a version, build the event, append it, report where it went."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel

from schemas.envelope import Actor, Event, EventPayload
from services.events import commands
from services.events.publisher import EventPublisher, Position
from services.events.versions import AggregateVersions


class Accepted(BaseModel):
    """The answer to an accepted command: the event and its place in the log."""

    event_id: uuid.UUID
    event_type: str
    aggregate_id: str
    version: int
    position: Position


@dataclass(frozen=True)
class Meta:
    actor: Actor
    correlation_id: uuid.UUID | None = None


@dataclass
class Handlers:
    publisher: EventPublisher
    versions: AggregateVersions

    async def _append(
        self,
        kind: str,
        aggregate_id: str,
        make: Callable[[int], EventPayload],
        meta: Meta,
        municipality_code: str | None,
    ) -> Accepted:
        version = await self.versions.reserve(kind, aggregate_id)
        event = Event.new(
            make(version),
            actor=meta.actor,
            occurred_at=datetime.now(UTC),
            correlation_id=meta.correlation_id,
            municipality_code=municipality_code,
        )
        try:
            position = await self.publisher.publish(event)
        except BaseException:
            await self.versions.release(kind, aggregate_id, version)
            raise
        return Accepted(
            event_id=event.event_id,
            event_type=event.event_type,
            aggregate_id=aggregate_id,
            version=version,
            position=position,
        )

    async def submit_competence_card(
        self, cmd: commands.SubmitCompetenceCard, meta: Meta
    ) -> Accepted:
        card = cmd.card
        return await self._append(
            "citizen",
            card.citizen_id,
            lambda v: commands.card_event(cmd, v),
            meta,
            card.municipality_code,
        )

    async def post_job_order(self, cmd: commands.PostJobOrder, meta: Meta) -> Accepted:
        order = cmd.order
        if await self.versions.claim_first("employer", order.employer.cvr):
            event = Event.new(
                commands.employer_event(cmd),
                actor=meta.actor,
                occurred_at=datetime.now(UTC),
                correlation_id=meta.correlation_id,
                municipality_code=order.municipality_code,
            )
            try:
                await self.publisher.publish(event)
            except BaseException:
                await self.versions.release("employer", order.employer.cvr, 1)
                raise
        return await self._append(
            "job_order",
            order.job_order_id,
            lambda v: commands.job_order_event(cmd, v),
            meta,
            order.municipality_code,
        )
