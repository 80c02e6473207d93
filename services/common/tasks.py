"""Background tasks that never die silently.

A projector, a consumer or a sweeper that fails logs the exception and starts again after a
back-off that doubles up to a cap (and starts over once it has run for a while); `/ready`
asks `healthy`, which is false from the failure until the task runs again. A task that
returns without being asked to stop counts as a failure too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Work = Callable[[asyncio.Event], Awaitable[None]]


class Supervised:
    def __init__(
        self,
        name: str,
        work: Work,
        *,
        first_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        steady_s: float = 60.0,
    ) -> None:
        self.name = name
        self._work = work
        self._first = first_backoff_s
        self._max = max_backoff_s
        self._steady = steady_s
        self._task: asyncio.Task[None] | None = None
        self.running = False
        self.failures = 0
        self.last_error: str | None = None

    def start(self, stop: asyncio.Event) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self._run(stop), name=self.name)
        return self._task

    @property
    def healthy(self) -> bool:
        return self.running and self._task is not None and not self._task.done()

    async def _run(self, stop: asyncio.Event) -> None:
        delay = self._first
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.running = True
                await self._work(stop)
                if stop.is_set():
                    return
                raise RuntimeError(f"{self.name} returned without being asked to stop")
            except Exception as exc:
                self.failures += 1
                self.last_error = repr(exc)
                if time.monotonic() - started > self._steady:
                    delay = self._first
                log.exception(
                    "background task failed; restarting",
                    extra={"task": self.name, "failures": self.failures, "retry_in_s": delay},
                )
            finally:
                self.running = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, self._max)
