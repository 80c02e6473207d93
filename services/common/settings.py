"""Settings every service shares, read from the environment once, at the composition root.

Secrets (the broker's SASL password, the Redis password) come from the environment or, in
production, from a mounted file named by a `*_FILE` variable (docker secrets): the file is
read here, once, at start-up. A file that cannot be read stops the service with the
variable's name; so does a half-given configuration (SASL without a user, a user without a
password). With nothing set, nothing changes: PLAINTEXT to the broker and no Redis password,
as the embedded stack runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]

# Enough for one process on a small machine (a query holds a connection for a round trip or
# two, well under a millisecond); waiting longer than the timeout means overload: 503.
DEFAULT_REDIS_MAX_CONNECTIONS = 50
DEFAULT_REDIS_POOL_TIMEOUT_S = 2.0
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


def read_secret_file(variable: str, path: str) -> str:
    """The one-line secret in `path` (a trailing newline is dropped); `variable` names the
    setting in the error, so a missing docker secret says which one."""
    try:
        value = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"{variable}={path}: cannot read the secret file ({reason})") from None
    value = value.rstrip("\r\n")
    if not value:
        raise ValueError(f"{variable}={path}: the secret file is empty")
    if "\n" in value or "\r" in value:
        raise ValueError(f"{variable}={path}: the secret file must hold one line")
    return value


def _secret_from_file(data: Any, field: str) -> Any:
    """Put the content of `<field>_file` into `field` (a model's `before` step)."""
    if not isinstance(data, dict):
        return data
    path = data.get(f"{field}_file")
    if not path:
        return data
    given = data.get(field)
    if given and (given.get_secret_value() if isinstance(given, SecretStr) else given):
        variable = field.upper()
        raise ValueError(f"set {variable} or {variable}_FILE, not both")
    return {**data, field: read_secret_file(f"{field.upper()}_FILE", str(path))}


class KafkaSecuritySettings(BaseSettings):
    """How clients authenticate to the broker and encrypt the connection.

    PLAINTEXT (the default) is the embedded broker; production is SASL_SSL with
    SCRAM-SHA-512 and one user per service (deploy/README.md, "Production security").
    """

    # hide_input_in_errors: a refused setting must not print the secrets next to it.
    model_config = SettingsConfigDict(
        env_prefix="", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_sasl_password_file: str = Field(
        default="", description="A file holding the SASL password (docker secret)"
    )
    kafka_ssl_cafile: str = Field(
        default="", description="PEM CA bundle the broker's certificate is checked against"
    )

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _password_file(cls, data: Any) -> Any:
        return _secret_from_file(data, "kafka_sasl_password")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        protocol = self.kafka_security_protocol
        password = self.kafka_sasl_password.get_secret_value()
        if self.uses_sasl:
            if not self.kafka_sasl_username:
                raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME")
            if not password:
                raise ValueError(
                    f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_PASSWORD_FILE "
                    "(or KAFKA_SASL_PASSWORD)"
                )
        elif self.kafka_sasl_username or password:
            # A user without SASL would silently connect unauthenticated: refuse.
            raise ValueError(
                f"KAFKA_SASL_USERNAME/PASSWORD are set but KAFKA_SECURITY_PROTOCOL={protocol} "
                "does not use SASL (SASL_SSL or SASL_PLAINTEXT)"
            )
        if self.kafka_ssl_cafile:
            if not self.uses_tls:
                raise ValueError(
                    f"KAFKA_SSL_CAFILE is set but KAFKA_SECURITY_PROTOCOL={protocol} "
                    "does not use TLS (SSL or SASL_SSL)"
                )
            if not Path(self.kafka_ssl_cafile).is_file():
                raise ValueError(f"KAFKA_SSL_CAFILE={self.kafka_ssl_cafile}: no such file")
        return self

    @property
    def uses_sasl(self) -> bool:
        return self.kafka_security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.kafka_security_protocol in ("SSL", "SASL_SSL")


class BrokerSettings(KafkaSecuritySettings):
    """Where the broker is. Required: a service started without it fails fast."""

    kafka_bootstrap_servers: str = Field(
        description="Comma-separated host:port list, e.g. 127.0.0.1:9092"
    )
    log_level: str = "INFO"
    # The citizens' data keys (services/keys): every event written is sealed with them, every
    # one read opened. Empty: personal fields are written in plain text (warned at start).
    keystore_path: str = Field(
        default="", description="The key store's SQLite file (the embedded stack's data folder)"
    )

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _hosts(cls, value: str) -> str:
        for part in value.split(","):
            host, sep, port = part.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return value


def redis_url_with_credentials(url: str, username: str = "", password: str = "") -> str:
    """`url` with the ACL user and password put in (quoted); unchanged when neither is given.

    The URL may already carry one of them, but not the same one twice."""
    if not username and not password:
        return url
    parts = urlsplit(url)
    if username and parts.username:
        raise ValueError("REDIS_USERNAME is set and REDIS_URL has a user too: give one")
    if password and parts.password:
        raise ValueError("REDIS_PASSWORD(_FILE) is set and REDIS_URL has a password too: give one")
    user = quote(username, safe="") if username else (parts.username or "")
    secret = quote(password, safe="") if password else (parts.password or "")
    if user and not secret:
        raise ValueError("REDIS_USERNAME needs REDIS_PASSWORD_FILE (or REDIS_PASSWORD)")
    host = parts.netloc.rpartition("@")[2]
    auth = f"{user}:{secret}@" if user else f":{secret}@"
    return urlunsplit(parts._replace(netloc=auth + host))


class InfraSettings(BrokerSettings):
    """Broker and Redis, both required.

    `redis_url` is the URL the services connect with: given REDIS_USERNAME and
    REDIS_PASSWORD_FILE (or REDIS_PASSWORD), they are put into it at start-up.
    """

    # repr=False: once the password is put in, the URL is a secret.
    redis_url: str = Field(description="redis://host:port/db", repr=False)
    redis_username: str = Field(default="", description="The Redis ACL user")
    redis_password: SecretStr = SecretStr("")
    redis_password_file: str = Field(
        default="", description="A file holding the Redis password (docker secret)"
    )
    # The client's pool: at most this many connections; a request that finds them all busy
    # waits up to REDIS_POOL_TIMEOUT_S for one, then gets a 503 (services/common/redis.py).
    redis_max_connections: int = Field(
        default=DEFAULT_REDIS_MAX_CONNECTIONS,
        ge=1,
        le=10_000,
        description="Redis connections per process, at most",
    )
    redis_pool_timeout_s: float = Field(
        default=DEFAULT_REDIS_POOL_TIMEOUT_S,
        gt=0,
        le=60,
        description="Seconds to wait for a free Redis connection before answering 503",
    )

    @model_validator(mode="before")
    @classmethod
    def _redis_credentials(cls, data: Any) -> Any:
        data = _secret_from_file(data, "redis_password")
        if not isinstance(data, dict) or not isinstance(data.get("redis_url"), str):
            return data
        password = data.get("redis_password") or ""
        if isinstance(password, SecretStr):
            password = password.get_secret_value()
        username = data.get("redis_username") or ""
        url = redis_url_with_credentials(data["redis_url"], str(username), str(password))
        return {**data, "redis_url": url}

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"expected a redis:// URL, got {value.split('@')[-1]!r}")
        return value


class TopicSettings(BaseSettings):
    """How `jobmatch topics create` (and `jobmatch up`) make the catalogue's topics.

    The embedded broker has one node: replication 1. A production cluster of three wants
    KAFKA_TOPIC_REPLICATION_FACTOR=3 and KAFKA_TOPIC_MIN_INSYNC_REPLICAS=2: an acks=all
    write then survives the loss of any one broker, and is refused (never silently kept on
    one copy) when two are gone. A topic with fewer replicas than the cluster's
    `min.insync.replicas` refuses every acks=all write."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    kafka_topic_replication_factor: int = Field(
        default=1, ge=1, le=32, description="Copies of each partition"
    )
    kafka_topic_min_insync_replicas: int = Field(
        default=1, ge=1, le=32, description="Copies an acks=all write needs (min.insync.replicas)"
    )

    @model_validator(mode="after")
    def _writable(self) -> Self:
        if self.kafka_topic_min_insync_replicas > self.kafka_topic_replication_factor:
            raise ValueError(
                f"KAFKA_TOPIC_MIN_INSYNC_REPLICAS={self.kafka_topic_min_insync_replicas} is "
                f"more than KAFKA_TOPIC_REPLICATION_FACTOR={self.kafka_topic_replication_factor}"
                ": every acks=all write would be refused"
            )
        return self
