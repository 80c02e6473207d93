"""The worker's life cycle: recover before the agent runs, and never die silently.

Start-up (`recover`), retried with back-off until it succeeds:
1. replay every input partition (citizens, job orders, placements) from the start to the end
   the fetches report into a new state: the state is a function of the log alone;
2. reconcile: compare what the placements topic shows as live (each pair's last word a
   `PlacementSuggested`) with what the state holds; retract what it does not hold, suggest
   what it holds but the topic does not show (or shows with other content), adopt the rest
   as they are (same suggestion id, nothing emitted); wait for the broker's acks;
3. hand the state to the agent, which skips every record the replay loaded (the group's
   committed offsets only say where faust starts fetching).
A crash at any point leaves a log that the next start replays and reconciles the same way:
nothing emitted is left that the restarted worker does not hold, and nothing it holds is
left unannounced. The reconciliation's event ids derive from the last placements event of
each pair, so a repeat of an interrupted reconciliation emits the same events.

Failures: the agent's failure takes the process down (exit code 70) after logging the
exception, since its in-memory state may be half-updated and only a replay can rebuild it;
the supervisor (`jobmatch up`, systemd, Kubernetes) restarts it. `/ready` is 503 until
recovery has finished and while the agent is not running.
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
from typing import Any

from aiokafka import TopicPartition

from schemas.envelope import Event
from services.common.kafka import make_producer
from services.matching.decisions import reconciliation_events
from services.matching.domain.state import MatchingState
from services.matching.replay import INPUTS, Positions, Replayed, positions_to_json, replay_log

log = logging.getLogger(__name__)

# EX_SOFTWARE: an internal failure; the supervisor restarts the worker, which replays.
EXIT_FATAL = 70

Publish = Callable[[Sequence[Event]], Awaitable[None]]


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

    def advance(self, tp: TopicPartition, offset: int) -> None:
        if offset + 1 > self.positions.get(tp, 0):
            self.positions[tp] = offset + 1

    def hand_over(self, state: MatchingState, replayed: Replayed, counts: dict[str, int]) -> None:
        self.state = state
        self.replayed = dict(replayed.positions)
        self.positions = dict(replayed.positions)
        self.reconciled = counts
        self.last_error = None
        self.recovered.set()

    # -- health -----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.recovered.is_set() and self.agent_running and not self.failed

    def health(self) -> dict[str, Any]:
        return {
            "state_replayed": self.recovered.is_set(),
            "agent_running": self.agent_running,
            "reconciled": self.reconciled,
            "recovery": {
                "attempts": self.attempts,
                "last_error": self.last_error,
                "seconds": self.recovery_seconds,
            },
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
                event.to_json(),
                key=event.aggregate_id.encode(),
                headers=event.headers(),
            )
            for event in events
        ]
        for fut in pending:
            await fut
    finally:
        await producer.stop()


async def recover_once(
    make_state: Callable[[], MatchingState], bootstrap: str, publish: Publish
) -> tuple[MatchingState, Replayed, dict[str, int]]:
    """Replay the log into a new state, then make the placements topic agree with it."""
    state = make_state()
    replayed = await replay_log(state, bootstrap, INPUTS)
    rec = await asyncio.to_thread(state.reconcile)
    now = replayed.log_time or datetime.now(UTC)
    events = reconciliation_events(rec, state.scorer.model_version, now)
    await publish(events)
    state.sent(events)
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
    while True:
        runtime.attempts += 1
        started = time.monotonic()
        try:
            state, replayed, counts = await recover_once(runtime.make_state, bootstrap, send)
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
        log.info(
            "matching recovered",
            extra={
                "events": replayed.events,
                "skipped": replayed.skipped,
                "seconds": runtime.recovery_seconds,
                "digest": state.digest(),
                **counts,
            },
        )
        return
