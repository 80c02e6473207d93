"""The faust application: configuration only (agents and pages are in their own modules)."""

from __future__ import annotations

import faust

from services.matching.settings import MatchingSettings


def create_app(settings: MatchingSettings) -> faust.App:
    servers = ";".join(f"kafka://{h.strip()}" for h in settings.kafka_bootstrap_servers.split(","))
    settings.matching_data_dir.mkdir(parents=True, exist_ok=True)
    return faust.App(
        settings.matching_group_id,
        broker=servers,
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
    )
