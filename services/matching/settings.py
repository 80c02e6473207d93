"""Matching service settings (environment variables, validated at start-up)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from services.auth.settings import AuthSettings
from services.common.settings import BrokerSettings


class MatchingSettings(BrokerSettings, AuthSettings):
    matching_group_id: str = "jobmatch-matching"
    matching_host: str = "127.0.0.1"
    matching_port: int = Field(default=6066, ge=1, le=65535)
    matching_top_k: int = Field(default=10, ge=1, le=200)
    matching_capacity: int = Field(default=5, ge=1, le=100)
    matching_data_dir: Path = Path("var/matching")
    # The newest approved model here scores; with none, the model shipped with the code
    # (trained on synthetic data); `matching_scorer=rules` forces the rule score ("rules-1").
    matching_model_dir: Path = Path("var/models")
    matching_scorer: Literal["model", "rules"] = "model"
    # A dead worker's partitions are handed on after this; the broker waits it out on rejoin.
    matching_session_timeout_s: float = Field(default=3.0, gt=0)
