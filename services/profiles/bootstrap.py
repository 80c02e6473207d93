"""Composition root of the profiles service."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.logs import configure_logging
from services.common.serve import serve
from services.profiles.app import create_app
from services.profiles.settings import ProfilesSettings


def bootstrap(settings: ProfilesSettings | None = None) -> tuple[FastAPI, ProfilesSettings]:
    settings = settings or ProfilesSettings()  # type: ignore[call-arg]
    configure_logging("profiles", settings.log_level)
    return create_app(settings), settings


def run() -> None:
    app, settings = bootstrap()
    serve(app, settings.profiles_host, settings.profiles_port)
