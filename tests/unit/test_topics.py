"""Topics made from the catalogue and the settings, and checked against them: the comparison
and the reconciliation against a fake admin (tests/integration/test_topics.py runs the same
code against a real broker)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from schemas.topics import AUDIT, CATALOGUE, CITIZENS, REPORTS
from services.common.kafka import (
    topic_replication_factor,
    topic_settings,
)
from services.common.settings import TopicSettings
from services.common.topics import (
    MIN_INSYNC,
    RETENTION_MS,
    TopicSpec,
    TopicState,
    compare,
    reconcile,
    specs,
)

PRODUCTION = TopicSettings(kafka_topic_replication_factor=3, kafka_topic_min_insync_replicas=2)


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_TOPIC_REPLICATION_FACTOR", "KAFKA_TOPIC_MIN_INSYNC_REPLICAS"):
        monkeypatch.delenv(name, raising=False)


def _held(
    spec: TopicSpec,
    replicas: dict[int, int] | None = None,
    configs: dict[str, str | None] | None = None,
) -> TopicState:
    """The topic as the broker would hold it if made from `spec`, with these changes (a
    config changed to None: not reported)."""
    merged: dict[str, str | None] = {**spec.configs, **(configs or {})}
    return TopicState(
        spec.name,
        replicas or dict.fromkeys(range(spec.partitions), spec.replication_factor),
        {k: v for k, v in merged.items() if v is not None},
    )


def test_specs_take_the_catalogue_and_the_settings() -> None:
    made = specs(PRODUCTION)
    assert [(s.name, s.partitions) for s in made] == [(t.name, t.partitions) for t in CATALOGUE]
    assert {s.replication_factor for s in made} == {3}
    assert all(s.configs[MIN_INSYNC] == "2" for s in made)
    # The event store keeps everything; the audit trail its 400 days (at least 6 months).
    retention = {s.name: s.configs[RETENTION_MS] for s in made}
    assert retention.pop(AUDIT.name) == str(400 * 24 * 3600 * 1000)
    assert set(retention.values()) == {"-1"}
    new = made[0].new_topic()
    assert (new.num_partitions, new.replication_factor) == (CITIZENS.partitions, 3)
    assert new.topic_configs[MIN_INSYNC] == "2"


def test_settings_default_to_one_node_and_refuse_an_unwritable_pair(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert (topic_replication_factor(), topic_settings().kafka_topic_min_insync_replicas) == (
        1,
        1,
    )
    monkeypatch.setenv("KAFKA_TOPIC_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("KAFKA_TOPIC_MIN_INSYNC_REPLICAS", "2")
    assert topic_settings() == PRODUCTION
    monkeypatch.setenv("KAFKA_TOPIC_MIN_INSYNC_REPLICAS", "4")
    with pytest.raises(ValueError, match="every acks=all write would be refused"):
        topic_settings()
    monkeypatch.setenv("KAFKA_TOPIC_MIN_INSYNC_REPLICAS", "0")
    with pytest.raises(ValueError, match="KAFKA_TOPIC_MIN_INSYNC_REPLICAS"):
        topic_settings()


def test_a_topic_as_wanted_has_no_mismatch() -> None:
    for spec in specs(PRODUCTION):
        assert compare(spec, _held(spec)) == []


def test_every_kind_of_mismatch_is_named() -> None:
    spec = specs(PRODUCTION, [CITIZENS])[0]
    assert [str(m) for m in compare(spec, None)] == [
        "jobmatch.citizens: the topic is missing, the catalogue wants it (jobmatch topics create)"
    ]
    fewer = compare(spec, _held(spec, replicas={0: 3, 1: 3}))
    assert [(m.what, m.found, m.wanted) for m in fewer] == [("the partition count", "2", "3")]
    one_copy = compare(spec, _held(spec, replicas={0: 1, 1: 3, 2: 1}))
    assert [(m.what, m.found) for m in one_copy] == [
        ("the replication factor", "1 (partitions 0, 2)")
    ]
    configs = compare(spec, _held(spec, configs={MIN_INSYNC: "1", RETENTION_MS: None}))
    assert [(m.what, m.found, m.wanted) for m in configs] == [
        (MIN_INSYNC, "1", "2"),
        (RETENTION_MS, "not reported by the broker", "-1"),
    ]
    assert "--add-config min.insync.replicas=2" in str(configs[0])


class FakeAdmin:
    """A broker that holds `topics` and makes new ones as asked (or refuses `refuse`)."""

    def __init__(
        self, topics: dict[str, TopicState] | None = None, refuse: dict[str, str] | None = None
    ) -> None:
        self.topics = dict(topics or {})
        self.refuse = refuse or {}
        self.created: list[str] = []
        self.hidden_for = 0  # describe calls that do not see new topics yet

    async def existing(self) -> set[str]:
        return set(self.topics)

    async def create(self, topics: Sequence[TopicSpec]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for spec in topics:
            if spec.name in self.refuse:
                out[spec.name] = self.refuse[spec.name]
                continue
            self.topics[spec.name] = _held(spec)
            self.created.append(spec.name)
            out[spec.name] = None
        return out

    async def describe(self, names: Sequence[str], configs: Sequence[str]) -> dict[str, TopicState]:
        if self.hidden_for:
            self.hidden_for -= 1
            return {n: s for n, s in self.topics.items() if n in names and n not in self.created}
        return {n: s for n, s in self.topics.items() if n in names}


async def test_reconcile_makes_the_missing_and_reports_the_existing_mismatches() -> None:
    wanted = specs(PRODUCTION)
    citizens, reports = wanted[0], wanted[4]
    admin = FakeAdmin(
        {
            citizens.name: _held(citizens, replicas={0: 1, 1: 1, 2: 1}),
            reports.name: _held(reports, configs={MIN_INSYNC: "1"}),
        }
    )
    admin.hidden_for = 2  # the cluster describes new topics a moment later
    report = await reconcile(admin, wanted, settle_s=5)
    assert report.created == [s.name for s in wanted if s.name not in (citizens.name, reports.name)]
    assert [(m.topic, m.what) for m in report.mismatches] == [
        (citizens.name, "the replication factor"),
        (reports.name, MIN_INSYNC),
    ]
    assert not report.ok
    again = await reconcile(admin, wanted)
    assert again.created == [] and len(again.mismatches) == 2


async def test_reconcile_without_create_reports_missing_topics() -> None:
    admin = FakeAdmin()
    report = await reconcile(admin, specs(PRODUCTION, [CITIZENS]), create=False)
    assert admin.created == [] and report.created == []
    assert [m.found for m in report.mismatches] == ["missing"]


async def test_a_refused_topic_is_reported_not_counted_as_made() -> None:
    admin = FakeAdmin(refuse={REPORTS.name: "InvalidReplicationFactorError: 3 > 1 brokers"})
    report = await reconcile(admin, specs(PRODUCTION, [CITIZENS, REPORTS]))
    assert report.created == [CITIZENS.name]
    assert report.failed == {REPORTS.name: "InvalidReplicationFactorError: 3 > 1 brokers"}
    assert report.mismatches == [] and not report.ok


# -- against the real broker ------------------------------------------------------------------
