"""Query latency of the profiles API at a fixed request rate, against a bare FastAPI + Redis GET.

One run starts its own throwaway stack in a temp dir (Tansu memory engine, Redis without
persistence, the profiles service as a real subprocess), seeds it with real events produced
straight to the topics (job orders, competence cards, ~20 PlacementSuggested per order),
waits until the projection has applied all of them, then drives each target open-loop at
a fixed rate (request i is sent at t0 + i/rate whatever the answers do, and its latency is
counted from that scheduled time, so a slow server cannot hide behind a waiting client):

1. baseline: a bare FastAPI app in its own uvicorn process doing one `await redis.get(key)`;
2. `GET /v1/job-orders/{id}` for random seeded orders;
3. `GET /v1/job-orders/{id}/suggestions?limit=20` for random seeded orders;
4. `GET /v1/worklists/0751?limit=50` (the biggest municipality).

Run from the repo root:  .venv/bin/python bench/queries.py [--rate 500] [--duration 10] ...
See bench/queries.md for the method and the figures.
(`--serve-baseline PORT REDIS_URL` is how the bench starts its own baseline app.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable without the editable install too
    sys.path.insert(0, str(REPO))

import _common as common  # noqa: E402
import aiohttp  # noqa: E402
import httpx  # noqa: E402
import redis  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from schemas.citizens import CompetenceCard, CompetenceCardRegistered  # noqa: E402
from schemas.envelope import SYSTEM_MATCHING, Actor, Event  # noqa: E402
from schemas.jobs import JobOrder, JobOrderPosted  # noqa: E402
from schemas.placements import AppliedEligibility, PlacementSuggested, Reason  # noqa: E402
from services.common.kafka import make_producer  # noqa: E402
from services.stack import Proc, Stack, free_port_base  # noqa: E402

DATA = REPO / "tests" / "data"
# Municipality -> (share of the data, worksite / home postal codes). 0751 (Aarhus) is the
# biggest, so its worklist is the heaviest one.
MUNICIPALITIES: dict[str, tuple[float, tuple[str, ...]]] = {
    "0751": (0.40, ("8000", "8200", "8210", "8220")),
    "0101": (0.25, ("2100", "2200", "2300")),
    "0461": (0.15, ("5000", "5200")),
    "0851": (0.10, ("9000", "9200")),
    "0561": (0.10, ("6700", "6705")),
}
WORKLIST_MUNICIPALITY = "0751"
GOAL_P99_S = 0.020
BASELINE_KEY = "bench:baseline:doc"
REASONS = (
    ("skill_coverage", "Dækker de efterspurgte færdigheder", "Covers the requested skills"),
    ("distance", "Kort afstand til arbejdsstedet", "Short distance to the worksite"),
    ("experience", "Relevant erfaring", "Relevant experience"),
    ("danish", "Dansk på det krævede niveau", "Danish at the required level"),
)

# Wide enough for the latency table when stdout is a file or a pipe (rich's default is 80).
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


# -- options ---------------------------------------------------------------------------------

TARGETS = ("baseline", "job-order", "suggestions", "worklist")


@dataclass(frozen=True)
class Options:
    orders: int
    cards: int
    per_order: int
    rate: float
    duration: float
    warmup: float
    connections: int
    drain: float
    targets: tuple[str, ...]
    seed: int
    json_path: Path | None
    keep_home: bool


def parse_args(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--orders", type=int, default=2000, help="JobOrderPosted events")
    p.add_argument("--cards", type=int, default=5000, help="CompetenceCardRegistered events")
    p.add_argument(
        "--suggestions-per-order", type=int, default=20, help="PlacementSuggested per order"
    )
    p.add_argument("--rate", type=float, default=500.0, help="requests per second per target")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per target")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds per target")
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
        "--targets",
        default=",".join(TARGETS),
        help=f"comma-separated subset of {','.join(TARGETS)} (the baseline always runs)",
    )
    p.add_argument("--seed", type=int, default=7, help="random seed of the data and the ids")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--keep-home", action="store_true", help="keep the stack's dir (logs)")
    a = p.parse_args(argv)
    targets = tuple(t.strip() for t in a.targets.split(",") if t.strip())
    unknown = set(targets) - set(TARGETS)
    if unknown:
        p.error(f"unknown targets {sorted(unknown)}")
    if a.orders < 1 or a.cards < a.suggestions_per_order or a.suggestions_per_order < 1:
        p.error("need --orders >= 1 and --cards >= --suggestions-per-order >= 1")
    if a.rate <= 0 or a.duration <= 0 or a.connections < 1:
        p.error("--rate, --duration and --connections must be positive")
    return Options(
        orders=a.orders,
        cards=a.cards,
        per_order=a.suggestions_per_order,
        rate=a.rate,
        duration=a.duration,
        warmup=max(0.0, a.warmup),
        connections=a.connections,
        drain=max(0.0, a.drain),
        targets=("baseline", *(t for t in TARGETS if t in targets and t != "baseline")),
        seed=a.seed,
        json_path=a.json,
        keep_home=a.keep_home,
    )


# -- the baseline app (runs in its own process) ----------------------------------------------


def serve_baseline(port: int, redis_url: str) -> None:
    """A bare FastAPI app: one endpoint, one `await redis.get(key)`, the value as JSON.

    uvicorn as the profiles service runs it (asyncio loop, h11, access log on), so the
    difference between the two is the query work, not the server set-up.
    """
    import uvicorn
    from fastapi import FastAPI
    from redis.asyncio import Redis

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.redis = Redis.from_url(redis_url)
        try:
            yield
        finally:
            await app.state.redis.aclose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/baseline/{key}")
    async def get(key: str) -> dict[str, Any]:
        value = await app.state.redis.get(key)
        return {"key": key, "value": value.decode() if value is not None else None}

    uvicorn.run(app, host="127.0.0.1", port=port)


def start_baseline(port: int, redis_url: str, log_dir: Path) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "baseline.log"
    argv = [sys.executable, str(Path(__file__).resolve()), "--serve-baseline", str(port), redis_url]
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
    proc = Proc("baseline", popen, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"baseline app exited:\n{proc.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        time.sleep(0.05)
    proc.stop()
    raise TimeoutError(f"baseline app not ready:\n{proc.log_tail()}")


# -- seeding ---------------------------------------------------------------------------------


@dataclass
class Seeded:
    events: int
    order_ids: list[str]
    per_order: int
    worklist_expected: int  # pending suggestions of WORKLIST_MUNICIPALITY
    build_s: float
    produce_s: float
    project_s: float = 0.0
    final_status: dict[str, Any] = field(default_factory=dict)


def pick_municipality(rng: random.Random) -> str:
    codes = list(MUNICIPALITIES)
    return rng.choices(codes, weights=[MUNICIPALITIES[c][0] for c in codes])[0]


def variant(
    docs: list[dict[str, Any]], i: int, rng: random.Random, id_field: str, id_value: str, where: str
) -> tuple[dict[str, Any], str]:
    """A copy of the i-th template doc (round robin) with `id_field` set to `id_value`, in a
    municipality picked by its share and at one of its postal codes (in `doc[where]`).
    Returns (doc, municipality)."""
    doc = copy.deepcopy(docs[i % len(docs)])
    code = pick_municipality(rng)
    doc[id_field] = id_value
    doc["municipality_code"] = code
    doc[where]["postal_code"] = rng.choice(MUNICIPALITIES[code][1])
    return doc, code


def build_events(opts: Options) -> tuple[list[Event], list[str], int]:
    """Orders, cards and suggestions as the services would write them. Returns
    (events, order ids, number of worklist entries of WORKLIST_MUNICIPALITY)."""
    rng = random.Random(opts.seed)
    now = datetime.now(UTC).replace(microsecond=0)
    consultant = Actor(role="consultant", id="bench")
    employer = Actor(role="employer", id="bench-employer")
    events: list[Event] = []

    card_tpl = common.read_json_docs(DATA, "competence_card_*.json")
    citizens: list[str] = []
    for i in range(opts.cards):
        doc, code = variant(card_tpl, i, rng, "citizen_id", f"cit-bench-c{i:05d}", "location")
        card = CompetenceCard.model_validate(doc)
        citizens.append(card.citizen_id)
        events.append(
            Event.new(
                CompetenceCardRegistered(citizen_id=card.citizen_id, version=1, card=card),
                actor=consultant,
                occurred_at=now - timedelta(days=60, minutes=i),
                municipality_code=code,
            )
        )

    order_tpl = common.read_json_docs(DATA, "job_order_*.json")
    order_ids: list[str] = []
    worklist = 0
    for i in range(opts.orders):
        doc, code = variant(order_tpl, i, rng, "job_order_id", f"jo-bench-{i:05d}", "worksite")
        order = JobOrder.model_validate(doc)
        order_ids.append(order.job_order_id)
        posted_at = now - timedelta(days=rng.randrange(30), minutes=rng.randrange(600))
        events.append(
            Event.new(
                JobOrderPosted(job_order_id=order.job_order_id, version=1, order=order),
                actor=employer,
                occurred_at=posted_at,
                municipality_code=code,
            )
        )
        scores = sorted((rng.uniform(0.3, 0.95) for _ in range(opts.per_order)), reverse=True)
        for rank, (cid, score) in enumerate(
            zip(rng.sample(citizens, opts.per_order), scores, strict=True), start=1
        ):
            reasons = [
                Reason(code=c, text_da=da, text_en=en, contribution=round(rng.uniform(0, 0.3), 4))
                for c, da, en in rng.sample(REASONS, 3)
            ]
            payload = PlacementSuggested(
                job_order_id=order.job_order_id,
                citizen_id=cid,
                suggestion_id=f"sug-bench-{i:05d}-{rank:03d}",
                score=round(score, 4),
                rank=rank,
                model_version="bench-1",
                card_version="1",
                order_version="1",
                reasons=reasons,
                eligibility=AppliedEligibility(
                    programme=order.programme, eligible=True, reasons=[]
                ),
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
                    municipality_code=code,
                )
            )
            worklist += code == WORKLIST_MUNICIPALITY
    return events, order_ids, worklist


async def produce(bootstrap: str, events: list[Event]) -> None:
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        futures = [
            await producer.send(
                e.topic, e.to_json(), key=e.aggregate_id.encode(), headers=e.headers()
            )
            for e in events
        ]
        await producer.flush()
        failed = [f.exception() for f in futures if f.exception() is not None]
        if failed:
            raise RuntimeError(f"{len(failed)} sends failed, first: {failed[0]!r}")
    finally:
        await producer.stop()


async def wait_projected(base_url: str, produced: int, stall_s: float = 60.0) -> dict[str, Any]:
    """Until the profiles projection reports lag 0 and every produced event applied."""
    last: Any = None
    last_move = time.monotonic()
    last_print = 0.0
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
        while True:
            status: dict[str, Any] = (await client.get("/v1/projections/status")).json()
            done = int(status.get("applied", 0)) + int(status.get("dead_lettered", 0))
            if status.get("lag") == 0 and done >= produced:
                return status
            now = time.monotonic()
            if done != last:
                last, last_move = done, now
            elif now - last_move > stall_s:
                raise TimeoutError(f"projection stalled at {status}")
            if now - last_print > 2:
                common.progress(
                    f"seed: projection applied {done}/{produced}, lag {status.get('lag')}"
                )
                last_print = now
            await asyncio.sleep(0.2)


async def seed(stack: Stack, opts: Options) -> Seeded:
    assert stack.bootstrap and stack.redis_url
    started = time.monotonic()
    events, order_ids, worklist = build_events(opts)
    built = time.monotonic()
    common.progress(f"seed: built {len(events)} events in {built - started:.1f}s; producing")
    await produce(stack.bootstrap, events)
    produced = time.monotonic()
    common.progress(f"seed: produced in {produced - built:.1f}s; waiting for the projection")
    status = await wait_projected(stack.urls["profiles"], len(events))
    projected = time.monotonic()
    # The baseline reads a document about as big as a job order's view.
    with redis.Redis.from_url(stack.redis_url) as r:
        r.set(BASELINE_KEY, events[opts.cards].model_dump_json(include={"payload"}))
    return Seeded(
        events=len(events),
        order_ids=order_ids,
        per_order=opts.per_order,
        worklist_expected=worklist,
        build_s=built - started,
        produce_s=produced - built,
        project_s=projected - produced,
        final_status=status,
    )


# -- load ------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    base_url: str
    paths: list[str]  # request i asks for paths[i % len(paths)]

    def url(self, i: int) -> str:
        return self.base_url + self.paths[i % len(self.paths)]


@dataclass
class LoadResult:
    target: str
    example: str
    rate: float
    duration: float
    scheduled: int
    ok: int
    latencies: list[float]  # from the scheduled time, successful answers only
    lag: list[float]  # how late the generator actually sent (scheduled -> send)
    statuses: Counter[str]
    timeouts: int  # still unanswered `drain` seconds after the last scheduled send
    first_errors: list[str]
    wall_s: float  # first scheduled send -> last answer
    cpu: dict[str, float]

    def pct(self, q: float) -> float:
        """Over every scheduled request: errors and timeouts count as infinitely slow."""
        done = self.latencies + [float("inf")] * (self.scheduled - len(self.latencies))
        return common.percentile(done, q)

    @property
    def achieved(self) -> float:
        return common.rate(self.ok, self.wall_s)

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
            "send_lag_p50_ms": ms(common.percentile(self.lag, 50)),
            "send_lag_p99_ms": ms(common.percentile(self.lag, 99)),
            "cpu_share": {k: round(v, 3) for k, v in self.cpu.items()},
        }


async def open_loop(
    session: aiohttp.ClientSession, target: Target, rate: float, seconds: float, drain: float
) -> tuple[LoadResult, float]:
    """Send request i at t0 + i/rate; latency counts from that scheduled time.

    The sender never waits for answers (no coordinated omission): when the server or the
    connection pool is slow, requests queue in the client and their waiting is counted.
    Returns the result (cpu left empty) and t0.
    """
    loop = asyncio.get_running_loop()
    n = max(1, round(rate * seconds))
    latencies: list[float] = []
    lag: list[float] = []
    statuses: Counter[str] = Counter()
    first_errors: list[str] = []
    last_done = 0.0

    async def one(i: int, scheduled: float) -> None:
        nonlocal last_done
        lag.append(loop.time() - scheduled)
        try:
            async with session.get(target.url(i)) as r:
                await r.read()
                status = r.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            statuses[type(exc).__name__] += 1
            if len(first_errors) < 5:
                first_errors.append(repr(exc)[:300])
            return
        done = loop.time()
        statuses[str(status)] += 1
        if status == 200:
            latencies.append(done - scheduled)
            last_done = max(last_done, done)
        elif len(first_errors) < 5:
            first_errors.append(f"{status} {target.url(i)}")

    tasks: list[asyncio.Task[None]] = []
    t0 = loop.time() + 0.01
    for i in range(n):
        scheduled = t0 + i / rate
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
        rate=rate,
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


async def measure_target(target: Target, opts: Options, pids: dict[str, int]) -> LoadResult:
    connector = aiohttp.TCPConnector(limit=opts.connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        await settle(target.base_url)
        if opts.warmup > 0:
            await open_loop(session, target, opts.rate, opts.warmup, min(opts.drain, 2.0))
            await settle(target.base_url)
        meter = common.CpuMeter(pids)
        result, _ = await open_loop(session, target, opts.rate, opts.duration, opts.drain)
        # `others`: whatever else ran on the machine meanwhile (other users, tests): it
        # competes for cores.
        result.cpu = meter.shares()
    return result


async def check_answers(profiles: str, baseline: str, seeded: Seeded) -> list[str]:
    """One request per target, compared with what was seeded."""
    problems = []
    order_id = seeded.order_ids[0]
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.get(f"{baseline}/v1/baseline/{BASELINE_KEY}")
        if r.status_code != 200 or not r.json().get("value"):
            problems.append(f"baseline: {r.status_code} {r.text[:200]}")
        r = await client.get(f"{profiles}/v1/job-orders/{order_id}")
        if r.status_code != 200 or r.json().get("job_order_id") != order_id:
            problems.append(f"job order: {r.status_code} {r.text[:200]}")
        r = await client.get(f"{profiles}/v1/job-orders/{order_id}/suggestions?limit=20")
        doc = r.json() if r.status_code == 200 else {}
        shown = len(doc.get("suggestions", []))
        if doc.get("total") != seeded.per_order or shown != min(20, seeded.per_order):
            problems.append(f"suggestions: {r.status_code} {r.text[:200]}")
        r = await client.get(f"{profiles}/v1/worklists/{WORKLIST_MUNICIPALITY}?limit=50")
        doc = r.json() if r.status_code == 200 else {}
        if doc.get("total") != seeded.worklist_expected:
            problems.append(
                f"worklist: total {doc.get('total')}, expected {seeded.worklist_expected} "
                f"({r.status_code})"
            )
    return problems


def targets(stack: Stack, baseline_url: str, seeded: Seeded, opts: Options) -> list[Target]:
    rng = random.Random(opts.seed + 1)
    n = max(1, round(opts.rate * max(opts.duration, opts.warmup)))
    orders = [rng.choice(seeded.order_ids) for _ in range(min(n, 20_000))]
    profiles = stack.urls["profiles"]
    every = {
        "baseline": Target("baseline", baseline_url, [f"/v1/baseline/{BASELINE_KEY}"]),
        "job-order": Target("job-order", profiles, [f"/v1/job-orders/{o}" for o in orders]),
        "suggestions": Target(
            "suggestions",
            profiles,
            [f"/v1/job-orders/{o}/suggestions?limit=20" for o in orders],
        ),
        "worklist": Target(
            "worklist", profiles, [f"/v1/worklists/{WORKLIST_MUNICIPALITY}?limit=50"]
        ),
    }
    return [every[name] for name in opts.targets]


# -- report ----------------------------------------------------------------------------------


def fmt_ms(seconds: float, timeout_after: float) -> str:
    if seconds != seconds:
        return "-"
    if seconds == float("inf"):
        return f"> {timeout_after:.0f} s"
    return f"{seconds * 1000:.2f}"


def ratio(value: float, base: float) -> str:
    if value != value or base != base or base <= 0:
        return "-"
    if value == float("inf"):
        return "inf"
    return f"{value / base:.1f}x"


def environment(opts: Options, seeded: Seeded) -> dict[str, str]:
    return {
        **common.host(),
        "stack": f"{common.MEMORY_STORES}, profiles service",
        "load": f"aiohttp {aiohttp.__version__}, open loop, {opts.connections} connections",
        "seeded": f"{seeded.events} events: {opts.orders} orders, {opts.cards} cards, "
        f"{opts.orders * opts.per_order} suggestions",
        "worklist 0751": f"{seeded.worklist_expected} pending suggestions",
        "seeding": f"build {seeded.build_s:.1f} s, produce {seeded.produce_s:.1f} s, "
        f"projection caught up {seeded.project_s:.1f} s after",
        "rate / duration": f"{opts.rate:g} req/s for {opts.duration:g} s per target "
        f"(+{opts.warmup:g} s warm-up)",
    }


def print_report(env: dict[str, str], results: list[LoadResult], opts: Options) -> None:
    out.print(common.environment_table(env))

    base = results[0]
    r = Table(title=f"Latency from scheduled send, ms (open loop at {opts.rate:g} req/s)")
    for col in ("target", "ok / sent", "req/s", "p50", "p90", "p99", "max", "errors"):
        r.add_column(col, justify="left" if col == "target" else "right")
    r.add_column("p50 ÷ base", justify="right")
    r.add_column("p99 ÷ base", justify="right")
    r.add_column("p99 ≤ 20 ms", justify="center")
    for res in results:
        p99 = res.pct(99)
        goal = "[green]yes[/green]" if p99 <= GOAL_P99_S else "[red]no[/red]"
        errors = ", ".join(f"{k}: {v}" for k, v in res.statuses.items() if k != "200") or "0"
        r.add_row(
            res.target,
            f"{res.ok} / {res.scheduled}",
            f"{res.achieved:,.0f}",
            fmt_ms(res.pct(50), opts.drain),
            fmt_ms(res.pct(90), opts.drain),
            fmt_ms(p99, opts.drain),
            fmt_ms(res.pct(100), opts.drain),
            errors,
            ratio(res.pct(50), base.pct(50)),
            ratio(p99, base.pct(99)),
            goal if res.target != "baseline" else "-",
        )
    out.print(r)

    names = list(results[0].cpu)
    c = common.table(
        "Load generator lateness and CPU during each target (share of one core)",
        "target",
        "send lag p50 / p99 ms",
        *names,
    )
    for res in results:
        lag50, lag99 = (common.percentile(res.lag, q) * 1000 for q in (50, 99))
        c.add_row(res.target, f"{lag50:.2f} / {lag99:.2f}", *(f"{res.cpu[n]:.0%}" for n in names))
    out.print(c)
    for res in results:
        for line in res.first_errors:
            out.print(f"[yellow]{res.target}: {line}[/yellow]")


# -- main ------------------------------------------------------------------------------------


async def run(stack: Stack, baseline: Proc, baseline_url: str, opts: Options) -> Any:
    seeded = await seed(stack, opts)
    common.progress(
        f"seed: {seeded.events} events applied {seeded.project_s:.1f}s after the last "
        f"produce (status {seeded.final_status.get('applied')} applied, "
        f"{seeded.final_status.get('dead_lettered')} dead-lettered)"
    )
    problems = await check_answers(stack.urls["profiles"], baseline_url, seeded)
    for problem in problems:
        common.progress(f"[red]check: {problem}[/red]")
    pids = {p.name: p.popen.pid for p in stack.procs if p.name in ("profiles", "redis", "tansu")}
    pids |= {"baseline": baseline.popen.pid, "bench": os.getpid()}
    results = []
    for target in targets(stack, baseline_url, seeded, opts):
        common.progress(f"load: {target.name} {target.url(0)} at {opts.rate:g} req/s")
        res = await measure_target(target, opts, pids)
        common.progress(
            f"load: {target.name} ok {res.ok}/{res.scheduled}, p50 {res.pct(50) * 1000:.2f} ms, "
            f"p99 {res.pct(99) * 1000:.2f} ms"
        )
        results.append(res)
    return seeded, results, problems


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["--serve-baseline"]:
        serve_baseline(int(args[1]), args[2])
        return 0
    opts = parse_args(args)
    with common.throwaway_stack(
        "jobmatch-bench-queries-", memory=True, keep_home=opts.keep_home
    ) as stack:
        home = stack.home
        # SIGTERM as Ctrl-C, so the stack's clean-up stops the children.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        common.progress(f"stack in {home} (memory engine)")
        stack.start_stores()
        assert stack.redis_url
        stack.start_services(("profiles",))
        baseline_port = free_port_base(1).base
        baseline = start_baseline(baseline_port, stack.redis_url, home / "logs")
        stack.procs.append(baseline)  # stopped first by stack.stop()
        baseline_url = f"http://127.0.0.1:{baseline_port}"
        common.progress(f"profiles at {stack.urls['profiles']}, baseline at {baseline_url}")
        seeded, results, problems = asyncio.run(run(stack, baseline, baseline_url, opts))
        env = environment(opts, seeded)
        print_report(env, results, opts)
        for problem in problems:
            out.print(f"[red]answer check: {problem}[/red]")
        if opts.json_path:
            common.write_figures(
                opts.json_path,
                "queries",
                env,
                opts,
                goal_p99_ms=GOAL_P99_S * 1000,
                seeding={
                    "events": seeded.events,
                    "worklist_expected": seeded.worklist_expected,
                    "build_s": round(seeded.build_s, 2),
                    "produce_s": round(seeded.produce_s, 2),
                    "projection_after_produce_s": round(seeded.project_s, 2),
                    "status": seeded.final_status,
                },
                answer_problems=problems,
                results=[res.summary() for res in results],
            )
        return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
