"""Rebuild throughput of the profiles views: events/s to replay the whole log into Redis.

One run starts its own throwaway stores in a temp dir (Tansu memory engine, Redis without
persistence; no services), seeds N valid events (default 1,000,000) with a realistic mix
across the domain topics, then measures in the same run:

1. raw read: one aiokafka consumer reads every record of the domain topics from offset 0,
   no decoding, no processing (the ceiling for anything that replays the log);
2. `services.profiles.rebuild.rebuild(bootstrap, redis)`: decode, project and write every
   event into a fresh keyspace, then switch readers to it.

It prints events/s of both, their ratio and whether the goal (>= 20,000 events/s) is met.

Run from the repo root:  .venv/bin/python bench/rebuild.py [--events 1000000] [--json PATH]
Quick run:               .venv/bin/python bench/rebuild.py --events 100000
See bench/rebuild.md for the method and the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import math
import os
import random
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable without the editable install too
    sys.path.insert(0, str(REPO))

import _common as common  # noqa: E402
import aiokafka  # noqa: E402
from aiokafka import TopicPartition  # noqa: E402
from redis.asyncio import Redis  # noqa: E402
from rich.console import Console  # noqa: E402

from schemas.citizens import (  # noqa: E402
    CompetenceCard,
    CompetenceCardRegistered,
    CompetenceCardUpdated,
    ConsentGiven,
)
from schemas.envelope import (  # noqa: E402
    HEADER_CONTENT_TYPE,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    HEADER_SCHEMA_VERSION,
    SYSTEM_MATCHING,
    Actor,
    Event,
    EventPayload,
)
from schemas.jobs import JobOrder, JobOrderPosted  # noqa: E402
from schemas.placements import (  # noqa: E402
    AppliedEligibility,
    CandidatePresented,
    FollowUpRecorded,
    PlacementStarted,
    PlacementSuggested,
    Reason,
    SuggestionAccepted,
    SuggestionRejected,
)
from schemas.registry import REGISTRY  # noqa: E402
from schemas.topics import DOMAIN_TOPICS  # noqa: E402
from services.common.kafka import make_producer  # noqa: E402
from services.profiles import keyspace  # noqa: E402
from services.profiles.rebuild import rebuild  # noqa: E402
from services.stack import Stack  # noqa: E402

GOAL_EVENTS_S = 20_000
DATA = REPO / "tests" / "data"
MUNICIPALITIES = {
    "0751": ("8000", "8200", "8210", "8220"),
    "0101": ("2100", "2200", "2300"),
    "0461": ("5000", "5200"),
    "0851": ("9000", "9200"),
    "0561": ("6700", "6705"),
}
CVRS = ("12345607", "87654303")  # valid modulus-11 numbers from tests/data
# Share of the log per event type (sums to 1).
MIX: dict[str, float] = {
    "PlacementSuggested": 0.60,
    "CompetenceCardRegistered": 0.10,
    "CompetenceCardUpdated": 0.05,
    "JobOrderPosted": 0.05,
    "ConsentGiven": 0.04,
    "SuggestionAccepted": 0.04,
    "SuggestionRejected": 0.04,
    "CandidatePresented": 0.03,
    "PlacementStarted": 0.03,
    "FollowUpRecorded": 0.02,
}
# Placeholder ids in the template JSON, replaced per record (all valid ids, so the templates
# are built and validated by the real pydantic models).
M_EVENT = "00000000-0000-4000-8000-00000000e1d0"
M_CITIZEN = "XcitizenX"
M_ORDER = "XorderX"
M_SUGGESTION = "XsuggestionX"
M_PLACEMENT = "XplacementX"
M_CONSENT = "XconsentX"
_MARKERS = re.compile(
    b"("
    + b"|".join(
        re.escape(m.encode())
        for m in (M_EVENT, M_CITIZEN, M_ORDER, M_SUGGESTION, M_PLACEMENT, M_CONSENT)
    )
    + b")"
)

out = Console(highlight=False, width=None if sys.stdout.isatty() else 140)


# -- options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    events: int
    templates: int
    seed: int
    json_path: Path | None
    keep_home: bool
    workers: int | None = None


def parse_args(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000, help="events in the log")
    p.add_argument(
        "--templates", type=int, default=200, help="distinct template payloads per event type"
    )
    p.add_argument("--seed", type=int, default=11, help="random seed of the data")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--keep-home", action="store_true", help="keep the stack's dir (logs)")
    p.add_argument(
        "--workers", type=int, default=None, help="rebuild worker processes (default: one a core)"
    )
    a = p.parse_args(argv)
    if a.events < 100 or a.templates < 1:
        p.error("--events must be >= 100 and --templates >= 1")
    return Options(a.events, a.templates, a.seed, a.json, a.keep_home, a.workers)


# -- templates -------------------------------------------------------------------------------


@dataclass
class Template:
    """One serialized event with placeholder ids: literal chunks and markers alternate."""

    event_type: str
    topic: str
    key_marker: bytes
    parts: list[bytes]
    static_headers: list[tuple[str, bytes]]
    municipality: str

    @classmethod
    def of(cls, event: Event) -> Template:
        key = M_ORDER if event.aggregate_id == M_ORDER else M_CITIZEN
        assert event.aggregate_id == key, event.aggregate_id
        return cls(
            event_type=event.event_type,
            topic=event.topic,
            key_marker=key.encode(),
            parts=_MARKERS.split(event.to_json()),
            static_headers=[
                (HEADER_EVENT_TYPE, event.event_type.encode()),
                (HEADER_SCHEMA_VERSION, str(event.schema_version).encode()),
                (HEADER_CONTENT_TYPE, b"application/json"),
            ],
            municipality=event.municipality_code or "",
        )

    def render(self, ids: dict[bytes, bytes]) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """(key, value, headers) with the placeholders replaced by `ids`."""
        parts = self.parts
        value = b"".join([ids[p] if i % 2 else p for i, p in enumerate(parts)])
        headers = [*self.static_headers, (HEADER_EVENT_ID, ids[M_EVENT.encode()])]
        return ids[self.key_marker], value, headers


def build_templates(kind: str, count: int, rng: random.Random) -> list[Template]:
    """`count` distinct, validated events of one type, with placeholder ids."""
    now = datetime.now(UTC).replace(microsecond=0)
    consultant = Actor(role="consultant", id="bench-consultant")
    employer = Actor(role="employer", id="bench-employer")
    out: list[Template] = []
    cards = common.read_json_docs(DATA, "competence_card_*.json")
    orders = common.read_json_docs(DATA, "job_order_*.json")
    for i in range(count):
        at = now - timedelta(days=rng.randrange(90), seconds=rng.randrange(86_400))
        actor = consultant
        code: str = rng.choice(list(MUNICIPALITIES))
        payload: EventPayload
        if kind in ("CompetenceCardRegistered", "CompetenceCardUpdated"):
            doc = copy.deepcopy(cards[i % len(cards)])
            doc["citizen_id"] = M_CITIZEN
            code = doc["municipality_code"] = rng.choice(list(MUNICIPALITIES))
            doc["location"]["postal_code"] = rng.choice(MUNICIPALITIES[code])
            doc["availability"]["hours_per_week"] = rng.choice((15, 20, 25, 30, 37))
            card = CompetenceCard.model_validate(doc)
            if kind == "CompetenceCardRegistered":
                payload = CompetenceCardRegistered(citizen_id=M_CITIZEN, version=1, card=card)
            else:
                version = rng.randrange(2, 6)
                payload = CompetenceCardUpdated(citizen_id=M_CITIZEN, version=version, card=card)
        elif kind == "JobOrderPosted":
            doc = copy.deepcopy(orders[i % len(orders)])
            doc["job_order_id"] = M_ORDER
            code = doc["municipality_code"] = rng.choice(list(MUNICIPALITIES))
            doc["worksite"]["postal_code"] = rng.choice(MUNICIPALITIES[code])
            doc["positions"] = rng.randrange(1, 4)
            order = JobOrder.model_validate(doc)
            payload = JobOrderPosted(job_order_id=M_ORDER, version=1, order=order)
            actor = employer
        elif kind == "PlacementSuggested":
            base = JobOrder.model_validate(orders[i % len(orders)])
            programme = base.programme
            reasons = [
                Reason(
                    code=c,
                    text_da=f"{c} (da)",
                    text_en=f"{c} (en)",
                    contribution=round(rng.uniform(-0.1, 0.3), 4),
                )
                for c in rng.sample(["skills", "distance", "experience", "danish", "wish"], 3)
            ]
            payload = PlacementSuggested(
                job_order_id=M_ORDER,
                citizen_id=M_CITIZEN,
                suggestion_id=M_SUGGESTION,
                score=round(rng.uniform(0.2, 0.98), 4),
                rank=rng.randrange(1, 21),
                model_version="bench-1",
                card_version=str(rng.randrange(1, 4)),
                order_version="1",
                reasons=reasons,
                missing=rng.sample(["certificate:truckcertifikat", "danish_min:A2"], 1),
                eligibility=AppliedEligibility(programme=programme, eligible=True, reasons=[]),
                programme=programme,
                occupation_uri=base.esco_occupation_uri,
                title=base.title,
                worksite_postal_code=rng.choice(MUNICIPALITIES[code]),
            )
            actor = SYSTEM_MATCHING
        elif kind == "ConsentGiven":
            scope = rng.choice(("all", "employer"))
            payload = ConsentGiven(
                citizen_id=M_CITIZEN,
                consent_id=M_CONSENT,
                scope=scope,
                employer_cvr=rng.choice(CVRS) if scope == "employer" else None,
            )
        elif kind == "SuggestionAccepted":
            payload = SuggestionAccepted(
                job_order_id=M_ORDER, citizen_id=M_CITIZEN, suggestion_id=M_SUGGESTION
            )
        elif kind == "SuggestionRejected":
            payload = SuggestionRejected(
                job_order_id=M_ORDER,
                citizen_id=M_CITIZEN,
                suggestion_id=M_SUGGESTION,
                reason_code=rng.choice(("danish_level", "transport", "citizen_declines", "other")),
                reason_text=rng.choice((None, "Borgeren har ikke mulighed for transport.")),
            )
        elif kind == "CandidatePresented":
            payload = CandidatePresented(
                job_order_id=M_ORDER,
                citizen_id=M_CITIZEN,
                suggestion_id=M_SUGGESTION,
                employer_cvr=rng.choice(CVRS),
            )
        elif kind == "PlacementStarted":
            start = date(2026, 1, 5) + timedelta(days=rng.randrange(300))
            payload = PlacementStarted(
                job_order_id=M_ORDER,
                citizen_id=M_CITIZEN,
                placement_id=M_PLACEMENT,
                suggestion_id=M_SUGGESTION,
                placement_type=rng.choice(("virksomhedspraktik", "IGU", "løntilskud")),
                start_date=start,
                end_date=start + timedelta(weeks=rng.choice((4, 8, 13))),
                weekly_hours_work=rng.choice((15.0, 20.0, 30.0, 37.0)),
            )
        elif kind == "FollowUpRecorded":
            payload = FollowUpRecorded(
                job_order_id=M_ORDER,
                citizen_id=M_CITIZEN,
                placement_id=M_PLACEMENT,
                date=date(2026, 2, 1) + timedelta(days=rng.randrange(300)),
                status=rng.choice(("on_track", "on_track", "at_risk", "needs_action")),
                note=rng.choice((None, "Møder stabilt, god kontakt til mentor.")),
            )
        else:
            raise ValueError(f"no template for {kind}")
        event = Event.new(
            payload, actor=actor, occurred_at=at, event_id=UUID(M_EVENT), municipality_code=code
        )
        out.append(Template.of(event))
    return out


# -- the log ---------------------------------------------------------------------------------


@dataclass
class Plan:
    """How many events of each type, and the id spaces they refer to."""

    counts: dict[str, int]
    run: int

    @property
    def citizens(self) -> int:
        return max(1, self.counts.get("CompetenceCardRegistered", 0))

    @property
    def orders(self) -> int:
        return max(1, self.counts.get("JobOrderPosted", 0))

    @property
    def suggestions(self) -> int:
        return max(1, self.counts.get("PlacementSuggested", 0))

    @property
    def per_order(self) -> int:
        return max(1, math.ceil(self.suggestions / self.orders))

    @property
    def placements(self) -> int:
        return max(1, self.counts.get("PlacementStarted", 0))


def plan(n: int, rng: random.Random) -> tuple[Plan, list[int]]:
    """Counts per type and the sequence of types (indices into MIX) of the whole log."""
    kinds = list(MIX)
    sequence = rng.choices(range(len(kinds)), weights=[MIX[k] for k in kinds], k=n)
    counted = Counter(sequence)
    return Plan({kinds[i]: counted[i] for i in range(len(kinds))}, rng.getrandbits(32)), sequence


def _cid(c: int) -> bytes:
    return f"cit-b{c:07d}".encode()  # 7 digits: never CPR-shaped (those need 10)


def _oid(o: int) -> bytes:
    return f"jo-b{o:06d}".encode()


def records(
    p: Plan, sequence: list[int], templates: dict[str, list[Template]], rng: random.Random
) -> Iterator[tuple[Template, tuple[bytes, bytes, list[tuple[str, bytes]]]]]:
    """Every record of the log, in log order, with ids that refer to each other: suggestions
    to orders and registered citizens, reviews and placements to suggestions. Events about
    an order carry the order's municipality, as the services write them."""
    kinds = list(MIX)
    seen: Counter[str] = Counter()
    eid = M_EVENT.encode()
    per_order = p.per_order
    order_pool = templates["JobOrderPosted"]
    by_municipality: dict[str, dict[str, list[Template]]] = {}
    for kind, pool in templates.items():
        for template in pool:
            by_municipality.setdefault(kind, {}).setdefault(template.municipality, []).append(
                template
            )

    def suggestion(s: int) -> tuple[dict[bytes, bytes], int]:
        o, k = divmod(s, per_order)
        c = (o * 7919 + k * 104_729) % p.citizens
        ids = {
            M_ORDER.encode(): _oid(o % p.orders),
            M_CITIZEN.encode(): _cid(c),
            M_SUGGESTION.encode(): f"sug-b{o:06d}-{k:03d}".encode(),
        }
        return ids, o % p.orders

    for i, t in enumerate(sequence):
        kind = kinds[t]
        j = seen[kind]
        seen[kind] += 1
        order: int | None = None
        if kind == "CompetenceCardRegistered":
            ids = {M_CITIZEN.encode(): _cid(j)}
        elif kind in ("CompetenceCardUpdated", "ConsentGiven"):
            ids = {
                M_CITIZEN.encode(): _cid(rng.randrange(p.citizens)),
                M_CONSENT.encode(): f"con-b{j:07d}".encode(),
            }
        elif kind == "JobOrderPosted":
            ids = {M_ORDER.encode(): _oid(j)}
        elif kind == "PlacementSuggested":
            ids, order = suggestion(j)
        elif kind == "PlacementStarted":
            ids, order = suggestion(rng.randrange(p.suggestions))
            ids[M_PLACEMENT.encode()] = f"pl-b{j:07d}".encode()
        elif kind == "FollowUpRecorded":
            placement = rng.randrange(p.placements)
            ids, order = suggestion((placement * 2_654_435_761) % p.suggestions)
            ids[M_PLACEMENT.encode()] = f"pl-b{placement:07d}".encode()
        else:  # reviews of a suggestion
            ids, order = suggestion(rng.randrange(p.suggestions))
        ids[eid] = f"{p.run:08x}-0000-4000-8000-{i:012x}".encode()
        pool = templates[kind]
        if order is not None:  # the order's municipality: that of its JobOrderPosted template
            where = order_pool[order % len(order_pool)].municipality
            pool = by_municipality[kind].get(where) or pool
        template = pool[j % len(pool)]
        yield template, template.render(ids)


def check_templates(templates: dict[str, list[Template]]) -> None:
    """Every template, filled with ids, decodes through the registry as its own type."""
    for kind, pool in templates.items():
        for template in pool:
            ids = {
                M_EVENT.encode(): b"12345678-0000-4000-8000-000000000001",
                M_CITIZEN.encode(): _cid(1),
                M_ORDER.encode(): _oid(1),
                M_SUGGESTION.encode(): b"sug-b000001-001",
                M_PLACEMENT.encode(): b"pl-b0000001",
                M_CONSENT.encode(): b"con-b0000001",
            }
            _, value, _ = template.render(ids)
            event = REGISTRY.decode(value)
            assert event.event_type == kind, (event.event_type, kind)


@dataclass
class SeedResult:
    events: int
    counts: dict[str, int]
    per_topic: dict[str, int]
    bytes: int
    templates_s: float
    produce_s: float
    sampled: int  # records decoded during seeding as a check
    tansu_rss_mb: float = 0.0

    rate = common.PerSecond("events", "produce_s")


async def seed(bootstrap: str, opts: Options) -> SeedResult:
    rng = random.Random(opts.seed)
    started = time.monotonic()
    p, sequence = plan(opts.events, rng)
    templates = {kind: build_templates(kind, opts.templates, rng) for kind in MIX}
    check_templates(templates)
    built = time.monotonic()
    common.progress(
        f"seed: {sum(map(len, templates.values()))} templates in {built - started:.1f}s; "
        f"producing {opts.events:,} events ({p.orders:,} orders, {p.citizens:,} citizens, "
        f"{p.per_order} suggestions per order)"
    )
    producer = make_producer(bootstrap)
    await producer.start()
    per_topic: Counter[str] = Counter()
    size = sampled = 0
    previous: list[asyncio.Future[Any]] = []
    current: list[asyncio.Future[Any]] = []
    try:
        for i, (template, (key, value, headers)) in enumerate(records(p, sequence, templates, rng)):
            if i % 1000 == 0:  # a sample goes through the consumers' decoder
                event = REGISTRY.decode(value)
                assert event.event_type == template.event_type
                sampled += 1
            current.append(await producer.send(template.topic, value, key=key, headers=headers))
            per_topic[template.topic] += 1
            size += len(value)
            if len(current) >= 50_000:
                await asyncio.gather(*previous)  # raises if a send failed
                previous, current = current, []
                common.progress(f"seed: {i + 1:,} / {opts.events:,} sent")
        await producer.flush()
        await asyncio.gather(*previous, *current)
    finally:
        await producer.stop()
    done = time.monotonic()
    return SeedResult(
        events=opts.events,
        counts=p.counts,
        per_topic=dict(per_topic),
        bytes=size,
        templates_s=built - started,
        produce_s=done - built,
        sampled=sampled,
    )


# -- 1. raw read -----------------------------------------------------------------------------


@dataclass
class RawResult:
    records: int
    seconds: float
    cpu: dict[str, float] = field(default_factory=dict)

    rate = common.PerSecond("records", "seconds")


async def raw_read(bootstrap: str, expected: int, timeout: float = 600.0) -> RawResult:
    """Every record of the domain topics from offset 0, counted, not decoded. Settings as
    the projector's consumer (4 MB per partition fetch); records are counted because
    end_offsets() is wrong on Tansu."""
    parts = [TopicPartition(t.name, p) for t in DOMAIN_TOPICS for p in range(t.partitions)]
    async with common.reader(bootstrap, parts) as consumer:
        seen = 0
        started = time.monotonic()
        deadline = started + timeout
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            seen += sum(len(rs) for rs in batch.values())
            if time.monotonic() > deadline:
                raise TimeoutError(f"raw read saw {seen} of {expected} records")
        return RawResult(seen, time.monotonic() - started)


# -- 2. rebuild ------------------------------------------------------------------------------


@dataclass
class RebuildResult:
    events: int  # applied, as the report counts them
    skipped: int  # records the rebuild could not decode (dead-lettered earlier)
    seconds: float  # the report's own timing: replay of the log until caught up
    wall_s: float  # around the call: also the switch, the grace period and the drop
    prefix: str
    report: dict[str, Any]
    redis_keys: int
    redis_used_mb: float
    active: str
    cpu: dict[str, float] = field(default_factory=dict)

    # The figure of the goal: events replayed per second of replay.
    rate = common.PerSecond("events", "seconds")
    wall_rate = common.PerSecond("events", "wall_s")


async def run_rebuild(bootstrap: str, redis_url: str, workers: int | None) -> RebuildResult:
    redis = Redis.from_url(redis_url)
    last = [0.0]

    def report_progress(applied: int, known: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 5:
            last[0] = now
            common.progress(f"rebuild: {applied:,} / {known:,} events")

    try:
        started = time.monotonic()
        report = await rebuild(
            bootstrap, redis, progress=report_progress, keep_old=False, workers=workers
        )
        wall = time.monotonic() - started
        info = await redis.info("memory")
        keys = int(await redis.dbsize())
        active = await keyspace.active(redis)
    finally:
        await redis.aclose()
    return RebuildResult(
        events=report.events,
        skipped=report.skipped,
        seconds=report.seconds,
        wall_s=wall,
        prefix=report.prefix,
        report=asdict(report),
        redis_keys=keys,
        redis_used_mb=int(info["used_memory"]) / 2**20,
        active=active,
    )


# -- report ----------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def environment(opts: Options, seeded: SeedResult) -> dict[str, str]:
    return {
        **common.host(),
        "stores": common.MEMORY_STORES,
        "client": f"aiokafka {aiokafka.__version__}",
        "log": f"{seeded.events:,} events, {seeded.bytes / 2**20:,.0f} MB of JSON values "
        f"(avg {seeded.bytes / seeded.events:,.0f} B)",
        "per topic": ", ".join(f"{t}: {n:,}" for t, n in sorted(seeded.per_topic.items())),
        "Tansu RSS after seeding": f"{seeded.tansu_rss_mb:,.0f} MB",
    }


def print_report(
    env: dict[str, str], seeded: SeedResult, raw: RawResult, rb: RebuildResult
) -> None:
    out.print(common.environment_table(env))

    mix = common.table("Event mix", "event type", "events", "share")
    for kind, n in sorted(seeded.counts.items(), key=lambda kv: -kv[1]):
        mix.add_row(kind, f"{n:,}", f"{n / seeded.events:.1%}")
    out.print(mix)

    r = common.table(
        f"Rebuild of {seeded.events:,} events (goal >= {GOAL_EVENTS_S:,} events/s)",
        "phase",
        "events",
        "seconds",
        "events/s",
        "÷ raw read",
    )
    r.add_row("seeding (templates)", "", f"{seeded.templates_s:.1f}", "", "", end_section=False)
    r.add_row(
        "seeding (render + produce)",
        f"{seeded.events:,}",
        f"{seeded.produce_s:.1f}",
        f"{seeded.rate:,.0f}",
        "",
        end_section=True,
    )
    r.add_row(
        "raw read (aiokafka, no decoding)",
        f"{raw.records:,}",
        f"{raw.seconds:.2f}",
        f"{raw.rate:,.0f}",
        "100%",
    )
    r.add_row(
        f"rebuild, {rb.report['workers']} worker processes: replay until caught up",
        f"{rb.events:,}",
        f"{rb.seconds:.2f}",
        f"[bold]{rb.rate:,.0f}[/bold]",
        f"[bold]{rb.rate / raw.rate:.1%}[/bold]",
    )
    r.add_row(
        "rebuild() call: + switch, grace, drop old",
        f"{rb.events:,}",
        f"{rb.wall_s:.2f}",
        f"{rb.wall_rate:,.0f}",
        f"{rb.wall_rate / raw.rate:.1%}",
    )
    out.print(r)
    names = list(rb.cpu)
    c = common.table(
        "CPU during each phase (share of one core; the bench process runs rebuild(), "
        "which starts the workers)",
        "phase",
        *names,
    )
    c.add_row("raw read", *(f"{raw.cpu.get(n, 0.0):.0%}" for n in names))
    c.add_row("rebuild()", *(f"{rb.cpu[n]:.0%}" for n in names))
    out.print(c)
    met = rb.rate >= GOAL_EVENTS_S
    out.print(
        f"goal >= {GOAL_EVENTS_S:,} events/s: "
        + ("[green]met[/green]" if met else "[red]not met[/red]")
        + f" ({rb.rate:,.0f} events/s)"
    )
    out.print(
        f"new keyspace {rb.prefix!r}, active keyspace now {rb.active!r}; Redis holds "
        f"{rb.redis_keys:,} keys, {rb.redis_used_mb:,.0f} MB"
    )
    if rb.events + rb.skipped != seeded.events or rb.skipped:
        out.print(
            f"[yellow]the report counts {rb.events:,} applied and {rb.skipped:,} skipped "
            f"events; {seeded.events:,} were produced[/yellow]"
        )


# -- main ------------------------------------------------------------------------------------


async def measure(stack: Stack, opts: Options) -> tuple[SeedResult, RawResult, RebuildResult]:
    assert stack.bootstrap and stack.redis_url
    seeded = await seed(stack.bootstrap, opts)
    tansu = next(p for p in stack.procs if p.name == "tansu")
    seeded.tansu_rss_mb = rss_mb(tansu.popen.pid)
    common.progress(
        f"seed: {seeded.events:,} events in {seeded.produce_s:.1f}s "
        f"({seeded.rate:,.0f}/s), Tansu RSS {seeded.tansu_rss_mb:,.0f} MB; raw read"
    )
    pids = {p.name: p.popen.pid for p in stack.procs} | {"bench": os.getpid()}
    meter = common.CpuMeter(pids)
    raw = await raw_read(stack.bootstrap, seeded.events)
    raw.cpu = meter.shares()
    common.progress(
        f"raw: {raw.records:,} records in {raw.seconds:.2f}s ({raw.rate:,.0f}/s); rebuild"
    )
    meter = common.CpuMeter(pids, children="workers")
    rb = await run_rebuild(stack.bootstrap, stack.redis_url, opts.workers)
    rb.cpu = meter.shares()
    common.progress(f"rebuild: {rb.events:,} events in {rb.wall_s:.2f}s ({rb.rate:,.0f}/s)")
    return seeded, raw, rb


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    with common.throwaway_stack(
        "jobmatch-bench-rebuild-", memory=True, keep_home=opts.keep_home
    ) as stack:
        home = stack.home
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # so the clean-up runs
        common.progress(f"stores in {home} (memory engine)")
        stack.start_stores()
        seeded, raw, rb = asyncio.run(measure(stack, opts))
        env = environment(opts, seeded)
        print_report(env, seeded, raw, rb)
        if opts.json_path:
            common.write_figures(
                opts.json_path,
                "rebuild",
                env,
                opts,
                goal_events_s=GOAL_EVENTS_S,
                seed={**asdict(seeded), "events_s": round(seeded.rate, 1)},
                raw_read={**asdict(raw), "events_s": round(raw.rate, 1)},
                rebuild={
                    **asdict(rb),
                    "events_s": round(rb.rate, 1),
                    "wall_events_s": round(rb.wall_rate, 1),
                    "ratio_to_raw": round(rb.rate / raw.rate, 4),
                    "goal_met": rb.rate >= GOAL_EVENTS_S,
                },
            )
        # A figure below the goal is a result, not a failure; a miscount is.
        return 0 if rb.events == seeded.events and rb.active == rb.prefix else 1


if __name__ == "__main__":
    sys.exit(main())
