from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from services.reference.cli import taxonomy_app

WAREHOUSE_WORKER = "http://data.europa.eu/esco/occupation/bea705fe-06ac-4147-b8e0-6e8ac1208d8f"


def _lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_link_reads_stdin_and_writes_json_lines() -> None:
    result = CliRunner().invoke(
        taxonomy_app, ["link", "--top", "3"], input="lagermedarbejder\n\nkok\n"
    )
    assert result.exit_code == 0, result.output
    rows = _lines(result.stdout)
    assert [r["query"] for r in rows] == ["lagermedarbejder", "kok"]
    first = rows[0]["results"]
    assert isinstance(first, list) and len(first) == 3
    assert set(first[0]) == {"uri", "label", "score"}
    assert first[0]["uri"] == WAREHOUSE_WORKER
    assert first[0]["label"] == "lagerarbejder"
    scores = [r["score"] for r in first]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_link_reads_a_file_in_english(tmp_path: Path) -> None:
    path = tmp_path / "titles.txt"
    path.write_text("Lagermedarbejder\n", encoding="utf-8")
    result = CliRunner().invoke(
        taxonomy_app, ["link", "--lang", "en", "--top", "1", "--input", str(path)]
    )
    assert result.exit_code == 0, result.output
    (row,) = _lines(result.stdout)
    assert row == {
        "query": "Lagermedarbejder",
        "results": [{"uri": WAREHOUSE_WORKER, "label": "warehouse worker", "score": 1.0}],
    }


def test_link_rejects_unknown_language() -> None:
    result = CliRunner().invoke(taxonomy_app, ["link", "--lang", "de"], input="kok\n")
    assert result.exit_code != 0
