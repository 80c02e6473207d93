"""The durable embedded broker against the memory engine, as the history grows.

For each history size (default 10k, 100k and 1M events) and each engine (default: `durable`,
the stack's default, Tansu's S3 engine on `services.storage.s3server`; and `memory`, Tansu's
memory engine), in the same run, on fresh folders and free loopback ports:

1. start-up of the empty engine;
2. the history: N events of `--value-bytes` produced to a topic of `--partitions` partitions,
   in batches of `--history-batch` records (acks=all); the durable engine then gets time to
   merge them (its status endpoint says when it is done);
3. durable engines only: SIGKILL of the broker AND the storage server, restart (timed); every
   acknowledged record must then be there, at its offset (checked by the rebuild);
4. rebuild: one aiokafka consumer, partitions assigned, reads everything from offset 0:
   events/s, and the ratio durable/memory at the same size (goal >= 0.5);
5. produce one by one (send_and_wait, acks=all: the events service's pattern) and batched;
6. rejoin: a consumer group member (a subprocess, session_timeout_ms=3000, as the services'
   faust and aiokafka consumers are set) reads the history topic at its end while records
   keep arriving; it is SIGKILLed and a fresh member started: seconds from the kill to the
   new member's first record (goal <= 15 s). This is the consumer-group rejoin, not the
   matching worker itself (which needs the whole stack; its own join is the same protocol);
7. idle: CPU of broker + storage over `--idle-seconds` with that member connected and
   polling at the end of the log (goal < 5 % of one core).

Other engines for comparison (`--engines`): `s3-nomerge` (the same server, merging off: an
S3 server that lists by prefix efficiently, nothing more) and `localbucket` (the former
default). Tansu LISTs a partition's whole prefix on every fetch, so on those two a fetch
costs O(batches in the partition); use small sizes with them.

    .venv/bin/python bench/durability.py                       # 10k, 100k, 1M
    .venv/bin/python bench/durability.py --sizes 10000 --history-batch 1 \\
        --engines durable,memory,s3-nomerge,localbucket        # the options side by side

Results: printed, and written to bench/results/durability.json (`--out`). See durability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable without the editable install too
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import psutil  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402

from services.stack import Proc, free_port, start_localbucket, start_tansu  # noqa: E402
from services.storage.broker import start_s3server  # noqa: E402

ENGINES = ("durable", "memory", "s3-nomerge", "localbucket")
HISTORY = "history"
PROBE = "probe"
SESSION_TIMEOUT_MS = 3000


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


# -- engines ---------------------------------------------------------------------------------


@dataclass
class Engine:
    kind: str
    home: Path
    kafka_port: int
    s3_port: int
    procs: list[Proc] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def durable(self) -> bool:
        return self.kind != "memory"

    def start(self) -> float:
        """Start the engine on its folder; seconds until the broker accepts connections."""
        logs = self.home / "logs"
        started = time.monotonic()
        if self.kind == "durable":
            self.procs.append(start_s3server(self.home / "s3", self.s3_port, logs))
        elif self.kind == "s3-nomerge":
            self.procs.append(start_s3server(self.home / "s3", self.s3_port, logs, compact=False))
        elif self.kind == "localbucket":
            self.procs.append(start_localbucket(self.home / "s3", self.s3_port, logs))
        self.procs.append(
            start_tansu(self.kafka_port, logs, self.s3_port if self.durable else None)
        )
        return time.monotonic() - started

    def kill(self) -> None:
        for proc in self.procs:
            proc.kill()
        self.procs.clear()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()

    def pids(self) -> list[int]:
        return [proc.popen.pid for proc in self.procs]

    def status(self) -> dict[str, Any] | None:
        if self.kind not in ("durable", "s3-nomerge"):
            return None
        reply = httpx.get(f"http://127.0.0.1:{self.s3_port}/_s3server/status", timeout=10)
        return dict(reply.json())


async def create_topics(bootstrap: str, partitions: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            await admin.start()
            await admin.create_topics([NewTopic(name, partitions, 1) for name in (HISTORY, PROBE)])
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
        finally:
            await admin.close()


def _value(size: int, n: int) -> bytes:
    head = f"{n:012d}".encode()
    return head + b"x" * max(0, size - len(head))


async def produce_history(
    bootstrap: str, n: int, batch: int, value_bytes: int, partitions: int
) -> float:
    """N records, `batch` to a produced batch, partitions in turn; records/s."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=0,
        max_batch_size=max(16384, batch * (value_bytes + 64)),
        max_request_size=64 << 20,
    )
    await producer.start()
    started = time.monotonic()
    pending: deque[asyncio.Future[Any]] = deque()
    try:
        for first in range(0, n, batch):
            built = producer.create_batch()
            for i in range(first, min(n, first + batch)):
                built.append(key=str(i).encode(), value=_value(value_bytes, i), timestamp=None)
            built.close()
            partition = (first // batch) % partitions
            pending.append(await producer.send_batch(built, HISTORY, partition=partition))
            while len(pending) >= 4 * partitions:
                await pending.popleft()
        for future in pending:
            await future
    finally:
        await producer.stop()
    return n / (time.monotonic() - started)


def settle(engine: Engine, timeout: float) -> tuple[float, dict[str, Any] | None]:
    """Until the storage server has merged what it will (durable only)."""
    started = time.monotonic()
    status = engine.status()
    if engine.kind != "durable":
        return 0.0, status
    quiet = 0
    while time.monotonic() - started < timeout:
        time.sleep(0.5)
        status = engine.status()
        assert status is not None
        quiet = 0 if status["merging"] else quiet + 1
        if quiet >= 3:
            break
    return time.monotonic() - started, status


@dataclass
class Rebuild:
    records: int
    seconds: float
    rate: float
    in_order: bool
    complete: bool


async def rebuild(bootstrap: str, partitions: int, expected: int, timeout: float) -> Rebuild:
    """Read every record of the history topic from offset 0, checking each offset."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
        max_partition_fetch_bytes=1 << 20,
    )
    await consumer.start()
    tps = [TopicPartition(HISTORY, p) for p in range(partitions)]
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, 0)
    following = dict.fromkeys(tps, 0)
    in_order = True
    count = 0
    started = time.monotonic()
    try:
        while count < expected and time.monotonic() - started < timeout:
            batch = await consumer.getmany(timeout_ms=1000, max_records=20_000)
            for tp, records in batch.items():
                for record in records:
                    in_order &= record.offset == following[tp]
                    following[tp] = record.offset + 1
                count += len(records)
    finally:
        await consumer.stop()
    seconds = time.monotonic() - started
    return Rebuild(count, seconds, count / seconds, in_order, count == expected)


async def produce_one_by_one(bootstrap: str, count: int, value_bytes: int) -> dict[str, float]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    latencies = []
    try:
        started = time.monotonic()
        for i in range(count):
            sent = time.monotonic()
            await producer.send_and_wait(PROBE, _value(value_bytes, i), key=str(i).encode())
            latencies.append(time.monotonic() - sent)
        seconds = time.monotonic() - started
    finally:
        await producer.stop()
    latencies.sort()
    return {
        "per_s": count / seconds,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


async def produce_batched(bootstrap: str, count: int, value_bytes: int) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        started = time.monotonic()
        futures = [
            await producer.send(PROBE, _value(value_bytes, i), key=str(i).encode())
            for i in range(count)
        ]
        await asyncio.gather(*futures)
        return count / (time.monotonic() - started)
    finally:
        await producer.stop()


# -- rejoin: a group member killed and replaced -----------------------------------------------


def member_main(bootstrap: str, group: str) -> None:
    """A consumer group member that prints the wall time of its first record, then keeps
    consuming (and committing) until killed."""

    async def run() -> None:
        consumer = AIOKafkaConsumer(
            HISTORY,
            bootstrap_servers=bootstrap,
            group_id=group,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=1000,
            auto_offset_reset="latest",
            enable_auto_commit=True,
            # aiokafka's default: it commits every interval even when nothing moved, and
            # each commit is a few PUTs to the storage
            auto_commit_interval_ms=5000,
            fetch_max_wait_ms=100,
        )
        await consumer.start()
        first = True
        while True:
            got = await consumer.getmany(timeout_ms=500)
            if first and any(got.values()):
                print(f"first {time.time():.6f}", flush=True)
                first = False

    asyncio.run(run())


def spawn_member(bootstrap: str, group: str, log_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--member", bootstrap, group],
        stdout=subprocess.PIPE,
        stderr=log_path.open("ab"),
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def wait_first(member: subprocess.Popen[str], timeout: float) -> float | None:
    """The wall time the member printed for its first record, None if none in time."""
    import selectors

    assert member.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(member.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.2):
                line = member.stdout.readline()
                if line.startswith("first "):
                    return float(line.split()[1])
                if not line:  # the member exited
                    return None
    return None


@contextlib.contextmanager
def live_feed(bootstrap: str, interval: float) -> Iterator[None]:
    """Records keep arriving on the history topic (a thread with its own loop)."""
    import threading

    stop = threading.Event()

    async def feed() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
        await producer.start()
        try:
            i = 0
            while not stop.is_set():
                await producer.send_and_wait(HISTORY, b"live", key=str(i).encode())
                i += 1
                await asyncio.sleep(interval)
        finally:
            await producer.stop()

    thread = threading.Thread(target=lambda: asyncio.run(feed()), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)


def rejoin(engine: Engine, logs: Path) -> tuple[float | None, subprocess.Popen[str] | None]:
    """Seconds from SIGKILL of a group member to its replacement's first record; the
    replacement, still running (the caller measures idle CPU with it, then kills it)."""
    group = f"bench-{time.monotonic_ns()}"
    with live_feed(engine.bootstrap, 0.02):
        first = spawn_member(engine.bootstrap, group, logs / "member-a.log")
        try:
            if wait_first(first, 120) is None:
                return None, None
            time.sleep(1.0)
        finally:
            first.kill()
            first.wait()
        killed = time.time()
        second = spawn_member(engine.bootstrap, group, logs / "member-b.log")
        seen = wait_first(second, 300)
    if seen is None:
        second.kill()
        second.wait()
        return None, None
    return seen - killed, second


def idle_cpu(pids: list[int], seconds: float) -> float:
    """Percent of one core used by these processes together."""
    procs = [psutil.Process(pid) for pid in pids]

    def total() -> float:
        return sum(sum(p.cpu_times()[:2]) for p in procs)

    before, started = total(), time.monotonic()
    time.sleep(seconds)
    return 100 * (total() - before) / (time.monotonic() - started)


# -- one engine at one size -------------------------------------------------------------------


@dataclass
class Result:
    engine: str
    history: int
    history_batch: int
    start_s: float = 0.0
    history_produce_per_s: float = 0.0
    settle_s: float = 0.0
    objects: int | None = None
    restart_after_kill_s: float | None = None
    rebuild: dict[str, Any] = field(default_factory=dict)
    one_by_one: dict[str, float] = field(default_factory=dict)
    batched_per_s: float = 0.0
    rejoin_s: float | None = None
    idle_cpu_percent: float | None = None
    errors: list[str] = field(default_factory=list)


class Step:
    """Runs one measurement of one engine; a failure is recorded and that engine skips the
    rest, while the other engines go on."""

    def __init__(self, result: Result) -> None:
        self.result = result
        self.ok = True

    @contextlib.contextmanager
    def __call__(self, what: str) -> Iterator[None]:
        log(f"{self.result.engine} {self.result.history:,}: {what}")
        try:
            yield
        except Exception as exc:
            self.ok = False
            self.result.errors.append(f"{what}: {type(exc).__name__}: {exc}")
            log(f"{self.result.engine} {self.result.history:,}: {what} FAILED {exc!r}")


def run_size(size: int, kinds: list[str], args: argparse.Namespace, root: Path) -> list[Result]:
    """All engines at one history size, side by side: the machine is shared, so the rebuild
    rounds alternate between the engines rather than run one engine after the other."""
    engines = {k: Engine(k, root / f"{k}-{size}", free_port(), free_port()) for k in kinds}
    results = {k: Result(k, size, args.history_batch) for k in kinds}
    steps = {k: Step(results[k]) for k in kinds}
    members: list[subprocess.Popen[str]] = []
    try:
        for kind, engine in engines.items():
            result, step = results[kind], steps[kind]
            with step("start and produce the history"):
                result.start_s = engine.start()
                asyncio.run(create_topics(engine.bootstrap, args.partitions))
                result.history_produce_per_s = asyncio.run(
                    produce_history(
                        engine.bootstrap,
                        size,
                        args.history_batch,
                        args.value_bytes,
                        args.partitions,
                    )
                )
                result.settle_s, status = settle(engine, args.settle_timeout)
                if status is not None:
                    result.objects = int(status["objects"].get("tansu", 0))
            if step.ok and engine.durable:
                with step("SIGKILL broker and storage, restart"):
                    engine.kill()
                    result.restart_after_kill_s = engine.start()
        rates: dict[str, list[float]] = {k: [] for k in kinds}
        for round_ in range(args.rebuild_repeats):
            for kind, engine in engines.items():
                if not steps[kind].ok:
                    continue
                with steps[kind](f"rebuild {round_ + 1}/{args.rebuild_repeats}"):
                    built = asyncio.run(
                        rebuild(engine.bootstrap, args.partitions, size, args.rebuild_timeout)
                    )
                    rates[kind].append(built.rate)
                    results[kind].rebuild = {**asdict(built), "rates": rates[kind]}
                    if not built.in_order:
                        raise RuntimeError("records out of order or missing")
                    if not built.complete:
                        # Too slow to finish in time (the engines that list whole
                        # partitions): the rate stands, the other figures are still taken.
                        results[kind].errors.append(
                            f"rebuild read {built.records:,} of {size:,} in "
                            f"{built.seconds:.0f}s (--rebuild-timeout)"
                        )
        for kind, engine in engines.items():
            result, step = results[kind], steps[kind]
            if result.rebuild:
                result.rebuild["rate"] = statistics.median(rates[kind])
                result.rebuild["best"] = max(rates[kind])
            if not step.ok:
                continue
            with step("produce one by one and batched"):
                result.one_by_one = asyncio.run(
                    produce_one_by_one(engine.bootstrap, args.one_by_one, args.value_bytes)
                )
                result.batched_per_s = asyncio.run(
                    produce_batched(engine.bootstrap, args.batched, args.value_bytes)
                )
            with step("rejoin after a SIGKILLed group member"):
                result.rejoin_s, member = rejoin(engine, engine.home / "logs")
                if member is None:
                    raise RuntimeError("the new group member got no record")
                members.append(member)
            with step(f"idle {args.idle_seconds:.0f}s"):
                time.sleep(2)
                result.idle_cpu_percent = idle_cpu(engine.pids(), args.idle_seconds)
            for member in members:
                member.kill()
                member.wait()
            members.clear()
    finally:
        for member in members:
            member.kill()
            member.wait()
        for engine in engines.values():
            engine.stop()
            if not args.keep:
                shutil.rmtree(engine.home, ignore_errors=True)
    return list(results.values())


# -- the cost of one LIST, by server and bucket size ------------------------------------------


def write_partitions(root: Path, objects: int, partitions: int) -> str:
    """`objects` one-record batches over `partitions`, written as Tansu lays them out; the
    prefix of one partition's records."""
    from aiokafka.record.default_records import DefaultRecordBatchBuilder

    base = root / "tansu/clusters/tansu_cluster/topics/t/partitions"
    for partition in range(partitions):
        records = base / f"{partition:010d}/records"
        records.mkdir(parents=True)
        for offset in range(objects // partitions):
            builder = DefaultRecordBatchBuilder(
                magic=2,
                compression_type=0,
                is_transactional=0,
                producer_id=-1,
                producer_epoch=-1,
                base_sequence=-1,
                batch_size=1 << 20,
            )
            builder.append(0, timestamp=None, key=None, value=_value(300, offset), headers=[])
            (records / f"{offset:020d}.batch").write_bytes(bytes(builder.build()))
    return "clusters/tansu_cluster/topics/t/partitions/"


def list_cost(sizes: list[int], root: Path) -> list[dict[str, Any]]:
    """Median ms of: a LIST of an empty prefix, the first page of a partition, and a whole
    partition (what Tansu reads on every fetch), on localbucket and on s3server."""
    rows = []
    for size in sizes:
        folder = root / f"list-{size}"
        prefix = write_partitions(folder / "s3", size, 3)
        for kind in ("localbucket", "s3server"):
            port = free_port()
            proc = (
                start_localbucket(folder / "s3", port, folder / "logs")
                if kind == "localbucket"
                else start_s3server(folder / "s3", port, folder / "logs", compact=False)
            )
            url = f"http://127.0.0.1:{port}/tansu"
            try:
                with httpx.Client(timeout=120) as client:

                    def listing(
                        where: str, whole: bool, client: httpx.Client = client, url: str = url
                    ) -> int:
                        pages, token = 0, None
                        while True:
                            params = {"list-type": "2", "prefix": where}
                            if token:
                                params["continuation-token"] = token
                            text = client.get(url, params=params).text
                            pages += 1
                            if not whole or "<IsTruncated>true" not in text:
                                return pages
                            token = text.split("<NextContinuationToken>")[1].split("<")[0]

                    def median_ms(where: str, whole: bool) -> float:
                        times = []
                        for _ in range(3 if whole else 5):
                            started = time.perf_counter()
                            listing(where, whole)
                            times.append((time.perf_counter() - started) * 1000)
                        return statistics.median(times)

                    listing(prefix + "0000000000/records/", True)  # ETags of hand-made files
                    row = {
                        "server": kind,
                        "objects": size,
                        "empty_prefix_ms": median_ms(prefix + "9999999999/records/", False),
                        "partition_first_page_ms": median_ms(prefix + "0000000000/records/", False),
                        "whole_partition_ms": median_ms(prefix + "0000000000/records/", True),
                        "partition_keys": size // 3,
                    }
            finally:
                proc.stop()
            rows.append(row)
            print(
                f"{kind:<12}{size:>8,} objects: empty prefix {row['empty_prefix_ms']:8.1f} ms, "
                f"a partition's first page {row['partition_first_page_ms']:8.1f} ms, "
                f"the whole partition ({size // 3:,} keys) {row['whole_partition_ms']:8.1f} ms"
            )
        shutil.rmtree(folder, ignore_errors=True)
    return rows


# -- report -----------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 0, suffix: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{suffix}"


def report(results: list[Result]) -> list[dict[str, Any]]:
    memory = {r.history: r for r in results if r.engine == "memory"}
    rows = []
    header = (
        f"{'engine':<12}{'history':>10}{'objects':>9}{'rebuild/s':>12}{'ratio':>7}"
        f"{'restart':>9}{'rejoin':>8}{'idle':>7}{'1by1/s':>8}{'p50 ms':>8}{'batched/s':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        base = memory.get(r.history)
        ratio = None
        if base is not None and base.rebuild and r.rebuild and base.rebuild["rate"]:
            ratio = r.rebuild["rate"] / base.rebuild["rate"]
        row = {**asdict(r), "rebuild_ratio_to_memory": ratio}
        rows.append(row)
        print(
            f"{r.engine:<12}{r.history:>10,}{_fmt(r.objects):>9}"
            f"{_fmt(r.rebuild.get('rate')):>12}{_fmt(ratio, 2):>7}"
            f"{_fmt(r.restart_after_kill_s, 2, 's'):>9}{_fmt(r.rejoin_s, 1, 's'):>8}"
            f"{_fmt(r.idle_cpu_percent, 1, '%'):>7}{_fmt(r.one_by_one.get('per_s')):>8}"
            f"{_fmt(r.one_by_one.get('p50_ms'), 2):>8}{_fmt(r.batched_per_s):>11}"
        )
        for error in r.errors:
            print(f"    ! {error}")
    print()
    for r in results:
        if r.engine != "durable":
            continue
        row = next(x for x in rows if x["engine"] == "durable" and x["history"] == r.history)
        ratio = row["rebuild_ratio_to_memory"]
        goals = [
            ("rebuild >= 0.5 x memory", ratio is not None and ratio >= 0.5),
            ("rejoin <= 15 s", r.rejoin_s is not None and r.rejoin_s <= 15),
            ("idle < 5 %", r.idle_cpu_percent is not None and r.idle_cpu_percent < 5),
            (
                "every record back after SIGKILL + restart",
                bool(r.rebuild.get("complete") and r.rebuild.get("in_order")),
            ),
        ]
        print(
            f"durable at {r.history:,}: "
            + ", ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in goals)
        )
    return rows


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--member":
        member_main(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="history sizes")
    parser.add_argument("--engines", default="durable,memory", help=",".join(ENGINES))
    parser.add_argument("--history-batch", type=int, default=100, help="records per batch")
    parser.add_argument("--value-bytes", type=int, default=300)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--one-by-one", type=int, default=500, help="send_and_wait count")
    parser.add_argument("--batched", type=int, default=20_000, help="pipelined sends")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--settle-timeout", type=float, default=600.0)
    parser.add_argument("--rebuild-timeout", type=float, default=300.0)
    parser.add_argument("--rebuild-repeats", type=int, default=3, help="rounds; median kept")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/durability.json")
    parser.add_argument("--keep", action="store_true", help="keep the engines' folders")
    parser.add_argument(
        "--list-cost",
        metavar="SIZES",
        help="only measure one LIST on localbucket and s3server at these bucket sizes",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    kinds = [k for k in args.engines.split(",") if k]
    unknown = set(kinds) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engines {sorted(unknown)}")
    root = Path(tempfile.mkdtemp(prefix="jobmatch-durability-"))
    if args.list_cost:
        try:
            rows = list_cost([int(n) for n in args.list_cost.split(",")], root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        out = args.out.with_name("durability-listing.json")
        out.write_text(json.dumps({"bench": "durability --list-cost", "rows": rows}, indent=2))
        print(f"written to {out}")
        return
    results: list[Result] = []
    try:
        for size in sizes:
            results.extend(run_size(size, kinds, args, root))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    rows = report(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "bench": "durability",
                "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_average_at_end": os.getloadavg(),
                },
                "options": {k: str(v) for k, v in vars(args).items()},
                "results": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
