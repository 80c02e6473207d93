"""`jobmatch model shadow CANDIDATE` on a synthetic history, and `jobmatch model train` with
too few outcomes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from schemas.registry import REGISTRY
from services.cli import app
from services.demo.synthetic import generate, write_history
from services.matching.domain.pair_features import FEATURES
from services.matching.model.dataset import from_events
from services.matching.model.linear import LinearModel
from services.matching.model.registry import Registry

ACTIVE = "20980101T000000-logistic"
CANDIDATE = "20990101T000000-logistic"


def a_model(version: str, shift: int) -> LinearModel:
    n = len(FEATURES)
    coef = np.roll(np.linspace(1.2, -0.8, n), shift)
    return LinearModel(version, tuple(FEATURES), np.zeros(n), np.ones(n), coef, -1.5)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    write_history(generate(160, 40, seed=5, start=dt.date(2025, 1, 1), months=6), out)
    return out


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    Registry(root).save(a_model(ACTIVE, 0), {"approved": True, "training_data": "synthetic"})
    Registry(root).save(a_model(CANDIDATE, 5), {"approved": False, "training_data": "synthetic"})
    return root


def shadow(history: Path, registry: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        [
            "model",
            "shadow",
            *extra,
            "--events",
            str(history / "events.jsonl"),
            "--registry",
            str(registry),
            "--monitoring",
            str(history / "monitoring.jsonl"),
        ],
    )
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def report(history: Path, registry: Path) -> dict:  # type: ignore[type-arg]
    code, out = shadow(history, registry, CANDIDATE, "--json")
    assert code == 0, out
    return json.loads(out)  # type: ignore[no-any-return]


def test_the_report_compares_the_candidate_with_the_newest_approved(report: dict) -> None:  # type: ignore[type-arg]
    assert report["models"] == {"active": ACTIVE, "candidate": CANDIDATE}
    assert report["k"] == 10 and report["capacity"] == 5
    outcomes = report["outcomes"]
    assert outcomes["labelled"] > 20 and 0 < outcomes["good"] < outcomes["labelled"]
    for side in ("active", "candidate"):
        part = report[side]
        assert part["announcements"] > 0
        m = part["outcomes"]
        assert 0 <= m["auc"] <= 1 and 0 < m["ndcg@10"] <= 1 and 0 <= m["precision@10"] <= 1
        assert 0 <= part["hires_suggested"] <= outcomes["hires"]
        e = part["exposure"]
        assert 0 < e["coverage"] <= 1 and 0 <= e["congestion"] < 1
        assert 1 <= e["max_orders_per_citizen"] <= e["pairs"]
        assert 0 < e["top_decile_share"] <= 1
        fair = part["fairness"]
        assert fair["consented"] > 0
        for attribute in ("gender", "origin_group"):
            groups = fair[attribute]["groups"]
            assert groups and all(0 <= g["rate"] <= 1 for g in groups)
            assert fair[attribute]["flagged"] == any(g["below_four_fifths"] for g in groups)
    ov = report["overlap"]
    assert 0 <= ov["jaccard"] < 1  # another model suggests others
    both = ov["pairs_both"]
    assert both + ov["pairs_only_active"] == report["active"]["exposure"]["pairs"]
    assert both + ov["pairs_only_candidate"] == report["candidate"]["exposure"]["pairs"]


def test_a_model_against_itself_differs_in_nothing(history: Path, registry: Path) -> None:
    code, out = shadow(history, registry, ACTIVE, "--json")
    assert code == 0, out
    same = json.loads(out)
    assert same["overlap"]["jaccard"] == 1.0
    assert same["overlap"]["pairs_only_active"] == same["overlap"]["pairs_only_candidate"] == 0
    assert same["active"] == same["candidate"]


def test_the_text_report_is_danish_and_english_on_request(
    history: Path,
    registry: Path,
    report: dict,  # type: ignore[type-arg]
) -> None:
    code, da = shadow(history, registry, CANDIDATE, "--active", ACTIVE)
    assert code == 0, da
    assert da.startswith(f"Skyggekørsel: {CANDIDATE} mod den aktive model {ACTIVE}")
    for heading in ("Mod de registrerede udfald", "Eksponering", "Overlap", "Fairness", "køn"):
        assert heading in da
    assert f"{report['active']['outcomes']['ndcg@10']:.4f}" in da
    code, en = shadow(history, registry, CANDIDATE, "--lang", "en")
    assert code == 0, en
    assert en.startswith("Shadow run:") and "Against the recorded outcomes" in en


def test_an_unknown_candidate_is_one_sentence(history: Path, registry: Path) -> None:
    code, out = shadow(history, registry, "19990101T000000-nope")
    assert code == 1
    assert "Traceback" not in out
    assert out.strip() == (
        f"Modelversionen '19990101T000000-nope' findes hverken i {registry} eller blandt "
        "de medfølgende modeller."
    )


# -- training with too few outcomes ----------------------------------------------------------


def few_outcomes(history: Path, tmp: Path, labelled: int) -> Path:
    """The history cut where it holds `labelled` decided suggestions."""
    lines = (history / "events.jsonl").read_text(encoding="utf-8").splitlines()
    events = [REGISTRY.decode(line) for line in lines]
    order = sorted(range(len(events)), key=lambda i: events[i].occurred_at)
    kept: list[int] = []
    for i in order:
        kept.append(i)
        if len(from_events([events[j] for j in kept]).labelled) > labelled:
            kept.pop()
            break
    out = tmp / "few.jsonl"
    out.write_text("".join(lines[i] + "\n" for i in kept), encoding="utf-8")
    return out


def test_train_on_too_few_outcomes_says_what_is_missing(history: Path, tmp_path: Path) -> None:
    events = few_outcomes(history, tmp_path, 3)
    dataset = from_events(REGISTRY.decode(x) for x in events.read_text().splitlines())
    n = len(dataset.labelled)
    good = sum(1 for e in dataset.labelled if e.label == 1)
    args = ["model", "train", "--events", str(events), "--registry", str(tmp_path / "m")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    sentence = result.output.strip()
    assert "\n" not in sentence and sentence.endswith(".")
    assert sentence.startswith(
        f"For få afgjorte forslag at træne på: loggen har {n} ({good} gode, {n - good} dårlige)"
    )
    assert "mindst 20" in sentence
    assert not (tmp_path / "m").exists()  # nothing registered

    english = CliRunner().invoke(app, [*args, "--lang", "en"])
    assert english.exit_code == 1
    assert english.output.strip().startswith(
        f"Too few decided suggestions to train on: the log has {n}"
    )
    assert CliRunner().invoke(app, args, env={"JOBMATCH_LANG": "en"}).output.startswith("Too few")


def test_train_on_a_log_without_outcomes(history: Path, tmp_path: Path) -> None:
    events = few_outcomes(history, tmp_path, 0)
    result = CliRunner().invoke(app, ["model", "evaluate", "--events", str(events), "--lang", "en"])
    assert result.exit_code == 1
    assert result.output.strip().startswith(
        "Too few decided suggestions to train on: the log has 0 (0 good, 0 poor)"
    )
