"""Composition root of the events service."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from services.common.logs import configure_logging
from services.events.app import create_app
from services.events.settings import EventsSettings


def bootstrap(settings: EventsSettings | None = None) -> tuple[FastAPI, EventsSettings]:
    settings = settings or EventsSettings()  # type: ignore[call-arg]
    configure_logging("events", settings.log_level)
    return create_app(settings), settings


def run() -> None:
    app, settings = bootstrap()
    uvicorn.run(
        app,
        host=settings.events_host,
        port=settings.events_port,
        log_config=None,
        server_header=False,
    )
