"""Settings fail fast: a service without its broker or Redis does not start half-configured."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.events.settings import EventsSettings
from services.matching.settings import MatchingSettings


def test_missing_or_malformed_settings_stop_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(ValidationError, match="kafka_bootstrap_servers"):
        MatchingSettings()  # type: ignore[call-arg]
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker-without-port")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    with pytest.raises(ValidationError, match="host:port"):
        EventsSettings()  # type: ignore[call-arg]
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    monkeypatch.setenv("REDIS_URL", "http://nope")
    with pytest.raises(ValidationError, match="redis://"):
        EventsSettings()  # type: ignore[call-arg]
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("EVENTS_PORT", "9123")
    assert EventsSettings().events_port == 9123  # type: ignore[call-arg]
