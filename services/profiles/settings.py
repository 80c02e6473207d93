"""Profiles service settings (environment variables, validated at start-up)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import InfraSettings


class ProfilesSettings(InfraSettings):
    profiles_host: str = "127.0.0.1"
    profiles_port: int = Field(default=8001, ge=1, le=65535)
