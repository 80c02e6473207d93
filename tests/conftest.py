"""Session fixtures: a real Tansu broker and a real redis-server on free loopback ports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.auth.issuer import LocalIssuer
from services.auth.principal import Role
from services.stack import (
    Proc,
    auth_env,
    create_topics,
    free_port,
    issuer_url,
    start_issuer,
    start_redis,
    start_tansu,
)

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jobmatch")


@pytest.fixture(scope="session")
def broker(workdir: Path) -> Iterator[str]:
    port = free_port()
    proc: Proc = start_tansu(port, workdir / "logs")
    try:
        bootstrap = f"127.0.0.1:{port}"
        create_topics(bootstrap)
        yield bootstrap
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def redis_url(workdir: Path) -> Iterator[str]:
    port = free_port()
    proc = start_redis(port, workdir / "redis", workdir / "logs", durable=False)
    yield f"redis://127.0.0.1:{port}/0"
    proc.stop()


class Issuer(LocalIssuer):
    """The embedded issuer, running; mints tokens with its key (tests hold the key folder)."""

    @property
    def env(self) -> dict[str, str]:
        return auth_env(self.url)

    @property
    def jwks_url(self) -> str:
        return self.env["AUTH_JWKS_URL"]

    def bearer(self, role: Role, subject: str | None = None, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, subject, **claims)}"}


@pytest.fixture(scope="session")
def issuer(workdir: Path) -> Iterator[Issuer]:
    port = free_port()
    proc = start_issuer(workdir / "issuer", port, workdir / "logs")
    yield Issuer(workdir / "issuer", issuer_url(port))
    proc.stop()


def load_example(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / name).read_text())
    return doc


@pytest.fixture
def amina() -> dict[str, Any]:
    return load_example("competence_card_amina.json")


@pytest.fixture
def yonas() -> dict[str, Any]:
    return load_example("competence_card_yonas.json")


@pytest.fixture
def fatima() -> dict[str, Any]:
    return load_example("competence_card_fatima.json")


@pytest.fixture
def lager() -> dict[str, Any]:
    return load_example("job_order_lager.json")


@pytest.fixture
def kantine() -> dict[str, Any]:
    return load_example("job_order_kokken.json")
