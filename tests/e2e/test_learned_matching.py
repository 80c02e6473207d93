"""The matching service scores with the newest approved model when there is one."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from services.cli import app
from services.demo import example_documents
from services.demo.synthetic import generate, write_history
from services.matching.domain.pair_features import FEATURES
from services.matching.model.dataset import from_events
from services.matching.model.registry import Registry
from services.stack import Stack, free_port_base
from tests.e2e.signin import administrator, consultant
from tests.integration.kafka_helpers import produce_events


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("learned")
    write_history(generate(600, 160, seed=11, start=dt.date(2025, 1, 1), months=12), home / "syn")
    trained = CliRunner().invoke(
        app,
        [
            "model",
            "train",
            "--events",
            str(home / "syn" / "events.jsonl"),
            "--registry",
            str(home / "models"),
            "--synthetic",
            "--approve",
        ],
    )
    assert trained.exit_code == 0, trained.output
    running = Stack(home=home, ports=free_port_base(), memory=True)
    with running.running():
        yield running


def test_suggestions_carry_the_model_and_its_explanation(stack: Stack) -> None:
    entry = Registry(stack.home / "models").newest_approved()
    assert entry is not None
    health = httpx.get(f"{stack.urls['matching']}/health", timeout=5).json()
    assert health["model"]["version"] == entry.version
    assert "SYNTHETIC" in health["model"]["note"]

    aarhus = consultant(stack)
    cards, orders = example_documents()
    for path, docs in (("/v1/competence-cards", cards), ("/v1/job-orders", orders)):
        for doc in docs:
            assert aarhus.post(stack.urls["events"] + path, json=doc, timeout=10).status_code == 202
    url = f"{stack.urls['profiles']}/v1/job-orders/jo-4410-aarhus-lager/suggestions"
    deadline = time.monotonic() + 15
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = aarhus.get(url, timeout=5).json()
        if body.get("suggestions"):
            break
        time.sleep(0.1)
    top = body["suggestions"][0]
    assert top["citizen_id"] == "cit-7f3a9c2e"
    assert top["model_version"] == entry.version
    assert 0 < top["score"] < 1
    assert top["reasons"] and {r["code"] for r in top["reasons"]} <= set(FEATURES)
    contributions = [abs(r["contribution"]) for r in top["reasons"]]
    assert contributions == sorted(contributions, reverse=True)


def test_evaluation_and_fairness_reports_reach_the_administrators(stack: Stack) -> None:
    assert stack.bootstrap
    syn = stack.home / "syn"
    env = {"KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap}
    runner = CliRunner()
    evaluated = runner.invoke(
        app,
        ["model", "evaluate", "--events", str(syn / "events.jsonl"), "--synthetic", "--publish"],
        env=env,
    )
    assert evaluated.exit_code == 0, evaluated.output
    fair = runner.invoke(
        app,
        [
            "model",
            "fairness",
            "--events",
            str(syn / "events.jsonl"),
            "--monitoring",
            str(syn / "monitoring.jsonl"),
            "--publish",
        ],
        env=env,
    )
    assert fair.exit_code == 0, fair.output
    profiles = stack.urls["profiles"]
    admin = administrator(stack)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        model = admin.get(f"{profiles}/v1/reports", params={"kind": "model"}, timeout=5).json()
        fairness = admin.get(
            f"{profiles}/v1/reports", params={"kind": "fairness"}, timeout=5
        ).json()
        if model["total"] and fairness["total"] == 2:
            break
        time.sleep(0.2)
    (report,) = model["reports"]
    assert report["training_data"] == "synthetic"
    assert set(report["scorers"]) == {"model", "rules", "tfidf"}
    assert {r["attribute"] for r in fairness["reports"]} == {"gender", "origin_group"}
    for r in fairness["reports"]:
        assert all(0 <= g["rate"] <= 1 for g in r["groups"])


def test_training_reads_the_outcomes_from_the_log(stack: Stack) -> None:
    """Without --events the model commands read the event log itself."""
    assert stack.bootstrap
    history = generate(300, 80, seed=5, start=dt.date(2025, 1, 1), months=12)

    asyncio.run(produce_events(stack.bootstrap, history.events))
    registry = stack.home / "from-log"
    result = CliRunner().invoke(
        app,
        ["model", "train", "--registry", str(registry), "--synthetic"],
        env={"KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap},
    )
    assert result.exit_code == 0, result.output
    (entry,) = Registry(registry).entries()
    examples = entry.metadata["examples"]
    labelled = from_events(history.events).labelled
    assert examples == len(labelled) > 0
