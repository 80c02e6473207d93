"""Settings of the web application (environment, read once at start-up; fail fast).

The application signs people in through an OIDC provider (authorization code with PKCE)
and calls the events, profiles and matching APIs with the signed-in person's token. In the
embedded stack the provider is the stack's own issuer (`jobmatch up` sets everything);
in production it is the municipality's identity broker (docs/ui.md, docs/security.md).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from services.auth.settings import AuthSettings
from services.common.settings import read_secret_file

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) URL, not {value!r}")
    return value.rstrip("/")


class UiSettings(AuthSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    ui_host: str = "127.0.0.1"
    ui_port: int = Field(default=8707, ge=1, le=65535)
    ui_public_url: str = Field(
        default="",
        description="Where people reach the application (the OIDC redirect URI is "
        "<this>/auth/callback); empty: http://UI_HOST:UI_PORT",
    )
    ui_events_url: str = Field(description="The events (command) API")
    ui_profiles_url: str = Field(description="The profiles (query) API")
    ui_matching_url: str = Field(description="The matching worker's pages")
    ui_oidc_issuer: str = Field(description="OIDC provider (its discovery document is read)")
    ui_oidc_client_id: str = "jobmatch-ui"
    ui_oidc_client_secret: SecretStr | None = Field(
        default=None, description="Only for a confidential client; PKCE is always used"
    )
    ui_oidc_scopes: str = "openid"
    ui_session_key: SecretStr = Field(
        description="Fernet key (32 url-safe base64 bytes) that seals the session cookie; "
        "or UI_SESSION_KEY_FILE"
    )
    ui_session_hours: float = Field(default=8.0, gt=0, le=24)
    ui_cookie_secure: bool | None = Field(
        default=None, description="Secure cookies; empty: on unless the public URL is local"
    )
    ui_default_language: str = "da"
    ui_api_timeout_s: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="before")
    @classmethod
    def _key_file(cls, data: Any) -> Any:
        if isinstance(data, dict):
            path = data.get("ui_session_key_file") or data.get("UI_SESSION_KEY_FILE")
            if path and not data.get("ui_session_key"):
                data = {**data, "ui_session_key": read_secret_file("UI_SESSION_KEY_FILE", path)}
        return data

    @field_validator("ui_events_url", "ui_profiles_url", "ui_matching_url", "ui_oidc_issuer")
    @classmethod
    def _urls(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("ui_public_url")
    @classmethod
    def _public(cls, value: str) -> str:
        return _http_url(value) if value else value

    @field_validator("ui_session_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr) -> SecretStr:
        try:
            raw = base64.urlsafe_b64decode(value.get_secret_value().encode())
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ValueError("must be a Fernet key: 32 bytes, url-safe base64 (44 characters)")
        return value

    @field_validator("ui_default_language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in ("da", "en"):
            raise ValueError("da or en")
        return value

    @model_validator(mode="after")
    def _secure_outside_localhost(self) -> Self:
        host = urlsplit(self.public_url).hostname or ""
        if self.ui_cookie_secure is False and host not in LOCAL_HOSTS:
            raise ValueError("UI_COOKIE_SECURE=false is only allowed for a local public URL")
        return self

    @property
    def public_url(self) -> str:
        return self.ui_public_url or f"http://{self.ui_host}:{self.ui_port}"

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url}/auth/callback"

    @property
    def cookie_secure(self) -> bool:
        if self.ui_cookie_secure is not None:
            return self.ui_cookie_secure
        return (urlsplit(self.public_url).hostname or "") not in LOCAL_HOSTS
