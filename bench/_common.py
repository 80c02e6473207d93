"""Helpers shared by the bench scripts (queries.py, rebuild.py, throughput.py, auth.py).

The scripts run as `.venv/bin/python bench/NAME.py`: their own folder is on sys.path, so
`import _common` finds this module, and each script puts the repo root on sys.path before
importing it (this module imports `services`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.table import Table

from schemas.envelope import SYSTEM_MATCHING, Event
from schemas.jobs import JobOrder
from schemas.placements import AppliedEligibility, PlacementSuggested, Reason
from schemas.sealing import KeyRing
from services.auth.issuer import LocalIssuer
from services.common.kafka import make_producer
from services.stack import Proc, Stack, free_port_base

err = Console(stderr=True, highlight=False)


def add_load_options(p: argparse.ArgumentParser, duration: float, warmup: float) -> None:
    """The open-loop generator's options, as every latency bench takes them."""
    p.add_argument("--duration", type=float, default=duration, help="measured seconds per run")
    p.add_argument(
        "--warmup", type=float, default=warmup, help="unmeasured seconds before each run"
    )
    p.add_argument(
        "--connections", type=int, default=64, help="connection pool of the load generator"
    )
    p.add_argument(
        "--drain",
        type=float,
        default=5.0,
        help="after the last scheduled request, wait this long for answers; the rest count "
        "as timeouts",
    )
    p.add_argument(
        "--suggestions-per-order", type=int, default=20, help="PlacementSuggested per order"
    )


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


# -- tokens ----------------------------------------------------------------------------------


class Minter(LocalIssuer):
    """Access tokens of a stack's issuer, as `Stack.token` mints them (same claims, same
    key; the key file is parsed once, so ~1 ms each and a bench can mint thousands)."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(stack.home, stack.issuer)

    def consultants(self, municipality: str, count: int, prefix: str = "kons") -> list[str]:
        """One token for each of `count` consultants of `municipality` (subjects
        `{prefix}-{municipality}-{i}`): as many callers for the per-caller rate limit."""
        return [
            self.token("consultant", f"{prefix}-{municipality}-{i}", municipality=municipality)
            for i in range(count)
        ]


@dataclass
class Callers:
    """Who a bench signs in as: `per_municipality` consultants of each municipality (each
    its own subject, so its own rate-limit bucket) and one administrator."""

    consultants: dict[str, list[str]]
    admin: str

    @classmethod
    def mint(
        cls, stack: Stack, municipalities: Iterable[str], per_municipality: int, prefix: str
    ) -> Callers:
        minter = Minter(stack)
        return cls(
            {m: minter.consultants(m, per_municipality, prefix) for m in sorted(municipalities)},
            minter.token("administrator", f"{prefix}-admin"),
        )

    def consultant(self, municipality: str, index: int) -> str:
        """The token of consultant `index` (modulo their number) of `municipality`."""
        pool = self.consultants[municipality]
        return pool[index % len(pool)]


def bearer(token: str, **more: str) -> dict[str, str]:
    """Request headers carrying `token` (plus `more`, e.g. a content type)."""
    return {"Authorization": f"Bearer {token}", **more}


JSON_BODY = {"Content-Type": "application/json"}


# -- processes -------------------------------------------------------------------------------


def start_process(
    name: str,
    argv: list[str],
    log_dir: Path,
    health_url: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 90.0,
) -> Proc:
    """A child in its own session, output to `log_dir/name.log`, once `health_url` answers
    200 (as `services.stack` starts the services; stop it with `Proc.stop`)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            start_new_session=True,
        )
    proc = Proc(name, popen, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{name} exited during start-up:\n{proc.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(health_url, timeout=2).status_code == 200:
                return proc
        time.sleep(0.05)
    proc.stop()
    raise TimeoutError(f"{name} not ready after {timeout:.0f}s:\n{proc.log_tail()}")


def python_script(path: Path, *args: str) -> list[str]:
    return [sys.executable, str(path), *args]


# -- open-loop load --------------------------------------------------------------------------


@dataclass
class Target:
    """What request i of a load run is: `paths[i % len]`, with `bodies[i % len]` and
    `headers[i % len]` when those lists are not empty. An answer with status `expect`
    counts as served."""

    name: str
    base_url: str
    paths: list[str]
    method: str = "GET"
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    expect: int = 200

    def url(self, i: int) -> str:
        return self.base_url + self.paths[i % len(self.paths)]

    def body(self, i: int) -> bytes | None:
        return self.bodies[i % len(self.bodies)] if self.bodies else None

    def header(self, i: int) -> dict[str, str] | None:
        return self.headers[i % len(self.headers)] if self.headers else None


@dataclass
class LoadResult:
    target: str
    example: str
    rate: float
    duration: float
    scheduled: int
    ok: int
    latencies: list[float]  # from the scheduled time, served answers only
    lag: list[float]  # how late the generator actually sent (scheduled -> send)
    statuses: Counter[str]
    timeouts: int  # still unanswered `drain` seconds after the last scheduled send
    first_errors: list[str]
    wall_s: float  # first scheduled send -> last answer
    cpu: dict[str, float]

    @classmethod
    def pooled(cls, name: str, runs: Sequence[LoadResult]) -> LoadResult:
        """Several runs of one target as one sample (CPU shares averaged over the runs)."""
        statuses: Counter[str] = Counter()
        cpu: Counter[str] = Counter()
        for run in runs:
            statuses.update(run.statuses)
            cpu.update({k: v / len(runs) for k, v in run.cpu.items()})
        return cls(
            target=name,
            example=runs[0].example,
            rate=runs[0].rate,
            duration=sum(r.duration for r in runs),
            scheduled=sum(r.scheduled for r in runs),
            ok=sum(r.ok for r in runs),
            latencies=[v for r in runs for v in r.latencies],
            lag=[v for r in runs for v in r.lag],
            statuses=statuses,
            timeouts=sum(r.timeouts for r in runs),
            first_errors=[e for r in runs for e in r.first_errors][:5],
            wall_s=sum(r.wall_s for r in runs),
            cpu=dict(cpu),
        )

    def pct(self, q: float) -> float:
        """Over every scheduled request: errors and timeouts count as infinitely slow."""
        done = self.latencies + [float("inf")] * (self.scheduled - len(self.latencies))
        return percentile(done, q)

    @property
    def achieved(self) -> float:
        return rate(self.ok, self.wall_s)

    @property
    def errors(self) -> int:
        return self.scheduled - self.ok

    def summary(self) -> dict[str, Any]:
        def ms(v: float) -> float | None:
            return None if v != v or v == float("inf") else round(v * 1000, 3)

        return {
            "target": self.target,
            "example_url": self.example,
            "rate": self.rate,
            "duration_s": self.duration,
            "scheduled": self.scheduled,
            "ok": self.ok,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "statuses": dict(self.statuses),
            "first_errors": self.first_errors,
            "achieved_rps": round(self.achieved, 1),
            "p50_ms": ms(self.pct(50)),
            "p90_ms": ms(self.pct(90)),
            "p99_ms": ms(self.pct(99)),
            "max_ms": ms(self.pct(100)),
            "send_lag_p50_ms": ms(percentile(self.lag, 50)),
            "send_lag_p99_ms": ms(percentile(self.lag, 99)),
            "cpu_share": {k: round(v, 3) for k, v in self.cpu.items()},
        }


async def open_loop(
    session: aiohttp.ClientSession, target: Target, per_second: float, seconds: float, drain: float
) -> tuple[LoadResult, float]:
    """Send request i at t0 + i/per_second; latency counts from that scheduled time.

    The sender never waits for answers (no coordinated omission): when the server or the
    connection pool is slow, requests queue in the client and their waiting is counted.
    Returns the result (cpu left empty) and t0.
    """
    loop = asyncio.get_running_loop()
    n = max(1, round(per_second * seconds))
    latencies: list[float] = []
    lag: list[float] = []
    statuses: Counter[str] = Counter()
    first_errors: list[str] = []
    last_done = 0.0

    async def one(i: int, scheduled: float) -> None:
        nonlocal last_done
        lag.append(loop.time() - scheduled)
        try:
            async with session.request(
                target.method, target.url(i), data=target.body(i), headers=target.header(i)
            ) as r:
                body = await r.read()
                status = r.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            statuses[type(exc).__name__] += 1
            if len(first_errors) < 5:
                first_errors.append(repr(exc)[:300])
            return
        done = loop.time()
        statuses[str(status)] += 1
        if status == target.expect:
            latencies.append(done - scheduled)
            last_done = max(last_done, done)
        elif len(first_errors) < 5:
            text = body[:200].decode(errors="replace")
            first_errors.append(f"{status} {target.method} {target.url(i)}: {text}")

    tasks: list[asyncio.Task[None]] = []
    t0 = loop.time() + 0.01
    for i in range(n):
        scheduled = t0 + i / per_second
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    _, pending = await asyncio.wait(tasks, timeout=drain)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if pending:
        statuses["timeout"] += len(pending)
    result = LoadResult(
        target=target.name,
        example=target.url(0),
        rate=per_second,
        duration=seconds,
        scheduled=n,
        ok=len(latencies),
        latencies=latencies,
        lag=lag,
        statuses=statuses,
        timeouts=len(pending),
        first_errors=first_errors,
        wall_s=(last_done - t0) if latencies else float("nan"),
        cpu={},
    )
    return result, t0


async def settle(base_url: str, timeout: float = 30.0) -> None:
    """After an overloaded target, until the server answers /health quickly again (its
    handlers keep running for requests the client gave up on)."""
    quick = 0
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as client:
        while quick < 3 and time.monotonic() < deadline:
            started = time.monotonic()
            with contextlib.suppress(httpx.HTTPError):
                await client.get("/health")
            quick = quick + 1 if time.monotonic() - started < 0.02 else 0
            await asyncio.sleep(0.05)


async def measure_open_loop(
    target: Target,
    *,
    per_second: float,
    seconds: float,
    warmup: float,
    drain: float,
    connections: int,
    pids: dict[str, int],
    warmup_target: Target | None = None,
) -> LoadResult:
    """`warmup` unmeasured seconds (of `warmup_target`, default `target` itself), then
    `seconds` of `target` measured, both at `per_second` on one pool of `connections`, with
    the CPU share of each process in `pids` over the measured part."""
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        await settle(target.base_url)
        if warmup > 0:
            await open_loop(session, warmup_target or target, per_second, warmup, min(drain, 2.0))
            await settle(target.base_url)
        meter = CpuMeter(pids)
        result, _ = await open_loop(session, target, per_second, seconds, drain)
        # `others`: whatever else ran on the machine meanwhile (other users, tests): it
        # competes for cores.
        result.cpu = meter.shares()
    return result


async def wait_quiet(pids: dict[str, int], below: float, timeout: float) -> tuple[float, float]:
    """Until the processes not in `pids` (other jobs on a shared machine) use less than
    `below` of a core over a second, or `timeout` seconds passed. Returns (their share in
    the last second, seconds waited)."""
    started = time.monotonic()
    while True:
        meter = CpuMeter(pids)
        await asyncio.sleep(1.0)
        others = meter.shares()["others"]
        waited = time.monotonic() - started
        if others < below or waited >= timeout:
            return others, waited


def fmt_ms(seconds: float, timeout_after: float) -> str:
    if seconds != seconds:
        return "-"
    if seconds == float("inf"):
        return f"> {timeout_after:.0f} s"
    return f"{seconds * 1000:.2f}"


def ratio(value: float, base: float, digits: int = 1) -> str:
    if value != value or base != base or base <= 0:
        return "-"
    if value == float("inf"):
        return "inf"
    return f"{value / base:.{digits}f}x"


# -- logs ------------------------------------------------------------------------------------

_PLAIN_PROBLEM = re.compile(r"\b(ERROR|WARN|WARNING|panic|Traceback|Exception)\b")
# localbucket's access log: 404 is how Tansu probes for missing objects; other 4xx/5xx are not.
_HTTP_PROBLEM = re.compile(r'HTTP/1\.1" ((?!404)[45]\d\d)\b')
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def log_problems(line: str) -> str | None:
    """The level of a problem line, for JSON service logs and for plain store logs."""
    try:
        doc = json.loads(line)
    except ValueError:
        plain = _ANSI.sub("", line)  # Tansu colours its levels
        if m := _PLAIN_PROBLEM.search(plain):
            return m.group(1).upper()
        if m := _HTTP_PROBLEM.search(plain):
            return f"HTTP {m.group(1)}"
        return None
    level = str(doc.get("level", "")).lower() if isinstance(doc, dict) else ""
    return level.upper() if level in ("warning", "error", "critical") else None


def scan_logs(log_dir: Path) -> dict[str, tuple[Counter[str], list[str]]]:
    """Per log file: problem counts by level and the first few distinct lines."""
    found: dict[str, tuple[Counter[str], list[str]]] = {}
    for path in sorted(log_dir.glob("*.log")):
        counts: Counter[str] = Counter()
        examples: list[str] = []
        for line in path.read_text(errors="replace").splitlines():
            level = log_problems(line)
            if level is None:
                continue
            counts[level] += 1
            line = _ANSI.sub("", line)
            if len(examples) < 3 and line[:120] not in (e[:120] for e in examples):
                examples.append(line[:300])
        if counts:
            found[path.stem] = (counts, examples)
    return found


# -- seeding ---------------------------------------------------------------------------------

REASONS = (
    ("skill_coverage", "Dækker de efterspurgte færdigheder", "Covers the requested skills"),
    ("distance", "Kort afstand til arbejdsstedet", "Short distance to the worksite"),
    ("experience", "Relevant erfaring", "Relevant experience"),
    ("danish", "Dansk på det krævede niveau", "Danish at the required level"),
)


def suggestions(
    order: JobOrder,
    municipality: str,
    citizens: Sequence[str],
    id_prefix: str,
    posted_at: datetime,
    rng: random.Random,
) -> list[Event]:
    """PlacementSuggested events for `order`, one per citizen in rank order (ids
    `{id_prefix}-RRR`), as the matching service would write them: descending scores, three
    reasons, the order's programme, occupation, title and worksite; the envelope's
    municipality is the order's (the worklists group by it)."""
    scores = sorted((rng.uniform(0.3, 0.95) for _ in citizens), reverse=True)
    events = []
    for rank, (cid, score) in enumerate(zip(citizens, scores, strict=True), start=1):
        reasons = [
            Reason(code=c, text_da=da, text_en=en, contribution=round(rng.uniform(0, 0.3), 4))
            for c, da, en in rng.sample(REASONS, 3)
        ]
        payload = PlacementSuggested(
            job_order_id=order.job_order_id,
            citizen_id=cid,
            suggestion_id=f"{id_prefix}-{rank:03d}",
            score=round(score, 4),
            rank=rank,
            model_version="bench-1",
            card_version="1",
            order_version="1",
            reasons=reasons,
            eligibility=AppliedEligibility(programme=order.programme, eligible=True, reasons=[]),
            programme=order.programme,
            occupation_uri=order.esco_occupation_uri,
            title=order.title,
            worksite_postal_code=order.worksite.postal_code,
        )
        events.append(
            Event.new(
                payload,
                actor=SYSTEM_MATCHING,
                occurred_at=posted_at + timedelta(minutes=1, seconds=rank),
                municipality_code=municipality,
            )
        )
    return events


async def produce_events(bootstrap: str, events: list[Event], keys: KeyRing | None = None) -> None:
    """Straight to the catalogue topics, as the services append them (key, headers; personal
    fields sealed with `keys`, if given)."""
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        futures = [
            await producer.send(
                e.topic, e.to_json(keys), key=e.aggregate_id.encode(), headers=e.headers()
            )
            for e in events
        ]
        await producer.flush()
        failed = [f.exception() for f in futures if f.exception() is not None]
        if failed:
            raise RuntimeError(f"{len(failed)} sends failed, first: {failed[0]!r}")
    finally:
        await producer.stop()


async def wait_projected(
    base_url: str, produced: int, admin_token: str, stall_s: float = 60.0
) -> dict[str, Any]:
    """Until the profiles projection reports lag 0 and at least `produced` events applied
    (or dead-lettered). The status is for administrators."""
    last: Any = None
    last_move = time.monotonic()
    last_print = 0.0
    headers = bearer(admin_token)
    async with httpx.AsyncClient(base_url=base_url, timeout=5, headers=headers) as client:
        while True:
            r = await client.get("/v1/projections/status")
            r.raise_for_status()
            status: dict[str, Any] = r.json()
            done = int(status.get("applied", 0)) + int(status.get("dead_lettered", 0))
            if status.get("lag") == 0 and done >= produced:
                return status
            now = time.monotonic()
            if done != last:
                last, last_move = done, now
            elif now - last_move > stall_s:
                raise TimeoutError(f"projection stalled at {status}")
            if now - last_print > 2:
                progress(f"projection applied {done}/{produced}, lag {status.get('lag')}")
                last_print = now
            await asyncio.sleep(0.2)


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
