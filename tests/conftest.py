"""Session fixtures: a real Tansu broker and a real redis-server on free loopback ports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.stack import Proc, create_topics, free_port, start_redis, start_tansu

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jobmatch")


@pytest.fixture(scope="session")
def broker(workdir: Path) -> Iterator[str]:
    port = free_port()
    proc: Proc = start_tansu(port, workdir / "logs")
    bootstrap = f"127.0.0.1:{port}"
    create_topics(bootstrap)
    yield bootstrap
    proc.stop()


@pytest.fixture(scope="session")
def redis_url(workdir: Path) -> Iterator[str]:
    port = free_port()
    proc = start_redis(port, workdir / "redis", workdir / "logs", durable=False)
    yield f"redis://127.0.0.1:{port}/0"
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
