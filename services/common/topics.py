"""The catalogue's topics as the broker must hold them, made and checked.

`schemas/topics.py` says each topic's name and partition count; the settings
(`TopicSettings`) say how many copies of each partition and how many an acks=all write
needs. Each topic is made with:
- its catalogued partition count (the key -> partition mapping depends on it: a different
  count sends an aggregate's later events to another partition, out of order);
- KAFKA_TOPIC_REPLICATION_FACTOR copies;
- `min.insync.replicas` = KAFKA_TOPIC_MIN_INSYNC_REPLICAS, and `retention.ms` = -1: the log
  is the event store, nothing in it may expire (a broker's default is 7 days); the audit
  topic alone expires, after its catalogued `retention_days`.

`reconcile` makes what is missing and compares every topic with what it should be; a
mismatch is never repaired here (partitions cannot be taken away, replicas are moved with
the cluster's reassignment tools, configs altered with `kafka-configs.sh`): it is reported,
and `jobmatch topics create|check` exit with 1. Everything talking to a broker goes through
`TopicAdmin`, so the comparison is tested without one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code

from schemas.topics import CATALOGUE, Topic
from services.common.settings import TopicSettings

MIN_INSYNC = "min.insync.replicas"
RETENTION_MS = "retention.ms"
RETENTION_BYTES = "retention.bytes"
# Kafka's error codes met here.
_TOPIC_ALREADY_EXISTS = 36
_UNKNOWN_TOPIC = 3


@dataclass(frozen=True)
class TopicSpec:
    """One topic as the broker must hold it."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str]

    def new_topic(self) -> NewTopic:
        return NewTopic(
            self.name,
            num_partitions=self.partitions,
            replication_factor=self.replication_factor,
            topic_configs=dict(self.configs),
        )


def specs(settings: TopicSettings, topics: Iterable[Topic] = CATALOGUE) -> list[TopicSpec]:
    def configs(topic: Topic) -> dict[str, str]:
        days = topic.retention_days
        return {
            MIN_INSYNC: str(settings.kafka_topic_min_insync_replicas),
            RETENTION_MS: "-1" if days is None else str(days * 24 * 3600 * 1000),
            RETENTION_BYTES: "-1",
        }

    return [
        TopicSpec(t.name, t.partitions, settings.kafka_topic_replication_factor, configs(t))
        for t in topics
    ]


@dataclass(frozen=True)
class TopicState:
    """A topic as the broker reports it: replicas per partition, and the configs it
    reported (a config it did not report is absent, not assumed)."""

    name: str
    replicas: Mapping[int, int]
    configs: Mapping[str, str]

    @property
    def partitions(self) -> int:
        return len(self.replicas)


@dataclass(frozen=True)
class Mismatch:
    topic: str
    what: str
    found: str
    wanted: str
    remedy: str = ""

    def __str__(self) -> str:
        text = f"{self.topic}: {self.what} is {self.found}, the catalogue wants {self.wanted}"
        return f"{text} ({self.remedy})" if self.remedy else text


def compare(spec: TopicSpec, state: TopicState | None) -> list[Mismatch]:
    """What differs between the topic the catalogue wants and the one the broker holds."""
    if state is None:
        return [Mismatch(spec.name, "the topic", "missing", "it", "jobmatch topics create")]
    out = []
    if state.partitions != spec.partitions:
        out.append(
            Mismatch(
                spec.name,
                "the partition count",
                str(state.partitions),
                str(spec.partitions),
                "keys would map to other partitions: make the topic anew and copy the log",
            )
        )
    short = sorted(p for p, n in state.replicas.items() if n != spec.replication_factor)
    if short:
        counts = sorted({state.replicas[p] for p in short})
        out.append(
            Mismatch(
                spec.name,
                "the replication factor",
                "/".join(map(str, counts)) + f" (partitions {', '.join(map(str, short))})",
                str(spec.replication_factor),
                "kafka-reassign-partitions.sh",
            )
        )
    for name, wanted in sorted(spec.configs.items()):
        found = state.configs.get(name)
        if found != wanted:
            out.append(
                Mismatch(
                    spec.name,
                    name,
                    "not reported by the broker" if found is None else found,
                    wanted,
                    f"kafka-configs.sh --alter --entity-type topics --entity-name {spec.name} "
                    f"--add-config {name}={wanted}",
                )
            )
    return out


class TopicAdmin(Protocol):
    """What `reconcile` needs of a broker."""

    async def existing(self) -> set[str]: ...

    async def create(self, topics: Sequence[TopicSpec]) -> dict[str, str | None]:
        """Per topic: None when made, "exists" when it already was, else the broker's error."""
        ...

    async def describe(self, names: Sequence[str], configs: Sequence[str]) -> dict[str, TopicState]:
        """The topics that exist among `names`, with the `configs` the broker reports."""
        ...


@dataclass
class TopicReport:
    created: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.mismatches


async def reconcile(
    admin: TopicAdmin,
    wanted: Sequence[TopicSpec],
    create: bool = True,
    settle_s: float = 5.0,
) -> TopicReport:
    """Make the missing topics (when `create`), then compare each with what it should be.

    A topic just made may take the cluster a moment to describe: those are asked again for
    up to `settle_s` before they count as missing."""
    report = TopicReport()
    existing = await admin.existing()
    missing = [spec for spec in wanted if spec.name not in existing]
    if create and missing:
        for name, error in (await admin.create(missing)).items():
            if error is None:
                report.created.append(name)
            elif error != "exists":
                report.failed[name] = error
    names = [spec.name for spec in wanted if spec.name not in report.failed]
    config_names = sorted({name for spec in wanted for name in spec.configs})
    states = await admin.describe(names, config_names)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settle_s
    while report.created and loop.time() < deadline:
        pending = [n for n in report.created if n not in states]
        if not pending:
            break
        await asyncio.sleep(0.2)
        states.update(await admin.describe(pending, config_names))
    for spec in wanted:
        if spec.name not in report.failed:
            report.mismatches.extend(compare(spec, states.get(spec.name)))
    return report


class KafkaTopicAdmin:
    """`TopicAdmin` over aiokafka's admin client (started and closed by the caller)."""

    def __init__(self, admin: AIOKafkaAdminClient) -> None:
        self.admin = admin

    async def existing(self) -> set[str]:
        return set(await self.admin.list_topics())

    async def create(self, topics: Sequence[TopicSpec]) -> dict[str, str | None]:
        response = await self.admin.create_topics([spec.new_topic() for spec in topics])
        out: dict[str, str | None] = {}
        for entry in response.topic_errors:
            name, code = entry[0], entry[1]
            message = entry[2] if len(entry) > 2 else None
            if code == 0:
                out[name] = None
            elif code == _TOPIC_ALREADY_EXISTS:
                out[name] = "exists"
            else:
                out[name] = f"{for_code(code).__name__}: {message or 'refused'}"
        return out

    async def describe(self, names: Sequence[str], configs: Sequence[str]) -> dict[str, TopicState]:
        if not names:
            return {}
        found: dict[str, dict[int, int]] = {}
        for topic in await self.admin.describe_topics(list(names)):
            if topic["error_code"] == _UNKNOWN_TOPIC or not topic["partitions"]:
                continue
            found[topic["topic"]] = {
                p["partition"]: len(p["replicas"]) for p in topic["partitions"]
            }
        reported: dict[str, dict[str, str]] = {name: {} for name in found}
        if found:
            # Every config (None), filtered here: Tansu cannot parse a list of names.
            resources = [ConfigResource(ConfigResourceType.TOPIC, n, None) for n in found]
            for response in await self.admin.describe_configs(resources):
                for resource in response.resources:
                    _error, _message, _type, name, entries = resource[:5]
                    values = _entries(entries)
                    reported.setdefault(name, {}).update(
                        {k: v for k, v in values.items() if k in configs}
                    )
        return {
            name: TopicState(name, replicas, reported.get(name, {}))
            for name, replicas in found.items()
        }


def _entries(entries: Iterable[Any]) -> dict[str, str]:
    """(name, value, ...) tuples of a DescribeConfigs answer; a null value is left out."""
    return {entry[0]: entry[1] for entry in entries if entry[1] is not None}
