"""Seconds from a SIGKILL of the matching worker to its /ready 200, as the history grows.

For each engine (`memory`: Tansu's memory engine; `durable`: Tansu on `services.storage`'s
S3 server, the embedded default) and each history size (default 10k, 100k, 1M events), on a
fresh folder and free loopback ports:

1. the history: N synthetic events (below) produced in batches straight to the topics;
2. a worker starts on it (no snapshot yet, no taxonomy cache: the first start ever), replays
   it, reconciles the placements topic and writes a snapshot (timed: `first_start_s`);
3. `--tail` more events arrive and the worker applies them live (not in a snapshot yet:
   the cadence is set out of the way, so the restart must apply them after the snapshot);
4. SIGKILL; a new worker with snapshots on: seconds to /ready 200 (`snapshot_on`), with
   its own breakdown from /ready (process start and imports, settings and model, snapshot
   read/verify/unpickle, orders ranked again, tail fetch and apply, reconciliation,
   taxonomy, group join);
5. it catches up; its digest and positions are read (/v1/state);
6. SIGKILL; a new worker with snapshots off (the baseline: a full replay): seconds to
   /ready 200 (`snapshot_off`) and breakdown; caught up, its digest must equal step 5's at
   the same positions (`digests_equal`).

The history, per event drawn: 6 % a new competence card (synthetic cards from
`services.demo.synthetic`, under new citizen ids and postal codes), 10 % a card update,
55 % an availability change, 20 % a consent given or withdrawn, 0.5 % an erasure, 1 % a
consultant's rejection of some pair, 0.3 % a new job order (5 % of them without a start
date), 0.46 % an order update, a few closed; at most `--max-open` orders open (the oldest
are closed as new ones come). So 1M events hold about 60k cards and 300 open orders.

    .venv/bin/python bench/matching_restart.py                        # 10k, 100k, 1M
    .venv/bin/python bench/matching_restart.py --sizes 10000 --engines memory

Results: printed, and written to bench/results/matching_restart.json (`--out`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable without the editable install too
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402

from schemas.citizens import (  # noqa: E402
    CitizenAvailabilityChanged,
    CompetenceCard,
    CompetenceCardRegistered,
    CompetenceCardUpdated,
    ConsentGiven,
    ConsentWithdrawn,
    ErasureRequested,
)
from schemas.envelope import Actor, Event  # noqa: E402
from schemas.jobs import JobOrder, JobOrderClosed, JobOrderPosted, JobOrderUpdated  # noqa: E402
from schemas.placements import SuggestionRejected  # noqa: E402
from services.auth.issuer import LocalIssuer  # noqa: E402
from services.demo import synthetic  # noqa: E402
from services.matching.domain.state import suggestion_id  # noqa: E402
from services.stack import (  # noqa: E402
    Proc,
    create_topics,
    free_port,
    service_env,
    start_issuer,
    start_service,
    start_tansu,
)

ACTOR = Actor(role="consultant", id="bench-history")
POSTALS = ("8000", "8200", "8210", "8220", "8230", "8240", "8250", "8260", "8270", "8300")
KINDS = (
    *("card", "update", "availability", "consent"),
    *("order", "order_update", "close", "erase", "reject"),
)
WEIGHTS = (6, 10, 55, 20, 0.3, 0.46, 0.02, 0.5, 1.0)


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


# -- the history -------------------------------------------------------------------------------


def history(n: int, seed: int = 1, max_open: int = 300) -> Iterator[Event]:
    """N events of a job centre's history (see the module docstring); deterministic."""
    return itertools.islice(_events(seed, max_open), n)


def _events(seed: int, max_open: int) -> Iterator[Event]:
    base = synthetic.generate(600, 120, seed, dt.date(2026, 1, 5), 6)
    rng = random.Random(seed)
    t0 = dt.datetime(2026, 1, 5, 8, tzinfo=dt.UTC)
    cards: list[str] = []
    card_doc: dict[str, CompetenceCard] = {}
    card_version: dict[str, int] = {}
    erased: set[str] = set()
    open_orders: list[str] = []
    order_doc: dict[str, JobOrder] = {}
    order_version: dict[str, int] = {}
    posted = 0

    def new(payload: Any, i: int) -> Event:
        return Event.new(payload, actor=ACTOR, occurred_at=t0 + dt.timedelta(seconds=30 * i))

    for i in itertools.count():
        kind = rng.choices(KINDS, WEIGHTS)[0]
        if len(cards) < 50:
            kind = "card"
        elif posted < 5:
            kind = "order"
        elif kind in ("order_update", "close", "reject") and not open_orders:
            kind = "availability"
        if kind == "card":
            card = base.cards[len(cards) % len(base.cards)]
            cid = f"cit-b{len(cards):07d}"
            where = card.location.model_copy(update={"postal_code": rng.choice(POSTALS)})
            doc = card.model_copy(update={"citizen_id": cid, "location": where})
            cards.append(cid)
            card_doc[cid], card_version[cid] = doc, 1
            yield new(CompetenceCardRegistered(citizen_id=cid, version=1, card=doc), i)
        elif kind == "update":
            cid = rng.choice(cards)
            if cid in erased:
                continue
            hours = float(rng.randint(15, 37))
            doc = card_doc[cid]
            doc = doc.model_copy(
                update={
                    "availability": doc.availability.model_copy(update={"hours_per_week": hours})
                }
            )
            card_doc[cid] = doc
            card_version[cid] += 1
            yield new(CompetenceCardUpdated(citizen_id=cid, version=card_version[cid], card=doc), i)
        elif kind == "availability":
            cid = rng.choice(cards)
            yield new(CitizenAvailabilityChanged(citizen_id=cid, available=rng.random() < 0.6), i)
        elif kind == "consent":
            cid = rng.choice(cards)
            kind_of = ConsentGiven if rng.random() < 0.5 else ConsentWithdrawn
            if rng.random() < 0.3:
                yield new(kind_of(citizen_id=cid, consent_id=f"c-{i}", scope="all"), i)
            else:
                cvr = base.orders[rng.randrange(len(base.orders))].employer.cvr
                yield new(
                    kind_of(
                        citizen_id=cid, consent_id=f"c-{i}", scope="employer", employer_cvr=cvr
                    ),
                    i,
                )
        elif kind == "erase":
            cid = rng.choice(cards)
            if cid in erased:
                continue
            erased.add(cid)
            yield new(ErasureRequested(citizen_id=cid), i)
        elif kind == "order":
            template = base.orders[posted % len(base.orders)]
            oid = f"jo-b{posted:06d}"
            posted += 1
            update: dict[str, Any] = {"job_order_id": oid}
            if rng.random() < 0.05:
                update["start_date"] = None
            order = template.model_copy(update=update)
            open_orders.append(oid)
            order_doc[oid], order_version[oid] = order, 1
            if len(open_orders) > max_open:
                gone = open_orders.pop(rng.randrange(len(open_orders) - 1))
                yield new(JobOrderClosed(job_order_id=gone, reason="withdrawn"), i)
            yield new(JobOrderPosted(job_order_id=oid, version=1, order=order), i)
        elif kind == "order_update":
            oid = rng.choice(open_orders)
            order = order_doc[oid].model_copy(update={"hours_per_week": float(rng.randint(15, 37))})
            order_doc[oid] = order
            order_version[oid] += 1
            yield new(JobOrderUpdated(job_order_id=oid, version=order_version[oid], order=order), i)
        elif kind == "close":
            oid = open_orders.pop(rng.randrange(len(open_orders)))
            yield new(JobOrderClosed(job_order_id=oid, reason="withdrawn"), i)
        else:
            oid, cid = rng.choice(open_orders), rng.choice(cards)
            yield new(
                SuggestionRejected(
                    job_order_id=oid,
                    citizen_id=cid,
                    suggestion_id=suggestion_id(oid, cid),
                    reason_code="transport",
                ),
                i,
            )


async def produce(bootstrap: str, events: Iterator[Event], chunk: int = 20000) -> int:
    """Batched, acks=all; waits for every ack. Returns the count."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=4 * 1024 * 1024,
        request_timeout_ms=60000,
    )
    await producer.start()
    count = 0
    try:
        while True:
            batch = list(itertools.islice(events, chunk))
            if not batch:
                break
            futures = [
                await producer.send(
                    e.topic, e.to_json(), key=e.aggregate_id.encode(), headers=e.headers()
                )
                for e in batch
            ]
            await asyncio.gather(*futures)
            count += len(batch)
    finally:
        await producer.stop()
    return count


async def log_ends(bootstrap: str, near: dict[str, int]) -> dict[str, int]:
    """The end of each partition ("topic:partition") as fetch responses report it (the
    broker's ListOffsets is not reliable), fetching from just before `near`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = {}
        for key in near:
            topic, partition = key.rsplit(":", 1)
            parts[key] = TopicPartition(topic, int(partition))
        consumer.assign(list(parts.values()))
        for key, tp in parts.items():
            consumer.seek(tp, max(0, near[key] - 1))
        ends: dict[str, int] = {}
        deadline = time.monotonic() + 30
        while len(ends) < len(parts) and time.monotonic() < deadline:
            await consumer.getmany(timeout_ms=200, max_records=1)
            for key, tp in parts.items():
                end = consumer.highwater(tp)
                if end is not None:
                    ends[key] = end
        return ends
    finally:
        await consumer.stop()


# -- the stack -------------------------------------------------------------------------------


@dataclass
class Bench:
    engine: str
    home: Path
    kafka_port: int = field(default_factory=free_port)
    s3_port: int = field(default_factory=free_port)
    issuer_port: int = field(default_factory=free_port)
    matching_port: int = field(default_factory=free_port)
    procs: list[Proc] = field(default_factory=list)
    worker: Proc | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.issuer_port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.matching_port}"

    def start_stores(self) -> None:
        logs = self.home / "logs"
        if self.engine == "durable":
            from services.storage.broker import start_durable_broker

            self.procs += start_durable_broker(
                self.home / "s3", self.kafka_port, self.s3_port, logs
            )
        else:
            self.procs.append(start_tansu(self.kafka_port, logs))
        create_topics(self.bootstrap)
        self.procs.append(start_issuer(self.home, self.issuer_port, logs))

    def start_worker(self, snapshots: bool, tag: str) -> Proc:
        env = service_env(
            "matching", self.matching_port, self.bootstrap, "redis://unused", self.home, self.issuer
        )
        env.update(
            {
                "MATCHING_SNAPSHOTS": "true" if snapshots else "false",
                # Out of the way: only the snapshot after a recovery is taken, so the live
                # tail of step 3 is what the restart applies after the snapshot.
                "MATCHING_SNAPSHOT_INTERVAL_S": "86400",
                "MATCHING_SNAPSHOT_EVERY_EVENTS": "100000000",
            }
        )
        self.worker = start_service("matching", env, self.home / "logs" / tag)
        return self.worker

    def ready(self) -> dict[str, Any] | None:
        try:
            reply = httpx.get(f"{self.url}/ready", timeout=5)
        except httpx.HTTPError:
            return None
        return dict(reply.json()) if reply.status_code == 200 else None

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.ready()
            if body is not None:
                return body
            if self.worker is not None and not self.worker.alive():
                raise RuntimeError(f"worker exited:\n{self.worker.log_tail()}")
            time.sleep(0.25)
        raise TimeoutError(f"matching not ready after {timeout:.0f}s")

    def health(self) -> dict[str, Any]:
        reply = httpx.get(f"{self.url}/ready", timeout=30)
        return dict(reply.json())

    def wait_caught_up(self, timeout: float) -> dict[str, Any]:
        """Until the worker has applied every record of its inputs (the ends the fetches
        report) and read back every decision it sent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.health()
            positions = {k: int(v) for k, v in body["positions"].items()}
            if (
                body["in_flight"] == 0
                and positions
                and positions == asyncio.run(log_ends(self.bootstrap, positions))
            ):
                return body
            time.sleep(1.0)
        raise TimeoutError("the worker did not catch up")

    def wait_snapshot(self, taken: int, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snaps = self.health()["snapshots"]
            if snaps.get("taken", 0) >= taken:
                return dict(snaps)
            time.sleep(0.5)
        raise TimeoutError("no snapshot written")

    def state(self) -> dict[str, Any]:
        token = LocalIssuer(self.home, self.issuer).token("administrator")
        reply = httpx.get(
            f"{self.url}/v1/state", headers={"Authorization": f"Bearer {token}"}, timeout=300
        )
        reply.raise_for_status()
        doc = dict(reply.json())
        return {"digest": doc["digest"], "positions": doc["positions"]}

    def fresh_digest(self, positions: dict[str, int]) -> str:
        """A fresh replay of the log up to `positions` in another process (the CLI)."""
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "MATCHING_DATA_DIR": str(self.home / "replay-cli"),
            "MATCHING_MODEL_DIR": str(self.home / "models"),
        }
        argv = [sys.executable, "-m", "services.matching.replay", "--positions"]
        done = subprocess.run(
            [*argv, json.dumps(positions)], env=env, capture_output=True, check=True, cwd=REPO
        )
        return str(json.loads(done.stdout.decode().strip().splitlines()[-1])["digest"])

    def kill_and_restart(self, snapshots: bool, tag: str, timeout: float) -> dict[str, Any]:
        assert self.worker is not None
        killed = time.monotonic()
        self.worker.kill()
        self.start_worker(snapshots, tag)
        body = self.wait_ready(timeout)
        seconds = time.monotonic() - killed
        recovery = body["recovery"]
        return {
            "ready_s": round(seconds, 2),
            "started_from": recovery["started_from"],
            "breakdown": recovery["breakdown"],
            "reconciled": body["reconciled"],
        }

    def stop(self) -> None:
        if self.worker is not None:
            with contextlib.suppress(Exception):
                self.worker.kill()
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.stop()
        self.procs.clear()


def run_one(engine: str, size: int, tail: int, root: Path, max_open: int) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix=f"mr-{engine}-{size}-", dir=root))
    bench = Bench(engine, home)
    out: dict[str, Any] = {"engine": engine, "events": size, "tail": tail}
    try:
        bench.start_stores()
        started = time.monotonic()
        events = history(size + tail, max_open=max_open)
        produced = asyncio.run(produce(bench.bootstrap, itertools.islice(events, size)))
        out["produce_s"] = round(time.monotonic() - started, 1)
        log(f"{engine} {size}: {produced} events produced in {out['produce_s']} s")

        started = time.monotonic()
        bench.start_worker(True, "first")
        first = bench.wait_ready(timeout=7200)
        out["first_start_s"] = round(time.monotonic() - started, 1)
        out["first_start"] = {
            "breakdown": first["recovery"]["breakdown"],
            "started_from": first["recovery"]["started_from"],
        }
        snaps = bench.wait_snapshot(1, timeout=1800)
        out["snapshot"] = snaps["last"]
        log(f"{engine} {size}: first start {out['first_start_s']} s, snapshot {snaps['last']}")

        tail_events = list(itertools.islice(events, tail))
        asyncio.run(produce(bench.bootstrap, iter(tail_events)))
        before = bench.wait_caught_up(timeout=3600)
        out["records_before_kill"] = before["records"]
        out["positions_before_kill"] = before["positions"]

        on = bench.kill_and_restart(True, "snapshot-on", timeout=7200)
        out["snapshot_on"] = on
        log(f"{engine} {size}: snapshot on: ready {on['ready_s']} s {on['started_from']}")
        bench.wait_caught_up(timeout=3600)
        with_snapshot = bench.state()

        off = bench.kill_and_restart(False, "snapshot-off", timeout=7200)
        out["snapshot_off"] = off
        log(f"{engine} {size}: snapshot off: ready {off['ready_s']} s")
        bench.wait_caught_up(timeout=3600)
        replayed = bench.state()
        out["positions_equal"] = with_snapshot["positions"] == replayed["positions"]
        if out["positions_equal"]:
            out["digests_equal"] = with_snapshot["digest"] == replayed["digest"]
        else:
            # The second restart appended to the log (it reconciled something): compare the
            # first with a fresh replay up to its own positions.
            log(f"{engine} {size}: the log moved between the restarts; replaying to compare")
            fresh = bench.fresh_digest(with_snapshot["positions"])
            out["digests_equal"] = with_snapshot["digest"] == fresh
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        log(f"{engine} {size}: FAILED {out['error']}")
    finally:
        bench.stop()
        out["disk_bytes"] = sum(f.stat().st_size for f in home.rglob("*") if f.is_file())
        shutil.rmtree(home, ignore_errors=True)
    return out


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| engine | events | first start s | kill -> ready, snapshot on | tail applied |"
        " snapshot off (full replay) | digests equal |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['engine']} | {r['events']} | failed: {r['error'][:80]} |")
            continue
        on, off = r["snapshot_on"], r["snapshot_off"]
        lines.append(
            f"| {r['engine']} | {r['events']:,} | {r['first_start_s']} | {on['ready_s']} |"
            f" {on['started_from'].get('tail_records')} | {off['ready_s']} |"
            f" {r['digests_equal']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--engines", default="memory,durable")
    parser.add_argument(
        "--tail", type=int, default=1000, help="live events after the snapshot, before the kill"
    )
    parser.add_argument("--max-open", type=int, default=300, help="open job orders at most")
    parser.add_argument("--root", type=Path, default=None, help="folder for the homes")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/matching_restart.json")
    args = parser.parse_args(argv)
    root = args.root or Path(tempfile.gettempdir())
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        for engine in args.engines.split(","):
            log(f"== {engine}, {size} events")
            results.append(run_one(engine, size, args.tail, root, args.max_open))
            doc = {
                "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "load_average_at_end": os.getloadavg(),
                "results": results,
            }
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
