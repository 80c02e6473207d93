"""`services.common.serve`: once the app has started, what it built is frozen out of the
garbage collector's full collections (a full pass over it held answers up ~130 ms)."""

from __future__ import annotations

import gc
import socket
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI

from services.common.serve import _Server


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


async def test_objects_made_at_startup_are_frozen_once_it_has_run(unfrozen: None) -> None:
    made: list[object] = []
    app = FastAPI(on_startup=[lambda: made.extend(object() for _ in range(1000))])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
    server = _Server(config)
    config.load()
    server.lifespan = config.lifespan_class(config)
    assert gc.get_freeze_count() == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        await server.startup(sockets=[sock])
        try:
            assert len(made) == 1000  # the app's startup ran before the freeze
            assert gc.get_freeze_count() >= len(made)
        finally:
            await server.shutdown(sockets=[sock])
