"""Thin aiokafka helpers shared by the services: topics, producers, readiness, replay.

Every client made here gets the broker's security options (SASL, TLS) from
`kafka_security()`: the KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* / KAFKA_SSL_CAFILE settings,
read from the environment once per process (the same variables the services' settings
validate at start-up). With none set the clients speak PLAINTEXT, as before.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import DefaultPartitioner, murmur2
from pydantic import ValidationError

from schemas.topics import CATALOGUE, Topic
from services.common.settings import KafkaSecuritySettings, TopicSettings
from services.common.topics import KafkaTopicAdmin, TopicReport, reconcile, specs

log = logging.getLogger(__name__)

Security = Mapping[str, Any]


def ssl_context(settings: KafkaSecuritySettings) -> ssl.SSLContext:
    """Verifies the broker's certificate and host name, against KAFKA_SSL_CAFILE if given,
    else the system's CAs."""
    return create_ssl_context(cafile=settings.kafka_ssl_cafile or None)


def kafka_security(settings: KafkaSecuritySettings | None = None) -> dict[str, Any]:
    """The aiokafka keyword arguments (producer, consumer, admin client alike) for the
    broker's security settings: `settings`, or those of the environment (read once).
    Empty for PLAINTEXT, so the clients' defaults stay as they were."""
    if settings is None:
        return dict(_security_from_env())
    return _security(settings)


def _security(settings: KafkaSecuritySettings) -> dict[str, Any]:
    if settings.kafka_security_protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if settings.uses_tls:
        options["ssl_context"] = ssl_context(settings)
    if settings.uses_sasl:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


@functools.cache
def _security_from_env() -> Security:
    """Read once: the password file is read at the first client, not at every one.
    Invalid settings raise here (pydantic's ValidationError names the variable)."""
    return _security(KafkaSecuritySettings())


def clear_security_cache() -> None:
    """Forget the environment's security settings (tests that change the environment)."""
    _security_from_env.cache_clear()


def _options(bootstrap: str, security: Security | None) -> dict[str, Any]:
    return {
        "bootstrap_servers": bootstrap,
        **(kafka_security() if security is None else security),
    }


def make_admin(
    bootstrap: str, *, security: Security | None = None, **overrides: Any
) -> AIOKafkaAdminClient:
    """`security`: aiokafka options from `kafka_security(settings)`; default the environment's."""
    return AIOKafkaAdminClient(**{**_options(bootstrap, security), **overrides})


def make_consumer(
    bootstrap: str, *, security: Security | None = None, **overrides: Any
) -> AIOKafkaConsumer:
    """A consumer with the broker's security options; `overrides` are aiokafka options."""
    return AIOKafkaConsumer(**{**_options(bootstrap, security), **overrides})


def topic_settings() -> TopicSettings:
    """KAFKA_TOPIC_REPLICATION_FACTOR and KAFKA_TOPIC_MIN_INSYNC_REPLICAS, each default 1
    (the embedded broker has one node); ValueError naming the variable when invalid."""
    try:
        return TopicSettings()
    except ValidationError as exc:
        problems = "; ".join(
            ": ".join(
                part
                for part in (
                    ".".join(map(str, e["loc"])).upper(),
                    e["msg"].removeprefix("Value error, "),
                )
                if part
            )
            for e in exc.errors()
        )
        raise ValueError(problems) from None


def topic_replication_factor() -> int:
    """KAFKA_TOPIC_REPLICATION_FACTOR, default 1. The production cluster wants 3: with
    `min.insync.replicas=2`, a topic with fewer replicas refuses every acks=all write."""
    return topic_settings().kafka_topic_replication_factor


async def reconcile_topics(
    bootstrap: str,
    topics: Iterable[Topic] = CATALOGUE,
    settings: TopicSettings | None = None,
    create: bool = True,
    security: Security | None = None,
) -> TopicReport:
    """Make the missing topics (when `create`) and check every one against the catalogue
    and `settings` (default: the environment's); see `services.common.topics`."""
    wanted = specs(settings or topic_settings(), topics)
    admin = make_admin(bootstrap, security=security, request_timeout_ms=10000)
    await admin.start()
    try:
        return await reconcile(KafkaTopicAdmin(admin), wanted, create=create)
    finally:
        await admin.close()


async def ensure_topics(
    bootstrap: str,
    topics: Iterable[Topic] = CATALOGUE,
    replication_factor: int | None = None,
    security: Security | None = None,
) -> list[str]:
    """Create each missing topic with its catalogued partition count, the settings'
    replication factor and min.insync.replicas, and infinite retention; return those
    created. A topic the broker refuses raises; a mismatch of an existing one does not
    (`reconcile_topics` reports those).

    Never rely on auto-creation: it picks the broker's default partition count.
    `replication_factor`: default KAFKA_TOPIC_REPLICATION_FACTOR, else 1.
    """
    settings = topic_settings()
    if replication_factor is not None:
        settings = TopicSettings(
            kafka_topic_replication_factor=replication_factor,
            kafka_topic_min_insync_replicas=min(
                settings.kafka_topic_min_insync_replicas, replication_factor
            ),
        )
    report = await reconcile_topics(bootstrap, topics, settings, security=security)
    if report.failed:
        refused = "; ".join(f"{name}: {why}" for name, why in sorted(report.failed.items()))
        raise RuntimeError(f"the broker refused to create topics: {refused}")
    return report.created


def make_producer(
    bootstrap: str, *, security: Security | None = None, **overrides: object
) -> AIOKafkaProducer:
    """acks=all: a command is answered only when the broker has the event.

    `security`: aiokafka options from `kafka_security(settings)`; default the environment's."""
    options: dict[str, object] = {
        **_options(bootstrap, security),
        "acks": "all",
        # Bigger batches under load: the embedded broker's S3 engine stores one object per
        # batch and a fetch returns about one object per partition, so batch size sets the
        # read throughput there. A lone request waits at most this long.
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        "request_timeout_ms": 15000,
        # The broker has no idempotent producer (InitProducerId fails); see notes on broker.
        "enable_idempotence": False,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)  # type: ignore[arg-type]


class KeyPartitioner:
    """aiokafka's `DefaultPartitioner` (the Java client's murmur2 of the key, so a key lands on
    the partition it always did), with the hash of recent keys remembered: the pure-Python
    murmur2 costs ~9 µs a key, and a producer that writes many records per request about
    the same keys again and again (the audit trail: 20 citizens on a suggestions page) pays
    it once per key. Records without a key go to a random partition, as by default."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._hashes: dict[bytes, int] = {}

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return int(DefaultPartitioner()(key, all_partitions, available))
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self.max_keys:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[hashed % len(all_partitions)]


async def broker_reachable(
    bootstrap: str, timeout: float = 2.0, security: Security | None = None
) -> bool:
    try:
        admin = make_admin(bootstrap, security=security, request_timeout_ms=int(timeout * 1000))
    except Exception:
        log.warning("cannot configure the broker client", exc_info=True)
        return False
    try:
        await asyncio.wait_for(admin.start(), timeout)
        await asyncio.wait_for(admin.list_topics(), timeout)
        return True
    except Exception:
        return False
    finally:
        try:
            await admin.close()
        except Exception:
            log.debug("admin close failed", exc_info=True)


async def read_until(
    consumer: AIOKafkaConsumer,
    stop_at: dict[TopicPartition, int],
    batch_timeout_ms: int = 200,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Yield records of assigned partitions until each reaches its `stop_at` offset.

    The stop offsets come from the caller (tracked or committed positions, or the fetch
    highwater), never from ListOffsets(LATEST), which the embedded broker answers wrongly.
    """
    pending = {tp: off for tp, off in stop_at.items() if off > 0}
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=batch_timeout_ms)
        for tp, records in batch.items():
            for record in records:
                if tp in pending and record.offset < pending[tp]:
                    yield record
        for tp in list(pending):
            if await consumer.position(tp) >= pending[tp]:
                del pending[tp]


async def read_log(
    bootstrap: str,
    topics: Iterable[Topic],
    idle_ms: int = 1000,
    timeout: float | None = None,
    security: Security | None = None,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topics` from the start to the end the fetches report (highwater),
    or what has arrived when `timeout` seconds have passed."""
    consumer = make_consumer(bootstrap, security=security, enable_auto_commit=False)
    await consumer.start()
    out: list[ConsumerRecord[bytes, bytes]] = []
    try:
        parts = [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
        consumer.assign(parts)
        for tp in parts:
            consumer.seek(tp, 0)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        quiet = 0
        while quiet < idle_ms and (deadline is None or loop.time() < deadline):
            batch = await consumer.getmany(timeout_ms=200, max_records=10000)
            for records in batch.values():
                out.extend(records)
            done = True
            for tp in parts:
                high = consumer.highwater(tp)
                done = done and high is not None and await consumer.position(tp) >= high
            quiet = quiet + 200 if done and not batch else 0
    finally:
        await consumer.stop()
    return out
