"""The broker's security settings: secrets from files, fail-fast checks, the aiokafka
options every client gets and faust's credentials. No broker needed."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import certifi
import faust
import pytest
from pydantic import ValidationError

from services.common import kafka
from services.common.kafka import (
    clear_security_cache,
    kafka_security,
    make_admin,
    make_consumer,
    make_producer,
    topic_replication_factor,
)
from services.common.settings import BrokerSettings, KafkaSecuritySettings
from services.matching.app import broker_credentials

SECURITY_VARIABLES = (
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SASL_PASSWORD_FILE",
    "KAFKA_SSL_CAFILE",
    "KAFKA_TOPIC_REPLICATION_FACTOR",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in SECURITY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    clear_security_cache()
    yield
    clear_security_cache()


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "kafka_events_password"
    path.write_text("s3cret-from-a-docker-secret\n")
    return path


def sasl_ssl(monkeypatch: pytest.MonkeyPatch, password_file: Path) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "jobmatch-events")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(password_file))
    monkeypatch.setenv("KAFKA_SSL_CAFILE", certifi.where())


def test_the_defaults_are_plaintext_without_credentials() -> None:
    settings = BrokerSettings()  # type: ignore[call-arg]
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert not settings.uses_sasl and not settings.uses_tls
    assert kafka_security(settings) == {}
    assert kafka_security() == {}
    assert broker_credentials(settings) is None


def test_the_password_is_read_from_its_file_once(
    monkeypatch: pytest.MonkeyPatch, password_file: Path
) -> None:
    sasl_ssl(monkeypatch, password_file)
    settings = BrokerSettings()  # type: ignore[call-arg]
    assert settings.kafka_sasl_password.get_secret_value() == "s3cret-from-a-docker-secret"
    assert "s3cret" not in repr(settings)
    # The clients' environment settings are read once: a later change of the file (or its
    # removal) does not reach clients made afterwards.
    first = kafka_security()
    password_file.unlink()
    assert kafka_security()["sasl_plain_password"] == first["sasl_plain_password"]


def test_a_missing_password_file_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "jobmatch-events")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "not-mounted"))
    with pytest.raises(ValidationError, match=r"KAFKA_SASL_PASSWORD_FILE=.*not-mounted"):
        BrokerSettings()  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="KAFKA_SASL_PASSWORD_FILE"):
        kafka_security()


def test_an_empty_password_file_or_two_passwords_stop_start_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, password_file: Path
) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    sasl_ssl(monkeypatch, empty)
    with pytest.raises(
        ValidationError, match=r"KAFKA_SASL_PASSWORD_FILE=.*empty: the secret file is empty"
    ):
        BrokerSettings()  # type: ignore[call-arg]
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(password_file))
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "another-secret")
    with pytest.raises(ValidationError, match="not both") as caught:
        BrokerSettings()  # type: ignore[call-arg]
    # The error is logged at start-up: it must not carry the secrets it was given.
    assert "another-secret" not in str(caught.value)


def test_sasl_without_a_user_or_password_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, password_file: Path
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(password_file))
    with pytest.raises(ValidationError, match="SASL_SSL needs KAFKA_SASL_USERNAME"):
        BrokerSettings()  # type: ignore[call-arg]
    monkeypatch.delenv("KAFKA_SASL_PASSWORD_FILE")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "jobmatch-events")
    with pytest.raises(ValidationError, match="needs KAFKA_SASL_PASSWORD_FILE"):
        BrokerSettings()  # type: ignore[call-arg]


def test_credentials_or_a_ca_without_the_protocol_that_uses_them_stop_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A forgotten KAFKA_SECURITY_PROTOCOL would otherwise connect without authenticating.
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "jobmatch-events")
    with pytest.raises(ValidationError, match="PLAINTEXT does not use SASL"):
        BrokerSettings()  # type: ignore[call-arg]
    monkeypatch.delenv("KAFKA_SASL_USERNAME")
    monkeypatch.setenv("KAFKA_SSL_CAFILE", certifi.where())
    with pytest.raises(ValidationError, match="does not use TLS"):
        BrokerSettings()  # type: ignore[call-arg]
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("KAFKA_SSL_CAFILE", "/nowhere/ca.pem")
    with pytest.raises(
        ValidationError, match=re.escape("KAFKA_SSL_CAFILE=/nowhere/ca.pem: no such file")
    ):
        BrokerSettings()  # type: ignore[call-arg]


def test_unknown_protocols_and_mechanisms_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "TLS")
    with pytest.raises(ValidationError, match="kafka_security_protocol"):
        BrokerSettings()  # type: ignore[call-arg]
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "sasl_plaintext")  # any case
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "GSSAPI")
    with pytest.raises(ValidationError, match="kafka_sasl_mechanism"):
        BrokerSettings()  # type: ignore[call-arg]


def test_the_helper_gives_the_aiokafka_options_for_sasl_ssl(
    monkeypatch: pytest.MonkeyPatch, password_file: Path
) -> None:
    sasl_ssl(monkeypatch, password_file)
    options = kafka_security(BrokerSettings())  # type: ignore[call-arg]
    context = options.pop("ssl_context")
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "jobmatch-events",
        "sasl_plain_password": "s3cret-from-a-docker-secret",
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_the_helper_gives_tls_without_sasl_and_sasl_without_tls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SSL")
    options = kafka_security(KafkaSecuritySettings())
    assert set(options) == {"security_protocol", "ssl_context"}
    assert options["security_protocol"] == "SSL"
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "jobmatch-profiles")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "from-the-environment")
    assert kafka_security(KafkaSecuritySettings()) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "jobmatch-profiles",
        "sasl_plain_password": "from-the-environment",
    }


class Recorder:
    """Stands in for an aiokafka client class: keeps the options it was made with."""

    made: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **options: Any) -> None:
        self.made.append(options)


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    Recorder.made = []
    for name in ("AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient"):
        monkeypatch.setattr(kafka, name, Recorder)
    return Recorder.made


def test_the_client_factories_use_the_environments_security(
    monkeypatch: pytest.MonkeyPatch, password_file: Path, made: list[dict[str, Any]]
) -> None:
    sasl_ssl(monkeypatch, password_file)
    make_producer("kafka-1:9092")
    make_consumer("kafka-1:9092", enable_auto_commit=False)
    make_admin("kafka-1:9092", request_timeout_ms=1000)
    assert len(made) == 3
    for options in made:
        assert options["bootstrap_servers"] == "kafka-1:9092"
        assert options["security_protocol"] == "SASL_SSL"
        assert options["sasl_mechanism"] == "SCRAM-SHA-512"
        assert options["sasl_plain_username"] == "jobmatch-events"
        assert options["sasl_plain_password"] == "s3cret-from-a-docker-secret"
        assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert made[0]["acks"] == "all" and made[1]["enable_auto_commit"] is False


def test_plaintext_clients_are_made_as_before(made: list[dict[str, Any]]) -> None:
    make_producer("127.0.0.1:9092", linger_ms=0)
    make_consumer("127.0.0.1:9092")
    producer, consumer = made
    assert not {k for k in producer if k.startswith(("security", "sasl", "ssl"))}
    assert producer["linger_ms"] == 0 and producer["enable_idempotence"] is False
    assert consumer == {"bootstrap_servers": "127.0.0.1:9092"}


def test_explicit_settings_win_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, password_file: Path, made: list[dict[str, Any]]
) -> None:
    sasl_ssl(monkeypatch, password_file)
    # A caller that threads its own settings through passes their options.
    make_consumer("kafka-1:9092", security={})
    assert made == [{"bootstrap_servers": "kafka-1:9092"}]


def test_faust_gets_sasl_credentials_over_tls(
    monkeypatch: pytest.MonkeyPatch, password_file: Path
) -> None:
    sasl_ssl(monkeypatch, password_file)
    credentials = broker_credentials(BrokerSettings())  # type: ignore[call-arg]
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.username == "jobmatch-events"
    assert credentials.password == "s3cret-from-a-docker-secret"
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SSL")
    for name in ("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD_FILE"):
        monkeypatch.delenv(name)
    tls_only = broker_credentials(BrokerSettings())  # type: ignore[call-arg]
    assert isinstance(tls_only, faust.SSLCredentials)
    assert tls_only.protocol.value == "SSL"


def test_topics_get_the_configured_replication_factor(monkeypatch: pytest.MonkeyPatch) -> None:
    assert topic_replication_factor() == 1
    monkeypatch.setenv("KAFKA_TOPIC_REPLICATION_FACTOR", "3")
    assert topic_replication_factor() == 3
    monkeypatch.setenv("KAFKA_TOPIC_REPLICATION_FACTOR", "0")
    with pytest.raises(ValueError, match="KAFKA_TOPIC_REPLICATION_FACTOR"):
        topic_replication_factor()
