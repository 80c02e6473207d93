"""Events service settings (environment variables, validated at start-up)."""

from __future__ import annotations

from pydantic import Field

from services.auth.settings import AuthSettings
from services.common.settings import InfraSettings


class EventsSettings(InfraSettings, AuthSettings):
    events_host: str = "127.0.0.1"
    events_port: int = Field(default=8000, ge=1, le=65535)
    redis_key_prefix: str = "jm:events:"
    # How often open job orders are checked for a passed application deadline.
    events_sweep_interval_s: float = Field(default=60.0, gt=0)
    events_fetch_max_wait_ms: int = Field(default=500, ge=5, le=10000)
    # How long a command's claim on its aggregates outlives a crash of the command.
    events_claim_ttl_ms: int = Field(default=10_000, ge=100, le=600_000)
