"""The envelope every event travels in, and the base class of every payload."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    field_validator,
)

from schemas import sealing
from schemas.common import Cvr, MunicipalityCode
from schemas.sealing import KeyRing

ActorRole = Literal["consultant", "employer", "citizen", "system", "administrator"]

# Kafka header names: consumers can route or skip records without parsing the JSON body.
HEADER_EVENT_TYPE = "event_type"
HEADER_SCHEMA_VERSION = "schema_version"
HEADER_EVENT_ID = "event_id"
HEADER_CONTENT_TYPE = "content-type"


class Actor(BaseModel):
    """Who caused the event: a person acting in a role, or a system component.

    For commands, all of it comes from the caller's verified token: the subject as `id`, the
    role, and the tenant the token names (a consultant's municipality, an employer's CVR)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: ActorRole
    id: str = Field(min_length=1, max_length=128)
    municipality_code: MunicipalityCode | None = None
    cvr: Cvr | None = None


SYSTEM_MATCHING = Actor(role="system", id="matching")


class EventPayload(BaseModel):
    """Base of every payload model; subclasses are named in the past tense.

    `event_type` and `schema_version` identify the contract; `topic` names the stream the
    event belongs to (see `schemas.topics`). `aggregate_id` is the Kafka key, so all events
    of one aggregate keep their order.
    """

    model_config = ConfigDict(extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str]
    # The fields that say something about a person: sealed with the citizen's key when the
    # event is written with a key ring (see `schemas.sealing`); the rest stays clear.
    personal_fields: ClassVar[tuple[str, ...]] = ()

    @property
    def aggregate_id(self) -> str:  # pragma: no cover - every subclass overrides
        raise NotImplementedError


class ErasedPayload(EventPayload):
    """An event whose required personal fields could not be read: the citizen's key was
    deleted (erased). Carries the event's clear fields only; `original` is the model it was.
    Consumers treat it as the citizen erased (see `REGISTRY.decode`)."""

    original: ClassVar[type[EventPayload]]

    @property
    def aggregate_id(self) -> str:
        # The original's rule, on the clear fields it reads (ids are never personal fields).
        rule: Any = type(self).original.aggregate_id
        return str(rule.fget(self))


class Event(BaseModel):
    """One immutable fact in the log: the envelope plus its typed payload."""

    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID
    event_type: str
    schema_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    aggregate_id: str = Field(min_length=1)
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = None
    actor: Actor
    municipality_code: MunicipalityCode | None = None
    payload: SerializeAsAny[EventPayload]

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @classmethod
    def new(
        cls,
        payload: EventPayload,
        *,
        actor: Actor,
        occurred_at: datetime,
        event_id: uuid.UUID | None = None,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
        municipality_code: str | None = None,
    ) -> Event:
        """Wrap a payload; pass `event_id` for derived events so replays reproduce it."""
        eid = event_id or uuid.uuid4()
        return cls(
            event_id=eid,
            event_type=payload.event_type,
            schema_version=payload.schema_version,
            occurred_at=occurred_at,
            aggregate_id=payload.aggregate_id,
            correlation_id=correlation_id or eid,
            causation_id=causation_id,
            actor=actor,
            municipality_code=municipality_code,
            payload=payload,
        )

    @property
    def topic(self) -> str:
        return self.payload.topic

    def to_json(self, keys: KeyRing | None = None) -> bytes:
        """The record's value: personal fields sealed with `keys` (writers pass their
        service's ring, `schemas.sealing.installed()`); in plain text without."""
        if keys is None or not type(self.payload).personal_fields:
            return self.model_dump_json().encode()
        return sealing.seal(self, keys)

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            (HEADER_EVENT_TYPE, self.event_type.encode()),
            (HEADER_SCHEMA_VERSION, str(self.schema_version).encode()),
            (HEADER_EVENT_ID, str(self.event_id).encode()),
            (HEADER_CONTENT_TYPE, b"application/json"),
        ]

    def payload_as(self, model: type[Any]) -> Any:
        """The payload narrowed to `model` (raises TypeError when it is another event)."""
        if not isinstance(self.payload, model):
            raise TypeError(f"{self.event_type} is not {model.__name__}")
        return self.payload


def derived_event_id(*parts: object) -> uuid.UUID:
    """A deterministic id for an event derived from other facts, so a re-run yields the same id."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "jobmatch:" + "|".join(str(p) for p in parts))
