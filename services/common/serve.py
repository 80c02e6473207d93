"""Run an ASGI app the way every jobmatch HTTP service runs.

On SIGTERM (or SIGINT) uvicorn stops accepting connections, closes idle keep-alive ones,
lets the requests in flight finish for at most DRAIN_S seconds (then cancels them) and runs
the app's lifespan shutdown (projectors stop and keep their positions, producers flush).
Then the process exits with 0: it stopped as asked. (uvicorn itself would raise the signal
again and die of it, status -15 / 143, which cannot be told from a process killed before it
could drain.) A second SIGINT skips the wait for requests in flight.

The budget for all of it is STOP_BUDGET_S, the time `jobmatch up` gives before SIGKILL (and
a container runtime's default grace period): DRAIN_S leaves the lifespan the rest.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Iterator
from typing import Any

import uvicorn

# Seconds the requests in flight get to finish after SIGTERM.
DRAIN_S = 5
# The whole shutdown, SIGTERM to exit, stays within this.
STOP_BUDGET_S = 10
# What the app's shutdown (stopping its background tasks, committing positions) may take.
LIFESPAN_STOP_S = STOP_BUDGET_S - DRAIN_S - 1
# uvicorn's exit status when the server could not start (e.g. the port is taken).
STARTUP_FAILURE = 3


class _Server(uvicorn.Server):
    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        freeze_startup_objects()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            try:
                yield
            finally:
                # Shut down as the signal asked: do not die of it afterwards.
                self._captured_signals.clear()


def freeze_startup_objects() -> None:
    """Leave what the service built at startup (modules, reference data, the app: ~180,000
    objects) out of the garbage collector's full collections. A full collection over them
    took ~130 ms, an answer held up that long now and then: the p99 of a 500/s load at
    ~1 ms a request (bench/auth.md)."""
    gc.collect()
    gc.freeze()


def serve(app: Any, host: str, port: int, drain_s: int = DRAIN_S) -> None:
    """Our JSON logging (no uvicorn log config) and no `Server` banner naming the software."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=drain_s,
    )
    server = _Server(config)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
