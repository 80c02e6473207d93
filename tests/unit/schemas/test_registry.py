"""The registry reads every event type, and reads old versions as the current one."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.citizens import CompetenceCard, CompetenceCardRegistered
from schemas.envelope import Actor, Event
from schemas.placements import PlacementSuggested
from schemas.registry import REGISTRY, UnknownEventError
from schemas.topics import CATALOGUE, CITIZENS, PLACEMENTS

ACTOR = Actor(role="consultant", id="c-17")
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _card_event(amina: dict[str, Any]) -> Event:
    card = CompetenceCard.model_validate(amina)
    payload = CompetenceCardRegistered(citizen_id=card.citizen_id, version=1, card=card)
    return Event.new(payload, actor=ACTOR, occurred_at=NOW, municipality_code="0751")


def test_round_trip_keeps_every_field(amina: dict[str, Any]) -> None:
    event = _card_event(amina)
    decoded = REGISTRY.decode(event.to_json())
    assert decoded == event
    assert decoded.payload_as(CompetenceCardRegistered).card.danish.cefr == "A2"
    assert decoded.topic == CITIZENS.name
    assert decoded.aggregate_id == "cit-7f3a9c2e"


def test_headers_carry_type_and_version(amina: dict[str, Any]) -> None:
    headers = dict(_card_event(amina).headers())
    assert headers["event_type"] == b"CompetenceCardRegistered"
    assert headers["schema_version"] == b"1"


def _stored_v1() -> bytes:
    """A PlacementSuggested as v1 wrote it: score 0-100, no model version."""
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": "PlacementSuggested",
            "schema_version": 1,
            "occurred_at": "2026-01-05T09:00:00+01:00",
            "aggregate_id": "jo-1",
            "correlation_id": str(uuid.uuid4()),
            "actor": {"role": "system", "id": "matching"},
            "payload": {
                "job_order_id": "jo-1",
                "citizen_id": "cit-1",
                "suggestion_id": "sug-1",
                "score": 81,
                "rank": 1,
                "card_version": "a",
                "order_version": "b",
            },
        }
    ).encode()


def test_v1_placement_suggested_is_read_as_v2() -> None:
    event = REGISTRY.decode(_stored_v1())
    payload = event.payload_as(PlacementSuggested)
    assert event.schema_version == 2
    assert payload.score == pytest.approx(0.81)
    assert payload.model_version == "rules-1"
    assert event.occurred_at.utcoffset() == timedelta(0)
    assert event.topic == PLACEMENTS.name


def test_unknown_type_and_future_version_are_refused() -> None:
    base = {"event_id": str(uuid.uuid4()), "payload": {}}
    with pytest.raises(UnknownEventError):
        REGISTRY.decode(
            json.dumps({**base, "event_type": "CitizenTeleported", "schema_version": 1})
        )
    with pytest.raises(UnknownEventError):
        REGISTRY.decode(json.dumps({**base, "event_type": "JobOrderClosed", "schema_version": 9}))
    with pytest.raises(ValueError):
        REGISTRY.decode(b"not json")


def test_invalid_payload_is_a_validation_error(amina: dict[str, Any]) -> None:
    doc = json.loads(_card_event(amina).to_json())
    doc["payload"]["card"]["danish"]["cefr"] = "Z9"
    with pytest.raises(ValidationError):
        REGISTRY.decode(json.dumps(doc))


def test_every_event_type_is_on_a_catalogued_topic() -> None:
    topics = {t.name for t in CATALOGUE}
    assert REGISTRY.models, "registry is empty"
    for name, model in REGISTRY.models.items():
        assert model.topic in topics, name
        assert name[0].isupper() and name.endswith(("ed", "Given", "Withdrawn")), name


def test_a_record_is_decoded_from_its_headers_as_decode_would(amina: dict[str, Any]) -> None:
    event = _card_event(amina)
    fast = REGISTRY.decode_record(event.to_json(), event.headers())
    assert isinstance(fast, Event)
    assert isinstance(fast.payload, CompetenceCardRegistered)
    assert fast.model_dump() == REGISTRY.decode(event.to_json()).model_dump()


def test_headers_that_disagree_with_the_body_do_not_decide(amina: dict[str, Any]) -> None:
    event = _card_event(amina)
    lying = [("event_type", b"JobOrderClosed"), ("schema_version", b"1")]
    assert REGISTRY.decode_record(event.to_json(), lying).payload == event.payload
    old = [("event_type", b"CompetenceCardRegistered"), ("schema_version", b"0")]
    assert REGISTRY.decode_record(event.to_json(), old).payload == event.payload
    doc = json.loads(event.to_json())
    doc["payload"]["card"]["danish"]["cefr"] = "Z9"
    with pytest.raises(ValidationError, match="cefr"):
        REGISTRY.decode_record(json.dumps(doc).encode(), event.headers())


def test_a_v1_record_with_its_headers_is_upcast() -> None:
    headers = [("event_type", b"PlacementSuggested"), ("schema_version", b"1")]
    event = REGISTRY.decode_record(_stored_v1(), headers)
    assert event.schema_version == 2
    assert event.payload_as(PlacementSuggested).score == pytest.approx(0.81)
