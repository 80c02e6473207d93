"""Settings fail fast: a service without its broker, Redis or issuer does not start
half-configured."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.events.settings import EventsSettings
from services.matching.settings import MatchingSettings


def test_missing_or_malformed_settings_stop_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("AUTH_ISSUER", "http://issuer")
    monkeypatch.setenv("AUTH_JWKS_URL", "http://issuer/jwks")
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


def test_a_service_without_an_issuer_does_not_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.delenv("AUTH_ISSUER", raising=False)
    monkeypatch.delenv("AUTH_JWKS_URL", raising=False)
    with pytest.raises(ValidationError, match="auth_issuer"):
        EventsSettings()  # type: ignore[call-arg]
    monkeypatch.setenv("AUTH_ISSUER", "http://issuer")
    monkeypatch.setenv("AUTH_JWKS_URL", "http://issuer/jwks")
    monkeypatch.setenv("AUTH_ALGORITHMS", "RS256,HS256")
    with pytest.raises(ValidationError, match="asymmetric"):
        EventsSettings()  # type: ignore[call-arg]
    monkeypatch.setenv("AUTH_ALGORITHMS", "RS256")
    monkeypatch.setenv("AUTH_ROLE_MAP", "fk-konsulent=wizard")
    with pytest.raises(ValidationError, match="idp-value=role"):
        EventsSettings()  # type: ignore[call-arg]
