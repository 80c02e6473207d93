"""The worker's life cycle: recover before the agent runs, and never die silently.

Start-up (`recover`), retried with back-off until it succeeds:
1. load the newest usable snapshot (snapshot.py) and apply the records after its positions
   up to the end the fetches report; without one (or if it does not fit the log), replay
   every input partition (citizens, job orders, placements) from the start to that end into
   a new state: either way the state is a function of the log alone;
2. reconcile: compare what the placements topic shows as live (each pair's last word a
   `PlacementSuggested`) with what the state holds; retract what it does not hold (with the
   reason the log gives: order closed, citizen erased, unavailable or without consent, pair
   rejected or no longer eligible; else `not_held_on_restart`), suggest what it holds but
   the topic does not show (or shows with other content), adopt the rest as they are (same
   suggestion id, nothing emitted); a pair live under an id a consultant rejected (suggested
   again before the rejection was read) is retracted as `rejected` and suggested under a new
   id (see `domain.state.suggestion_id`); wait for the broker's acks;
3. hand the state to the agent, which skips every record the replay loaded (the group's
   committed offsets only say where faust starts fetching).
A crash at any point leaves a log that the next start replays and reconciles the same way:
nothing emitted is left that the restarted worker does not hold, and nothing it holds is
left unannounced. The reconciliation's event ids derive from the last placements event of
each pair, so a repeat of an interrupted reconciliation emits the same events.

Snapshots (`Snapshots`): taken between two records (the agent holds `Runtime.lock` while it
applies one; the snapshot holds it while it pickles the state), every
`MATCHING_SNAPSHOT_INTERVAL_S` seconds if the agent applied anything meanwhile, as soon as
it applied `MATCHING_SNAPSHOT_EVERY_EVENTS` records (which bounds what a restart applies
after the snapshot), after a recovery that read anything, and on a graceful stop. Writing
one never stops the worker: a failure is logged and retried at the next turn.

Start-up time: the recovery starts with the worker, not after the consumer group is joined
(bootstrap.Worker); the ESCO taxonomy (the linker's text indexes) is loaded after it, from
a cache (linking.py), unless the records read need it sooner; the agent applies records once
it is loaded. `/ready` and `/v1/state` say where the recovery started (`started_from`) and
where the time went (`breakdown`: seconds since the process started at each step, and the
seconds of each step).

Failures: the agent's failure takes the process down (exit code 70) after logging the
exception, since its in-memory state may be half-updated and only a restart (from the last
snapshot, or a replay) can rebuild it; the supervisor (`jobmatch up`, systemd, Kubernetes)
restarts it. `/ready` is 503 until recovery has finished and while the agent is not running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from schemas.envelope import Event
from schemas.sealing import installed
from services.common.kafka import make_producer
from services.matching.decisions import reconciliation_events
from services.matching.domain.state import MatchingState
from services.matching.replay import (
    INPUTS,
    Positions,
    Replayed,
    TailNotApplied,
    positions_to_json,
    replay_log,
)
from services.matching.snapshot import (
    Anchors,
    Header,
    SnapshotStale,
    SnapshotStore,
    anchor_of,
    dumps_state,
    encode,
    fingerprint,
    inputs_digest,
)

log = logging.getLogger(__name__)

# EX_SOFTWARE: an internal failure; the supervisor restarts the worker, which replays.
EXIT_FATAL = 70

Publish = Callable[[Sequence[Event]], Awaitable[None]]


def process_age() -> float | None:
    """Seconds since this process started (Linux), for the start-up breakdown."""
    try:
        with open("/proc/self/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return round(uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"), 2)
    except (OSError, ValueError, IndexError):
        return None


class Runtime:
    """What the agent, the recovery task and the pages share."""

    def __init__(
        self,
        make_state: Callable[[], MatchingState],
        exit_process: Callable[[int], Any] = os._exit,
    ) -> None:
        self.make_state = make_state
        # Empty until recovery hands over the replayed one.
        self.state = make_state()
        self.recovered = asyncio.Event()
        # Where the replay stopped.
        self.replayed: Positions = {}
        # The next offset of each partition the state reflects (the replay, then the agent):
        # records below it are in the state already.
        self.positions: Positions = {}
        # anchor_of(the record at each position - 1), and the latest event time read.
        self.anchors: Anchors = {}
        self.log_time: datetime | None = None
        # Held while the state changes (the agent, one record) or is pickled (a snapshot).
        self.lock = asyncio.Lock()
        # Records the agent applied since the recovery (the snapshots' cadence).
        self.applied = 0
        self.snapshots: Snapshots | None = None
        # Where the start-up began (snapshot or offset 0) and where its time went.
        self.started_from: dict[str, Any] = {}
        self.breakdown: dict[str, Any] = {}
        # Set when what the agent needs besides the state is loaded (the taxonomy, which the
        # worker loads in a thread meanwhile): the agent waits for it instead of loading it
        # on the event loop at its first record.
        self.tools_loaded = asyncio.Event()
        self.tools_loaded.set()
        self.reconciled: dict[str, int] = {}
        self.attempts = 0
        self.last_error: str | None = None
        self.recovery_seconds: float | None = None
        self.failed: dict[str, str] = {}
        self.agent_running = False
        self._exit = exit_process

    # -- the agent's bookkeeping ------------------------------------------------------------

    def already_applied(self, tp: TopicPartition, offset: int) -> bool:
        """Loaded by the replay, or applied already and delivered again (faust resumes from
        the committed offsets after a rebalance): applying it twice would be wrong (an old
        rejection or suggestion read again would overwrite newer ones)."""
        return offset < self.positions.get(tp, 0)

    def advance(
        self,
        tp: TopicPartition,
        offset: int,
        value: bytes | None = None,
        at: datetime | None = None,
    ) -> None:
        if offset + 1 > self.positions.get(tp, 0):
            self.positions[tp] = offset + 1
            self.anchors[tp] = anchor_of(value)
        if at is not None and (self.log_time is None or at > self.log_time):
            self.log_time = at
        self.applied += 1

    def hand_over(self, state: MatchingState, replayed: Replayed, counts: dict[str, int]) -> None:
        self.state = state
        self.replayed = dict(replayed.positions)
        self.positions = dict(replayed.positions)
        self.anchors = dict(replayed.anchors)
        self.log_time = replayed.log_time
        self.applied = 0
        self.reconciled = counts
        self.started_from = dict(replayed.started_from)
        self.breakdown.update(replayed.seconds)
        self.last_error = None
        self.recovered.set()

    # -- health -----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        # The taxonomy may still be loading (`tools_loaded`): a card or order record waits
        # for it; the others are applied meanwhile.
        return self.recovered.is_set() and self.agent_running and not self.failed

    def health(self) -> dict[str, Any]:
        return {
            "state_replayed": self.recovered.is_set(),
            "agent_running": self.agent_running,
            # The taxonomy, loaded after the recovery: until it is, a card or order record
            # waits for it (the state links their texts to ESCO).
            "tools_loaded": self.tools_loaded.is_set(),
            "reconciled": self.reconciled,
            "recovery": {
                "attempts": self.attempts,
                "last_error": self.last_error,
                "seconds": self.recovery_seconds,
                # {"snapshot": file or None, "snapshot_records", "tail_records", ...}
                "started_from": self.started_from,
                "breakdown": self.breakdown,
            },
            "snapshots": self.snapshots.health() if self.snapshots else {"enabled": False},
            # The next offset of each input partition the state reflects, their sum, and the
            # decisions sent and not read back yet.
            "positions": positions_to_json(self.positions),
            "records": sum(self.positions.values()),
            "in_flight": self.state.in_flight,
            "failed": self.failed,
        }

    def fatal(self, task: str, exc: BaseException) -> None:
        """Log the failure with its exception and end the process (non-zero exit)."""
        self.failed[task] = f"{type(exc).__name__}: {exc}"[:500]
        log.critical(
            "matching task failed: exiting so that the supervisor restarts the worker",
            exc_info=exc,
            extra={"task": task, "exit_code": EXIT_FATAL},
        )
        for handler in logging.getLogger().handlers:
            with contextlib.suppress(Exception):  # exiting anyway
                handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        self._exit(EXIT_FATAL)

    def snapshot(self) -> dict[str, Any]:
        """The state's digest and canonical form, with the positions it reflects (taken
        together: no await in between)."""
        state = self.state
        return {
            "digest": state.digest(),
            "positions": positions_to_json(self.positions),
            "reconciled": self.reconciled,
            # Sent and not read back yet; `divergence` is meaningful when this is 0.
            "in_flight": state.in_flight,
            "divergence": state.divergence(),
            "started_from": self.started_from,
            "state": state.snapshot(),
        }


async def publish_events(bootstrap: str, events: Sequence[Event]) -> None:
    """Append `events` and wait until the broker has acknowledged every one (acks=all)."""
    if not events:
        return
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        pending = [
            await producer.send(
                event.topic,
                event.to_json(installed()),  # the reasons sealed with the citizen's key
                key=event.aggregate_id.encode(),
                headers=event.headers(),
            )
            for event in events
        ]
        for fut in pending:
            await fut
    finally:
        await producer.stop()


async def _from_snapshot(
    make_state: Callable[[], MatchingState], bootstrap: str, store: SnapshotStore
) -> tuple[MatchingState, Replayed] | None:
    """The newest usable snapshot and the records after it; None: none fits this log."""
    loaded = await asyncio.to_thread(store.load_newest, make_state)
    if loaded is None:
        return None
    header = loaded.header
    state = loaded.state
    started = time.monotonic()
    reranked = await asyncio.to_thread(state.rerank_undated)
    rerank_s = round(time.monotonic() - started, 3)
    try:
        tail = await replay_log(
            state, bootstrap, INPUTS, start_at=header.positions, anchors=header.anchors
        )
    except SnapshotStale as exc:
        store.set_aside(loaded.path, ".stale", str(exc))
        return None
    except TailNotApplied as exc:
        log.warning(
            "a record after the snapshot could not be applied: replaying from the start",
            exc_info=exc,
            extra={"snapshot": loaded.path.name},
        )
        return None
    times = [t for t in (header.log_time, tail.log_time) if t is not None]
    tail.log_time = max(times) if times else None
    tail.started_from = {
        "snapshot": loaded.path.name,
        "snapshot_written_at": header.written_at.isoformat(),
        "snapshot_records": header.records,
        "snapshot_positions": positions_to_json(header.positions),
        "tail_records": tail.events,
        "reranked_undated_orders": reranked,
    }
    tail.seconds = {
        **{f"snapshot_{k}": v for k, v in loaded.seconds.items()},
        "rerank_undated": rerank_s,
        **{f"tail_{k}": v for k, v in tail.seconds.items()},
    }
    return state, tail


async def recover_once(
    make_state: Callable[[], MatchingState],
    bootstrap: str,
    publish: Publish,
    store: SnapshotStore | None = None,
) -> tuple[MatchingState, Replayed, dict[str, int]]:
    """Load the newest snapshot and what follows it, or replay the log into a new state;
    then make the placements topic agree with the state."""
    found = None if store is None else await _from_snapshot(make_state, bootstrap, store)
    if found is not None:
        state, replayed = found
    else:
        state = make_state()
        replayed = await replay_log(state, bootstrap, INPUTS)
        replayed.started_from = {
            "snapshot": None,
            "snapshots_enabled": store is not None,
            "replayed_records": replayed.events + replayed.skipped,
        }
        replayed.seconds = {f"replay_{k}": v for k, v in replayed.seconds.items()}
    started = time.monotonic()
    rec = await asyncio.to_thread(state.reconcile)
    now = replayed.log_time or datetime.now(UTC)
    events = reconciliation_events(rec, state.scorer.model_version, now)
    reconciled = time.monotonic()
    await publish(events)
    state.sent(events)
    replayed.seconds["reconcile"] = round(reconciled - started, 3)
    replayed.seconds["reconcile_publish"] = round(time.monotonic() - reconciled, 3)
    counts = rec.counts()
    if rec.retract or rec.announce:
        log.warning(
            "placements reconciled with the replayed state",
            extra={
                **counts,
                "retracted_pairs": [f"{o.job_order_id}|{o.citizen_id}" for o in rec.retract][:50],
            },
        )
    return state, replayed, counts


async def recover(
    runtime: Runtime,
    bootstrap: str,
    publish: Publish | None = None,
    *,
    first_delay: float = 1.0,
    max_delay: float = 30.0,
) -> None:
    """Recover, retrying with back-off (every failure logged with its exception)."""
    delay = first_delay
    send: Publish = publish or (lambda events: publish_events(bootstrap, events))
    store = runtime.snapshots.store if runtime.snapshots else None
    while True:
        runtime.attempts += 1
        started = time.monotonic()
        try:
            state, replayed, counts = await recover_once(runtime.make_state, bootstrap, send, store)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            runtime.last_error = f"{type(exc).__name__}: {exc}"[:500]
            log.exception(
                "matching recovery failed; retrying",
                extra={"attempt": runtime.attempts, "retry_in_s": delay},
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
            continue
        runtime.recovery_seconds = round(time.monotonic() - started, 3)
        runtime.hand_over(state, replayed, counts)
        runtime.breakdown["recovered_at_process_age"] = process_age()
        log.info(
            "matching recovered",
            extra={
                "events": replayed.events,
                "skipped": replayed.skipped,
                "seconds": runtime.recovery_seconds,
                "started_from": runtime.started_from,
                "breakdown": runtime.breakdown,
                **counts,
            },
        )
        if runtime.snapshots is not None and replayed.events + replayed.skipped > 0:
            # What was just read need not be read again after the next crash.
            runtime.snapshots.start(runtime, "recovered")
        return


class Snapshots:
    """When and how the worker writes its snapshots (see the module docstring)."""

    def __init__(
        self,
        store: SnapshotStore,
        every_events: int = 2000,
        interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        # What the code and data that compute the state were when this worker started.
        inputs_digest()
        self.every_events = every_events
        self.interval_s = interval_s
        self._clock = clock
        self._task: asyncio.Task[Path | None] | None = None
        # `Runtime.applied` and the clock at the last snapshot (or at the recovery).
        self._applied_at = 0
        self._taken_at = clock()
        self.taken = 0
        self.failures = 0
        self.last: dict[str, Any] = {}
        self._pickle_s = 0.0
        # `Runtime.applied` after the latest erasure the agent applied that no snapshot
        # reflects yet: older snapshots hold the citizen's card (see `erased`).
        self._erased_at: int | None = None

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def pending(self, runtime: Runtime) -> int:
        """Records applied and not in a snapshot yet."""
        if runtime.applied < self._applied_at:  # a new recovery reset the count
            self._applied_at = 0
        return runtime.applied - self._applied_at

    def due(self, runtime: Runtime) -> bool:
        new = self.pending(runtime)
        if new <= 0 or self.busy or not runtime.recovered.is_set():
            return False
        if self._erased_at is not None:
            return True
        elapsed = self._clock() - self._taken_at
        # By count only if the agent spent at least 4/5 of the time applying records rather
        # than waiting for the last snapshot to be pickled (catching up on a backlog).
        return elapsed >= self.interval_s or (
            new >= self.every_events and elapsed >= 4 * self._pickle_s
        )

    def maybe(self, runtime: Runtime) -> None:
        """Start a snapshot in the background if one is due."""
        if self.due(runtime):
            self.start(runtime, "erasure" if self._erased_at is not None else "cadence")

    def erased(self, runtime: Runtime) -> None:
        """The agent applied an erasure: a snapshot without the citizen is taken at once and
        every older file deleted, so the card does not outlive the erasure on disk for
        longer than one pickling (at 1M events, about half a minute)."""
        self._erased_at = runtime.applied
        self.maybe(runtime)

    def start(self, runtime: Runtime, reason: str) -> None:
        if not self.busy:
            self._task = asyncio.create_task(self.take(runtime, reason))

    def worth_on_stop(self, runtime: Runtime, budget_s: float = 4.0) -> bool:
        """On a graceful stop: anything to save, and the last pickling took less than
        `budget_s` (the process has 10 s to exit; a restart applies what was skipped)."""
        return (
            runtime.recovered.is_set() and self.pending(runtime) > 0 and self._pickle_s < budget_s
        )

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    async def take(self, runtime: Runtime, reason: str) -> Path | None:
        """Write a snapshot of the state as it is between two records; None if it failed
        (logged; the worker goes on, and tries again at the next turn)."""
        started = self._clock()
        try:
            async with runtime.lock:
                state = runtime.state
                header = Header(
                    fingerprint=fingerprint(state),
                    positions=dict(runtime.positions),
                    anchors=dict(runtime.anchors),
                    log_time=runtime.log_time,
                    written_at=datetime.now(UTC),
                    activated=state.activated,
                )
                applied = runtime.applied
                body = await asyncio.to_thread(dumps_state, state)
            pickled = self._clock()
            data = await asyncio.to_thread(encode, header, body)
            path = await asyncio.to_thread(self.store.write, data)
            if self._erased_at is not None and applied >= self._erased_at:
                # This one reflects every erasure applied so far: the older ones go.
                await asyncio.to_thread(self.store.prune, 1)
                self._erased_at = None
        except Exception as exc:
            self.failures += 1
            self._taken_at = self._clock()
            log.exception("matching snapshot not written", extra={"reason": reason})
            self.last = {"error": f"{type(exc).__name__}: {exc}"[:300], "reason": reason}
            return None
        done = self._clock()
        self._applied_at, self._taken_at = applied, done
        self._pickle_s = pickled - started
        self.taken += 1
        self.last = {
            "file": path.name,
            "reason": reason,
            "records": header.records,
            "bytes": len(data),
            # The agent waits while the state is pickled; the write does not stop it.
            "pickle_seconds": round(pickled - started, 3),
            "write_seconds": round(done - pickled, 3),
            "written_at": header.written_at.isoformat(),
        }
        log.info("matching snapshot written", extra=self.last)
        return path

    def health(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "directory": str(self.store.directory),
            "every_events": self.every_events,
            "interval_s": self.interval_s,
            "taken": self.taken,
            "failures": self.failures,
            "last": self.last,
        }
