"""Settings read from the environment: tests start from a known one."""

from __future__ import annotations

import pytest

# What the machine's environment could set that these settings read.
SETTINGS_ENV = (
    "REDIS_USERNAME",
    "REDIS_PASSWORD",
    "REDIS_PASSWORD_FILE",
    "REDIS_MAX_CONNECTIONS",
    "REDIS_POOL_TIMEOUT_S",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SASL_PASSWORD_FILE",
    "KAFKA_SSL_CAFILE",
)


@pytest.fixture
def infra_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No credentials or pool options from the environment, a broker address set."""
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092")
    return monkeypatch
