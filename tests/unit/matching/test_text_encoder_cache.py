"""The fitted text encoder is kept beside the taxonomy's cache: a restarted worker reads it
instead of fitting it again (seconds on its start-up path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.matching import linking


def test_the_text_encoder_is_written_once_and_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(linking, "_cache_dir", tmp_path)
    linking.text_encoder.cache_clear()
    try:
        fitted = linking.text_encoder()
        (written,) = tmp_path.glob(f"{linking.ENCODER_PREFIX}*.pickle")
        linking.text_encoder.cache_clear()

        def no_fitting() -> None:
            raise AssertionError("fitted again although the cache holds it")

        monkeypatch.setattr(linking, "_fit_text_encoder", no_fitting)
        again = linking.text_encoder()
        assert again.vocabulary == fitted.vocabulary
        assert list(again.idf) == list(fitted.idf)
        # A damaged file is fitted again (and written anew), not trusted.
        written.write_bytes(written.read_bytes()[:-1] + b"\0")
        linking.text_encoder.cache_clear()
        monkeypatch.undo()
        monkeypatch.setattr(linking, "_cache_dir", tmp_path)
        assert linking.text_encoder().vocabulary == fitted.vocabulary
    finally:
        linking.text_encoder.cache_clear()
