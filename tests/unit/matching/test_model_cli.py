"""`jobmatch model train / evaluate / list / approve` on a synthetic history."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.demo.synthetic import generate, write_history
from services.matching.model.registry import Registry


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    write_history(generate(600, 160, seed=11, start=dt.date(2025, 1, 1), months=12), out)
    return out


def test_train_registers_a_version_with_its_evaluation(history: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    events = str(history / "events.jsonl")
    trained = runner.invoke(
        app, ["model", "train", "--events", events, "--registry", str(tmp_path), "--synthetic"]
    )
    assert trained.exit_code == 0, trained.output
    (entry,) = Registry(tmp_path).entries()
    meta = entry.metadata
    assert meta["training_data"] == "synthetic" and meta["approved"] is False
    assert set(meta["metrics"]) >= {"model", "rules", "tfidf", "train", "test"}
    assert meta["data_window"]["from"] < meta["data_window"]["to"]
    assert Registry(tmp_path).newest_approved() is None

    approved = runner.invoke(app, ["model", "approve", entry.version, "--registry", str(tmp_path)])
    assert approved.exit_code == 0
    assert Registry(tmp_path).newest_approved() is not None
    listed = runner.invoke(app, ["model", "list", "--registry", str(tmp_path)])
    assert entry.version in listed.output and "approved" in listed.output


def test_evaluate_reports_model_and_both_baselines(history: Path) -> None:
    result = CliRunner().invoke(
        app, ["model", "evaluate", "--events", str(history / "events.jsonl"), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for scorer in ("model", "rules", "tfidf"):
        assert set(report[scorer]) == {"auc", "ndcg@10", "precision@10"}
        assert 0 <= report[scorer]["auc"] <= 1
    # The test window follows the training window: a time-based hold-out.
    assert report["train"]["to"] <= report["test"]["from"]
    # Learned from outcomes, the model ranks them better than chance and than text similarity.
    assert report["model"]["auc"] > 0.55
    assert report["model"]["auc"] > report["tfidf"]["auc"]
    # Calibrated: the probabilities mean what they say, within a few points.
    assert report["calibration"]["ece"] < 0.1 and 0 < report["calibration"]["brier"] < 0.25


def test_match_rank_with_the_approved_model(history: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    registry = tmp_path / "models"
    trained = runner.invoke(
        app,
        [
            "model",
            "train",
            "--events",
            str(history / "events.jsonl"),
            "--registry",
            str(registry),
            "--synthetic",
            "--approve",
        ],
    )
    assert trained.exit_code == 0, trained.output
    cards = tmp_path / "cards.jsonl"
    jobs = tmp_path / "jobs.jsonl"
    cards.write_text("".join((history / "cards.jsonl").read_text().splitlines(True)[:40]))
    jobs.write_text("".join((history / "orders.jsonl").read_text().splitlines(True)[:15]))
    result = runner.invoke(
        app,
        [
            "match",
            "rank",
            "--cards",
            str(cards),
            "--jobs",
            str(jobs),
            "--per",
            "job",
            "--top",
            "5",
            "--models",
            str(registry),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 15 and all(len(line["ranked"]) == 5 for line in lines)
    for line in lines:
        scores = [r["score"] for r in line["ranked"]]
        assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    missing = runner.invoke(
        app,
        [
            "match",
            "rank",
            "--cards",
            str(cards),
            "--jobs",
            str(jobs),
            "--models",
            str(tmp_path / "empty"),
        ],
    )
    assert missing.exit_code != 0
