"""Profiles service settings (environment variables, validated at start-up)."""

from __future__ import annotations

from pydantic import Field

from services.auth.settings import AuthSettings
from services.common.settings import InfraSettings


class ProfilesSettings(InfraSettings, AuthSettings):
    profiles_host: str = "127.0.0.1"
    profiles_port: int = Field(default=8001, ge=1, le=65535)
    # Each fetch costs the embedded broker's S3 engine a LIST per partition, so idle polling
    # is what limits it: wait longer per fetch rather than poll often.
    profiles_fetch_max_wait_ms: int = Field(default=500, ge=5, le=10000)
    # How long a query with min_position may wait for the views to catch up.
    profiles_max_wait_ms: int = Field(default=5000, ge=0, le=60000)
