"""The drill's report: counts, recovery times and the invariants, as a table or JSON."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from services.chaos.faults import FLUSH, Recovery
from services.chaos.reconcile import Finding

SAMPLES = 8


class Inv:
    """The invariants' names, as the report shows them (and the fault suite asks for them)."""

    SETTLED = "the stack settles (views and matching catch up)"
    LOG_READ = "the whole log can be read"
    ACKED = "every 202 is in the log exactly once, where it was said to be"
    NO_DUPLICATES = "no event id twice in the log (a matching redelivery repeats its content)"
    WRITE_SIDE = "the write side decides as the log says"
    VIEWS = "the views hold every event of the log"
    NOT_DOUBLED = "no suggestion doubled in the views"
    NO_ORPHANS = "no orphan suggestion (the log's live ones = the worker's)"
    NOT_RESURRECTED = "a rejected pair is not suggested again unchanged"
    REPLAY = "the matching state equals a fresh replay's"
    REBUILD = "the views' checksum equals a rebuild's"
    RECOVERED = "every killed process is ready again"
    NO_500 = "no HTTP 500 (503/429 are the answers under faults)"
    NO_EXITS = "nothing died by itself"
    # Those that need the log.
    OF_THE_LOG = (
        ACKED, NO_DUPLICATES, WRITE_SIDE, VIEWS, NOT_DOUBLED, NO_ORPHANS, NOT_RESURRECTED,
        REPLAY, REBUILD,
    )  # fmt: skip


@dataclass
class Check:
    name: str
    ok: bool | None  # None: not run, or not available
    summary: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.ok]


@dataclass
class Report:
    setup: dict[str, Any]
    counts: dict[str, Any]
    recoveries: list[Recovery]
    checks: list[Check]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok is not False for c in self.checks)

    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.ok is False]

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def keys(self, name: str) -> set[str]:
        return {f.key for f in self.check(name).findings}

    def recovery_figures(self) -> dict[str, dict[str, Any]]:
        """Per kind: kills, how many came back, and min/median/max seconds until ready."""
        out: dict[str, dict[str, Any]] = {}
        for kind in dict.fromkeys(r.kind for r in self.recoveries if r.kind != FLUSH):
            mine = [r for r in self.recoveries if r.kind == kind]
            times = [r.seconds for r in mine if r.seconds is not None]
            out[kind] = {
                "kills": len(mine),
                "back": len(times),
                "min": round(min(times), 2) if times else None,
                "median": round(statistics.median(times), 2) if times else None,
                "max": round(max(times), 2) if times else None,
                "restarted_by": sorted({r.restarted_by for r in mine}),
            }
        return out

    def to_json(self, samples: int = SAMPLES) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "setup": self.setup,
            "counts": self.counts,
            "recovery": self.recovery_figures(),
            "faults": [
                {
                    "kind": r.kind,
                    "at_s": round(r.at, 2),
                    "ready_after_s": None if r.seconds is None else round(r.seconds, 2),
                    "restarted_by": r.restarted_by,
                    **({"detail": r.detail} if r.detail else {}),
                }
                for r in self.recoveries
            ],
            "invariants": [
                {
                    "name": c.name,
                    "verdict": c.verdict,
                    "summary": c.summary,
                    "findings": len(c.findings),
                    "samples": [f.detail for f in c.findings[:samples]],
                }
                for c in self.checks
            ],
            "notes": self.notes,
        }

    def render(self, console: Console) -> None:
        setup = "  ".join(f"{k}={v}" for k, v in self.setup.items())
        console.print(f"[bold]jobmatch chaos[/bold]  {setup}")
        counts = Table(title="counts", show_header=False, title_justify="left")
        counts.add_column("what")
        counts.add_column("n", justify="right")
        for name, value in self.counts.items():
            counts.add_row(name, str(value))
        console.print(counts)
        if self.recovery_figures():
            rec = Table(title="seconds until ready again after SIGKILL", title_justify="left")
            for col in ("fault", "kills", "back", "min", "median", "max", "restarted by"):
                rec.add_column(col, justify="left" if col in ("fault", "restarted by") else "right")
            for kind, f in self.recovery_figures().items():
                rec.add_row(
                    kind,
                    str(f["kills"]),
                    str(f["back"]),
                    *(_s(f[k]) for k in ("min", "median", "max")),
                    ", ".join(f["restarted_by"]),
                )
            console.print(rec)
        inv = Table(title="invariants", title_justify="left")
        inv.add_column("", justify="left")
        inv.add_column("invariant")
        inv.add_column("result")
        for c in self.checks:
            style = {"PASS": "green", "FAIL": "red", "n/a": "yellow"}[c.verdict]
            inv.add_row(f"[{style}]{c.verdict}[/{style}]", c.name, c.summary)
        console.print(inv)
        for c in self.failed():
            console.print(f"[red]{c.name}[/red]: {len(c.findings)} findings")
            for finding in c.findings[:SAMPLES]:
                console.print(f"  - {finding.detail}", highlight=False, markup=False)
        for note in self.notes:
            console.print(f"[dim]note:[/dim] {note}", highlight=False)
        verdict = "[green]all invariants hold[/green]" if self.ok else "[red]invariants fail[/red]"
        console.print(verdict)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
