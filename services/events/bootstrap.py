"""Composition root of the events service."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.logs import configure_logging
from services.common.serve import serve
from services.events.app import OpenAdapters, create_app, open_adapters
from services.events.settings import EventsSettings


def bootstrap(
    settings: EventsSettings | None = None, adapters: OpenAdapters = open_adapters
) -> tuple[FastAPI, EventsSettings]:
    """The events service, wired: settings from the environment (failing fast), the Redis
    and Kafka adapters `adapters` opens (tests pass their own)."""
    settings = settings or EventsSettings()  # type: ignore[call-arg]
    configure_logging("events", settings.log_level)
    return create_app(settings, adapters), settings


def run() -> None:
    app, settings = bootstrap()
    serve(app, settings.events_host, settings.events_port)
