"""The audit trail's records, built the fast way, are the records the models would write;
the cached partitioner puts each key where aiokafka's default one does; `record` returns
only once the broker acknowledged every record of the request."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from aiokafka.partitioner import DefaultPartitioner
from pydantic import ValidationError

from schemas.audit import PersonalDataAccessed
from schemas.envelope import Event
from schemas.registry import REGISTRY
from schemas.topics import AUDIT
from services.auth.principal import Principal
from services.common.audit import AuditTrail, audit_records
from services.common.kafka import KeyPartitioner

NOW = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)
CITIZENS = [f"cit-audit-{chr(97 + i)}{chr(97 + i)}" for i in range(20)]
PRINCIPALS = [
    Principal(subject="kons-0751-1", role="consultant", municipality_code="0751"),
    # Whatever a subject holds is written as the models write it (quotes, controls, æøå).
    Principal(subject='kons "æøå" \n\t\u2028 /\x01', role="consultant", municipality_code="0101"),
    Principal(subject="arbejdsgiver-1", role="employer", cvr="12345607"),
    Principal(subject="svc-reports", role="system", scopes=frozenset({"citizens:read"})),
]


def reference(
    principal: Principal,
    cid: str,
    record: tuple[bytes, bytes, list[tuple[str, bytes]]],
    *,
    service: Any = "profiles",
    method: str = "GET",
    route: str = "/v1/job-orders/{job_order_id}/suggestions",
    status: int = 200,
) -> Event:
    """The event the models make for `cid`, with the ids the record drew."""
    written = REGISTRY.decode(record[1])
    payload = written.payload_as(PersonalDataAccessed)
    return Event.new(
        PersonalDataAccessed(
            citizen_id=cid,
            request_id=payload.request_id,
            service=service,
            kind="read" if method == "GET" else "command",
            method=method,  # type: ignore[arg-type]
            route=route,
            status=status,
        ),
        actor=principal.actor(),
        occurred_at=NOW,
        event_id=written.event_id,
        municipality_code=principal.municipality_code,
    )


@pytest.mark.parametrize("principal", PRINCIPALS, ids=lambda p: p.role)
@pytest.mark.parametrize(
    ("method", "route", "status"),
    [
        ("GET", "/v1/job-orders/{job_order_id}/suggestions", 200),
        ("GET", "/v1/citizens/{citizen_id}", 404),
        ("POST", "/v1/citizens/{citizen_id}/availability", 202),
    ],
)
def test_each_record_is_byte_for_byte_what_the_models_write(
    principal: Principal, method: str, route: str, status: int
) -> None:
    records = audit_records(
        "events", principal, CITIZENS, method=method, route=route, status=status, now=NOW
    )
    assert len(records) == len(CITIZENS)
    for cid, record in zip(CITIZENS, records, strict=True):
        key, value, headers = record
        event = reference(
            principal, cid, record, service="events", method=method, route=route, status=status
        )
        assert key == cid.encode()
        assert value == event.to_json()
        assert headers == event.headers()
        assert event.topic == AUDIT.name


def test_one_request_one_request_id_and_an_event_id_per_record() -> None:
    records = audit_records(
        "profiles", PRINCIPALS[0], CITIZENS, method="GET", route="/v1/x", status=200
    )
    events = [REGISTRY.decode(value) for _, value, _ in records]
    request_ids = {e.payload_as(PersonalDataAccessed).request_id for e in events}
    assert len(request_ids) == 1
    assert len({e.event_id for e in events}) == len(CITIZENS)
    assert all(e.correlation_id == e.event_id for e in events)
    assert [e.aggregate_id for e in events] == CITIZENS


def test_one_citizen_and_none() -> None:
    [record] = audit_records(
        "profiles", PRINCIPALS[0], CITIZENS[:1], method="GET", route="/v1/x", status=200, now=NOW
    )
    event = reference(PRINCIPALS[0], CITIZENS[0], record, route="/v1/x")
    assert record == (CITIZENS[0].encode(), event.to_json(), event.headers())
    assert (
        audit_records("profiles", PRINCIPALS[0], [], method="GET", route="/v1/x", status=200) == []
    )


@pytest.mark.parametrize("at", [0, 7])
def test_a_citizen_id_the_model_refuses_is_refused_wherever_it_stands(at: int) -> None:
    ids = list(CITIZENS)
    ids[at] = "010203-1234"  # CPR-shaped: never a pseudonymous id
    with pytest.raises(ValidationError):
        audit_records("profiles", PRINCIPALS[0], ids, method="GET", route="/v1/x", status=200)


def test_fields_the_model_refuses_are_refused() -> None:
    with pytest.raises(ValidationError):
        audit_records(
            "profiles", PRINCIPALS[0], CITIZENS, method="GET", route="no slash", status=200
        )


def test_event_ids_are_random_version_4_uuids_in_canonical_form() -> None:
    many = [f"cit-{i:04d}" for i in range(2000)]
    records = audit_records(
        "profiles", PRINCIPALS[0], many, method="GET", route="/v1/x", status=200
    )
    ids = [str(REGISTRY.decode(value).event_id) for _, value, _ in records]
    assert len(set(ids)) == 2000
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


@pytest.mark.parametrize("partitions", [1, 3, 7, 12])
def test_key_partitioner_agrees_with_aiokafkas_default(partitions: int) -> None:
    rng = random.Random(partitions)
    keys = [f"cit-{rng.getrandbits(64):x}".encode() for _ in range(300)]
    keys += [b"", "citizen-æøå".encode(), b"x" * 100]
    all_partitions = list(range(partitions))
    cached = KeyPartitioner(max_keys=50)
    default = DefaultPartitioner()
    for _ in range(2):  # computed, then (for the last 50 at most) remembered
        for key in keys:
            assert cached(key, all_partitions, all_partitions) == default(
                key, all_partitions, all_partitions
            )
    assert len(cached._hashes) <= 50


def test_key_partitioner_without_a_key_picks_an_available_partition() -> None:
    assert KeyPartitioner()(None, [0, 1, 2], [2]) == 2


class Producer:
    """Sends resolve only when the test says the broker acknowledged them."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []
        self.acks: list[asyncio.Future[None]] = []

    async def send(
        self, topic: str, *, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[None]:
        self.sent.append((topic, key, value, headers))
        self.acks.append(asyncio.get_running_loop().create_future())
        return self.acks[-1]


def trail_with(producer: Producer) -> AuditTrail:
    trail = AuditTrail("127.0.0.1:1", "profiles")
    trail._producer = producer  # type: ignore[assignment]
    return trail


async def test_record_returns_once_every_record_is_acknowledged() -> None:
    producer = Producer()
    trail = trail_with(producer)
    task = asyncio.create_task(
        trail.record(PRINCIPALS[0], CITIZENS, method="GET", route="/v1/x", status=200)
    )
    await asyncio.sleep(0.01)
    assert [(t, k) for t, k, _, _ in producer.sent] == [(AUDIT.name, c.encode()) for c in CITIZENS]
    for ack in producer.acks[:-1]:
        ack.set_result(None)
    await asyncio.sleep(0.01)
    assert not task.done()  # one record not yet on the broker: no answer yet
    producer.acks[-1].set_result(None)
    await task
    assert trail.recorded == len(CITIZENS)


async def test_record_fails_when_a_record_is_not_acknowledged() -> None:
    producer = Producer()
    trail = trail_with(producer)
    task = asyncio.create_task(
        trail.record(PRINCIPALS[0], CITIZENS[:3], method="GET", route="/v1/x", status=200)
    )
    await asyncio.sleep(0.01)
    producer.acks[0].set_result(None)
    producer.acks[1].set_exception(KafkaTimeoutError())
    producer.acks[2].set_result(None)
    with pytest.raises(KafkaTimeoutError):
        await task
    assert trail.recorded == 0
