"""Sealing at the serialisation boundary: personal fields in one AEAD blob, the rest clear."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from schemas import sealing
from schemas.citizens import (
    CitizenErased,
    CompetenceCard,
    CompetenceCardRegistered,
    ConsentGiven,
    ErasureRequested,
)
from schemas.envelope import Actor, ErasedPayload, Event, EventPayload
from schemas.jobs import JobOrder, JobOrderPosted
from schemas.placements import FollowUpRecorded, SuggestionRejected
from schemas.registry import REGISTRY
from services.keys.memory import MemoryKeyStore
from services.keys.ring import CachedKeyRing

DATA = Path(__file__).resolve().parents[2] / "data"
NOTE = "Markør-note-tranebær"
AT = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)


def _event(payload: EventPayload) -> Event:
    return Event.new(payload, actor=Actor(role="consultant", id="k-1"), occurred_at=AT)


def _card() -> CompetenceCard:
    doc = json.loads((DATA / "competence_card_amina.json").read_text())
    return CompetenceCard.model_validate(doc | {"notes": NOTE})


@pytest.fixture
def ring() -> CachedKeyRing:
    return CachedKeyRing(MemoryKeyStore())


def _both(raw: bytes, event: Event, ring: CachedKeyRing) -> list[Event]:
    """The record read both ways: the fast path from a Kafka record, and `decode`."""
    return [REGISTRY.decode_record(raw, event.headers(), keys=ring), REGISTRY.decode(raw, ring)]


def test_a_card_is_sealed_and_reads_back_equal(ring: CachedKeyRing) -> None:
    event = _event(CompetenceCardRegistered(citizen_id="cit-1", version=1, card=_card()))
    raw = event.to_json(ring)
    assert NOTE.encode() not in raw and b"lagerarbejder" not in raw and b"1991" not in raw
    doc = json.loads(raw)
    assert doc["payload"]["sealed"]["kid"] == "cit-1"
    assert set(doc["payload"]) == {"citizen_id", "version", "sealed"}
    assert doc["municipality_code"] is None and doc["event_type"] == "CompetenceCardRegistered"
    for read in _both(raw, event, ring):
        assert read.model_dump() == event.model_dump()


def test_without_the_key_a_card_reads_as_erased(ring: CachedKeyRing) -> None:
    event = _event(CompetenceCardRegistered(citizen_id="cit-1", version=3, card=_card()))
    raw = event.to_json(ring)
    ring.erase("cit-1")
    for read in _both(raw, event, ring):
        assert isinstance(read.payload, ErasedPayload)
        assert not isinstance(read.payload, CompetenceCardRegistered)
        assert read.payload.model_dump() == {"citizen_id": "cit-1", "version": 3}
        assert read.aggregate_id == read.payload.aggregate_id == "cit-1"
        assert read.event_type == "CompetenceCardRegistered"


def test_optional_personal_fields_read_as_absent_and_the_rest_stays(ring: CachedKeyRing) -> None:
    follow = FollowUpRecorded(
        job_order_id="jo-1",
        citizen_id="cit-2",
        placement_id="pl-1",
        date=dt.date(2027, 2, 4),
        status="at_risk",
        note=NOTE,
    )
    event = _event(follow)
    raw = event.to_json(ring)
    assert NOTE.encode() not in raw and b'"status":"at_risk"' in raw
    ring.erase("cit-2")
    for read in _both(raw, event, ring):
        assert read.payload == follow.model_copy(update={"note": None})
        assert read.aggregate_id == "jo-1"


def test_a_rejection_s_code_is_personal_and_required(ring: CachedKeyRing) -> None:
    rejected = SuggestionRejected(
        job_order_id="jo-1", citizen_id="cit-3", suggestion_id="s-1", reason_code="health"
    )
    event = _event(rejected)
    raw = event.to_json(ring)
    assert b"health" not in raw
    assert REGISTRY.decode(raw, ring).payload == rejected
    ring.erase("cit-3")
    read = REGISTRY.decode_record(raw, event.headers(), keys=ring)
    assert isinstance(read.payload, ErasedPayload) and read.aggregate_id == "jo-1"


def test_events_without_personal_fields_or_citizens_stay_plain(ring: CachedKeyRing) -> None:
    order = JobOrder.model_validate(json.loads((DATA / "job_order_lager.json").read_text()))
    for payload in (
        JobOrderPosted(job_order_id=order.job_order_id, version=1, order=order),
        ConsentGiven(citizen_id="cit-4", consent_id="c", scope="all"),
        CitizenErased(citizen_id="cit-4"),
    ):
        event = _event(payload)
        assert event.to_json(ring) == event.model_dump_json().encode()
    assert ring.store.get("cit-4") is None, "no key made for events without personal fields"


def test_the_blob_is_bound_to_its_event(ring: CachedKeyRing) -> None:
    event = _event(ErasureRequested(citizen_id="cit-5", reason=NOTE))
    other = _event(ErasureRequested(citizen_id="cit-5", reason="x"))
    blob = json.loads(event.to_json(ring))["payload"]["sealed"]
    moved: dict[str, Any] = json.loads(other.to_json(ring))
    moved["payload"]["sealed"] = blob
    with pytest.raises(sealing.SealingError):
        REGISTRY.decode(json.dumps(moved), ring)
    tampered = event.to_json(ring).replace(b'"data":"', b'"data":"AA', 1)
    with pytest.raises(ValueError):
        REGISTRY.decode_record(tampered, event.headers(), keys=ring)


def test_an_erased_citizen_gets_no_new_key_and_writes_no_personal_fields(
    ring: CachedKeyRing,
) -> None:
    ring.sealer("cit-6")
    ring.erase("cit-6")
    event = _event(ErasureRequested(citizen_id="cit-6", reason=NOTE))
    raw = event.to_json(ring)
    assert NOTE.encode() not in raw and b"sealed" not in raw
    assert ring.store.get("cit-6") is None


def test_reading_an_erasure_drops_the_cached_key() -> None:
    store = MemoryKeyStore()
    ring = CachedKeyRing(store)
    event = _event(ErasureRequested(citizen_id="cit-7", reason=NOTE))
    raw = event.to_json(ring)
    assert len(ring) == 1
    store.erase("cit-7")  # by another process: this one's cache still holds the key
    read = REGISTRY.decode_record(raw, event.headers(), keys=ring)
    assert read.payload == ErasureRequested(citizen_id="cit-7", reason=NOTE)
    assert len(ring) == 0
    assert REGISTRY.decode(raw, ring).payload == ErasureRequested(citizen_id="cit-7")


def test_the_installed_ring_opens_by_default(ring: CachedKeyRing) -> None:
    event = _event(ErasureRequested(citizen_id="cit-8", reason=NOTE))
    sealing.install(ring)
    try:
        assert event.to_json() == event.model_dump_json().encode(), "writers pass their ring"
        raw = event.to_json(sealing.installed())
        assert NOTE.encode() not in raw
        assert REGISTRY.decode_record(raw, event.headers()).payload == event.payload
    finally:
        sealing.install(None)
    # Without a ring a sealed record reads as erased, a plain one as it is.
    assert REGISTRY.decode(raw).payload == ErasureRequested(citizen_id="cit-8")
    assert event.to_json() == event.model_dump_json().encode()


def test_every_personal_field_is_a_field_and_ids_stay_clear() -> None:
    for model in REGISTRY.models.values():
        for name in model.personal_fields:
            assert name in model.model_fields, (model.event_type, name)
        assert not {"citizen_id", "job_order_id", "suggestion_id", "placement_id"} & set(
            model.personal_fields
        )
