"""`jobmatch privacy migrate`: seal the personal fields of events written before sealing.

Kafka cannot rewrite a record in place, so the topics that hold personal fields (citizens,
placements) are copied: every record is read, its event written again with its personal
fields sealed (records already sealed, and records that are not events, are copied byte for
byte), into a staging topic `<topic>.sealing`; once the staging copy holds as many records
per partition as the source, the source topic is deleted and created again under its own
name, the staging copy is copied back partition by partition in order, and the staging
topic is deleted. Topic names, partitions, keys, headers, event ids and offsets stay the
same (every record is copied, in order, into a new topic that starts at 0), so no consumer
configuration changes; the views are rebuilt afterwards (`jobmatch projections rebuild`),
and the matching worker, whose snapshots no longer fit the log, replays it on its next start.
An event of a citizen erased before the migration (no key) is written without its
personal fields.

Run it with the services stopped (nothing else may write meanwhile). It is resumable: the
stage reached is kept in a state file beside the key store, and running the command again
goes on from there. No plain-text copy is left behind: the staging topic only ever holds
sealed records, and the source topic is deleted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from aiokafka import ConsumerRecord

from schemas import sealing
from schemas.registry import REGISTRY
from schemas.topics import CITIZENS, PLACEMENTS, Topic
from services.common.kafka import ensure_topics, make_admin, make_producer, read_log

log = logging.getLogger(__name__)

# The topics whose events have personal fields (audit, reports, employers and job orders
# have none).
PERSONAL_TOPICS: tuple[Topic, ...] = (CITIZENS, PLACEMENTS)
STAGING_SUFFIX = ".sealing"


@dataclass
class TopicReport:
    topic: str
    records: int = 0
    sealed: int = 0
    already_sealed: int = 0
    copied_as_is: int = 0


@dataclass
class MigrationReport:
    topics: list[TopicReport] = field(default_factory=list)


def staging(topic: Topic) -> Topic:
    return Topic(
        topic.name + STAGING_SUFFIX, topic.key, topic.partitions, f"staging of {topic.name}"
    )


class MigrationError(RuntimeError):
    pass


Copied = tuple[bytes | None, list[tuple[str, bytes]]]


def as_is(record: ConsumerRecord[bytes, bytes]) -> Copied:
    return record.value, list(record.headers or ())


def reseal(
    record: ConsumerRecord[bytes, bytes], ring: sealing.KeyRing, report: TopicReport
) -> Copied:
    """The record with its event's personal fields sealed (as it was if it is not an
    event). An event of an old version is written as the current one (its headers too)."""
    value = record.value
    if value is None:
        report.copied_as_is += 1
        return as_is(record)
    if sealing.is_sealed(value):
        report.already_sealed += 1
        return as_is(record)
    try:
        event = REGISTRY.decode_record(value, record.headers or (), keys=ring)
    except ValueError:
        # Not an event (it went to the dead-letter topic when first read): as it was.
        log.warning(
            "not an event: copied as it is",
            extra={"topic": record.topic, "partition": record.partition, "offset": record.offset},
        )
        report.copied_as_is += 1
        return as_is(record)
    report.sealed += 1
    return event.to_json(ring), event.headers()


async def _copy(
    bootstrap: str,
    source: Topic,
    target: Topic,
    transform: Callable[[ConsumerRecord[bytes, bytes]], Copied],
) -> dict[int, int]:
    """Every record of `source` into the same partition of `target`, in order; returns the
    number of records per partition."""
    records = await read_log(bootstrap, [source])
    producer = make_producer(bootstrap)
    await producer.start()
    counts: dict[int, int] = {p: 0 for p in range(source.partitions)}
    try:
        pending = []
        for record in sorted(records, key=lambda r: (r.partition, r.offset)):
            value, headers = transform(record)
            pending.append(
                await producer.send(
                    target.name,
                    value=value,
                    key=record.key,
                    partition=record.partition,
                    headers=headers,
                )
            )
            counts[record.partition] += 1
            if len(pending) >= 1000:
                for future in pending:
                    await future
                pending.clear()
        for future in pending:
            await future
    finally:
        await producer.stop()
    return counts


async def _counts(bootstrap: str, topic: Topic) -> dict[int, int]:
    counts = {p: 0 for p in range(topic.partitions)}
    for record in await read_log(bootstrap, [topic]):
        counts[record.partition] += 1
    return counts


async def _delete(bootstrap: str, names: Iterable[str]) -> None:
    admin = make_admin(bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


class _State:
    """The stage each topic reached, in a file (so an interrupted run goes on)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stages: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}

    def get(self, topic: str) -> str:
        return self.stages.get(topic, "start")

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def set(self, topic: str, stage: str) -> None:
        self.stages[topic] = stage
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.stages))
        tmp.replace(self.path)


async def migrate(
    bootstrap: str,
    ring: sealing.KeyRing,
    state_path: Path,
    topics: tuple[Topic, ...] = PERSONAL_TOPICS,
) -> MigrationReport:
    state = _State(state_path)
    out = MigrationReport()
    for topic in topics:
        stage_topic = staging(topic)
        report = TopicReport(topic.name)
        out.topics.append(report)
        if state.get(topic.name) == "start":
            # A staging copy a crashed run left half done: start it afresh.
            await _delete(bootstrap, [stage_topic.name])
            await ensure_topics(bootstrap, [stage_topic])
            source = await _counts(bootstrap, topic)
            copied = await _copy(
                bootstrap, topic, stage_topic, partial(reseal, ring=ring, report=report)
            )
            if copied != source or await _counts(bootstrap, stage_topic) != source:
                raise MigrationError(f"{topic.name}: the staging copy is incomplete")
            report.records = sum(source.values())
            state.set(topic.name, "staged")
        if state.get(topic.name) == "staged":
            expected = await _counts(bootstrap, stage_topic)
            await _delete(bootstrap, [topic.name])
            await ensure_topics(bootstrap, [topic])
            await _copy(bootstrap, stage_topic, topic, as_is)
            if await _counts(bootstrap, topic) != expected:
                raise MigrationError(f"{topic.name}: the copy back is incomplete; run again")
            report.records = sum(expected.values())
            state.set(topic.name, "restored")
        if state.get(topic.name) == "restored":
            await _delete(bootstrap, [stage_topic.name])
            state.set(topic.name, "done")
    state.clear()
    return out
