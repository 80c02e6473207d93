"""The Redis ACL user and password go into the URL the services connect with; the password
may come from a mounted file. No Redis needed: redis-py parses the URL it would use."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from services.common.settings import InfraSettings, redis_url_with_credentials


@pytest.fixture(autouse=True)
def environment(infra_env: pytest.MonkeyPatch) -> None:
    infra_env.setenv("REDIS_URL", "redis://redis:6379/0")


def connection_kwargs(url: str) -> dict[str, object]:
    return dict(Redis.from_url(url).connection_pool.connection_kwargs)


def test_without_credentials_the_url_is_used_as_given() -> None:
    settings = InfraSettings()  # type: ignore[call-arg]
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.redis_password.get_secret_value() == ""


def test_the_acl_user_and_the_password_file_go_into_the_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "redis_events_password"
    secret.write_text("p@ss:w/rd%?#\n")  # characters a URL must quote
    monkeypatch.setenv("REDIS_USERNAME", "jobmatch-events")
    monkeypatch.setenv("REDIS_PASSWORD_FILE", str(secret))
    settings = InfraSettings()  # type: ignore[call-arg]
    kwargs = connection_kwargs(settings.redis_url)
    assert kwargs["username"] == "jobmatch-events"
    assert kwargs["password"] == "p@ss:w/rd%?#"
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("redis", 6379, 0)
    assert "p@ss" not in repr(settings)


def test_a_password_from_the_environment_without_a_user_authenticates_as_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_PASSWORD", "from-env")
    kwargs = connection_kwargs(InfraSettings().redis_url)  # type: ignore[call-arg]
    assert kwargs["password"] == "from-env"
    assert not kwargs.get("username")


def test_a_missing_password_file_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REDIS_USERNAME", "jobmatch-profiles")
    monkeypatch.setenv("REDIS_PASSWORD_FILE", str(tmp_path / "absent"))
    with pytest.raises(ValidationError, match=r"REDIS_PASSWORD_FILE=.*absent: cannot read"):
        InfraSettings()  # type: ignore[call-arg]


def test_half_given_or_doubled_credentials_stop_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_USERNAME", "jobmatch-profiles")
    with pytest.raises(ValidationError, match="REDIS_USERNAME needs REDIS_PASSWORD_FILE"):
        InfraSettings()  # type: ignore[call-arg]
    monkeypatch.setenv("REDIS_PASSWORD", "x")
    monkeypatch.setenv("REDIS_URL", "redis://someone:other@redis:6379/0")
    with pytest.raises(ValidationError, match="REDIS_URL has a user too"):
        InfraSettings()  # type: ignore[call-arg]


def test_a_bad_url_is_refused_without_showing_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "http://redis:6379/0")
    monkeypatch.setenv("REDIS_PASSWORD", "do-not-print-me")
    with pytest.raises(ValidationError, match="redis://") as caught:
        InfraSettings()  # type: ignore[call-arg]
    assert "do-not-print-me" not in str(caught.value)


def test_the_url_helper_keeps_what_the_url_has_and_handles_sockets() -> None:
    assert redis_url_with_credentials("redis://h:1/2") == "redis://h:1/2"
    assert redis_url_with_credentials("redis://u@h:1/2", password="p") == "redis://u:p@h:1/2"
    assert redis_url_with_credentials("rediss://h:1/0", "u", "p") == "rediss://u:p@h:1/0"
    socket = redis_url_with_credentials("unix:///run/redis.sock?db=3", "u", "p")
    kwargs = connection_kwargs(socket)
    assert (kwargs["path"], kwargs["username"], kwargs["password"]) == ("/run/redis.sock", "u", "p")
