"""The faust application: configuration only (agents and pages are in their own modules)."""

from __future__ import annotations

import faust
from faust.types.auth import CredentialsT

from services.common.kafka import ssl_context
from services.common.settings import KafkaSecuritySettings
from services.matching.settings import MatchingSettings


def broker_credentials(settings: KafkaSecuritySettings) -> CredentialsT | None:
    """faust's form of the broker security settings (None: PLAINTEXT, faust's default)."""
    protocol = settings.kafka_security_protocol
    context = ssl_context(settings) if settings.uses_tls else None
    if settings.uses_sasl:
        # faust speaks SASL_SSL when given a context, SASL_PLAINTEXT without one.
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password.get_secret_value(),
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return None


def create_app(settings: MatchingSettings) -> faust.App:
    servers = ";".join(f"kafka://{h.strip()}" for h in settings.kafka_bootstrap_servers.split(","))
    settings.matching_data_dir.mkdir(parents=True, exist_ok=True)
    return faust.App(
        settings.matching_group_id,
        broker=servers,
        broker_credentials=broker_credentials(settings),
        datadir=str(settings.matching_data_dir),
        store="memory://",
        # No leader topic: it would be auto-created with the broker's default partitions.
        topic_disable_leader=True,
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.matching_session_timeout_s,
        broker_heartbeat_interval=max(0.5, settings.matching_session_timeout_s / 3),
        producer_acks=-1,
        web_enabled=True,
        web_host=settings.matching_host,
        web_port=settings.matching_port,
        web_bind=settings.matching_host,
        # faust's own pages (router, tables, stats, graph) would bypass sign-in: off.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_stats_enabled=False,
        web_graph_enabled=False,
    )
