"""Helpers shared by the bench scripts (queries.py, rebuild.py, throughput.py).

The scripts run as `.venv/bin/python bench/NAME.py`: their own folder is on sys.path, so
`import _common` finds this module, and each script puts the repo root on sys.path before
importing it (this module imports `services`).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.table import Table

from services.stack import Stack, free_port_base

err = Console(stderr=True, highlight=False)


def progress(message: str) -> None:
    err.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}")


def read_json_docs(directory: Path, pattern: str) -> list[dict[str, Any]]:
    """Every JSON file of `directory` that matches `pattern`, in name order."""
    return [json.loads(p.read_text()) for p in sorted(directory.glob(pattern))]


# -- statistics ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN when there is nothing to rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("nan")


class PerSecond:
    """A read-only attribute: the instance's attribute `count` per second of its attribute
    `seconds` (NaN when no time passed). In a dataclass, assign it without an annotation so
    that it is not a field: `rate = PerSecond("events", "seconds")`."""

    def __init__(self, count: str, seconds: str) -> None:
        self.count = count
        self.seconds = seconds

    def __get__(self, obj: Any, owner: Any = None) -> float:
        return rate(getattr(obj, self.count), getattr(obj, self.seconds))


# -- CPU -------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc, 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    # After the ")" of comm, utime and stime are the 12th and 13th fields.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reaped_children_seconds() -> float:
    """utime + stime of this process's children that have exited and been waited for."""
    fields = Path("/proc/self/stat").read_text().rpartition(")")[2].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores, from /proc/stat)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


class CpuMeter:
    """Share of one core per process over a phase, plus `others`: the machine's busy time
    minus these processes (whatever else ran on the cores meanwhile). `children` names the
    child processes this process starts and waits for during the phase (counted once they
    have exited)."""

    def __init__(self, pids: dict[str, int], children: str | None = None) -> None:
        self.pids = pids
        self.children = children
        self._start = self._snap()
        self._t = time.monotonic()

    def _snap(self) -> dict[str, float]:
        snap = cpu_snapshot(self.pids)
        if self.children:
            snap[self.children] = reaped_children_seconds()
        snap["machine"] = machine_busy_seconds()
        return snap

    def shares(self) -> dict[str, float]:
        end, wall = self._snap(), time.monotonic() - self._t
        used = {k: (end[k] - self._start[k]) / wall for k in end}
        used["others"] = max(0.0, used.pop("machine") - sum(used.values()))
        return used


# -- Kafka -----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def reader(bootstrap: str, parts: list[TopicPartition]) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer with `parts` assigned from offset 0, stopped on exit. Settings as
    the projector's consumer (4 MB per partition fetch)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=100,  # max_wait 0 returns nothing on Tansu
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        consumer.assign(parts)
        for tp in parts:
            consumer.seek(tp, 0)  # explicit: no ListOffsets round trip
        yield consumer
    finally:
        await consumer.stop()


# -- the stack -------------------------------------------------------------------------------


@contextlib.contextmanager
def throwaway_stack(prefix: str, *, memory: bool, keep_home: bool) -> Iterator[Stack]:
    """A stack in a fresh temp dir (`stack.home`) on free ports; on exit it is stopped and
    the dir removed (kept with `keep_home`)."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    stack = Stack(home=home, ports=free_port_base(), memory=memory)
    try:
        yield stack
    finally:
        stack.stop()
        if keep_home:
            progress(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


# -- report ----------------------------------------------------------------------------------


# What `throwaway_stack(memory=True).start_stores()` runs, for the environment tables.
MEMORY_STORES = "Tansu 0.6.0 memory://, redis-server without persistence"


def host() -> dict[str, str]:
    """The first rows of an environment table: the machine and the Python."""
    return {
        "machine": f"{len(os.sched_getaffinity(0))} usable cores / {os.cpu_count()} online, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB",
        "python": platform.python_version(),
    }


def table(title: str, first: str, *right: str) -> Table:
    """A table with the columns named: the first left-aligned, the others right-aligned."""
    t = Table(title=title)
    t.add_column(first)
    for name in right:
        t.add_column(name, justify="right")
    return t


def environment_table(env: dict[str, str]) -> Table:
    t = Table(title="Environment", show_header=False)
    for k, v in env.items():
        t.add_row(k, v)
    return t


def write_figures(path: Path, bench: str, env: dict[str, str], opts: Any, **figures: Any) -> None:
    """The run's figures as JSON: what, when, where, with which options, then `figures`."""
    doc = {
        "bench": bench,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": env,
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()},
        **figures,
    }
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    progress(f"figures written to {path}")
