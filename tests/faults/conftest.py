"""Fault drills as the fault suite runs them: a stack of its own per module, driven in
phases (one kind of fault each), each phase reconciled against the whole log with the same
checks `jobmatch chaos` makes. A phase is judged by the findings it added, so a defect is
blamed on the fault that caused it and not on every later one.

Counts are bounded so that the suite finishes in minutes on two cores: a few dozen
commands around each fault.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.chaos.faults import Fault, Recovery
from services.chaos.report import Report
from services.chaos.run import ChaosOptions, ChaosRun

COMMANDS = 40  # commands answered in a phase; the fault strikes in its middle


@dataclass(frozen=True)
class Phase:
    name: str
    faults: tuple[str, ...] = ()
    commands: int = COMMANDS
    final: bool = False  # also the checksum against a rebuild and the fresh replay
    probe: bool = True  # probe the write side before reconciling
    reconcile: bool = True


@dataclass
class Drill:
    """What each phase of a drill reported, in order."""

    reports: dict[str, Report] = field(default_factory=dict)
    recoveries: list[Recovery] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    error: str | None = None  # why the drill stopped before its last phase

    def report(self, phase: str) -> Report:
        assert phase in self.reports, f"phase {phase} did not run: {self.error or self.log[-5:]}"
        return self.reports[phase]

    def new(self, phase: str, invariant: str) -> list[str]:
        """The findings of `invariant` that appeared during `phase`."""
        names = list(self.reports)
        before: set[str] = set()
        if names.index(phase) > 0:
            before = self.reports[names[names.index(phase) - 1]].keys(invariant)
        return [
            f.detail for f in self.report(phase).check(invariant).findings if f.key not in before
        ]

    def recovered(self, kind: str) -> list[Recovery]:
        return [r for r in self.recoveries if r.kind == kind]


def options(home: Path, **overrides: object) -> ChaosOptions:
    base = ChaosOptions(
        storage="memory",
        launcher="stack",
        lanes=4,
        readers=1,
        seed=11,
        recover_timeout=90.0,
        settle_still=2.0,
        settle_timeout=150.0,
        probe_sample=8,
        rebuild_timeout=240.0,
        home=home,
    )
    for name, value in overrides.items():
        setattr(base, name, value)
    return base


def run_drill(opts: ChaosOptions, phases: Sequence[Phase]) -> Drill:
    """Start a stack, run the phases in order, reconcile after each; stop the stack."""
    drill = Drill()

    async def go() -> None:
        run = ChaosRun(opts, say=drill.log.append)
        async with run:
            try:
                for phase in phases:
                    faults = [
                        Fault(i, kind, int((i + 0.5) * phase.commands / len(phase.faults)))
                        for i, kind in enumerate(phase.faults)
                    ]
                    await run.drive(faults, phase.commands, phase.name)
                    if phase.reconcile:
                        report = await run.reconcile(phase.final, phase.probe)
                        drill.reports[phase.name] = report
                        # Every finding, for a look after a failure (pytest keeps tmp dirs).
                        dump = json.dumps(report.to_json(samples=10_000), indent=1)
                        (run.home / f"report-{phase.name}.json").write_text(dump)
            except Exception as exc:
                drill.error = f"{type(exc).__name__}: {exc}"
            finally:
                drill.recoveries = list(run.injector.recoveries)

    asyncio.run(go())
    return drill
