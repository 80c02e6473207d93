"""Throughput of jobmatch against the embedded broker: raw aiokafka vs. events API -> projection.

One run starts its own throwaway stack (localbucket + Tansu/S3 by default, `--memory` for the
memory engine; Redis; the services) in a temp dir, then measures:

1. raw aiokafka on a dedicated 3-partition topic: batched produce, catch-up consume, and a
   pipelined produce+consume (first send to last record received);
2. the system: N competence cards POSTed with concurrency to the events API, until the profiles
   projection shows every citizen in Redis; HTTP 202 latency and POST-to-visible latency.
   Each card is posted with the access token of one of 200 consultants of its municipality
   (minted with the stack's issuer key); the progress reads sign in as an administrator.

Run from the repo root:  .venv/bin/python bench/throughput.py [--memory] [--events N] ...
See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import multiprocessing as mp
import os
import platform
import random
import string
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable without the editable install too
    sys.path.insert(0, str(REPO))

import _common as common  # noqa: E402
import aiohttp  # noqa: E402
import aiokafka  # noqa: E402
import httpx  # noqa: E402
import redis  # noqa: E402
from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.table import Table  # noqa: E402

from schemas.citizens import CompetenceCard, CompetenceCardRegistered  # noqa: E402
from schemas.envelope import Actor, Event  # noqa: E402
from schemas.topics import CITIZENS  # noqa: E402
from services.common.kafka import make_producer  # noqa: E402
from services.matching.settings import MatchingSettings  # noqa: E402
from services.profiles import keyspace  # noqa: E402
from services.profiles.projections import keys  # noqa: E402
from services.stack import SERVICES, Stack  # noqa: E402

EXAMPLES = REPO / "services" / "demo" / "examples"
# Real Danish postal codes, so the matching service sees plausible locations.
POSTAL_CODES = ("8000", "8200", "8210", "8220", "2100", "2200", "5000", "9000", "7100", "6700")
RAW_PARTITIONS = 3
STATUS_EVERY_S = 1.0
# Consultants signed in per municipality; card i is posted by consultant i % CONSULTANTS of
# the card's municipality, so each caller stays far below the per-caller rate limit
# (1200/min, burst 200: 10,000 cards at ~850/s are ~4/s and 50 cards per consultant).
CONSULTANTS = 200

out = Console(highlight=False)


# -- options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    events: int
    concurrency: int
    memory: bool
    raw_messages: int
    with_matching: bool
    stall_s: float
    max_wait_s: float
    keep_home: bool


def parse_args(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=10_000, help="competence cards to POST")
    p.add_argument("--concurrency", type=int, default=48, help="concurrent HTTP requests")
    p.add_argument("--memory", action="store_true", help="Tansu memory engine (default: S3)")
    p.add_argument("--raw-messages", type=int, default=50_000, help="messages in the baseline")
    p.add_argument(
        "--without-matching", action="store_true", help="do not start the matching service"
    )
    p.add_argument(
        "--stall-seconds",
        type=float,
        default=30.0,
        help="give up when the projection makes no progress this long after the last POST",
    )
    p.add_argument(
        "--max-wait-seconds",
        type=float,
        default=360.0,
        help="stop waiting for the projection this long after the last POST (bounds the run)",
    )
    p.add_argument("--keep-home", action="store_true", help="keep the stack's dir (logs, data)")
    a = p.parse_args(argv)
    if a.events < 1 or a.raw_messages < 1 or a.concurrency < 1:
        p.error("--events, --raw-messages and --concurrency must be positive")
    return Options(
        events=a.events,
        concurrency=a.concurrency,
        memory=a.memory,
        raw_messages=a.raw_messages,
        with_matching=not a.without_matching,
        stall_s=a.stall_seconds,
        max_wait_s=a.max_wait_seconds,
        keep_home=a.keep_home,
    )


# -- workload --------------------------------------------------------------------------------


def run_id() -> str:
    # Letters only: citizen ids then hold a single digit run, far from a CPR-shaped one.
    return "".join(random.choices(string.ascii_lowercase, k=6))


def citizen_id(run: str, index: int) -> str:
    return f"bench-{run}-c{index:06d}"


def index_of(cid: str) -> int:
    return int(cid.rpartition("-c")[2])


def example_cards() -> list[dict[str, Any]]:
    return common.read_json_docs(EXAMPLES, "competence_card_*.json")


def card_variant(templates: list[dict[str, Any]], run: str, index: int) -> dict[str, Any]:
    card = copy.deepcopy(templates[index % len(templates)])
    card["citizen_id"] = citizen_id(run, index)
    card["location"]["postal_code"] = POSTAL_CODES[index % len(POSTAL_CODES)]
    return card


def card_bodies(run: str, n: int) -> tuple[list[bytes], list[str]]:
    """The request bodies, and the municipality of each card (who may post it)."""
    templates = example_cards()
    cards = [card_variant(templates, run, i) for i in range(n)]
    return [json.dumps(card).encode() for card in cards], [c["municipality_code"] for c in cards]


def raw_payloads(run: str, distinct: int = 300) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs: the envelope JSON the events service would append for a card."""
    templates = example_cards()
    actor = Actor(role="consultant", id="bench")
    pairs = []
    for i in range(distinct):
        card = CompetenceCard.model_validate(card_variant(templates, f"raw{run}", i))
        event = Event.new(
            CompetenceCardRegistered(citizen_id=card.citizen_id, version=1, card=card),
            actor=actor,
            occurred_at=datetime.now(UTC),
            municipality_code=card.municipality_code,
        )
        pairs.append((card.citizen_id.encode(), event.to_json()))
    return pairs


# -- 1. raw aiokafka baseline ----------------------------------------------------------------


@dataclass
class RawResult:
    messages: int
    avg_bytes: float
    produce_s: float
    consume_s: float
    pipelined_s: float

    produce_rate = common.PerSecond("messages", "produce_s")
    consume_rate = common.PerSecond("messages", "consume_s")
    e2e_rate = common.PerSecond("messages", "pipelined_s")


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


async def produce(
    bootstrap: str, topic: str, payloads: list[tuple[bytes, bytes]], n: int
) -> tuple[float, float]:
    """Batched: send() without awaiting each ack, then flush. Returns (first send, flushed).

    256 KB batches: with the default 16 KB, ~12 records of 1.3 KB fit in a batch and the
    produce rate falls from ~45k to ~17k msg/s here. The baseline is the client at its best.
    """
    producer = make_producer(bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        futures = []
        started = time.monotonic()
        for i in range(n):
            key, value = payloads[i % len(payloads)]
            futures.append(await producer.send(topic, value, key=key))
        await producer.flush()
        flushed = time.monotonic()
        failed = [f.exception() for f in futures if f.exception() is not None]
        if failed:
            raise RuntimeError(f"{len(failed)} raw sends failed, first: {failed[0]!r}")
        return started, flushed
    finally:
        await producer.stop()


async def consume(
    consumer: AIOKafkaConsumer, parts: list[TopicPartition], n: int, timeout: float = 120.0
) -> tuple[float, float]:
    """Read n records by counting them (end_offsets() is wrong on Tansu). (first, last) times."""
    seen = 0
    first = last = float("nan")
    deadline = time.monotonic() + timeout
    while seen < n:
        batch = await consumer.getmany(*parts, timeout_ms=200, max_records=10_000)
        got = sum(len(records) for records in batch.values())
        if got:
            last = time.monotonic()
            if seen == 0:
                first = last
            seen += got
        elif time.monotonic() > deadline:
            raise TimeoutError(f"raw consumer saw {seen} of {n} records")
    return first, last


async def run_raw(bootstrap: str, n: int, run: str) -> RawResult:
    topic = f"bench.raw.{run}.{uuid.uuid4().hex[:8]}"
    await create_topic(bootstrap, topic, RAW_PARTITIONS)
    parts = [TopicPartition(topic, p) for p in range(RAW_PARTITIONS)]
    payloads = raw_payloads(run)
    avg = sum(len(v) for _, v in payloads) / len(payloads)
    async with common.reader(bootstrap, parts) as consumer:
        common.progress(f"raw: producing {n} messages of ~{avg:.0f} B to {topic}")
        p_start, p_end = await produce(bootstrap, topic, payloads, n)
        common.progress(f"raw: produced in {p_end - p_start:.2f}s; catch-up consume")
        c_first, c_last = await consume(consumer, parts, n)
        # The consumer now sits at the end: what follows measures the pipeline only.
        common.progress("raw: pipelined produce + consume")
        pipe = asyncio.create_task(consume(consumer, parts, n))
        e_start, _ = await produce(bootstrap, topic, payloads, n)
        _, e_last = await pipe
    return RawResult(n, avg, p_end - p_start, c_last - c_first, e_last - e_start)


# -- 2. system: events API -> profiles projection --------------------------------------------


def watch_views(redis_url: str, pattern: str, n: int, conn: Connection) -> None:
    """Child process: time when each citizen view first appears, from keyspace notifications.

    A separate process, so the timestamps are not delayed by the HTTP load generator's event
    loop. It sends "ready" once subscribed. The parent may then send the indices it expects
    (those answered 202) or "stop". When it has seen all n, all expected, or is stopped, it
    sends ({index: monotonic time}, its cpu seconds). CLOCK_MONOTONIC is system-wide, so the
    times compare with the parent's.
    """
    client = redis.Redis.from_url(redis_url)
    db = client.connection_pool.connection_kwargs.get("db", 0)
    pubsub = client.pubsub()
    pubsub.psubscribe(f"__keyspace@{db}__:{pattern}")
    confirmed = None
    while confirmed is None or confirmed["type"] != "psubscribe":
        confirmed = pubsub.get_message(timeout=1.0)
    conn.send("ready")
    cpu_start = time.process_time()
    prefix = f"__keyspace@{db}__:".encode()
    seen: dict[int, float] = {}
    waiting_for: set[int] | None = None  # None: all n
    while len(seen) < n and waiting_for != set():
        if conn.poll():
            order = conn.recv()
            if order == "stop":
                break
            waiting_for = set(order) - seen.keys()
        msg = pubsub.get_message(timeout=0.2)
        if msg is None or msg["type"] != "pmessage" or msg["data"] != b"hset":
            continue
        now = time.monotonic()
        key = msg["channel"][len(prefix) :].decode()
        cid = key.removeprefix(keyspace.LEGACY + keys.citizen(""))
        if ":" in cid:  # e.g. the citizen's suggestions hash
            continue
        index = index_of(cid)
        seen.setdefault(index, now)
        if waiting_for is not None:
            waiting_for.discard(index)
    conn.send((seen, time.process_time() - cpu_start))
    pubsub.close()
    client.close()


@dataclass
class Watcher:
    process: Any  # multiprocessing.context.SpawnProcess (not exported for typing)
    conn: Connection

    @classmethod
    def start(cls, redis_url: str, run: str, n: int) -> Watcher:
        # Keyspace events for hash commands (K = keyspace channel, h = hash commands).
        redis.Redis.from_url(redis_url).config_set("notify-keyspace-events", "Kh")
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        # A fresh stack: the views are in the first keyspace.
        pattern = keyspace.LEGACY + keys.citizen(f"bench-{run}-c*")
        proc = ctx.Process(
            target=watch_views, args=(redis_url, pattern, n, child), name="watcher", daemon=True
        )
        proc.start()
        if not parent.poll(30) or parent.recv() != "ready":
            proc.kill()
            raise RuntimeError("visibility watcher did not subscribe")
        return cls(proc, parent)

    def expect(self, indices: list[int]) -> None:
        """Finish once these are visible (cards that failed to POST will never be)."""
        self.conn.send(indices)

    def done(self) -> bool:
        return self.conn.poll()

    def result(self, stop: bool) -> tuple[dict[int, float], float]:
        """({index: visible time}, the watcher's cpu seconds)."""
        if stop:
            self.conn.send("stop")
        found: tuple[dict[int, float], float] = self.conn.recv() if self.conn.poll(10) else ({}, 0)
        self.process.join(5)
        return found

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


@dataclass
class Posts:
    """What the load generator observed, indexed like the citizen ids."""

    sent: list[float]
    ack_s: list[float | None]
    statuses: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @classmethod
    def empty(cls, n: int) -> Posts:
        return cls([float("nan")] * n, [None] * n)

    def accepted(self) -> int:
        return self.statuses["202"]

    def note_failure(self, status: str, detail: str) -> None:
        self.statuses[status] += 1
        if len(self.failures) < 10:
            self.failures.append(f"{status}: {detail[:300]}")


async def post_cards(
    url: str,
    bodies: list[bytes],
    headers: list[dict[str, str]],
    concurrency: int,
    posts: Posts,
) -> None:
    """The load generator: card i with `headers[i]` (its consultant's token). aiohttp, not
    httpx: at 48 connections httpx's pool cost ~6 ms of client CPU per request here
    (133 req/s), so the bench measured itself; aiohttp ~0.2 ms."""
    todo: Iterator[int] = iter(range(len(bodies)))
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)

    async def worker(session: aiohttp.ClientSession) -> None:
        for i in todo:  # a shared iterator: each index is taken exactly once
            posts.sent[i] = time.monotonic()
            try:
                async with session.post(url, data=bodies[i], headers=headers[i]) as r:
                    body = await r.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                posts.note_failure(type(exc).__name__, repr(exc))
                continue
            if r.status == 202:
                posts.ack_s[i] = time.monotonic() - posts.sent[i]
                posts.statuses["202"] += 1
            else:
                posts.note_failure(str(r.status), body.decode(errors="replace"))

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))


async def projection_status(client: httpx.AsyncClient) -> dict[str, Any]:
    try:
        r = await client.get("/v1/projections/status", timeout=5.0)
        doc: dict[str, Any] = r.json()
        return doc
    except (httpx.HTTPError, ValueError) as exc:
        return {"error": repr(exc)}


async def report_progress(
    profiles: httpx.AsyncClient, posts: Posts, n: int, stop: asyncio.Event
) -> None:
    """About once a second: cheap enough not to disturb the measurement."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), STATUS_EVERY_S)
        st = await projection_status(profiles)
        failed = sum(posts.statuses.values()) - posts.accepted()
        common.progress(
            f"system: 202 {posts.accepted()}/{n}, failed {failed}, "
            f"projection applied {st.get('applied')} lag {st.get('lag')}"
        )


async def wait_visible(
    watcher: Watcher, profiles: httpx.AsyncClient, stall_s: float, max_wait_s: float
) -> tuple[tuple[dict[int, float], float], bool]:
    """Until the watcher has seen every card, the projection stops moving, or max_wait_s.

    Returns ((seen, watcher cpu), gave up). Giving up is also how a run with failed POSTs
    ends: those cards never appear.
    """
    last_applied: object = -1
    last_move = started = time.monotonic()
    while not watcher.done():
        await asyncio.sleep(0.2)
        applied = (await projection_status(profiles)).get("applied")
        now = time.monotonic()
        if applied != last_applied:
            last_applied, last_move = applied, now
        if now - last_move > stall_s or now - started > max_wait_s:
            return watcher.result(stop=True), True
    return watcher.result(stop=False), False


@dataclass
class SystemResult:
    events: int
    concurrency: int
    posts: Posts
    visible_at: dict[int, float]
    gave_up: bool
    final_status: dict[str, Any]
    api_check: list[str]
    cpu: dict[str, float]

    def missing(self) -> list[int]:
        """Accepted (202) cards that never became visible."""
        return [
            i for i, a in enumerate(self.posts.ack_s) if a is not None and i not in self.visible_at
        ]

    @property
    def first_send(self) -> float:
        return min(self.posts.sent)

    @property
    def visible_count(self) -> int:
        return len(self.visible_at)

    @property
    def wall_s(self) -> float:
        return max(self.visible_at.values(), default=float("nan")) - self.first_send

    @property
    def throughput(self) -> float:
        return common.rate(self.visible_count, self.wall_s)

    @property
    def post_rate(self) -> float:
        done = [s + a for s, a in zip(self.posts.sent, self.posts.ack_s, strict=True) if a]
        return common.rate(len(done), max(done, default=float("nan")) - self.first_send)

    def ack_latencies(self) -> list[float]:
        return [a for a in self.posts.ack_s if a is not None]

    def visible_latencies(self) -> list[float]:
        return [t - self.posts.sent[i] for i, t in self.visible_at.items()]


async def check_through_api(
    profiles: httpx.AsyncClient, run: str, n: int, munis: list[str], tokens: common.Callers
) -> list[str]:
    """A sample read back through the query API: version 1 and the postal code sent."""
    problems = []
    for i in random.sample(range(n), min(n, 25)):
        auth = common.bearer(tokens.consultant(munis[i], i))
        r = await profiles.get(f"/v1/citizens/{citizen_id(run, i)}", headers=auth)
        if r.status_code != 200:
            problems.append(f"GET citizen {i}: {r.status_code} {r.text[:200]}")
            continue
        doc = r.json()
        postal = doc.get("card", {}).get("location", {}).get("postal_code")
        if doc.get("version") != 1 or postal != POSTAL_CODES[i % len(POSTAL_CODES)]:
            problems.append(f"citizen {i}: version {doc.get('version')}, postal code {postal}")
    return problems


async def run_system(stack: Stack, opts: Options, run: str) -> SystemResult:
    assert stack.redis_url
    bodies, munis = card_bodies(run, opts.events)
    tokens = common.Callers.mint(stack, set(munis), CONSULTANTS, "bench")
    headers = [
        common.bearer(tokens.consultant(m, i), **common.JSON_BODY) for i, m in enumerate(munis)
    ]
    common.progress(
        f"system: {opts.events} cards, ~{sum(map(len, bodies)) / len(bodies):.0f} B each"
    )
    watcher = Watcher.start(stack.redis_url, run, opts.events)
    pids = {p.name: p.popen.pid for p in stack.procs} | {"bench": os.getpid()}
    posts = Posts.empty(opts.events)
    stop = asyncio.Event()
    try:
        async with httpx.AsyncClient(
            base_url=stack.urls["profiles"], timeout=10, headers=common.bearer(tokens.admin)
        ) as profiles:
            cpu_before = common.cpu_snapshot(pids)
            ticker = asyncio.create_task(report_progress(profiles, posts, opts.events, stop))
            try:
                url = stack.urls["events"] + "/v1/competence-cards"
                await post_cards(url, bodies, headers, opts.concurrency, posts)
                common.progress("system: all POSTs answered; waiting for the projection")
                watcher.expect([i for i, a in enumerate(posts.ack_s) if a is not None])
                (seen, watcher_cpu), gave_up = await wait_visible(
                    watcher, profiles, opts.stall_s, opts.max_wait_s
                )
            finally:
                stop.set()
                await ticker
            cpu_after = common.cpu_snapshot(pids)
            status = await projection_status(profiles)
            api_check = await check_through_api(profiles, run, opts.events, munis, tokens)
    finally:
        watcher.kill()
    cpu = {k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after}
    cpu["watcher"] = watcher_cpu
    return SystemResult(opts.events, opts.concurrency, posts, seen, gave_up, status, api_check, cpu)


# -- 3. the matching service's progress -----------------------------------------------------

MATCHING_GROUP: str = MatchingSettings.model_fields["matching_group_id"].default


@dataclass
class MatchingResult:
    """Matching consumes the same cards; the bench does not wait for it to call them visible,
    so it is followed apart, through the offsets its consumer group commits."""

    at_all_visible: int | None  # cards matching had committed when the last view appeared
    caught_up_at: float | None  # monotonic time its committed offsets covered every card
    target: int


async def matching_committed(bootstrap: str) -> int | None:
    """Sum of the group's committed offsets on the citizens topic (OffsetFetch, no join)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        await admin.start()
        # Partitions named: Tansu drops the connection on an all-topics OffsetFetch.
        parts = [TopicPartition(CITIZENS.name, p) for p in range(CITIZENS.partitions)]
        offsets = await admin.list_consumer_group_offsets(MATCHING_GROUP, partitions=parts)
    except Exception as exc:  # a progress probe: report, never abort the run
        common.progress(f"matching: committed offsets unavailable: {exc!r}")
        return None
    finally:
        await admin.close()
    return sum(m.offset for m in offsets.values() if m.offset > 0)


async def follow_matching(bootstrap: str, target: int, opts: Options) -> MatchingResult:
    """Poll once a second until the group has committed `target` citizen records.

    faust commits about every 3 s, so the catch-up time is late by up to that much.
    The citizens topic holds only this run's cards: the raw baseline uses its own topic.
    """
    first = await matching_committed(bootstrap)
    last, last_move = first, time.monotonic()
    deadline = last_move + opts.max_wait_s
    while last is None or last < target:
        await asyncio.sleep(1.0)
        now_committed = await matching_committed(bootstrap)
        now = time.monotonic()
        common.progress(f"matching: committed {now_committed}/{target}")
        if now_committed != last:
            last, last_move = now_committed, now
        if now - last_move > opts.stall_s or now > deadline:
            return MatchingResult(first, None, target)
    return MatchingResult(first, time.monotonic(), target)


# -- report ----------------------------------------------------------------------------------


def environment(opts: Options, stack: Stack) -> dict[str, str]:
    cores = f"{len(os.sched_getaffinity(0))} usable / {os.cpu_count()} online"
    storage = "memory://tansu/" if opts.memory else "s3://tansu/ on localbucket (durable)"
    services = [s for s in SERVICES if opts.with_matching or s != "matching"]
    return {
        "broker": f"Tansu 0.6.0, storage {storage}",
        "redis": f"{'no persistence' if opts.memory else 'appendonly yes'} ({stack.redis_url})",
        "services": ", ".join(services),
        "clients": f"aiokafka {aiokafka.__version__}, aiohttp {aiohttp.__version__} (load)",
        "sign-in": f"RS256 bearer tokens of {CONSULTANTS} consultants a municipality, "
        "verified by the services (default rate limit)",
        "python": platform.python_version(),
        "cores": cores,
        "N (system)": str(opts.events),
        "concurrency": str(opts.concurrency),
        "M (raw)": str(opts.raw_messages),
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def print_report(
    env: dict[str, str], raw: RawResult, sys_: SystemResult, matching: MatchingResult | None
) -> None:
    out.print(common.environment_table(env))

    r = common.table(
        f"Raw aiokafka, {raw.messages} msgs of ~{raw.avg_bytes:.0f} B, 3 partitions",
        "figure",
        "msg/s",
        "seconds",
    )
    r.add_row(
        "produce (batched send, then flush)", f"{raw.produce_rate:,.0f}", f"{raw.produce_s:.2f}"
    )
    r.add_row("consume (catch-up read)", f"{raw.consume_rate:,.0f}", f"{raw.consume_s:.2f}")
    r.add_row(
        "end-to-end (first send -> last record)", f"{raw.e2e_rate:,.0f}", f"{raw.pipelined_s:.2f}"
    )
    out.print(r)

    acks, vis = sys_.ack_latencies(), sys_.visible_latencies()
    s = common.table(
        f"System: events API -> profiles projection, {sys_.events} cards", "figure", "value"
    )
    s.add_row("throughput (first POST -> all visible)", f"{sys_.throughput:,.0f} events/s")
    s.add_row("wall time", f"{sys_.wall_s:.2f} s")
    s.add_row(
        "visible / accepted / sent",
        f"{sys_.visible_count} / {sys_.posts.accepted()} / {sys_.events}",
    )
    s.add_row("POST acceptance rate (first POST -> last 202)", f"{sys_.post_rate:,.0f} req/s")
    s.add_row(
        "HTTP 202 latency p50 / p99",
        f"{ms(common.percentile(acks, 50))} / {ms(common.percentile(acks, 99))}",
    )
    s.add_row(
        "POST -> visible p50 / p99",
        f"{ms(common.percentile(vis, 50))} / {ms(common.percentile(vis, 99))}",
    )
    s.add_row("POST -> visible max", ms(max(vis, default=float("nan"))))
    s.add_row("answers", ", ".join(f"{k}: {v}" for k, v in sorted(sys_.posts.statuses.items())))
    st = sys_.final_status
    s.add_row(
        "projection at end",
        f"applied {st.get('applied')}, lag {st.get('lag')}, "
        f"dead-lettered {st.get('dead_lettered')}",
    )
    out.print(s)
    if matching is not None:
        out.print(matching_table(matching, sys_.first_send))

    c = Table(title="Ratio")
    c.add_column("system events/s", justify="right")
    c.add_column("raw end-to-end msg/s", justify="right")
    c.add_column("system ÷ raw", justify="right")
    c.add_row(
        f"{sys_.throughput:,.0f}", f"{raw.e2e_rate:,.0f}", f"{sys_.throughput / raw.e2e_rate:.2%}"
    )
    out.print(c)

    u = common.table(
        "CPU seconds used during the system phase", "process", "cpu s", "% of one core"
    )
    for name, secs in sorted(sys_.cpu.items(), key=lambda kv: -kv[1]):
        u.add_row(name, f"{secs:.1f}", f"{100 * secs / sys_.wall_s:.0f}%")
    out.print(u)
    out.print(
        "Visibility is timed by a separate watcher process on Redis keyspace notifications "
        "(no polling): the time it receives the 'hset' of the citizen view, i.e. pub/sub "
        "delivery plus its own scheduling on shared cores (sub-ms idle, a few ms under load)."
    )


def matching_table(m: MatchingResult, first_send: float) -> Table:
    t = common.table(
        "Matching service (same cards, consumer group offsets, ~3 s resolution)", "figure", "value"
    )
    t.add_row("cards committed when all views were visible", f"{m.at_all_visible} / {m.target}")
    if m.caught_up_at is None:
        t.add_row("caught up", "no (stalled or --max-wait-seconds passed)")
    else:
        wall = m.caught_up_at - first_send
        t.add_row("first POST -> matching committed all", f"{wall:.1f} s")
        t.add_row("matching throughput", f"{common.rate(m.target, wall):,.0f} events/s")
    return t


def print_problems(sys_: SystemResult, logs: dict[str, tuple[Counter[str], list[str]]]) -> None:
    missing = sys_.missing()
    if missing:
        out.print(
            f"[red]{len(missing)} accepted cards never became visible "
            f"(projection stuck?), e.g. indices {missing[:10]}[/red]"
        )
    if sys_.gave_up:
        out.print(
            f"[yellow]stopped waiting after {sys_.visible_count} visible cards: no "
            "projection progress for --stall-seconds, or --max-wait-seconds passed; the "
            "throughput above counts only the visible ones[/yellow]"
        )
    for failure in sys_.posts.failures:
        out.print(f"[red]non-202: {escape(failure)}[/red]")
    for problem in sys_.api_check:
        out.print(f"[red]read-back: {escape(problem)}[/red]")
    if not sys_.api_check:
        out.print("read-back of 25 random citizens through GET /v1/citizens/{id}: all ok")
    if not logs:
        out.print("service and store logs: no warnings or errors")
    for name, (counts, examples) in logs.items():
        out.print(f"[yellow]{name}.log: {dict(counts)}[/yellow]")
        for line in examples:
            out.print(f"    {line}", markup=False)


# -- main ------------------------------------------------------------------------------------


Results = tuple[RawResult, SystemResult, MatchingResult | None]


async def measure(stack: Stack, opts: Options, run: str) -> Results:
    assert stack.bootstrap
    raw = await run_raw(stack.bootstrap, opts.raw_messages, run)
    common.progress(f"raw: e2e {raw.e2e_rate:,.0f} msg/s; starting the services")
    names = tuple(s for s in SERVICES if opts.with_matching or s != "matching")
    await asyncio.to_thread(stack.start_services, names)
    common.progress(f"services ready: {', '.join(names)}")
    system = await run_system(stack, opts, run)
    matching = None
    if opts.with_matching:
        matching = await follow_matching(stack.bootstrap, system.posts.accepted(), opts)
    return raw, system, matching


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    with common.throwaway_stack(
        "jobmatch-bench-", memory=opts.memory, keep_home=opts.keep_home
    ) as stack:
        home = stack.home
        run = run_id()
        common.progress(f"stack in {home} ({'memory' if opts.memory else 's3'} engine), run {run}")
        stack.start_stores()
        env = environment(opts, stack)
        raw, system, matching = asyncio.run(measure(stack, opts, run))
        stack.stop()  # flushes the service logs before they are read
        print_report(env, raw, system, matching)
        print_problems(system, common.scan_logs(home / "logs"))
        ok = not system.missing() and system.visible_count == opts.events
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
