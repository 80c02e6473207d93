"""The fault schedule and the injector: SIGKILL a process at a random moment of the load,
bring it back (or let the supervisor), and time how long until it is ready again."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
from redis import Redis

from services.chaos.launch import SERVICES, Launcher, Target
from services.chaos.workload import Workload
from services.common.kafka import broker_reachable

KILLABLE: tuple[str, ...] = ("matching", "profiles", "events", "broker")
FLUSH = "redis"


@dataclass(frozen=True)
class Fault:
    index: int
    kind: str  # a Target, or "redis" (FLUSHALL)
    at_command: int  # fires once this many commands of the drive were answered


def schedule(
    kinds: Sequence[str], kills: int, commands_per_kill: int, seed: int, flush: bool
) -> list[Fault]:
    """`kills` of each kind in a shuffled order, one every `commands_per_kill` commands at a
    random point of its stretch, and (with `flush`) one Redis FLUSHALL among them."""
    rng = random.Random(f"schedule-{seed}")
    order = [k for k in kinds for _ in range(kills)]
    rng.shuffle(order)
    if flush:
        order.insert(rng.randint(0, len(order)), FLUSH)
    return [
        Fault(i, kind, int((i + rng.uniform(0.2, 0.8)) * commands_per_kill))
        for i, kind in enumerate(order)
    ]


@dataclass
class Recovery:
    index: int
    kind: str
    at: float  # seconds into the run
    seconds: float | None  # None: not ready again within the timeout
    restarted_by: str
    detail: str = ""


class Injector:
    def __init__(
        self,
        launcher: Launcher,
        workload: Workload,
        clock: Callable[[], float],
        recover_timeout: float,
        say: Callable[[str], None],
    ) -> None:
        self.launcher = launcher
        self.workload = workload
        self.clock = clock
        self.recover_timeout = recover_timeout
        self.say = say
        self.recoveries: list[Recovery] = []
        self.exits: list[str] = []
        self.skipped: list[str] = []
        self.stall = max(60.0, recover_timeout)

    @property
    def urls(self) -> dict[str, str]:
        return self.launcher.stack.urls

    async def run(self, faults: Sequence[Fault], base: int, done: asyncio.Event) -> None:
        try:
            for fault in faults:
                gone = self.launcher.gone()
                if gone:
                    self.skipped.append(
                        f"{gone}: {len(faults) - fault.index} faults from #{fault.index + 1} "
                        "not injected"
                    )
                    self.say(self.skipped[-1])
                    break
                if not await self.workload.wait_answered(base + fault.at_command, self.stall):
                    skipped = len(faults) - fault.index
                    self.skipped.append(
                        f"no command was answered for {self.stall:.0f} s: "
                        f"{skipped} faults from #{fault.index + 1} not injected"
                    )
                    self.say(self.skipped[-1])
                    break
                self.recoveries.append(await self.inject(fault))
        finally:
            done.set()

    async def inject(self, fault: Fault) -> Recovery:
        self.workload.fault = fault.kind
        at = self.clock()
        try:
            if fault.kind == FLUSH:
                await asyncio.to_thread(self._flush)
                self.say(f"fault {fault.index + 1}: FLUSHALL on Redis")
                return Recovery(fault.index, fault.kind, at, 0.0, "n/a")
            return await self._kill_and_recover(fault, at)
        finally:
            self.workload.fault = None

    def _flush(self) -> None:
        redis = Redis.from_url(self.launcher.stack.redis_url or "")
        try:
            redis.flushall()
        finally:
            redis.close()

    async def _kill_and_recover(self, fault: Fault, at: float) -> Recovery:
        target: Target = fault.kind  # type: ignore[assignment]
        started = time.monotonic()
        try:
            pid = await asyncio.to_thread(self.launcher.kill, target)
        except Exception as exc:
            self.say(f"fault {fault.index + 1}: could not kill {target}: {exc}")
            return Recovery(fault.index, target, at, None, "-", f"not killed: {exc}")
        restarting = None
        if not self.launcher.supervised:
            restarting = asyncio.create_task(asyncio.to_thread(self.launcher.restart, target))
        back, last = await self._wait_ready(target, started + self.recover_timeout)
        seconds = time.monotonic() - started if back else None
        by, detail = "supervisor", ""
        if restarting is not None:
            try:
                by = await asyncio.wait_for(restarting, max(1.0, self.recover_timeout))
            except Exception as exc:
                by, detail = "harness (failed)", f"{type(exc).__name__}: {exc}"[:400]
        told = f"{seconds:.1f} s" if seconds is not None else "NOT BACK"
        self.say(f"fault {fault.index + 1}: SIGKILL {target} (pid {pid}); ready again: {told}")
        if seconds is None and not detail:
            tail = [
                line
                for line in self.launcher.log_tail(target).splitlines()
                if "uvicorn.access" not in line
            ]
            detail = f"last /ready: {last}; log: " + " | ".join(tail[-3:])[-300:]
        return Recovery(fault.index, target, at, seconds, by, detail)

    async def _wait_ready(self, target: Target, deadline: float) -> tuple[bool, str]:
        """A service: its /ready answers 200. The broker: it answers metadata and every
        service is ready again (they report the broker in /ready). With what /ready said
        last (or why the stack is gone)."""
        last = "nothing yet"
        async with httpx.AsyncClient(timeout=2.0) as client:

            async def is_ready(name: str) -> bool:
                nonlocal last
                try:
                    r = await client.get(f"{self.urls[name]}/ready")
                except httpx.HTTPError as exc:
                    last = f"{name}: {type(exc).__name__}"
                    return False
                last = f"{name}: {r.status_code} {r.text[:200]}"
                return r.status_code == 200

            broker_back = target != "broker"
            while time.monotonic() < deadline:
                gone = self.launcher.gone()
                if gone:
                    return False, gone
                if not broker_back:
                    broker_back = await broker_reachable(self.launcher.stack.bootstrap or "", 1.0)
                    last = "the broker does not answer"
                names = SERVICES if target == "broker" else (target,)
                if broker_back:
                    for name in names:
                        if not await is_ready(name):
                            break  # `last` says which, and what it answered
                    else:
                        return True, last
                await asyncio.sleep(0.1)
        return False, last

    async def watch(self, stop: asyncio.Event, every: float = 1.0) -> None:
        """Processes that die by themselves (and a `jobmatch up` that exits)."""
        while not stop.is_set():
            for line in await asyncio.to_thread(self.launcher.check_exits):
                self.exits.append(f"{self.clock():.1f}s {line}")
                self.say(f"[unexpected] {line.splitlines()[0]}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
