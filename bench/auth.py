"""What signing in costs: command and query latency at a fixed rate with and without token
verification, measured in one run. Goal (issue): verification adds at most 10 % to p99 at
500 req/s.

One run starts its own throwaway stack in a temp dir (Tansu memory engine, Redis without
persistence, the issuer) and runs each service under test twice, side by side on two ports:

* **verified**: the service as it ships (`python -m services.events` / `services.profiles`):
  every bearer token is checked (RS256 signature with PyJWT against the issuer's JWKS,
  issuer, audience, times, type), and a verified token is remembered for up to 60 s;
* **unverified**: the same app built by the service's `bootstrap()` through the bench-only
  launcher `bench/auth_noverify.py`, whose verifier returns a fixed consultant without
  looking at the token. Gate, rate limiter, access rules, routes: all the same.

Both get `AUTH_RATE_PER_MINUTE=600000` / `AUTH_RATE_BURST=100000`: the unverified one is a
single caller, which the default limit (1200/min) would stop at once; the verified one gets
the same setting so that the two run the same configuration.

Seed (through the verified events API, as consultants of 0751): competence cards (the
example cards of services/demo/examples with fresh letter ids) and job orders (the example
orders); then PlacementSuggested for every order, produced straight to the log.

Operations, each open loop at fixed rates (request i is sent at t0 + i/rate whatever the
answers do; latency counts from that scheduled time, so queueing is not hidden). Queries run
at 500/s (the issue's rate) and 150/s, commands at 100/s by default: a command costs the
events service ~4 ms of CPU, so 500 a second is more than this 2-core machine has (and a
saturated service only measures its queue); the profiles service serves ~1000 order reads
a second, ~450 citizens and ~200 suggestion pages (bench/auth.md):

* command: `POST /v1/citizens/{id}/availability` on the events service (202 once the broker
  acknowledged the event), citizens taken round robin so two commands never race;
* order: `GET /v1/job-orders/{id}` on the profiles service (no personal data: no audit
  record);
* suggestions: `GET /v1/job-orders/{id}/suggestions?limit=20` on the profiles service;
* citizen: `GET /v1/citizens/{id}` on the profiles service.

Three workloads per operation: **users**, each request signed by a random one of 200
consultants (tokens minted just before, so every token is verified once on first use and
remembered after: ~200 first uses among rate x duration requests, most in its first
second), **steady**, the same but with the run's own tokens in its warm-up (each verified
before the measured seconds: signed-in people between token renewals), and **fresh**, every
request with its own never-seen token (pre-minted): the worst case, a verification each.
Each (operation, rate, workload) runs `--rounds` times per variant, alternating which variant
goes first; the figures pool the rounds. The warm-up before each run uses other users'
tokens (*steady*: the run's own). The machine is shared: before each run the bench waits
until other processes are quiet (`--quiet`), and a run during which they took more than
`--noisy` of a core is run again (with new tokens). Also reported:
`Authenticator.authenticate` alone in the bench process (CPU per call for a never-seen, a
remembered and an unverified token), and how often the issuer's key set was fetched during
each run (from the issuer's access log).

Run from the repo root:  .venv/bin/python bench/auth.py [--rates 500,150] [--duration 8] ...
About 25 minutes with the defaults; the figures also go to bench/results/auth.json.
See bench/auth.md for the method and the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable without the editable install too
    sys.path.insert(0, str(REPO))

import _common as common  # noqa: E402
import aiohttp  # noqa: E402
import httpx  # noqa: E402
from auth_noverify import skip_verification  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402

from schemas.jobs import JobOrder  # noqa: E402
from services.auth.authenticator import Authenticator  # noqa: E402
from services.auth.principal import Principal  # noqa: E402
from services.auth.settings import AuthSettings  # noqa: E402
from services.stack import (  # noqa: E402
    Proc,
    Stack,
    auth_env,
    free_port_base,
    service_env,
    start_service,
    wait_ready,
)

HERE = Path(__file__).resolve().parent
EXAMPLES = REPO / "services" / "demo" / "examples"
MUNICIPALITY = "0751"  # the example cards and orders are all in Aarhus
GOAL_P99_RATIO = 1.10
RATE_LIMIT = {"AUTH_RATE_PER_MINUTE": "600000", "AUTH_RATE_BURST": "100000"}
OPERATIONS = ("command", "order", "suggestions", "citizen")
SERVICE_OF = {
    "command": "events",
    "order": "profiles",
    "suggestions": "profiles",
    "citizen": "profiles",
}
WORKLOADS = ("steady", "users", "fresh")
VARIANTS = ("verified", "unverified")
JWKS_PATH = "/.well-known/jwks.json"
AVAILABILITY = json.dumps({"available": True, "hours_per_week": 30}).encode()

out = Console(highlight=False, width=None if sys.stdout.isatty() else 170)


# -- options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    rates: tuple[float, ...]  # queries
    command_rates: tuple[float, ...]
    duration: float
    warmup: float
    rounds: int
    users: int
    cards: int
    orders: int
    per_order: int
    connections: int
    drain: float
    operations: tuple[str, ...]
    workloads: tuple[str, ...]
    seed: int
    json_path: Path | None
    keep_home: bool
    quiet: float
    quiet_wait: float
    noisy: float
    repeats: int

    def rates_of(self, operation: str) -> tuple[float, ...]:
        return self.command_rates if operation == "command" else self.rates


def _rates(text: str) -> tuple[float, ...]:
    return tuple(float(r) for r in text.split(",") if r.strip())


def parse_args(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--rates",
        type=_rates,
        default=(500.0, 150.0),
        help="queries per second, comma-separated: each rate is a case of its own",
    )
    p.add_argument(
        "--command-rates",
        type=_rates,
        default=(100.0,),
        help="commands per second, comma-separated (an availability command costs the events "
        "service 3-4 ms of CPU here, so it serves ~250/s at most: at 500/s both variants "
        "only build a queue)",
    )
    common.add_load_options(p, duration=8.0, warmup=2.0)
    p.add_argument(
        "--rounds", type=int, default=2, help="runs per variant, alternating which goes first"
    )
    p.add_argument("--users", type=int, default=200, help="consultants in the 'users' workload")
    p.add_argument("--cards", type=int, default=300, help="competence cards registered")
    p.add_argument("--orders", type=int, default=40, help="job orders posted")
    p.add_argument(
        "--operations",
        default=",".join(OPERATIONS),
        help=f"comma-separated subset of {','.join(OPERATIONS)}",
    )
    p.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help=f"comma-separated subset of {','.join(WORKLOADS)}",
    )
    p.add_argument("--seed", type=int, default=7, help="random seed of the ids and the users")
    p.add_argument(
        "--quiet",
        type=float,
        default=0.15,
        help="before each run, wait until processes outside the bench use less than this "
        "share of a core (other test runs on the machine)",
    )
    p.add_argument(
        "--quiet-wait", type=float, default=120.0, help="wait at most this long for --quiet"
    )
    p.add_argument(
        "--noisy",
        type=float,
        default=0.25,
        help="a run during which other processes used more than this share of a core is "
        "run again (up to --repeats times; the last attempt counts whatever it saw)",
    )
    p.add_argument("--repeats", type=int, default=2, help="see --noisy")
    p.add_argument(
        "--json",
        type=Path,
        default=HERE / "results" / "auth.json",
        help="where the figures go as JSON ('-': nowhere)",
    )
    p.add_argument("--keep-home", action="store_true", help="keep the stack's dir (logs)")
    a = p.parse_args(argv)
    ops = tuple(o.strip() for o in a.operations.split(",") if o.strip())
    unknown = set(ops) - set(OPERATIONS)
    if unknown or not ops:
        p.error(f"unknown operations {sorted(unknown)}")
    loads = tuple(w.strip() for w in a.workloads.split(",") if w.strip())
    if set(loads) - set(WORKLOADS) or not loads:
        p.error(f"unknown workloads {sorted(set(loads) - set(WORKLOADS))}")
    if min(a.duration, a.rounds, a.users, a.connections, *a.rates, *a.command_rates) <= 0:
        p.error("rates, --duration, --rounds, --users and --connections must be positive")
    if not a.rates or not a.command_rates:
        p.error("name at least one rate")
    if a.orders < 1 or a.suggestions_per_order < 1 or a.cards < a.suggestions_per_order:
        p.error("need --orders >= 1 and --cards >= --suggestions-per-order >= 1")
    return Options(
        rates=a.rates,
        command_rates=a.command_rates,
        quiet=a.quiet,
        quiet_wait=max(0.0, a.quiet_wait),
        noisy=a.noisy,
        repeats=max(0, a.repeats),
        duration=a.duration,
        warmup=max(0.0, a.warmup),
        rounds=a.rounds,
        users=a.users,
        cards=a.cards,
        orders=a.orders,
        per_order=a.suggestions_per_order,
        connections=a.connections,
        drain=max(0.0, a.drain),
        operations=tuple(o for o in OPERATIONS if o in ops),
        workloads=tuple(w for w in WORKLOADS if w in loads),
        seed=a.seed,
        json_path=None if str(a.json) == "-" else a.json,
        keep_home=a.keep_home,
    )


# -- the services under test -----------------------------------------------------------------


@dataclass
class Pair:
    """One service twice: as it ships, and through the launcher that skips verification."""

    service: str
    ports: dict[str, int]
    procs: dict[str, Proc] = field(default_factory=dict)

    def url(self, variant: str) -> str:
        return f"http://127.0.0.1:{self.ports[variant]}"

    def env(self, stack: Stack, variant: str) -> dict[str, str]:
        assert stack.bootstrap and stack.redis_url
        port = self.ports[variant]
        base = service_env(
            self.service, port, stack.bootstrap, stack.redis_url, stack.home, stack.issuer
        )
        return {**base, **RATE_LIMIT}

    def start(self, stack: Stack, variant: str) -> Proc:
        logs = stack.home / "logs"
        env = self.env(stack, variant)
        if variant == "verified":
            proc = start_service(self.service, env, logs)
            stack.procs.append(proc)
            wait_ready(proc, self.ports[variant])
        else:
            argv = common.python_script(
                HERE / "auth_noverify.py", self.service, "--municipality", MUNICIPALITY
            )
            name = f"{self.service}-unverified"
            proc = common.start_process(name, argv, logs, f"{self.url(variant)}/ready", env)
            stack.procs.append(proc)
        self.procs[variant] = proc
        return proc

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()


def pairs(stack: Stack) -> dict[str, Pair]:
    spare = free_port_base(2)
    return {
        "events": Pair("events", {"verified": stack.ports.events, "unverified": spare.base}),
        "profiles": Pair(
            "profiles", {"verified": stack.ports.profiles, "unverified": spare.base + 1}
        ),
    }


# -- seeding ---------------------------------------------------------------------------------


def letters(i: int, width: int = 4) -> str:
    """aaaa, aaab, ...: ids without digits never look like a CPR number."""
    return "".join(chr(97 + (i // 26**k) % 26) for k in reversed(range(width)))


def card_docs(n: int) -> list[dict[str, Any]]:
    templates = common.read_json_docs(EXAMPLES, "competence_card_*.json")
    docs = []
    for i in range(n):
        doc = copy.deepcopy(templates[i % len(templates)])
        doc["citizen_id"] = f"cit-bench-auth-{letters(i)}"
        doc["municipality_code"] = MUNICIPALITY
        docs.append(doc)
    return docs


def order_docs(n: int, today: date) -> list[dict[str, Any]]:
    """The example orders with fresh ids; their dates moved on when the first is near."""
    templates = common.read_json_docs(EXAMPLES, "job_order_*.json")
    docs = []
    for i in range(n):
        doc = copy.deepcopy(templates[i % len(templates)])
        doc["job_order_id"] = f"jo-bench-auth-{letters(i)}"
        doc["municipality_code"] = MUNICIPALITY
        dated = [k for k in ("application_deadline", "start_date") if doc.get(k)]
        first = min((date.fromisoformat(doc[k]) for k in dated), default=None)
        if first is not None and first < today + timedelta(days=14):
            shift = today + timedelta(days=30) - first
            for k in dated:
                doc[k] = (date.fromisoformat(doc[k]) + shift).isoformat()
        docs.append(doc)
    return docs


async def post_all(
    base_url: str, path: str, docs: list[dict[str, Any]], tokens: list[str], concurrency: int
) -> Counter[str]:
    """Setup, not measured: each doc POSTed by one of `tokens` (round robin)."""
    statuses: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient, i: int, doc: dict[str, Any]) -> None:
        async with gate:
            r = await client.post(path, json=doc, headers=common.bearer(tokens[i % len(tokens)]))
        statuses[str(r.status_code)] += 1
        if r.status_code != 202:
            common.progress(f"[red]seed: {path} {r.status_code} {escape(r.text[:300])}[/red]")

    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        await asyncio.gather(*(one(client, i, d) for i, d in enumerate(docs)))
    return statuses


@dataclass
class Seeded:
    citizens: list[str]
    orders: list[str]
    suggestions: int
    register_s: float
    statuses: dict[str, dict[str, int]]

    @property
    def events(self) -> int:
        """What the log holds before the commands (one EmployerRegistered for the CVRs)."""
        return len(self.citizens) + len(self.orders) + self.suggestions


async def seed_commands(events_url: str, minter: common.Minter, opts: Options) -> Seeded:
    """Cards and orders through the events API (it keeps their state for the commands)."""
    started = time.monotonic()
    staff = minter.consultants(MUNICIPALITY, 8, "seed")
    cards = card_docs(opts.cards)
    common.progress(f"seed: registering {len(cards)} competence cards (ESCO linking: slow)")
    card_status = await post_all(events_url, "/v1/competence-cards", cards, staff, 4)
    orders = order_docs(opts.orders, datetime.now(UTC).date())
    common.progress(f"seed: posting {len(orders)} job orders")
    # One at a time: orders of one employer (CVR) touch its aggregate, so concurrent ones
    # would race (409).
    order_status = await post_all(events_url, "/v1/job-orders", orders, staff, 1)
    if card_status["202"] != len(cards) or order_status["202"] != len(orders):
        raise RuntimeError(f"seeding failed: cards {card_status}, orders {order_status}")
    return Seeded(
        citizens=[c["citizen_id"] for c in cards],
        orders=[o["job_order_id"] for o in orders],
        suggestions=0,
        register_s=time.monotonic() - started,
        statuses={"cards": dict(card_status), "orders": dict(order_status)},
    )


async def seed_suggestions(bootstrap: str, seeded: Seeded, opts: Options) -> None:
    """PlacementSuggested for every order, straight to the log (no matching service)."""
    rng = random.Random(opts.seed)
    posted_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    events = []
    for i, doc in enumerate(order_docs(opts.orders, datetime.now(UTC).date())):
        order = JobOrder.model_validate(doc)
        citizens = rng.sample(seeded.citizens, opts.per_order)
        prefix = f"sug-bench-auth-{letters(i)}"
        events += common.suggestions(order, MUNICIPALITY, citizens, prefix, posted_at, rng)
    await common.produce_events(bootstrap, events)
    seeded.suggestions = len(events)


async def check_answers(pair: Pair, variant: str, seeded: Seeded, token: str) -> list[str]:
    """One request per query, compared with the seed."""
    problems = []
    order_id, citizen_id = seeded.orders[0], seeded.citizens[0]
    auth = common.bearer(token)
    async with httpx.AsyncClient(base_url=pair.url(variant), timeout=30, headers=auth) as client:
        r = await client.get(f"/v1/job-orders/{order_id}/suggestions?limit=20")
        doc = r.json() if r.status_code == 200 else {}
        if doc.get("total") != seeded.suggestions // len(seeded.orders):
            problems.append(f"{variant} suggestions: {r.status_code} {r.text[:200]}")
        r = await client.get(f"/v1/job-orders/{order_id}")
        doc = r.json() if r.status_code == 200 else {}
        if doc.get("order", {}).get("job_order_id") != order_id:
            problems.append(f"{variant} order: {r.status_code} {r.text[:200]}")
        r = await client.get(f"/v1/citizens/{citizen_id}")
        doc = r.json() if r.status_code == 200 else {}
        if (
            doc.get("citizen_id") != citizen_id
            and doc.get("card", {}).get("citizen_id") != citizen_id
        ):
            problems.append(f"{variant} citizen: {r.status_code} {r.text[:200]}")
    return problems


# -- load ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """What is compared between the variants: an operation at a rate under a workload."""

    operation: str
    rate: float
    workload: str

    def __str__(self) -> str:
        return f"{self.operation} @ {self.rate:g}/s, {self.workload}"


@dataclass
class Run:
    case: Case
    round: int
    variant: str
    result: common.LoadResult
    others_before: float  # share of a core other jobs used just before the run
    waited_s: float  # for them to go quiet
    discarded: int  # earlier attempts thrown away because other jobs were busy meanwhile
    window: tuple[float, float]  # wall clock, warm-up to last answer
    jwks_fetches: int = 0  # GETs of the issuer's key set during the window (any service)

    def summary(self) -> dict[str, Any]:
        return {
            "operation": self.case.operation,
            "rate_per_s": self.case.rate,
            "workload": self.case.workload,
            "round": self.round,
            "variant": self.variant,
            "others_before": round(self.others_before, 3),
            "waited_for_quiet_s": round(self.waited_s, 1),
            "discarded_noisy_attempts": self.discarded,
            "jwks_fetches": self.jwks_fetches,
            **self.result.summary(),
        }


def headers_of_users(
    minter: common.Minter,
    users: int,
    n: int,
    rng: random.Random,
    prefix: str,
    extra: dict[str, str],
) -> list[dict[str, str]]:
    """n requests, each signed by a random one of `users` consultants with new tokens."""
    tokens = [common.bearer(t, **extra) for t in minter.consultants(MUNICIPALITY, users, prefix)]
    return [tokens[rng.randrange(users)] for _ in range(n)]


def headers_fresh(
    minter: common.Minter, users: int, n: int, extra: dict[str, str]
) -> list[dict[str, str]]:
    """n requests, each with a token of its own (subjects: the same `users` consultants)."""
    return [
        common.bearer(
            minter.token(
                "consultant", f"user-{MUNICIPALITY}-{i % users}", municipality=MUNICIPALITY
            ),
            **extra,
        )
        for i in range(n)
    ]


def target(
    operation: str,
    base_url: str,
    seeded: Seeded,
    headers: list[dict[str, str]],
    rng: random.Random,
) -> common.Target:
    n = len(headers)
    if operation == "command":
        paths = [f"/v1/citizens/{c}/availability" for c in seeded.citizens]  # round robin
        return common.Target(
            operation,
            base_url,
            paths,
            method="POST",
            bodies=[AVAILABILITY],
            headers=headers,
            expect=202,
        )
    if operation == "suggestions":
        paths = [
            f"/v1/job-orders/{rng.choice(seeded.orders)}/suggestions?limit=20" for _ in range(n)
        ]
    elif operation == "order":
        paths = [f"/v1/job-orders/{rng.choice(seeded.orders)}" for _ in range(n)]
    else:
        paths = [f"/v1/citizens/{rng.choice(seeded.citizens)}" for _ in range(n)]
    return common.Target(operation, base_url, paths, headers=headers)


def warmup_headers(
    case: Case, measured: list[dict[str, str]], the_plan: Plan
) -> list[dict[str, str]]:
    """The warm-up's tokens: for *steady* the run's own (each verified once in the warm-up,
    so the measured requests carry tokens the service remembers, as a signed-in user's
    requests do for the token's lifetime); else other users'."""
    if case.workload != "steady":
        return the_plan.warmup[case.operation]
    distinct = list({h["Authorization"]: h for h in measured}.values())
    n = len(the_plan.warmup[case.operation])
    return [distinct[i % len(distinct)] for i in range(max(n, len(distinct)))]


def cases(opts: Options, operation: str) -> list[Case]:
    return [Case(operation, r, w) for r in opts.rates_of(operation) for w in opts.workloads]


@dataclass
class Plan:
    """Every run's request headers, minted before any measurement."""

    minter: common.Minter
    opts: Options
    measured: dict[tuple[Case, int], list[dict[str, str]]] = field(default_factory=dict)
    warmup: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # other users
    mint_s: float = 0.0
    tokens: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def headers(self, case: Case) -> list[dict[str, str]]:
        """A run's worth of new tokens: nothing the services have seen yet."""
        started = time.monotonic()
        users = self.opts.users
        extra = common.JSON_BODY if case.operation == "command" else {}
        n = max(1, round(case.rate * self.opts.duration))
        if case.workload in ("steady", "users"):
            headers = headers_of_users(self.minter, users, n, self.rng, "user", extra)
            self.tokens += users
        else:
            headers = headers_fresh(self.minter, users, n, extra)
            self.tokens += n
        self.mint_s += time.monotonic() - started
        return headers


def plan(minter: common.Minter, opts: Options) -> Plan:
    started = time.monotonic()
    the_plan = Plan(minter, opts, rng=random.Random(opts.seed + 1))
    for op in opts.operations:
        extra = common.JSON_BODY if op == "command" else {}
        warm_n = max(1, round(max(opts.rates_of(op)) * opts.warmup))
        the_plan.warmup[op] = headers_of_users(
            minter, opts.users, warm_n, the_plan.rng, "warm", extra
        )
        the_plan.tokens += opts.users
        for case in cases(opts, op):
            for r in range(opts.rounds):
                the_plan.measured[(case, r)] = the_plan.headers(case)
        common.progress(f"tokens: {the_plan.tokens} minted ({op} done)")
    the_plan.mint_s = time.monotonic() - started
    return the_plan


async def measure_operation(
    operation: str, pair: Pair, seeded: Seeded, the_plan: Plan, stack: Stack, opts: Options
) -> list[Run]:
    runs = []
    stores = {p.name: p.popen.pid for p in stack.procs if p.name in ("redis", "tansu")}
    ours = {p.name: p.popen.pid for p in stack.procs} | {"bench": os.getpid()}
    rng = random.Random(f"{opts.seed}-{operation}")
    for case in cases(opts, operation):
        for r in range(opts.rounds):
            order = VARIANTS if r % 2 == 0 else tuple(reversed(VARIANTS))
            headers = the_plan.measured[(case, r)]
            path_seed = rng.randrange(2**32)
            for variant in order:
                url = pair.url(variant)
                # The same requests in the same order for both variants.
                measured = target(operation, url, seeded, headers, random.Random(path_seed))
                warm = target(operation, url, seeded, warmup_headers(case, headers, the_plan), rng)
                pids = {"service": pair.procs[variant].popen.pid, **stores}
                pids["bench"] = os.getpid()
                for attempt in range(opts.repeats + 1):
                    if attempt > 0 and variant == "verified":
                        # The first attempt's tokens are remembered now: new ones, same paths.
                        again = the_plan.headers(case)
                        measured = target(operation, url, seeded, again, random.Random(path_seed))
                        warm = target(
                            operation, url, seeded, warmup_headers(case, again, the_plan), rng
                        )
                    others, waited = await common.wait_quiet(ours, opts.quiet, opts.quiet_wait)
                    common.progress(
                        f"load: {case}, round {r + 1}, {variant} (others {others:.0%} of a "
                        f"core, waited {waited:.0f} s for them)"
                    )
                    started = time.time()
                    result = await common.measure_open_loop(
                        measured,
                        per_second=case.rate,
                        seconds=opts.duration,
                        warmup=opts.warmup,
                        drain=opts.drain,
                        connections=opts.connections,
                        pids=pids,
                        warmup_target=warm,
                    )
                    noisy = result.cpu.get("others", 0.0)
                    common.progress(
                        f"load: {case}, round {r + 1}, {variant}: "
                        f"ok {result.ok}/{result.scheduled}, p50 {result.pct(50) * 1000:.2f} ms, "
                        f"p99 {result.pct(99) * 1000:.2f} ms, service "
                        f"{result.cpu.get('service', 0):.0%} of a core, others {noisy:.0%}"
                    )
                    if noisy <= opts.noisy or attempt == opts.repeats:
                        break
                    common.progress(f"[yellow]others used {noisy:.0%} of a core: again[/yellow]")
                window = (started, time.time())
                runs.append(Run(case, r, variant, result, others, waited, attempt, window))
    return runs


def jwks_fetches(issuer_log: Path) -> list[float]:
    """When the issuer's key set was fetched (epoch seconds), from its JSON access log."""
    times = []
    for line in issuer_log.read_text(errors="replace").splitlines():
        if JWKS_PATH not in line:
            continue
        with contextlib.suppress(ValueError, KeyError, TypeError):
            times.append(datetime.fromisoformat(json.loads(line)["ts"]).timestamp())
    return times


def count_fetches(runs: list[Run], issuer_log: Path) -> None:
    fetched = jwks_fetches(issuer_log) if issuer_log.exists() else []
    for run in runs:
        run.jwks_fetches = sum(run.window[0] <= t <= run.window[1] for t in fetched)


# -- verification alone ----------------------------------------------------------------------


async def verification_alone(stack: Stack, minter: common.Minter, n: int) -> dict[str, float]:
    """CPU µs per `Authenticator.authenticate` in this process, no HTTP: what the gate runs
    for a request's Authorization header. The authenticator is built as a service builds it
    (`Authenticator.from_settings`, the issuer's JWKS fetched over HTTP first), for n
    never-seen tokens, for the same n again (remembered), and with the verifier replaced as
    in bench/auth_noverify.py."""
    env = auth_env(stack.issuer)
    settings = AuthSettings(
        auth_issuer=env["AUTH_ISSUER"],
        auth_jwks_url=env["AUTH_JWKS_URL"],
        auth_rate_per_minute=int(RATE_LIMIT["AUTH_RATE_PER_MINUTE"]),
        auth_rate_burst=int(RATE_LIMIT["AUTH_RATE_BURST"]),
    )
    authenticator = Authenticator.from_settings(settings, "profiles")
    if not await authenticator.verifier.keys.refresh():
        raise RuntimeError("the issuer's JWKS could not be fetched")
    values = [
        "Bearer "
        + minter.token("consultant", f"micro-{MUNICIPALITY}-{i % 200}", municipality=MUNICIPALITY)
        for i in range(n)
    ]

    async def per_call() -> float:
        started = time.process_time()
        for value in values:
            await authenticator.authenticate(value)
        return (time.process_time() - started) / n * 1e6

    fresh = await per_call()
    remembered = await per_call()
    fixed = Principal(
        subject="bench-unverified",
        role="consultant",
        issuer=stack.issuer,
        municipality_code=MUNICIPALITY,
        expires_at=time.time() + 3600,
    )
    skip_verification(authenticator, fixed)
    unverified = await per_call()
    return {
        "tokens": n,
        "fresh_us": round(fresh, 1),
        "remembered_us": round(remembered, 2),
        "unverified_us": round(unverified, 2),
    }


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    seeded: Seeded
    plan: Plan
    runs: list[Run]
    problems: list[str]
    status: dict[str, Any]
    alone: dict[str, float]


async def measure(stack: Stack, opts: Options) -> Outcome:
    assert stack.bootstrap
    minter = common.Minter(stack)
    admin = minter.token("administrator", "bench-admin")
    services = pairs(stack)
    events = services["events"]
    await asyncio.to_thread(events.start, stack, "verified")
    seeded = await seed_commands(events.url("verified"), minter, opts)
    common.progress(f"seed: {seeded.register_s:.1f} s; minting every run's tokens")
    the_plan = plan(minter, opts)
    alone = await verification_alone(stack, minter, 2000)
    common.progress(f"verification alone, µs per request: {alone}")
    runs: list[Run] = []
    if "command" in opts.operations:
        await asyncio.to_thread(events.start, stack, "unverified")
        runs += await measure_operation("command", events, seeded, the_plan, stack, opts)
    await asyncio.to_thread(events.stop)
    commands = sum(r.result.ok for r in runs)

    queries = [op for op in opts.operations if SERVICE_OF[op] == "profiles"]
    problems: list[str] = []
    status: dict[str, Any] = {}
    if queries:
        await seed_suggestions(stack.bootstrap, seeded, opts)
        profiles = services["profiles"]
        await asyncio.to_thread(profiles.start, stack, "verified")
        common.progress("profiles: projecting the log")
        status = await common.wait_projected(
            profiles.url("verified"), seeded.events + commands, admin
        )
        # Started once the views are complete: it finds the positions the first one stored
        # and has nothing left to apply, so the two never project at the same time.
        await asyncio.to_thread(profiles.start, stack, "unverified")
        reader = minter.token("consultant", "bench-check", municipality=MUNICIPALITY)
        for variant in VARIANTS:
            problems += await check_answers(profiles, variant, seeded, reader)
        for problem in problems:
            common.progress(f"[red]check: {escape(problem)}[/red]")
        for op in queries:
            runs += await measure_operation(op, profiles, seeded, the_plan, stack, opts)
        await asyncio.to_thread(profiles.stop)
    return Outcome(seeded, the_plan, runs, problems, status, alone)


# -- report ----------------------------------------------------------------------------------


def pooled(runs: list[Run]) -> dict[tuple[Case, str], common.LoadResult]:
    """The rounds of each case and variant as one sample, in the order they ran."""
    grouped: dict[tuple[Case, str], list[common.LoadResult]] = {}
    for run in runs:
        grouped.setdefault((run.case, run.variant), []).append(run.result)
    return {
        (case, variant): common.LoadResult.pooled(f"{case}, {variant}", results)
        for (case, variant), results in grouped.items()
    }


def change(value: float, base: float) -> str:
    """1.04x (+4 %)."""
    if not (0 < base < float("inf")) or not (0 <= value < float("inf")):
        return "-"
    return f"{value / base:.2f}x ({value / base - 1:+.0%})"


def ratio_or_none(value: float, base: float) -> float | None:
    if not (0 < base < float("inf")) or not (0 <= value < float("inf")):
        return None
    return round(value / base, 4)


def errors(res: common.LoadResult, expect: str) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(res.statuses.items()) if k != expect) or "0"


def environment(opts: Options, outcome: Outcome) -> dict[str, str]:
    s = outcome.seeded
    rates = ", ".join(f"{r:g}" for r in opts.rates)
    command_rates = ", ".join(f"{r:g}" for r in opts.command_rates)
    return {
        **common.host(),
        "stack": f"{common.MEMORY_STORES}, issuer",
        "under test": "events and profiles services, each as shipped (verified) and through "
        "bench/auth_noverify.py (unverified), side by side",
        "rate limit": "AUTH_RATE_PER_MINUTE=600000, AUTH_RATE_BURST=100000 for all four",
        "load": f"aiohttp {aiohttp.__version__}, open loop, {opts.connections} connections, "
        "one process",
        "seeded": f"{len(s.citizens)} cards and {len(s.orders)} orders through the events API "
        f"({s.register_s:.0f} s), {s.suggestions} PlacementSuggested to the log",
        "tokens": f"{outcome.plan.tokens} minted, each set before the run it is for "
        f"({outcome.plan.mint_s:.0f} s in all), RS256 (2048-bit key), {opts.users} "
        f"consultants of {MUNICIPALITY}",
        "rates / duration": f"queries {rates} req/s, commands {command_rates} req/s; "
        f"{opts.duration:g} s measured per run (+{opts.warmup:g} s warm-up), {opts.rounds} "
        "rounds per variant",
    }


def ratios(outcome: Outcome) -> list[dict[str, Any]]:
    """Verified against unverified, per case: the figures the goal is about."""
    pools = pooled(outcome.runs)
    rows = []
    for case in dict.fromkeys(run.case for run in outcome.runs):
        v, u = pools.get((case, "verified")), pools.get((case, "unverified"))
        if v is None or u is None:
            continue
        p99v, p99u = v.pct(99), u.pct(99)
        # Unanswered requests make a p99 infinite: then there is no ratio to judge.
        finite = p99v < float("inf") and p99u < float("inf")
        cpu_v, cpu_u = v.cpu.get("service", 0.0), u.cpu.get("service", 0.0)
        rows.append(
            {
                "operation": case.operation,
                "rate_per_s": case.rate,
                "workload": case.workload,
                "verified": v,
                "unverified": u,
                "p50_ratio": ratio_or_none(v.pct(50), u.pct(50)),
                "p99_ratio": ratio_or_none(p99v, p99u),
                "goal_met": p99v <= GOAL_P99_RATIO * p99u if finite else None,
                "service_cpu_verified": round(cpu_v, 3),
                "service_cpu_unverified": round(cpu_u, 3),
                "cpu_us_per_request": round((cpu_v - cpu_u) / case.rate * 1e6, 1),
                "others": (v.cpu.get("others", 0.0), u.cpu.get("others", 0.0)),
                "jwks_fetches_verified": sum(
                    r.jwks_fetches
                    for r in outcome.runs
                    if r.case == case and r.variant == "verified"
                ),
            }
        )
    return rows


def print_report(env: dict[str, str], outcome: Outcome, opts: Options) -> None:
    out.print(common.environment_table(env))
    a = outcome.alone
    v = common.table(
        f"Authenticator.authenticate alone (this process, no HTTP, {a['tokens']:.0f} tokens): "
        "CPU µs per request",
        "never-seen token (signature checked)",
        "remembered token",
        "verification skipped",
    )
    v.add_row(f"{a['fresh_us']:.0f}", f"{a['remembered_us']:.1f}", f"{a['unverified_us']:.1f}")
    out.print(v)
    rows = ratios(outcome)
    t = common.table(
        f"Latency from scheduled send, ms ({opts.rounds} rounds pooled): verified vs. "
        "unverified token",
        "operation @ rate, workload",
        "verified p50",
        "p99",
        "unverified p50",
        "p99",
        "p50 ratio",
        "p99 ratio",
        "p99 ≤ +10 %",
        "errors (verified / unverified)",
        "JWKS fetches",
    )
    for row in rows:
        v, u = row["verified"], row["unverified"]
        expect = "202" if row["operation"] == "command" else "200"
        t.add_row(
            f"{row['operation']} @ {row['rate_per_s']:g}/s, {row['workload']}",
            common.fmt_ms(v.pct(50), opts.drain),
            common.fmt_ms(v.pct(99), opts.drain),
            common.fmt_ms(u.pct(50), opts.drain),
            common.fmt_ms(u.pct(99), opts.drain),
            change(v.pct(50), u.pct(50)),
            change(v.pct(99), u.pct(99)),
            {True: "[green]yes[/green]", False: "[red]no[/red]", None: "-"}[row["goal_met"]],
            f"{errors(v, expect)} / {errors(u, expect)}",
            str(row["jwks_fetches_verified"]),
        )
    out.print(t)

    c = common.table(
        "CPU of the service under test (share of one core, mean of the rounds)",
        "operation @ rate, workload",
        "verified",
        "unverified",
        "difference per request",
        "others (verified / unverified)",
    )
    for row in rows:
        c.add_row(
            f"{row['operation']} @ {row['rate_per_s']:g}/s, {row['workload']}",
            f"{row['service_cpu_verified']:.0%}",
            f"{row['service_cpu_unverified']:.0%}",
            f"{row['cpu_us_per_request']:+.0f} µs",
            " / ".join(f"{share:.0%}" for share in row["others"]),
        )
    out.print(c)

    r = common.table(
        "Every run (latency ms from scheduled send; CPU as share of one core)",
        "run",
        "ok / sent",
        "p50",
        "p90",
        "p99",
        "max",
        "send lag p99",
        "JWKS fetches",
        "service",
        "tansu",
        "redis",
        "bench",
        "others",
    )
    for run in outcome.runs:
        res = run.result
        r.add_row(
            f"{run.case} #{run.round + 1} {run.variant}",
            f"{res.ok} / {res.scheduled}",
            *(common.fmt_ms(res.pct(q), opts.drain) for q in (50, 90, 99, 100)),
            f"{common.percentile(res.lag, 99) * 1000:.2f}",
            str(run.jwks_fetches),
            *(f"{res.cpu.get(k, 0):.0%}" for k in ("service", "tansu", "redis", "bench")),
            f"{res.cpu.get('others', 0):.0%}",
        )
    out.print(r)
    for run in outcome.runs:
        for line in run.result.first_errors:
            out.print(f"[yellow]{run.case}, {run.variant}: {escape(line)}[/yellow]")


def ratios_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **{k: v for k, v in row.items() if k not in ("verified", "unverified", "others")},
            "verified_p50_ms": row["verified"].summary()["p50_ms"],
            "verified_p99_ms": row["verified"].summary()["p99_ms"],
            "unverified_p50_ms": row["unverified"].summary()["p50_ms"],
            "unverified_p99_ms": row["unverified"].summary()["p99_ms"],
            "others_verified": round(row["others"][0], 3),
            "others_unverified": round(row["others"][1], 3),
        }
        for row in rows
    ]


def print_logs(logs: dict[str, tuple[Counter[str], list[str]]]) -> None:
    if not logs:
        out.print("service and store logs: no warnings or errors")
    for name, (counts, examples) in logs.items():
        out.print(f"[yellow]{name}.log: {dict(counts)}[/yellow]")
        for line in examples:
            out.print(f"    {line}", markup=False)


# -- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    with common.throwaway_stack(
        "jobmatch-bench-auth-", memory=True, keep_home=opts.keep_home
    ) as stack:
        home = stack.home
        # SIGTERM as Ctrl-C, so the stack's clean-up stops the children.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        common.progress(f"stack in {home} (memory engine)")
        stack.start_stores()
        outcome = asyncio.run(measure(stack, opts))
        stack.stop()  # flushes the service logs before they are read
        count_fetches(outcome.runs, home / "logs" / "issuer.log")
        logs = common.scan_logs(home / "logs")
        env = environment(opts, outcome)
        print_report(env, outcome, opts)
        print_logs(logs)
        for problem in outcome.problems:
            out.print(f"[red]answer check: {escape(problem)}[/red]")
        if opts.json_path:
            opts.json_path.parent.mkdir(parents=True, exist_ok=True)
            common.write_figures(
                opts.json_path,
                "auth",
                env,
                opts,
                goal_p99_ratio=GOAL_P99_RATIO,
                ratios=ratios_json(ratios(outcome)),
                pooled=[
                    {"case": str(case), "variant": variant, **res.summary()}
                    for (case, variant), res in pooled(outcome.runs).items()
                ],
                runs=[run.summary() for run in outcome.runs],
                seeding={
                    "cards": len(outcome.seeded.citizens),
                    "orders": len(outcome.seeded.orders),
                    "suggestions": outcome.seeded.suggestions,
                    "register_s": round(outcome.seeded.register_s, 1),
                    "statuses": outcome.seeded.statuses,
                    "projection_status": outcome.status,
                },
                tokens={"minted": outcome.plan.tokens, "mint_s": round(outcome.plan.mint_s, 1)},
                verification_alone=outcome.alone,
                answer_problems=outcome.problems,
                log_problems={k: dict(c) for k, (c, _) in logs.items()},
            )
        return 0 if not outcome.problems else 1


if __name__ == "__main__":
    sys.exit(main())
