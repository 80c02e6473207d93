"""A drill from start to report: start a stack, drive load while faults strike, settle,
probe the write side, reconcile the whole log.

`ChaosRun` is used by `jobmatch chaos` (one drive with the whole schedule) and by the fault
suite (one drive per kind of fault, each reconciled on its own), so both check the same
invariants.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from services.chaos.faults import FLUSH, KILLABLE, Fault, Injector, Recovery, schedule
from services.chaos.launch import Launcher, StackLauncher, UpLauncher
from services.chaos.ledger import Ledger
from services.chaos.logread import LogTail, read_whole_log
from services.chaos.observe import Comparison, Observer, Settled, held_pairs
from services.chaos.reconcile import (
    Acknowledged,
    Duplicates,
    Finding,
    LogFacts,
    Suggestions,
    Views,
    check_acknowledged,
    check_answers,
    check_duplicates,
    check_suggestions,
    check_views,
    facts,
)
from services.chaos.report import Check, Inv, Report
from services.chaos.workload import LoadOptions, Workload
from services.keys.setup import install_keystore, keystore_path
from services.stack import Ports, free_port_base


@dataclass
class ChaosOptions:
    kills: int = 2  # of each kind
    commands_per_kill: int = 200
    seed: int = 1
    storage: Literal["durable", "memory"] = "durable"
    launcher: Literal["stack", "up"] = "stack"
    kinds: tuple[str, ...] = KILLABLE
    flush: bool = True
    lanes: int = 6
    readers: int = 2
    recover_timeout: float = 180.0
    settle_still: float = 3.0
    settle_timeout: float = 300.0
    probe_sample: int = 20
    rebuild_check: bool = True
    rebuild_timeout: float = 600.0
    replay_check: bool = True
    home: Path | None = None
    port_base: int | None = None
    keep_home: bool = False

    def effective_kinds(self) -> tuple[str, ...]:
        """The memory engine loses the log with the broker: no broker kills there."""
        if self.storage == "memory":
            return tuple(k for k in self.kinds if k != "broker")
        return self.kinds


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


NOT_RUN = Comparison("not available", "not run")


@dataclass
class Reconciliation:
    """What the last reconciliation found (the report is made from it)."""

    settled: Settled
    log: LogFacts
    acknowledged: Acknowledged
    duplicates: Duplicates
    answers: list[Finding]
    suggestions: Suggestions | None
    views: Views
    rebuild: Comparison = NOT_RUN
    replay: Comparison = NOT_RUN


class ChaosRun:
    def __init__(self, options: ChaosOptions, say: Callable[[str], None] = _stderr) -> None:
        self.options = options
        self.say = say
        self.ledger = Ledger()
        self._t0 = time.monotonic()
        self._own_home = options.home is None
        self.home = options.home or Path(tempfile.mkdtemp(prefix="jobmatch-chaos-"))
        # The stack's key store: the drill reads the sealed log as its services do.
        install_keystore(keystore_path(self.home), "chaos")
        ports = Ports(options.port_base) if options.port_base else free_port_base()
        memory = options.storage == "memory"
        launcher_type = UpLauncher if options.launcher == "up" else StackLauncher
        self.launcher: Launcher = launcher_type(self.home, ports, memory)
        self.workload = Workload(
            self.launcher.stack,
            self.ledger,
            LoadOptions(lanes=options.lanes, query_tasks=options.readers, seed=options.seed),
            self.clock,
        )
        self.injector = Injector(
            self.launcher, self.workload, self.clock, options.recover_timeout, say
        )
        self.workload.stall = self.injector.stall
        self.observer = Observer(self.launcher.stack, self.workload.tokens, say)
        self._tail: LogTail | None = None
        self.last: Reconciliation | None = None
        self.started = False

    def clock(self) -> float:
        return time.monotonic() - self._t0

    @property
    def tail(self) -> LogTail:
        if self._tail is None:
            self._tail = LogTail(self.launcher.stack.bootstrap or "", keep=False)
        return self._tail

    async def start(self) -> None:
        where = f"{self.home} (ports from {self.launcher.stack.ports.base})"
        self.say(f"starting the stack ({self.options.storage}, {self.options.launcher}) in {where}")
        await asyncio.to_thread(self.launcher.start)
        self.started = True
        self.say(f"stack ready after {self.clock():.1f} s")

    async def stop(self) -> None:
        if self._tail is not None:
            await self._tail.close()
        await self.observer.close()
        await self.workload.close()
        await asyncio.to_thread(self.launcher.stop)
        if self._own_home and not self.options.keep_home:
            shutil.rmtree(self.home, ignore_errors=True)

    async def __aenter__(self) -> ChaosRun:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- driving -----------------------------------------------------------------------------

    def schedule(self) -> list[Fault]:
        o = self.options
        return schedule(o.effective_kinds(), o.kills, o.commands_per_kill, o.seed, o.flush)

    async def drive(self, faults: Sequence[Fault], commands: int, phase: str = "load") -> None:
        """Load until `commands` commands were answered and every fault was injected (each
        when its `at_command` count of this drive is reached) and recovered from."""
        self.workload.phase = phase
        done, stop_watch = asyncio.Event(), asyncio.Event()
        base = self.workload.answered
        kinds = ", ".join(f.kind for f in faults) or "none"
        self.say(f"[{phase}] {commands} commands, faults: {kinds}")
        watcher = asyncio.create_task(self.injector.watch(stop_watch))
        try:
            await asyncio.gather(
                self.workload.drive(commands, done, abort=self.launcher.gone),
                self.injector.run(faults, base, done),
            )
        finally:
            stop_watch.set()
            await watcher
        self.say(
            f"[{phase}] done at {self.clock():.1f} s: {len(self.ledger.commands)} commands sent"
        )

    # -- reconciling -------------------------------------------------------------------------

    async def reconcile(self, final: bool = True, probe: bool = True) -> Report:
        """Settle, probe the write side, settle again, then check every invariant against
        the whole log (read afresh from offset 0). `final` adds the views' checksum against
        a rebuild and the fresh replay of the matching worker (both change the stack: the
        rebuild switches the readers' keyspace)."""
        o = self.options
        phase = self.workload.phase
        self.say("settling")
        settled = await self.observer.settle(self.tail, o.settle_still, o.settle_timeout)
        if probe:
            try:
                records, _ = await read_whole_log(self.launcher.stack.bootstrap or "")
            except Exception as exc:
                self.say(f"no write-side probe: the log could not be read ({exc})")
            else:
                await self.workload.probe_write_side(facts(records), o.probe_sample)
                self.workload.phase = phase
                settled = await self.observer.settle(self.tail, o.settle_still, o.settle_timeout)
        self.say(
            f"settled: {settled.ok} {settled.detail} ({settled.seconds:.1f} s); reading the log"
        )
        try:
            records, ends = await read_whole_log(self.launcher.stack.bootstrap or "")
        except Exception as exc:
            why = f"{type(exc).__name__}: {exc}"
            self.say(f"the log could not be read: {why}")
            return self._report(phase, None, settled, why)
        log = facts(records)
        state = await self.observer.matching_state()
        views = await self.observer.collect_views(log)
        r = Reconciliation(
            settled=settled,
            log=log,
            acknowledged=check_acknowledged(self.ledger.commands, log),
            duplicates=check_duplicates(log),
            answers=check_answers(self.ledger.commands),
            suggestions=check_suggestions(log, held_pairs(state)) if state else None,
            views=check_views(log, views),
        )
        if final and o.rebuild_check:
            self.say("checksum of the views against a rebuild")
            r.rebuild = await asyncio.to_thread(
                self.observer.checksum_vs_rebuild, o.rebuild_timeout
            )
        if final and o.replay_check:
            self.say("fresh replay of the matching worker")
            r.replay = await self.observer.fresh_replay(ends, state)
        self.last = r
        return self._report(phase, r, settled)

    def _report(
        self, phase: str, r: Reconciliation | None, settled: Settled, unreadable: str = ""
    ) -> Report:
        o = self.options
        notes = [f"harness error: {e}" for e in self.workload.errors[:10]]
        if o.storage == "memory" and "broker" in o.kinds:
            notes.append("memory storage: broker kills skipped (the memory engine loses the log)")
        setup = {
            "phase": phase,
            "storage": o.storage,
            "launcher": o.launcher,
            "seed": o.seed,
            "kills": o.kills,
            "commands_per_kill": o.commands_per_kill,
            "kinds": ",".join(o.effective_kinds()),
            "flush": o.flush,
            "seconds": round(self.clock(), 1),
        }
        settle = Check(
            Inv.SETTLED, settled.ok, f"in {settled.seconds:.1f} s" if settled.ok else settled.detail
        )
        if r is None:
            unread = "the log could not be read"
            checks = [
                settle,
                _check(Inv.LOG_READ, [Finding("log", unreadable)], unreadable),
                *(Check(name, None, unread) for name in Inv.OF_THE_LOG),
                *self._process_checks(),
            ]
            return Report(setup, self._ledger_counts(), self.recoveries(), checks, notes)
        checks = [settle, Check(Inv.LOG_READ, True, f"{r.log.records} records")]
        checks += self._checks(r) + self._process_checks()
        counts = {**self._ledger_counts(), **self._counts(r)}
        return Report(setup, counts, self.recoveries(), checks, notes)

    def recoveries(self) -> list[Recovery]:
        return list(self.injector.recoveries)

    def _ledger_counts(self) -> dict[str, Any]:
        classes = self.ledger.command_classes()
        return {
            "commands": len(self.ledger.commands),
            "202s": sum(1 for c in self.ledger.commands if c.status == 202),
            "4xx": classes.get("4xx", 0),
            "5xx": classes.get("5xx", 0),
            "no answer": classes.get("no answer", 0),
            "queries": len(self.ledger.queries),
            "queries 5xx": self.ledger.query_classes().get("5xx", 0),
            "harness errors": len(self.workload.errors),
        }

    def _counts(self, r: Reconciliation) -> dict[str, Any]:
        sugg = r.suggestions
        return {
            "events (records in the log)": r.log.records,
            "unique events": r.log.unique_events,
            "events acknowledged (202)": r.acknowledged.acked_events,
            "lost (acknowledged, not in the log)": len(r.acknowledged.lost),
            "duplicates by event id (records)": r.duplicates.records,
            "  of commands": len(r.duplicates.of_commands),
            "  of matching (redelivered, same id)": len(r.duplicates.of_derived),
            "write conflicts in the log": len(r.log.conflicts),
            "answers the log contradicts": len(r.answers),
            "missing from views": len(r.views.missing),
            "stale in views": len(r.views.stale),
            "doubled in views": len(r.views.doubled),
            "live suggestions / held by matching": (
                f"{sugg.live} / {sugg.held}" if sugg else f"{len(r.log.live)} / n/a"
            ),
            "orphans": len(sugg.orphans) if sugg else "n/a",
            "held, not live in the log": len(sugg.unannounced) if sugg else "n/a",
        }

    def _checks(self, r: Reconciliation) -> list[Check]:
        ack, dup, seen, sugg = r.acknowledged, r.duplicates, r.views, r.suggestions
        return [
            _check(
                Inv.ACKED,
                ack.lost + ack.doubled + ack.misplaced,
                f"{ack.acked_events} events: {len(ack.lost)} lost, {len(ack.doubled)} doubled, "
                f"{len(ack.misplaced)} elsewhere",
            ),
            _check(
                Inv.NO_DUPLICATES,
                dup.of_commands + dup.divergent,
                f"{len(dup.of_commands)} command events repeated, {len(dup.divergent)} ids with "
                f"other content ({len(dup.of_derived)} redelivered matching events tolerated)",
            ),
            _check(
                Inv.WRITE_SIDE,
                r.log.conflicts + r.answers,
                f"{len(r.log.conflicts)} conflicts in the log, {len(r.answers)} answers it "
                "contradicts",
            ),
            _check(
                Inv.VIEWS,
                seen.missing + seen.stale,
                f"{seen.checked} records checked: {len(seen.missing)} missing, "
                f"{len(seen.stale)} stale",
            ),
            _check(Inv.NOT_DOUBLED, seen.doubled, f"{len(seen.doubled)} doubled"),
            Check(
                Inv.NO_ORPHANS,
                None if sugg is None else not (sugg.orphans or sugg.unannounced),
                "the matching state did not answer"
                if sugg is None
                else f"{len(sugg.orphans)} orphans, {len(sugg.unannounced)} held but not live",
                [] if sugg is None else sugg.orphans + sugg.unannounced,
            ),
            Check(
                Inv.NOT_RESURRECTED,
                None if sugg is None else not sugg.resurrected,
                "n/a"
                if sugg is None
                else f"{len(sugg.resurrected)} suggested again ({sugg.withdrawn} suggested "
                "before the rejection was read, then withdrawn)",
                [] if sugg is None else sugg.resurrected,
            ),
            Check(Inv.REPLAY, r.replay.ok, _said(r.replay)),
            Check(Inv.REBUILD, r.rebuild.ok, _said(r.rebuild)),
        ]

    def _process_checks(self) -> list[Check]:
        o = self.options
        exits = [Finding(f"exit:{i}", line) for i, line in enumerate(self.injector.exits)]
        not_back = [Finding(f"skipped:{i}", line) for i, line in enumerate(self.injector.skipped)]
        not_back += [
            Finding(
                f"not-back:{rec.index}",
                f"{rec.kind} killed at {rec.at:.1f} s: not ready in {o.recover_timeout:.0f} s "
                f"{rec.detail}",
            )
            for rec in self.injector.recoveries
            if rec.seconds is None
        ]
        kills = [rec for rec in self.injector.recoveries if rec.kind != FLUSH]
        by = "the supervisor" if self.launcher.supervised else "the harness"
        http500 = [Finding(f"500:{i}", d) for i, d in enumerate(self.ledger.http_500())]
        return [
            _check(
                Inv.RECOVERED, not_back, f"{len(kills) - len(not_back)}/{len(kills)} back (by {by})"
            ),
            _check(Inv.NO_500, http500, f"{len(http500)}"),
            _check(Inv.NO_EXITS, exits, f"{len(exits)} unexpected exits"),
        ]


def _check(name: str, findings: list[Finding], summary: str) -> Check:
    return Check(name, not findings, summary, findings)


def _said(c: Comparison) -> str:
    return f"{c.status}: {c.detail}" if c.detail else c.status


async def run_chaos(options: ChaosOptions, say: Callable[[str], None] = _stderr) -> Report:
    """The whole drill: the schedule in one drive, then the final reconciliation."""
    run = ChaosRun(options, say)
    async with run:
        faults = run.schedule()
        await run.drive(
            faults, len(faults) * options.commands_per_kill or options.commands_per_kill
        )
        report = await run.reconcile(final=True)
        report.setup["home"] = str(run.home) if options.keep_home or options.home else "(removed)"
        return report
