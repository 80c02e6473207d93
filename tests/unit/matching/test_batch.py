"""`jobmatch match rank`: the offline ranking interface."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from schemas.citizens import CompetenceCard
from services.cli import app
from services.matching.batch import CARD_DEFAULTS, lenient


def _write(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
    return path


def _run(tmp_path: Path, cards: list[Any], jobs: list[Any], per: str, top: int = 10) -> list[Any]:
    result = CliRunner().invoke(
        app,
        [
            "match",
            "rank",
            "--cards",
            str(_write(tmp_path / "cards.jsonl", cards)),
            "--jobs",
            str(_write(tmp_path / "jobs.jsonl", jobs)),
            "--per",
            per,
            "--top",
            str(top),
        ],
    )
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_rank_per_job_and_per_card(
    tmp_path: Path, amina: Any, yonas: Any, fatima: Any, lager: Any, kantine: Any
) -> None:
    per_job = {
        r["id"]: r["ranked"]
        for r in _run(tmp_path, [amina, yonas, fatima], [lager, kantine], "job")
    }
    assert per_job["jo-4410-aarhus-lager"][0]["id"] == "cit-7f3a9c2e"
    assert per_job["jo-4411-aarhus-kantine"][0]["id"] == "cit-2b8e41d0"
    # Those a hard requirement excludes come last, marked.
    assert all(c.get("excluded") for c in per_job["jo-4410-aarhus-lager"][1:])
    scores = [c["score"] for c in per_job["jo-4410-aarhus-lager"]]
    assert scores == sorted(scores, reverse=True)

    per_card = _run(tmp_path, [amina, yonas], [lager, kantine], "card", top=1)
    assert [(r["id"], r["ranked"][0]["id"]) for r in per_card] == [
        ("cit-7f3a9c2e", "jo-4410-aarhus-lager"),
        ("cit-2b8e41d0", "jo-4411-aarhus-kantine"),
    ]


def test_english_titles_without_uris(tmp_path: Path, amina: Any, yonas: Any) -> None:
    for doc in (amina, yonas):
        for item in doc["experience"]:
            item.pop("esco_occupation_uri", None)
    amina["experience"] = [{"title": "warehouse worker", "years": 3}]
    yonas["experience"] = [{"title": "cook", "years": 6}]
    jobs = [
        {
            "job_order_id": "jo-en-1",
            "title": "warehouse worker",
            "programme": "ordinary",
            "hours_per_week": 37,
            "worksite": {"postal_code": "8200"},
        },
        {"job_order_id": "jo-en-2", "title": "cook", "programme": "ordinary"},
    ]
    ranked = {r["id"]: r["ranked"][0]["id"] for r in _run(tmp_path, [amina, yonas], jobs, "job")}
    assert ranked == {"jo-en-1": "cit-7f3a9c2e", "jo-en-2": "cit-2b8e41d0"}


def test_lenient_parsing_keeps_what_is_valid(amina: dict[str, Any]) -> None:
    amina["danish"]["cefr"] = "Z9"
    amina["shoe_size"] = 42
    del amina["availability"]
    card = lenient(CompetenceCard, amina, CARD_DEFAULTS)
    assert card.danish.cefr is None and card.danish.course == "DU2"
    assert card.availability.hours_per_week == 37
    assert card.certificates == ["truckcertifikat"]
    with pytest.raises(ValueError):
        lenient(CompetenceCard, {"citizen_id": []}, {})


def test_exposure_measures_coverage_and_congestion() -> None:
    from services.matching.domain.ranking import exposure

    even = exposure([["a"], ["b"], ["c"], ["d"]], "abcd")
    assert even == {"coverage": 1.0, "congestion": 0.0, "population": 4.0}
    crowded = exposure([["a"], ["a"], ["a"], ["a"]], "abcd")
    assert crowded["coverage"] == 0.25 and crowded["congestion"] == 0.75
