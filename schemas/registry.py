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

from schemas import audit, citizens, jobs, placements, reports
from schemas.envelope import HEADER_EVENT_TYPE, HEADER_SCHEMA_VERSION, Event, EventPayload

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UnknownEventError(ValueError):
    """The record names an event type or version this registry cannot read."""


class EventRegistry:
    def __init__(self, models: Iterable[type[EventPayload]]) -> None:
        self._models: dict[str, type[EventPayload]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        self._typed: dict[bytes, tuple[bytes, type[Event]]] = {}
        for model in models:
            if model.event_type in self._models:
                raise ValueError(f"duplicate event type {model.event_type}")
            self._models[model.event_type] = model
            version = str(model.schema_version).encode()
            self._typed[model.event_type.encode()] = (version, _typed_envelope(model))

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

    def decode(self, raw: bytes | str | dict[str, Any]) -> Event:
        """Parse one stored record into the current version of its event.

        Raises UnknownEventError or pydantic's ValidationError (both ValueErrors) on bad input.
        """
        doc = json.loads(raw) if isinstance(raw, bytes | str) else dict(raw)
        if not isinstance(doc, dict):
            raise UnknownEventError("event record is not a JSON object")
        event_type = doc.get("event_type")
        version = doc.get("schema_version")
        if not isinstance(event_type, str) or not isinstance(version, int):
            raise UnknownEventError("event record lacks event_type / schema_version")
        model = self.model(event_type)
        payload = self.upcast(event_type, version, dict(doc.get("payload") or {}))
        envelope = {**doc, "schema_version": model.schema_version}
        envelope["payload"] = model.model_validate(payload)
        return Event.model_validate(envelope)

    def decode_record(self, value: bytes, headers: Iterable[tuple[str, bytes]] = ()) -> Event:
        """`decode` for a Kafka record, faster when its headers name an event type at the
        current version: the record is then validated straight from JSON in one pass, as an
        envelope whose payload type is known (half the cost of `decode`). A record whose
        headers disagree with its body, or that is malformed, goes through `decode`, which
        says what is wrong with it."""
        named = dict(headers)
        typed = self._typed.get(named.get(HEADER_EVENT_TYPE, b""))
        if typed is not None and named.get(HEADER_SCHEMA_VERSION) == typed[0]:
            try:
                return typed[1].model_validate_json(value)
            except ValidationError:
                pass
        return self.decode(value)


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
