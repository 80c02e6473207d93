"""Composition root of the events service."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.logs import configure_logging
from services.common.serve import serve
from services.events.app import create_app
from services.events.settings import EventsSettings


def bootstrap(settings: EventsSettings | None = None) -> tuple[FastAPI, EventsSettings]:
    settings = settings or EventsSettings()  # type: ignore[call-arg]
    configure_logging("events", settings.log_level)
    return create_app(settings), settings


def run() -> None:
    app, settings = bootstrap()
    serve(app, settings.events_host, settings.events_port)
