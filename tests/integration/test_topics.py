"""`jobmatch topics create|check` against the session's real Tansu (its `broker` fixture)."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import NewTopic
from typer.testing import CliRunner

from schemas.topics import CATALOGUE, Topic
from services.cli import app
from services.common.kafka import ensure_topics, make_admin, reconcile_topics
from services.common.settings import TopicSettings
from services.common.topics import MIN_INSYNC, RETENTION_MS

PRODUCTION = TopicSettings(kafka_topic_replication_factor=3, kafka_topic_min_insync_replicas=2)


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_TOPIC_REPLICATION_FACTOR", "KAFKA_TOPIC_MIN_INSYNC_REPLICAS"):
        monkeypatch.delenv(name, raising=False)


def _fresh(partitions: int = 3) -> Topic:
    return Topic(f"jm-test-{uuid.uuid4().hex[:8]}", "id", partitions, "a test topic")


async def test_the_session_broker_holds_the_catalogue_as_the_default_settings_want(
    broker: str,
) -> None:
    report = await reconcile_topics(broker, create=False)
    assert report.ok, [str(m) for m in report.mismatches]
    # The same topics fall short of a production cluster's settings, and say how.
    short = await reconcile_topics(broker, settings=PRODUCTION, create=False)
    assert {(m.topic, m.what, m.found) for m in short.mismatches} == {
        (t.name, what, found)
        for t in CATALOGUE
        for what, found in (
            (
                "the replication factor",
                f"1 (partitions {', '.join(map(str, range(t.partitions)))})",
            ),
            (MIN_INSYNC, "1"),
        )
    }


async def test_topics_are_made_with_the_settings(
    broker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_TOPIC_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("KAFKA_TOPIC_MIN_INSYNC_REPLICAS", "2")
    topic = _fresh()
    assert await ensure_topics(broker, [topic]) == [topic.name]
    report = await reconcile_topics(broker, [topic], settings=PRODUCTION, create=False)
    assert report.ok, [str(m) for m in report.mismatches]
    # Made again: nothing to do.
    assert await ensure_topics(broker, [topic]) == []


async def test_a_topic_made_otherwise_is_a_mismatch(broker: str) -> None:
    topic = _fresh(partitions=3)
    admin = make_admin(broker)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic.name, num_partitions=4, replication_factor=1)])
    finally:
        await admin.close()
    report = await reconcile_topics(broker, [topic], settings=TopicSettings())
    assert report.created == []
    assert [(m.what, m.found, m.wanted) for m in report.mismatches] == [
        ("the partition count", "4", "3"),
        (MIN_INSYNC, "not reported by the broker", "1"),
        ("retention.bytes", "not reported by the broker", "-1"),
        (RETENTION_MS, "not reported by the broker", "-1"),
    ]


def test_the_commands_exit_1_on_a_mismatch(broker: str, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    env = {"KAFKA_BOOTSTRAP_SERVERS": broker}
    done = runner.invoke(app, ["topics", "create"], env=env)
    assert done.exit_code == 0, done.output
    assert "created: none (all exist)" in done.output
    assert "every topic matches the catalogue" in done.output
    monkeypatch.setenv("KAFKA_TOPIC_REPLICATION_FACTOR", "3")
    done = runner.invoke(app, ["topics", "check"], env=env)
    assert done.exit_code == 1, done.output
    lines = [line for line in done.output.splitlines() if line.startswith("mismatch: ")]
    assert len(lines) == len(CATALOGUE)
    assert (
        "mismatch: jobmatch.citizens: the replication factor is 1 (partitions 0, 1, 2), "
        "the catalogue wants 3" in done.output
    )
    monkeypatch.setenv("KAFKA_TOPIC_MIN_INSYNC_REPLICAS", "5")
    done = runner.invoke(app, ["topics", "check"], env=env)
    assert done.exit_code == 2 and "every acks=all write would be refused" in done.output
