"""Rebuild the profile views from the log into a fresh keyspace, then switch readers over.

The live projector keeps serving the old keyspace meanwhile. The log's partitions are shared
out among worker processes, which replay them in parallel into the fresh keyspace (decoding
and projecting is CPU-bound Python: one process uses one core). That is sound because every
view write is keyed by its aggregate and sets absolute values, so the views do not depend on
the order in which different partitions are applied; within a partition, one worker keeps
the log's order. Erasures are the exception (a worker does not see the erasures another
worker reads), so once all workers are done the keys of every erased citizen are deleted
again.

Once the whole log is applied (to the ends the fetches report), one SET of the pointer
switches readers; the live projector notices, reads its positions from the new keyspace and
goes on from there. The old keyspace is dropped after a grace period, for requests still
reading it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition
from redis.asyncio import Redis

from schemas.topics import VIEW_TOPICS
from services.common.kafka import make_consumer
from services.keys.setup import install_keystore, installed_keystore_path
from services.profiles import keyspace
from services.profiles.projections import keys
from services.profiles.projections.guarded import ProfileProjection
from services.profiles.projections.views import erase
from services.projection.projector import Projector
from services.projection.store import VIEWS, TopicPartitionKey, ViewStore, marker_key, text

LOCK_TTL_S = 6 * 3600
MAX_WORKERS = 8


class RebuildRunning(RuntimeError):
    pass


class RebuildFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class RebuildReport:
    events: int
    skipped: int
    seconds: float
    prefix: str
    previous: str
    dropped_keys: int | None
    workers: int = 1

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


Progress = Callable[[int, int], None]
"""Called with (events applied, events known so far in the log)."""


def default_workers() -> int:
    """One worker a core the process may use, at most MAX_WORKERS."""
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0))))


async def rebuild(
    bootstrap: str,
    redis: Redis,
    *,
    progress: Progress | None = None,
    keep_old: bool = False,
    grace_s: float = 2.0,
    workers: int | None = None,
    max_batch: int = 10_000,
    keystore: str | None = None,
) -> RebuildReport:
    """`keystore`: the key store's file the workers open sealed events with (default: the
    one this process has installed; none: personal fields read as erased)."""
    token = keyspace.fresh()
    if not await redis.set(keyspace.REBUILD_LOCK, token, nx=True, ex=LOCK_TTL_S):
        raise RebuildRunning("another rebuild is running (lock jm:views:rebuild-lock)")
    try:
        prefix = token
        started = time.perf_counter()
        ends = await log_ends(bootstrap)
        shares = share_out(ends, workers or default_workers())
        # Marked before the workers start, so none of them takes the keyspace for a wiped one
        # (and drops the positions another has written).
        await redis.set(prefix + marker_key(VIEWS), "1")
        try:
            applied, skipped = await _replay(
                _Job(
                    bootstrap,
                    client_settings(redis),
                    prefix,
                    max_batch,
                    keystore if keystore is not None else installed_keystore_path(),
                ),
                shares,
                progress,
                known=sum(ends.values()),
            )
            await _erase_again(redis, prefix)
        except BaseException:
            await keyspace.drop(redis, prefix)  # half a keyspace is of no use to anyone
            raise
        seconds = time.perf_counter() - started
        previous = await keyspace.activate(redis, prefix)
        dropped = None
        if not keep_old and previous != prefix:
            await asyncio.sleep(grace_s)
            dropped = await keyspace.drop(redis, previous)
        return RebuildReport(
            events=applied,
            skipped=skipped,
            seconds=seconds,
            prefix=prefix,
            previous=previous,
            dropped_keys=dropped,
            workers=len(shares),
        )
    finally:
        await redis.delete(keyspace.REBUILD_LOCK)


async def log_ends(bootstrap: str) -> dict[TopicPartitionKey, int]:
    """About where every partition of the domain topics ends, now: to share partitions out
    and show progress. Tansu answers the base offset of a partition's last batch plus one
    here (../shared/notes/broker.md), so the workers replay up to the highwater their
    fetches report instead."""
    consumer = make_consumer(bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(t.name, p) for t in VIEW_TOPICS for p in range(t.partitions)]
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): int(end) for tp, end in ends.items()}


def share_out(
    sizes: Mapping[TopicPartitionKey, int], workers: int
) -> list[list[TopicPartitionKey]]:
    """Partitions to workers, largest first to the least loaded: shares of about equal
    size. No more workers than partitions with records (at least one)."""
    busy = sum(1 for size in sizes.values() if size > 0)
    count = max(1, min(workers, busy))
    shares: list[list[TopicPartitionKey]] = [[] for _ in range(count)]
    loads = [0] * count
    for part in sorted(sizes, key=lambda tp: (-sizes[tp], tp)):
        least = loads.index(min(loads))
        shares[least].append(part)
        loads[least] += sizes[part]
    return shares


def client_settings(redis: Redis) -> dict[str, Any]:
    """What a worker process needs to open the same Redis client (the client itself does
    not cross a process boundary)."""
    kw = redis.connection_pool.connection_kwargs
    out = {k: kw[k] for k in ("host", "port", "db", "username", "password") if kw.get(k)}
    if kw.get("path"):
        out["unix_socket_path"] = kw["path"]
    return out


@dataclass(frozen=True)
class _Job:
    bootstrap: str
    redis: dict[str, Any]
    prefix: str
    max_batch: int
    keystore: str = ""

    def for_share(self, share: list[TopicPartitionKey]) -> bytes:
        return json.dumps({**asdict(self), "share": share}).encode()


async def _replay(
    job: _Job, shares: Sequence[list[TopicPartitionKey]], progress: Progress | None, known: int
) -> tuple[int, int]:
    """Run one worker process per share; (applied, skipped) summed over them.

    Workers are started as `python -m services.profiles.rebuild` rather than through
    multiprocessing, whose spawn re-imports the caller's main module (a script without a
    main guard would start a rebuild in every worker). The job goes on stdin, so the Redis
    password does not show in the process list."""
    counts = [[0, 0] for _ in shares]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([_ROOT, os.environ.get("PYTHONPATH", "")])}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.profiles.rebuild",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        for _ in shares
    ]

    async def follow(proc: asyncio.subprocess.Process, i: int) -> int:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(job.for_share(shares[i]) + b"\n")
        await proc.stdin.drain()
        proc.stdin.close()
        async for line in proc.stdout:
            counts[i] = [int(x) for x in line.split()]
        return await proc.wait()

    def report() -> None:
        if progress is not None:
            done = sum(map(sum, counts))
            progress(done, max(known, done))

    async def keep_reporting() -> None:
        while True:
            report()
            await asyncio.sleep(0.2)

    reporter = asyncio.create_task(keep_reporting())
    try:
        codes = await asyncio.gather(*(follow(proc, i) for i, proc in enumerate(procs)))
    finally:
        reporter.cancel()
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    if any(codes):
        raise RebuildFailed(f"rebuild workers exited with {codes} (their errors are above)")
    report()
    return sum(c[0] for c in counts), sum(c[1] for c in counts)


# The directory that holds the `services` package, for the workers' import path.
_ROOT = str(Path(__file__).resolve().parents[2])


def _work() -> None:
    """A worker process: read its job from stdin, replay its share of the partitions into
    the job's keyspace until caught up, print "applied skipped" as it goes."""
    job = json.loads(sys.stdin.readline())
    share = [(topic, int(partition)) for topic, partition in job.pop("share")]
    gc.freeze()  # what the imports left is long-lived: later collections need not scan it
    asyncio.run(_replay_share(_Job(**job), share))


async def _replay_share(job: _Job, share: list[TopicPartitionKey]) -> None:
    redis = Redis(**job.redis)
    install_keystore(job.keystore, "profiles-rebuild")
    # The guard knows the erasures this worker reads; `_erase_again` covers the others.
    projection = ProfileProjection()
    # Malformed records went to the dead-letter topic when first read; not again.
    projector = Projector(
        job.bootstrap,
        ViewStore(redis, job.prefix),
        project_fn=projection,
        name="profiles-rebuild",
        max_batch=job.max_batch,
        fetch_max_wait_ms=50,
        dead_letter=False,
        partitions=share,
    )

    def report() -> None:
        print(projector.applied, projector.dead_lettered, flush=True)

    async def keep_reporting() -> None:
        while True:
            report()
            await asyncio.sleep(0.1)

    reporter = asyncio.create_task(keep_reporting())
    try:
        await projector.run(asyncio.Event(), until_caught_up=True)
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        await redis.aclose()
    report()


async def _erase_again(redis: Redis, prefix: str) -> None:
    """Delete every erased citizen's keys once more: a worker may have written some after
    another worker applied the erasure."""
    erased = [text(c) for c in await redis.hkeys(prefix + keys.ERASED)]
    store = ViewStore(redis, prefix)
    try:
        await store.apply([w for citizen in erased for w in erase(citizen)], {})
    finally:
        await store.close()


if __name__ == "__main__":
    _work()
