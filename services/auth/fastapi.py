"""Wiring for a FastAPI service: the gate, CORS (closed unless configured), offline docs."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from services.auth.authenticator import Authenticator
from services.auth.docs import install_docs
from services.auth.gate import Gate
from services.auth.settings import AuthSettings


def secure_app(app: FastAPI, settings: AuthSettings, service: str) -> Authenticator:
    """Put the gate in front of `app` and serve its docs offline; returns the authenticator
    (its key cache answers /ready)."""
    authenticator = Authenticator.from_settings(settings, service)
    app.state.authenticator = authenticator
    install_docs(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match"],
            expose_headers=["ETag", "Retry-After"],
        )
    # Added last, so it is the outermost layer: a refused request costs nothing further.
    app.add_middleware(
        Gate, authenticator=authenticator, max_body=settings.http_max_body_bytes, service=service
    )
    return authenticator
