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
import sys
import time
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
from schemas.envelope import Actor, Event  # noqa: E402
from schemas.jobs import JobOrder, JobOrderPosted  # noqa: E402
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
# Consultants signed in per municipality; each request is sent by a random one of the
# order's municipality (500 req/s on the 0751 worklist: ~5/s per consultant, under the
# per-caller limit of 1200/min).
CONSULTANTS = 100
BASELINE_KEY = "bench:baseline:doc"

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
    p.add_argument("--rate", type=float, default=500.0, help="requests per second per target")
    common.add_load_options(p, duration=10.0, warmup=1.0)
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
    argv = common.python_script(Path(__file__).resolve(), "--serve-baseline", str(port), redis_url)
    health = f"http://127.0.0.1:{port}/health"
    return common.start_process("baseline", argv, log_dir, health, timeout=30)


# -- seeding ---------------------------------------------------------------------------------


@dataclass
class Seeded:
    events: int
    order_ids: list[str]
    order_municipality: dict[str, str]
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


def build_events(opts: Options) -> tuple[list[Event], dict[str, str], int]:
    """Orders, cards and suggestions as the services would write them. Returns
    (events, {order id: municipality}, number of worklist entries of WORKLIST_MUNICIPALITY)."""
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
    order_municipality: dict[str, str] = {}
    worklist = 0
    for i in range(opts.orders):
        doc, code = variant(order_tpl, i, rng, "job_order_id", f"jo-bench-{i:05d}", "worksite")
        order = JobOrder.model_validate(doc)
        order_municipality[order.job_order_id] = code
        posted_at = now - timedelta(days=rng.randrange(30), minutes=rng.randrange(600))
        events.append(
            Event.new(
                JobOrderPosted(job_order_id=order.job_order_id, version=1, order=order),
                actor=employer,
                occurred_at=posted_at,
                municipality_code=code,
            )
        )
        suggested = common.suggestions(
            order, code, rng.sample(citizens, opts.per_order), f"sug-bench-{i:05d}", posted_at, rng
        )
        events += suggested
        worklist += len(suggested) if code == WORKLIST_MUNICIPALITY else 0
    return events, order_municipality, worklist


async def seed(stack: Stack, opts: Options, callers: common.Callers) -> Seeded:
    assert stack.bootstrap and stack.redis_url
    started = time.monotonic()
    events, order_municipality, worklist = build_events(opts)
    built = time.monotonic()
    common.progress(f"seed: built {len(events)} events in {built - started:.1f}s; producing")
    await common.produce_events(stack.bootstrap, events)
    produced = time.monotonic()
    common.progress(f"seed: produced in {produced - built:.1f}s; waiting for the projection")
    status = await common.wait_projected(stack.urls["profiles"], len(events), callers.admin)
    projected = time.monotonic()
    # The baseline reads a document about as big as a job order's view.
    with redis.Redis.from_url(stack.redis_url) as r:
        r.set(BASELINE_KEY, events[opts.cards].model_dump_json(include={"payload"}))
    return Seeded(
        events=len(events),
        order_ids=list(order_municipality),
        order_municipality=order_municipality,
        per_order=opts.per_order,
        worklist_expected=worklist,
        build_s=built - started,
        produce_s=produced - built,
        project_s=projected - produced,
        final_status=status,
    )


# -- load ------------------------------------------------------------------------------------


async def measure_target(
    target: common.Target, opts: Options, pids: dict[str, int]
) -> common.LoadResult:
    return await common.measure_open_loop(
        target,
        per_second=opts.rate,
        seconds=opts.duration,
        warmup=opts.warmup,
        drain=opts.drain,
        connections=opts.connections,
        pids=pids,
    )


async def check_answers(
    profiles: str, baseline: str, seeded: Seeded, callers: common.Callers
) -> list[str]:
    """One request per target, compared with what was seeded."""
    problems = []
    order_id = seeded.order_ids[0]
    order_reader = common.bearer(callers.consultant(seeded.order_municipality[order_id], 0))
    worklist_reader = common.bearer(callers.consultant(WORKLIST_MUNICIPALITY, 0))
    async with httpx.AsyncClient(timeout=30, headers=order_reader) as client:
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
        r = await client.get(
            f"{profiles}/v1/worklists/{WORKLIST_MUNICIPALITY}?limit=50", headers=worklist_reader
        )
        doc = r.json() if r.status_code == 200 else {}
        if doc.get("total") != seeded.worklist_expected:
            problems.append(
                f"worklist: total {doc.get('total')}, expected {seeded.worklist_expected} "
                f"({r.status_code})"
            )
    return problems


def targets(
    stack: Stack, baseline_url: str, seeded: Seeded, opts: Options, callers: common.Callers
) -> list[common.Target]:
    """Request i of a target asks for a random seeded order as a random consultant of the
    order's municipality. The baseline ignores the token but gets one too, so that the
    requests are as big."""
    rng = random.Random(opts.seed + 1)
    n = max(1, round(opts.rate * max(opts.duration, opts.warmup)))
    orders = [rng.choice(seeded.order_ids) for _ in range(min(n, 20_000))]
    readers = [
        common.bearer(callers.consultant(seeded.order_municipality[o], rng.randrange(CONSULTANTS)))
        for o in orders
    ]
    worklist_readers = [
        common.bearer(callers.consultant(WORKLIST_MUNICIPALITY, i)) for i in range(CONSULTANTS)
    ]
    rng.shuffle(worklist_readers)
    profiles = stack.urls["profiles"]
    T = common.Target
    every = {
        "baseline": T(
            "baseline", baseline_url, [f"/v1/baseline/{BASELINE_KEY}"], headers=worklist_readers
        ),
        "job-order": T(
            "job-order", profiles, [f"/v1/job-orders/{o}" for o in orders], headers=readers
        ),
        "suggestions": T(
            "suggestions",
            profiles,
            [f"/v1/job-orders/{o}/suggestions?limit=20" for o in orders],
            headers=readers,
        ),
        "worklist": T(
            "worklist",
            profiles,
            [f"/v1/worklists/{WORKLIST_MUNICIPALITY}?limit=50"],
            headers=worklist_readers,
        ),
    }
    return [every[name] for name in opts.targets]


# -- report ----------------------------------------------------------------------------------


def environment(opts: Options, seeded: Seeded) -> dict[str, str]:
    return {
        **common.host(),
        "stack": f"{common.MEMORY_STORES}, profiles service",
        "load": f"aiohttp {aiohttp.__version__}, open loop, {opts.connections} connections",
        "sign-in": f"RS256 bearer tokens of {CONSULTANTS} consultants a municipality (a random "
        "one of the order's per request), verified by the service; none for the baseline",
        "seeded": f"{seeded.events} events: {opts.orders} orders, {opts.cards} cards, "
        f"{opts.orders * opts.per_order} suggestions",
        "worklist 0751": f"{seeded.worklist_expected} pending suggestions",
        "seeding": f"build {seeded.build_s:.1f} s, produce {seeded.produce_s:.1f} s, "
        f"projection caught up {seeded.project_s:.1f} s after",
        "rate / duration": f"{opts.rate:g} req/s for {opts.duration:g} s per target "
        f"(+{opts.warmup:g} s warm-up)",
    }


def print_report(env: dict[str, str], results: list[common.LoadResult], opts: Options) -> None:
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
            common.fmt_ms(res.pct(50), opts.drain),
            common.fmt_ms(res.pct(90), opts.drain),
            common.fmt_ms(p99, opts.drain),
            common.fmt_ms(res.pct(100), opts.drain),
            errors,
            common.ratio(res.pct(50), base.pct(50)),
            common.ratio(p99, base.pct(99)),
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
    callers = common.Callers.mint(stack, MUNICIPALITIES, CONSULTANTS, "bench")
    seeded = await seed(stack, opts, callers)
    common.progress(
        f"seed: {seeded.events} events applied {seeded.project_s:.1f}s after the last "
        f"produce (status {seeded.final_status.get('applied')} applied, "
        f"{seeded.final_status.get('dead_lettered')} dead-lettered)"
    )
    problems = await check_answers(stack.urls["profiles"], baseline_url, seeded, callers)
    for problem in problems:
        common.progress(f"[red]check: {problem}[/red]")
    pids = {p.name: p.popen.pid for p in stack.procs if p.name in ("profiles", "redis", "tansu")}
    pids |= {"baseline": baseline.popen.pid, "bench": os.getpid()}
    results = []
    for target in targets(stack, baseline_url, seeded, opts, callers):
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
