"""`jobmatch privacy migrate`: plain-text events sealed in place of the originals, on a topic
of its own (the catalogue's topics are shared by the session's services)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from schemas import sealing
from schemas.envelope import Actor, Event
from schemas.placements import FollowUpRecorded
from schemas.registry import REGISTRY
from schemas.topics import Topic
from services.common.kafka import ensure_topics, make_admin, make_producer, read_log
from services.keys.memory import MemoryKeyStore
from services.keys.migrate import migrate, staging
from services.keys.ring import CachedKeyRing

NOTE = "Markoer-migrering-hyldebaer"


async def test_migrate_seals_old_events_and_keeps_offsets(broker: str, tmp_path: Path) -> None:
    topic = Topic(f"jobmatch.test-migrate-{uuid.uuid4().hex[:8]}", "job_order_id", 2, "test")
    await ensure_topics(broker, [topic])
    at = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    events = [
        Event.new(
            FollowUpRecorded(
                job_order_id=f"jo-{i % 3}",
                citizen_id=f"cit-m{i % 2}",
                placement_id=f"pl-{i}",
                date=dt.date(2027, 2, 4),
                status="on_track",
                note=f"{NOTE} {i}",
            ),
            actor=Actor(role="consultant", id="k"),
            occurred_at=at,
        )
        for i in range(10)
    ]
    producer = make_producer(broker)
    await producer.start()
    try:
        for e in events:  # as written before sealing: plain text
            await producer.send_and_wait(
                topic.name,
                e.model_dump_json().encode(),
                key=e.aggregate_id.encode(),
                headers=e.headers(),
            )
        await producer.send_and_wait(topic.name, b"not an event", key=b"x")
    finally:
        await producer.stop()
    before = await read_log(broker, [topic])
    assert any(NOTE.encode() in (r.value or b"") for r in before)

    store = MemoryKeyStore()
    store.get_or_create("cit-m1")
    store.erase("cit-m1")  # erased before the migration: its notes go
    ring = CachedKeyRing(store)
    report = await migrate(broker, ring, tmp_path / "state.json", topics=(topic,))
    assert report.topics[0].sealed == 10 and report.topics[0].copied_as_is == 1

    after = await read_log(broker, [topic])
    # Same records at the same places (the read interleaves partitions in no fixed order).
    assert sorted((r.partition, r.offset, r.key) for r in before) == sorted(
        (r.partition, r.offset, r.key) for r in after
    )
    assert not any(NOTE.encode() in (r.value or b"") for r in after)
    read = {}
    for r in after:
        if r.value != b"not an event":
            e = REGISTRY.decode_record(r.value or b"", r.headers or (), keys=ring)
            read[e.event_id] = e
    for e in events:
        written = e.payload_as(FollowUpRecorded)
        note = read[e.event_id].payload_as(FollowUpRecorded).note
        assert note == (None if written.citizen_id == "cit-m1" else written.note)
    assert sealing.installed() is not ring
    admin = make_admin(broker)
    await admin.start()
    try:
        assert staging(topic).name not in await admin.list_topics()
    finally:
        await admin.close()
    assert not (tmp_path / "state.json").exists()
