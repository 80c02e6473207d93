"""`jobmatch projections rebuild` refuses to run without the key store: every sealed card,
note and reason would otherwise be rebuilt as erased."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app


def test_a_rebuild_without_a_key_store_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBMATCH_HOME", str(tmp_path))  # no keys/keys.sqlite there
    monkeypatch.delenv("KEYSTORE_PATH", raising=False)
    result = CliRunner().invoke(
        app, ["projections", "rebuild", "--redis-url", "redis://127.0.0.1:1/0"]
    )
    assert result.exit_code == 2
    assert "Ingen nøglebutik" in result.output and "--without-keys" in result.output
