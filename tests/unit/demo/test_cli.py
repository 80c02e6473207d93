from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from services.demo.cli import demo_app


def test_generate_writes_the_files_and_summarises_them(tmp_path: Path) -> None:
    out = tmp_path / "syn"
    args = ["generate", "--cards", "60", "--orders", "12", "--seed", "5", "--months", "6"]
    result = CliRunner().invoke(demo_app, [*args, "--start", "2025-03-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    names = {"cards.jsonl", "orders.jsonl", "events.jsonl", "monitoring.jsonl", "truth.json"}
    assert names <= {p.name for p in out.iterdir()}
    assert len((out / "cards.jsonl").read_text().splitlines()) == 60
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("SYNTHETIC DATA")
    for name in names:
        assert any(line.startswith(str(out / name) + ": ") for line in lines), name


def test_generate_rejects_a_bad_start_date(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        demo_app, ["generate", "--start", "01-01-2025", "--out", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "YYYY-MM-DD" in result.output
