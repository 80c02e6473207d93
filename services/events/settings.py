"""Events service settings (environment variables, validated at start-up)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import InfraSettings


class EventsSettings(InfraSettings):
    events_host: str = "127.0.0.1"
    events_port: int = Field(default=8000, ge=1, le=65535)
    redis_key_prefix: str = "jm:events:"
