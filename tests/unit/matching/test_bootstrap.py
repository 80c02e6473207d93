"""Which score the matching service uses: the registry's newest approved model, else the
shipped one (trained on synthetic data), else the rules when asked for."""

from __future__ import annotations

import shutil
from pathlib import Path

from services.matching.bootstrap import choose_scorer
from services.matching.domain.learned import LearnedScorer
from services.matching.domain.scoring import RuleScorer
from services.matching.model.registry import SHIPPED, Registry
from services.matching.settings import MatchingSettings


def _settings(tmp_path: Path, **extra: str) -> MatchingSettings:
    return MatchingSettings(
        kafka_bootstrap_servers="127.0.0.1:9092",
        auth_issuer="http://issuer",
        auth_jwks_url="http://issuer/jwks",
        matching_model_dir=tmp_path,
        **extra,  # type: ignore[arg-type]
    )


def test_the_shipped_model_scores_when_the_registry_is_empty(tmp_path: Path) -> None:
    scorer, info = choose_scorer(_settings(tmp_path))
    shipped = Registry(SHIPPED).newest_approved()
    assert shipped is not None
    assert isinstance(scorer, LearnedScorer) and scorer.model_version == shipped.version
    assert info["training_data"] == "synthetic" and "SYNTHETIC" in info["note"]


def test_an_approved_model_of_the_registry_comes_first(tmp_path: Path) -> None:
    shipped = Registry(SHIPPED).newest_approved()
    assert shipped is not None
    newer = tmp_path / "29991231T000000-logistic"
    shutil.copytree(shipped.path, newer)
    (newer / "model.json").write_text(
        (newer / "model.json").read_text().replace(shipped.version, newer.name)
    )
    scorer, info = choose_scorer(_settings(tmp_path))
    assert scorer.model_version == newer.name and info["version"] == newer.name


def test_rules_on_request(tmp_path: Path) -> None:
    scorer, info = choose_scorer(_settings(tmp_path, matching_scorer="rules"))
    assert isinstance(scorer, RuleScorer) and info == {"version": "rules-1", "kind": "rules"}
