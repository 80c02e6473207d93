"""SuggestionRetracted v2: the reasons `rejected` and `not_held_on_restart`; v3: `placed`;
every reason labelled in Danish and English (in the exported contract too), v1 and v2
records read as v3."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import get_args

import pytest
from pydantic import ValidationError

from schemas.envelope import SYSTEM_MATCHING, Event
from schemas.export import JSON_DIR
from schemas.placements import (
    RETRACTION_REASON_LABELS,
    RetractionReason,
    SuggestionRetracted,
)
from schemas.registry import REGISTRY

REASONS = get_args(RetractionReason)
PAIR = {"job_order_id": "jo-1", "citizen_id": "cit-1"}


def test_the_new_reasons_are_in_v3() -> None:
    assert SuggestionRetracted.schema_version == 3
    assert {"rejected", "not_held_on_restart", "placed"} <= set(REASONS)
    for reason in REASONS:
        SuggestionRetracted(**PAIR, suggestion_id="s", reason=reason)
    with pytest.raises(ValidationError):
        SuggestionRetracted(
            job_order_id="jo-1",
            citizen_id="cit-1",
            suggestion_id="s",
            reason="no_reason",  # type: ignore[arg-type]
        )


def test_every_reason_has_a_danish_and_an_english_label() -> None:
    assert set(RETRACTION_REASON_LABELS) == set(REASONS)
    for reason, labels in RETRACTION_REASON_LABELS.items():
        assert set(labels) == {"da", "en"}, reason
        assert all(text.strip() for text in labels.values()), reason
    da = [labels["da"] for labels in RETRACTION_REASON_LABELS.values()]
    assert len(set(da)) == len(da)


def test_the_exported_schema_lists_the_reasons_with_their_labels() -> None:
    doc = json.loads((JSON_DIR / "SuggestionRetracted.v3.json").read_text())
    reason = doc["properties"]["payload"]["properties"]["reason"]
    assert reason["enum"] == list(REASONS)
    assert reason["x-labels"] == RETRACTION_REASON_LABELS
    assert not (JSON_DIR / "SuggestionRetracted.v1.json").exists()
    assert not (JSON_DIR / "SuggestionRetracted.v2.json").exists()


@pytest.mark.parametrize("version", [1, 2])
def test_a_v1_or_v2_record_is_read_as_v3(version: int) -> None:
    stored = {
        "event_id": str(uuid.uuid4()),
        "event_type": "SuggestionRetracted",
        "schema_version": version,
        "occurred_at": "2026-01-05T09:00:00+01:00",
        "aggregate_id": "jo-1",
        "correlation_id": str(uuid.uuid4()),
        "actor": {"role": "system", "id": "matching"},
        "payload": {
            "job_order_id": "jo-1",
            "citizen_id": "cit-1",
            "suggestion_id": "sug-1",
            "reason": "outranked",
        },
    }
    raw = json.dumps(stored).encode()
    headers = [("event_type", b"SuggestionRetracted"), ("schema_version", str(version).encode())]
    for event in (REGISTRY.decode(raw), REGISTRY.decode_record(raw, headers)):
        assert event.schema_version == 3
        assert event.payload == SuggestionRetracted(
            job_order_id="jo-1", citizen_id="cit-1", suggestion_id="sug-1", reason="outranked"
        )


@pytest.mark.parametrize("reason", ["not_held_on_restart", "placed"])
def test_a_v3_record_with_a_new_reason_round_trips(reason: str) -> None:
    payload = SuggestionRetracted(
        job_order_id="jo-1",
        citizen_id="cit-1",
        suggestion_id="s",
        reason=reason,  # type: ignore[arg-type]
    )
    event = Event.new(payload, actor=SYSTEM_MATCHING, occurred_at=datetime(2026, 1, 5, tzinfo=UTC))
    assert dict(event.headers())["schema_version"] == b"3"
    decoded = REGISTRY.decode_record(event.to_json(), event.headers())
    assert decoded.model_dump() == event.model_dump()
