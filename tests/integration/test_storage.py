"""The durable embedded broker for real: Tansu on services.storage.s3server, free loopback
ports, SIGKILLs. Merging is set aggressive (groups of 4, a tail of 2) so that a few hundred
records go through many merges."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.stack import Proc, free_port, start_tansu
from services.storage.broker import start_durable_broker, start_s3server

AGGRESSIVE = ["--fanout", "4", "--keep-tail", "2", "--merge-delay", "0.05"]
PARTITIONS = 3


@dataclass
class Durable:
    home: Path
    s3_port: int
    kafka_port: int
    s3: Proc | None = None
    broker: Proc | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self) -> None:
        self.s3 = start_s3server(
            self.home / "s3", self.s3_port, self.home / "logs", extra_args=AGGRESSIVE
        )
        self.broker = start_tansu(self.kafka_port, self.home / "logs", self.s3_port)

    def kill(self, storage_first: bool) -> None:
        procs = [self.s3, self.broker] if storage_first else [self.broker, self.s3]
        for proc in procs:
            assert proc is not None
            proc.kill()

    def stop(self) -> None:
        for proc in (self.broker, self.s3):
            if proc is not None:
                proc.stop()

    def records_keys(self, topic: str, partition: int) -> list[str]:
        prefix = f"clusters/tansu_cluster/topics/{topic}/partitions/{partition:010d}/records/"
        reply = httpx.get(f"{self.s3_url}/tansu", params={"list-type": "2", "prefix": prefix})
        assert reply.status_code == 200
        return [part.split("</Key>")[0] for part in reply.text.split("<Key>")[1:]]

    async def settle(self, timeout: float = 60.0) -> None:
        """Until the server has had no merge to do for a moment."""
        deadline = time.monotonic() + timeout
        quiet = 0
        async with httpx.AsyncClient() as client:
            while quiet < 3:
                status = (await client.get(f"{self.s3_url}/_s3server/status")).json()
                quiet = 0 if status["merging"] else quiet + 1
                assert time.monotonic() < deadline, "merging never settled"
                await asyncio.sleep(0.2)


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[Durable]:
    node = Durable(tmp_path, free_port(), free_port())
    node.start()
    try:
        yield node
    finally:
        node.stop()


async def create_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1)])
    finally:
        await admin.close()


async def read_all(bootstrap: str, topic: str, until: int) -> dict[tuple[int, int], bytes]:
    """(partition, offset) -> value of every record, reading until `until` records or 30 s
    without progress."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, 0)
    seen: dict[tuple[int, int], bytes] = {}
    idle = 0
    try:
        while len(seen) < until and idle < 30:
            got = await consumer.getmany(timeout_ms=1000)
            idle = 0 if any(got.values()) else idle + 1
            for tp, records in got.items():
                for record in records:
                    assert (tp.partition, record.offset) not in seen, "a record came twice"
                    assert record.value is not None
                    seen[(tp.partition, record.offset)] = record.value
    finally:
        await consumer.stop()
    return seen


async def produce_one_by_one(
    bootstrap: str, topic: str, acked: dict[tuple[int, int], bytes], count: int, tag: str
) -> None:
    """Three senders, one per partition, each waiting for acks=all before the next record:
    the events service's pattern, and one batch (one object) per record."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()

    async def sender(partition: int) -> None:
        for n in range(count):
            value = f"{tag}-{partition}-{n}".encode()
            meta = await producer.send_and_wait(topic, value, partition=partition)
            acked[(partition, meta.offset)] = value

    try:
        await asyncio.gather(*(sender(p) for p in range(PARTITIONS)))
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 5)


@pytest.mark.parametrize("storage_first", [True, False], ids=["storage-first", "broker-first"])
async def test_every_acknowledged_record_survives_sigkill_of_broker_and_storage(
    durable: Durable, storage_first: bool
) -> None:
    await create_topic(durable.bootstrap, "t")
    acked: dict[tuple[int, int], bytes] = {}
    writer = asyncio.create_task(produce_one_by_one(durable.bootstrap, "t", acked, 10_000, "a"))
    deadline = asyncio.get_running_loop().time() + 120
    while len(acked) < 300:
        assert not writer.done(), writer.exception()
        assert asyncio.get_running_loop().time() < deadline, f"only {len(acked)} acks"
        await asyncio.sleep(0.01)
    # Mid-stream: produce requests in flight, merges likely under way.
    durable.kill(storage_first)
    snapshot = dict(acked)
    writer.cancel()
    with contextlib.suppress(BaseException):
        await writer

    durable.start()
    found = await read_all(durable.bootstrap, "t", len(snapshot))
    missing = {k: v for k, v in snapshot.items() if found.get(k) != v}
    assert not missing, f"{len(missing)} acknowledged records lost or moved: {list(missing)[:5]}"

    # The log goes on after the restart, after what was there.
    after: dict[tuple[int, int], bytes] = {}
    await produce_one_by_one(durable.bootstrap, "t", after, 20, "b")
    for (partition, offset), _ in after.items():
        assert offset > max(o for p, o in snapshot if p == partition)
    everything = await read_all(durable.bootstrap, "t", len(found) + len(after))
    assert all(everything.get(k) == v for k, v in {**snapshot, **after}.items())


async def test_a_long_history_leaves_a_short_listing_and_every_record_in_place(
    durable: Durable,
) -> None:
    await create_topic(durable.bootstrap, "h")
    acked: dict[tuple[int, int], bytes] = {}
    await produce_one_by_one(durable.bootstrap, "h", acked, 300, "h")
    await durable.settle()
    for partition in range(PARTITIONS):
        keys = durable.records_keys("h", partition)
        # 300 batches written one by one; merged, a fetch's LIST returns a handful.
        assert 2 <= len(keys) <= 30, len(keys)
    found = await read_all(durable.bootstrap, "h", len(acked))
    assert found == acked
    # Tansu answers ListOffsets(LATEST) with the key of the object modified last (+ 1):
    # merges must not make an old segment look newest (it said 1 instead of 300 then).
    consumer = AIOKafkaConsumer(bootstrap_servers=durable.bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition("h", p) for p in range(PARTITIONS)]
        assert await consumer.end_offsets(tps) == dict.fromkeys(tps, 300)
    finally:
        await consumer.stop()
    # Offsets are dense from 0: nothing was skipped by the merges.
    for partition in range(PARTITIONS):
        offsets = sorted(o for p, o in found if p == partition)
        assert offsets == list(range(len(offsets)))


def test_listing_is_scoped_to_the_prefix_and_pages_completely(tmp_path: Path) -> None:
    port = free_port()
    server = start_s3server(tmp_path / "s3", port, tmp_path / "logs")
    base = f"http://127.0.0.1:{port}/tansu"
    try:
        with httpx.Client() as client:
            names = [f"p/0/{n:03d}" for n in range(7)] + ["p/00/x", "p/1/a", "o/0/a", "p/0.txt"]
            for name in names:
                assert client.put(f"{base}/{name}", content=name.encode()).status_code == 200
            listed: list[str] = []
            token = None
            while True:
                params = {"list-type": "2", "prefix": "p/0/", "max-keys": "3"}
                if token:
                    params["continuation-token"] = token
                page = client.get(base, params=params).text
                listed += [part.split("</Key>")[0] for part in page.split("<Key>")[1:]]
                if "<IsTruncated>true</IsTruncated>" not in page:
                    break
                token = page.split("<NextContinuationToken>")[1].split("<")[0]
            assert listed == [f"p/0/{n:03d}" for n in range(7)]
            rolled = client.get(base, params={"list-type": "2", "prefix": "p/", "delimiter": "/"})
            assert "<Prefix>p/0/</Prefix>" in rolled.text and "<Key>p/0.txt</Key>" in rolled.text
            assert "p/0/001" not in rolled.text

            # Conditional requests, as Tansu's watermarks and groups use them.
            put = client.put(f"{base}/w.json", content=b"1", headers={"If-None-Match": "*"})
            etag = put.headers["ETag"]
            again = client.put(f"{base}/w.json", content=b"2", headers={"If-None-Match": "*"})
            assert again.status_code == 412
            stale = client.put(f"{base}/w.json", content=b"2", headers={"If-Match": '"x"'})
            assert stale.status_code == 412
            ok = client.put(f"{base}/w.json", content=b"2", headers={"If-Match": etag})
            assert ok.status_code == 200
            cached = client.get(f"{base}/w.json", headers={"If-None-Match": ok.headers["ETag"]})
            assert cached.status_code == 304
            assert client.get(f"{base}/nothing").status_code == 404
            # Keys are paths on disk: one that is another key's folder is refused, cleanly.
            assert client.put(f"{base}/p/0", content=b"x").status_code == 409
    finally:
        server.stop()


def test_start_durable_broker_serves_a_bootstrap(tmp_path: Path) -> None:
    procs = start_durable_broker(tmp_path / "s3", free_port(), free_port(), tmp_path / "logs")
    try:
        assert [p.name for p in procs] == ["s3server", "tansu"]
        assert all(p.alive() for p in procs)
    finally:
        for proc in reversed(procs):
            proc.stop()
    assert (tmp_path / "s3" / "tansu").is_dir()


async def test_a_home_written_by_localbucket_is_taken_over_as_it_is(tmp_path: Path) -> None:
    """`jobmatch up` homes made before this server: same folder layout, no ETags stored."""
    from services.stack import start_localbucket

    kafka, s3 = free_port(), free_port()
    old = [start_localbucket(tmp_path / "s3", s3, tmp_path / "logs")]
    old.append(start_tansu(kafka, tmp_path / "logs", s3))
    acked: dict[tuple[int, int], bytes] = {}
    try:
        await create_topic(f"127.0.0.1:{kafka}", "old")
        await produce_one_by_one(f"127.0.0.1:{kafka}", "old", acked, 40, "old")
    finally:
        for proc in reversed(old):
            proc.stop()
    procs = start_durable_broker(tmp_path / "s3", kafka, s3, tmp_path / "logs")
    try:
        assert await read_all(f"127.0.0.1:{kafka}", "old", len(acked)) == acked
        more: dict[tuple[int, int], bytes] = {}
        await produce_one_by_one(f"127.0.0.1:{kafka}", "old", more, 5, "new")
        assert await read_all(f"127.0.0.1:{kafka}", "old", len(acked) + 5) == {**acked, **more}
    finally:
        for proc in reversed(procs):
            proc.stop()
