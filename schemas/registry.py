"""(event type, version) -> payload model, and the upcaster chain that reads old versions.

The log is immutable, so an event written as v1 stays v1 on disk. Reading goes through
`REGISTRY.decode`, which lifts the stored payload step by step (`upcast_v1_v2`, ...) to the
current model before validating it. A breaking change is a new version plus an upcaster;
an event type is never renamed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import ValidationError, create_model

from schemas import audit, citizens, jobs, placements, reports, sealing
from schemas.envelope import (
    HEADER_EVENT_TYPE,
    HEADER_SCHEMA_VERSION,
    ErasedPayload,
    Event,
    EventPayload,
)
from schemas.sealing import KeyRing

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UnknownEventError(ValueError):
    """The record names an event type or version this registry cannot read."""


class EventRegistry:
    def __init__(self, models: Iterable[type[EventPayload]]) -> None:
        self._models: dict[str, type[EventPayload]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        self._typed: dict[bytes, tuple[bytes, type[Event]]] = {}
        # Per event type whose required fields are personal: the model and the envelope an
        # erased record (its key deleted) is read as.
        self._erased: dict[str, tuple[type[EventPayload], type[Event]]] = {}
        for model in models:
            if model.event_type in self._models:
                raise ValueError(f"duplicate event type {model.event_type}")
            self._models[model.event_type] = model
            version = str(model.schema_version).encode()
            self._typed[model.event_type.encode()] = (version, _typed_envelope(model))
            if any(model.model_fields[f].is_required() for f in model.personal_fields):
                erased = erased_variant(model)
                self._erased[model.event_type] = (erased, _typed_envelope(erased))

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a function lifting a payload of `from_version` to `from_version + 1`."""

        def register(func: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = func
            return func

        return register

    @property
    def models(self) -> dict[str, type[EventPayload]]:
        return dict(self._models)

    def model(self, event_type: str) -> type[EventPayload]:
        try:
            return self._models[event_type]
        except KeyError:
            raise UnknownEventError(f"unknown event type {event_type!r}") from None

    def upcast(self, event_type: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
        current = self.model(event_type).schema_version
        if version > current:
            raise UnknownEventError(
                f"{event_type} v{version} is newer than this reader (v{current})"
            )
        while version < current:
            step = self._upcasters.get((event_type, version))
            if step is None:
                raise UnknownEventError(f"no upcaster for {event_type} v{version}")
            payload = step(payload)
            version += 1
        return payload

    def decode(self, raw: bytes | str | dict[str, Any], keys: KeyRing | None = None) -> Event:
        """Parse one stored record into the current version of its event, its sealed
        personal fields opened with `keys` (default: the process's installed ring). Without
        the key (the citizen erased) those fields are absent: see `schemas.sealing`.

        Raises UnknownEventError, SealingError or pydantic's ValidationError (all
        ValueErrors) on bad input.
        """
        doc = json.loads(raw) if isinstance(raw, bytes | str) else dict(raw)
        if not isinstance(doc, dict):
            raise UnknownEventError("event record is not a JSON object")
        event_type = doc.get("event_type")
        version = doc.get("schema_version")
        if not isinstance(event_type, str) or not isinstance(version, int):
            raise UnknownEventError("event record lacks event_type / schema_version")
        model = self.model(event_type)
        doc["payload"] = dict(doc.get("payload") or {})
        ring = keys if keys is not None else sealing.installed()
        opened = sealing.open_document(doc, ring)
        if not opened and event_type in self._erased:
            model = self._erased[event_type][0]
        payload = self.upcast(event_type, version, doc["payload"])
        envelope = {**doc, "schema_version": model.schema_version}
        envelope["payload"] = model.model_validate(payload)
        event = Event.model_validate(envelope)
        self._forget_erased(event, ring)
        return event

    def decode_record(
        self,
        value: bytes,
        headers: Iterable[tuple[str, bytes]] = (),
        keys: KeyRing | None = None,
    ) -> Event:
        """`decode` for a Kafka record, faster when its headers name an event type at the
        current version: the record is then validated straight from JSON in one pass, as an
        envelope whose payload type is known (half the cost of `decode`); a sealed record in
        the writer's form is opened in place first (the blob's members put back into the
        bytes). A record whose headers disagree with its body, or that is malformed, goes
        through `decode`, which says what is wrong with it."""
        named = dict(headers)
        event_type = named.get(HEADER_EVENT_TYPE, b"")
        typed = self._typed.get(event_type)
        if typed is not None and named.get(HEADER_SCHEMA_VERSION) == typed[0]:
            ring = keys if keys is not None else sealing.installed()
            opened = sealing.open_raw(value, ring)
            if opened is not None:
                plain, readable = opened
                envelope = typed[1]
                if not readable:
                    erased = self._erased.get(event_type.decode())
                    if erased is not None:
                        envelope = erased[1]
                try:
                    event = envelope.model_validate_json(plain)
                except ValidationError:
                    pass
                else:
                    self._forget_erased(event, ring)
                    return event
        return self.decode(value, keys)

    @staticmethod
    def _forget_erased(event: Event, ring: KeyRing | None) -> None:
        """A reader that learns of an erasure drops the citizen's cached key."""
        if ring is not None and isinstance(
            event.payload, citizens.ErasureRequested | citizens.CitizenErased
        ):
            ring.forget(event.payload.citizen_id)


def erased_variant(model: type[EventPayload]) -> type[EventPayload]:
    """`model` without its personal fields, as an `ErasedPayload`: what a record of it reads
    as once the citizen's key is gone."""
    fields: Any = {
        name: (info.annotation, info)
        for name, info in model.model_fields.items()
        if name not in model.personal_fields
    }
    variant: type[EventPayload] = create_model(
        f"Erased{model.__name__}", __base__=ErasedPayload, **fields
    )
    variant.event_type = model.event_type
    variant.schema_version = model.schema_version
    variant.topic = model.topic
    variant.original = model  # type: ignore[attr-defined]
    return variant


def _typed_envelope(model: type[EventPayload]) -> type[Event]:
    """An `Event` that only admits `model` at its current version."""
    event_type: Any = Literal[model.event_type]
    version: Any = Literal[model.schema_version]
    return create_model(
        f"{model.__name__}Event",
        __base__=Event,
        event_type=(event_type, ...),
        schema_version=(version, ...),
        payload=(model, ...),
    )


ALL_PAYLOADS: tuple[type[EventPayload], ...] = (
    citizens.CompetenceCardRegistered,
    citizens.CompetenceCardUpdated,
    citizens.CitizenAvailabilityChanged,
    citizens.ConsentGiven,
    citizens.ConsentWithdrawn,
    citizens.ErasureRequested,
    citizens.CitizenErased,
    jobs.EmployerRegistered,
    jobs.JobOrderPosted,
    jobs.JobOrderUpdated,
    jobs.JobOrderClosed,
    placements.PlacementSuggested,
    placements.SuggestionRetracted,
    placements.SuggestionAccepted,
    placements.SuggestionRejected,
    placements.CandidatePresented,
    placements.EmployerDecisionRecorded,
    placements.PlacementStarted,
    placements.FollowUpRecorded,
    placements.PlacementEnded,
    reports.ModelEvaluated,
    reports.FairnessReported,
    reports.ModelActivated,
    audit.PersonalDataAccessed,
)

REGISTRY = EventRegistry(ALL_PAYLOADS)


@REGISTRY.upcaster("PlacementSuggested", 1)
def upcast_placement_suggested_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 scored 0-100 and did not name its model; the rule score was the only one then."""
    out = dict(payload)
    out["score"] = round(float(out.pop("score", 0)) / 100.0, 6)
    out.setdefault("model_version", "rules-1")
    return out


@REGISTRY.upcaster("SuggestionRetracted", 1)
def upcast_suggestion_retracted_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v2 only added reasons (`rejected`, `not_held_on_restart`): a v1 payload is a v2 one."""
    return dict(payload)


@REGISTRY.upcaster("SuggestionRetracted", 2)
def upcast_suggestion_retracted_v2_v3(payload: dict[str, Any]) -> dict[str, Any]:
    """v3 only added the reason `placed`: a v2 payload is a v3 one."""
    return dict(payload)
