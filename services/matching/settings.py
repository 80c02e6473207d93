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
    # How often the worker looks for a newly approved model (an approval through its own
    # API is seen at once); it then appends ModelActivated and switches without a restart.
    matching_model_poll_s: float = Field(default=5.0, gt=0)
    # A dead worker's partitions are handed on after this; the broker waits it out on rejoin.
    matching_session_timeout_s: float = Field(default=3.0, gt=0)
    # Snapshots of the state with the log positions it reflects (see snapshot.py): the worker
    # starts from the newest and applies only what follows. Off: it replays the whole log.
    matching_snapshots: bool = True
    # Default: <matching_data_dir>/snapshots.
    matching_snapshot_dir: Path | None = None
    # A snapshot every this many seconds if anything was applied meanwhile, and as soon as
    # this many records were applied (what a restart applies after the snapshot, besides
    # whatever arrived while it was down: about 300 records/s at 1M events of history). While
    # catching up on a backlog, the count waits until the agent has worked 4 times as long
    # as the last snapshot took to pickle (the agent waits meanwhile: ~5 s at 60k cards).
    matching_snapshot_interval_s: float = Field(default=30.0, gt=0)
    matching_snapshot_every_events: int = Field(default=2000, ge=1)
    # The fitted ESCO taxonomy (the linker's text indexes), pickled so that a restart loads it
    # instead of fitting it again. Default: <matching_data_dir>/taxonomy.
    matching_taxonomy_cache_dir: Path | None = None
    matching_taxonomy_cache: bool = True

    @property
    def snapshot_dir(self) -> Path:
        return self.matching_snapshot_dir or self.matching_data_dir / "snapshots"

    @property
    def taxonomy_cache_dir(self) -> Path | None:
        if not self.matching_taxonomy_cache:
            return None
        return self.matching_taxonomy_cache_dir or self.matching_data_dir / "taxonomy"
