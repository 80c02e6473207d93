"""Rebuild the profile views from the log into a fresh keyspace, then switch readers over.

The live projector keeps serving the old keyspace meanwhile. Once the rebuild has applied
the whole log (to the ends the fetches report), one SET of the pointer switches readers; the
live projector notices, reads its positions from the new keyspace and goes on from there.
The old keyspace is dropped after a grace period, for requests still reading it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from services.profiles import keyspace
from services.profiles.projections.guarded import ProfileProjection
from services.profiles.projector import Projector
from services.profiles.store import ViewStore

LOCK_TTL_S = 6 * 3600


class RebuildRunning(RuntimeError):
    pass


@dataclass(frozen=True)
class RebuildReport:
    events: int
    skipped: int
    seconds: float
    prefix: str
    previous: str
    dropped_keys: int | None

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


Progress = Callable[[int, int], None]
"""Called with (events applied, events known so far in the log)."""


async def rebuild(
    bootstrap: str,
    redis: Redis,
    *,
    progress: Progress | None = None,
    keep_old: bool = False,
    grace_s: float = 2.0,
    max_batch: int = 5000,
) -> RebuildReport:
    token = keyspace.fresh()
    if not await redis.set(keyspace.REBUILD_LOCK, token, nx=True, ex=LOCK_TTL_S):
        raise RebuildRunning("another rebuild is running (lock jm:views:rebuild-lock)")
    try:
        prefix = token
        projection = ProfileProjection()
        # Malformed records went to the dead-letter topic when first read; not again.
        projector = Projector(
            bootstrap,
            ViewStore(redis, prefix),
            project_fn=projection,
            on_load=projection.load,
            name="profiles-rebuild",
            max_batch=max_batch,
            fetch_max_wait_ms=50,
            dead_letter=False,
        )
        started = time.perf_counter()
        reporter = asyncio.create_task(_report(projector, progress)) if progress else None
        try:
            await projector.run(asyncio.Event(), until_caught_up=True)
        finally:
            if reporter is not None:
                reporter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reporter
        if progress is not None:
            progress(projector.applied + projector.dead_lettered, _known(projector))
        seconds = time.perf_counter() - started
        previous = await keyspace.activate(redis, prefix)
        dropped = None
        if not keep_old and previous != prefix:
            await asyncio.sleep(grace_s)
            dropped = await keyspace.drop(redis, previous)
        return RebuildReport(
            events=projector.applied,
            skipped=projector.dead_lettered,
            seconds=seconds,
            prefix=prefix,
            previous=previous,
            dropped_keys=dropped,
        )
    finally:
        await redis.delete(keyspace.REBUILD_LOCK)


def _known(projector: Projector) -> int:
    # The log's end as the fetches report it: from offset 0, that is the events to replay.
    return max(sum(projector.highwater.values()), projector.applied + projector.dead_lettered)


async def _report(projector: Projector, progress: Progress) -> None:
    while True:
        progress(projector.applied + projector.dead_lettered, _known(projector))
        await asyncio.sleep(0.2)
