"""The folder store: conditional writes, restarts, merges and what a crash leaves behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from aiokafka.record.default_records import DefaultRecordBatch

from services.storage import batches
from services.storage.index import KeyIndex
from services.storage.store import (
    BadKey,
    Compactor,
    Conflict,
    NoSuchKey,
    PreconditionFailed,
    Store,
    durable_write,
    md5_etag,
    staging_name,
)
from tests.unit.storage.test_batches import stored_batch

PREFIX = "clusters/c/topics/t/partitions/0000000000/records/"


def fresh(root: Path) -> Store:
    store = Store(root)
    store.load()
    store.create_bucket("tansu")
    return store


def offsets_in(store: Store) -> list[int]:
    """Every record offset the objects of the partition hold, reading them in key order."""
    bucket = store.bucket("tansu")
    out: list[int] = []
    for key in bucket.index.iter_keys(PREFIX):
        parsed = batches.parse_records_key(key)
        assert parsed is not None
        _, _, data = store.get("tansu", key)
        out += [parsed[1] + r.offset for r in DefaultRecordBatch(data)]
    return out


async def test_conditional_writes(tmp_path: Path) -> None:
    store = fresh(tmp_path)
    first = await store.put("tansu", "w.json", b"1", if_none_match="*")
    assert first.etag == md5_etag(b"1")
    with pytest.raises(PreconditionFailed):
        await store.put("tansu", "w.json", b"2", if_none_match="*")
    with pytest.raises(PreconditionFailed):
        await store.put("tansu", "w.json", b"2", if_match='"not-it"')
    with pytest.raises(PreconditionFailed):
        await store.put("tansu", "missing.json", b"2", if_match=f'"{first.etag}"')
    await store.put("tansu", "w.json", b"2", if_match=f'"{first.etag}"')
    assert store.get("tansu", "w.json")[2] == b"2"
    assert (tmp_path / "tansu" / "w.json").read_bytes() == b"2"


async def test_a_restart_finds_every_object_with_the_same_etag(tmp_path: Path) -> None:
    store = fresh(tmp_path)
    entry = await store.put("tansu", "a/b/c.json", b"abc")
    (tmp_path / "tansu" / "by-hand.bin").write_bytes(b"xyz")  # as localbucket left it
    (tmp_path / ".s3server" / "tmp" / "half-written").write_bytes(b"?")
    again = Store(tmp_path)
    again.load()
    assert again.head("tansu", "a/b/c.json")[1] == entry.etag
    assert again.head("tansu", "by-hand.bin")[1] == md5_etag(b"xyz")
    assert list((tmp_path / ".s3server" / "tmp").iterdir()) == []
    await again.delete("tansu", "a/b/c.json")
    assert not (tmp_path / "tansu" / "a").exists()
    with pytest.raises(NoSuchKey):
        again.get("tansu", "a/b/c.json")


async def test_merging_keeps_every_record_at_its_offset(tmp_path: Path) -> None:
    store = fresh(tmp_path)
    compactor = Compactor(store, fanout=4, keep_tail=3, segment_bytes=4096)
    for offset in range(200):
        await store.put(
            "tansu", batches.records_key(PREFIX, offset), stored_batch(offset, 1), if_none_match="*"
        )
    await compactor.compact("tansu", PREFIX)
    objects = list(store.bucket("tansu").index.iter_keys(PREFIX))
    assert len(objects) < 40
    assert compactor.stats.merges > 0
    assert offsets_in(store) == list(range(200))
    # The last `keep_tail` batches are as they were produced.
    assert objects[-3:] == [batches.records_key(PREFIX, n) for n in (197, 198, 199)]
    # And the same after a restart.
    again = Store(tmp_path)
    again.load()
    assert offsets_in(again) == list(range(200))


async def test_a_reader_that_listed_before_a_merge_gets_the_rest_of_the_segment(
    tmp_path: Path,
) -> None:
    store = fresh(tmp_path)
    compactor = Compactor(store, fanout=4, keep_tail=1, segment_bytes=1 << 20)
    for offset in range(8):
        await store.put("tansu", batches.records_key(PREFIX, offset), stored_batch(offset, 1))
    await compactor.compact("tansu", PREFIX)
    absorbed = batches.records_key(PREFIX, 2)
    assert absorbed not in store.bucket("tansu").index
    floor = store.bucket("tansu").index.floor(absorbed)
    assert floor is not None
    base = batches.parse_records_key(floor)
    assert base is not None
    _, _, segment = store.get("tansu", floor)
    last = base[1] + (batches.record_count(segment) or 0) - 1
    _, _, rest = store.get("tansu", absorbed)
    assert [2 + r.offset for r in DefaultRecordBatch(rest)] == list(range(2, last + 1))
    # Nobody may write into the merged range again.
    with pytest.raises(PreconditionFailed):
        await store.put("tansu", absorbed, stored_batch(2, 1), if_none_match="*")
    with pytest.raises(Conflict):
        await store.put("tansu", absorbed, stored_batch(2, 1))


@pytest.mark.parametrize("removed_before_crash", [0, 2, 5])
def test_a_merge_interrupted_by_a_crash_is_finished_at_start(
    tmp_path: Path, removed_before_crash: int
) -> None:
    records = tmp_path / "tansu" / PREFIX
    records.mkdir(parents=True)
    for offset in range(10):
        (records / f"{offset:020d}.batch").write_bytes(stored_batch(offset, 1))
    merged, last = batches.merge([(offset, stored_batch(offset, 1)) for offset in range(6)])
    (tmp_path / ".s3server" / "staging").mkdir(parents=True)
    (tmp_path / ".s3server" / "tmp").mkdir(parents=True)
    durable_write(
        tmp_path / ".s3server" / "staging" / staging_name("tansu", PREFIX, 0, last),
        merged,
        tmp_path / ".s3server" / "tmp",
        md5_etag(merged),
    )
    for offset in range(1, 1 + removed_before_crash):
        os.unlink(records / f"{offset:020d}.batch")
    store = Store(tmp_path)
    store.load()
    keys = list(store.bucket("tansu").index.iter_keys(PREFIX))
    assert keys == [batches.records_key(PREFIX, n) for n in (0, 6, 7, 8, 9)]
    assert offsets_in(store) == list(range(10))
    assert list((tmp_path / ".s3server" / "staging").iterdir()) == []


async def test_keys_that_would_escape_the_bucket_are_refused(tmp_path: Path) -> None:
    store = fresh(tmp_path)
    for key in ("../x", "a/../../x", "a//b", "./a"):
        with pytest.raises(BadKey):
            await store.put("tansu", key, b"x")


async def test_last_modified_follows_the_offsets_also_after_merges(tmp_path: Path) -> None:
    """Tansu takes the partition's object with the greatest LastModified as its last batch."""
    store = fresh(tmp_path)
    compactor = Compactor(store, fanout=4, keep_tail=2, segment_bytes=1 << 20)
    for offset in range(40):  # faster than the clock ticks
        await store.put("tansu", batches.records_key(PREFIX, offset), stored_batch(offset, 1))
    await compactor.compact("tansu", PREFIX)
    for index in (store.bucket("tansu").index, _reloaded(tmp_path)):
        listed = [(key, index.get(key)) for key in index.iter_keys(PREFIX)]
        times = [entry.mtime for _, entry in listed if entry is not None]
        assert len(listed) < 40
        assert times == sorted(times) and len(set(times)) == len(times)
        assert max(listed, key=lambda item: item[1].mtime if item[1] else 0)[0] == (
            batches.records_key(PREFIX, 39)
        )


def _reloaded(root: Path) -> KeyIndex:
    again = Store(root)
    again.load()
    return again.bucket("tansu").index
