"""Composition root of the profiles service."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from services.common.logs import configure_logging
from services.profiles.app import create_app
from services.profiles.settings import ProfilesSettings


def bootstrap(settings: ProfilesSettings | None = None) -> tuple[FastAPI, ProfilesSettings]:
    settings = settings or ProfilesSettings()  # type: ignore[call-arg]
    configure_logging("profiles", settings.log_level)
    return create_app(settings), settings


def run() -> None:
    app, settings = bootstrap()
    uvicorn.run(
        app,
        host=settings.profiles_host,
        port=settings.profiles_port,
        log_config=None,
        server_header=False,
    )
