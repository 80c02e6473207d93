"""Merging Tansu's stored batches: the same records at the same offsets, from fewer objects."""

from __future__ import annotations

import pytest
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from services.storage import batches

Record = tuple[int, int, bytes | None, bytes | None, tuple[tuple[str, bytes], ...]]


def stored_batch(
    first: int, count: int, *, transactional: bool = False, producer_id: int = -1
) -> bytes:
    """A batch as Tansu stores it: records of offsets first..first+count-1, baseOffset 0."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=int(transactional),
        producer_id=producer_id,
        producer_epoch=0 if producer_id >= 0 else -1,
        base_sequence=0 if producer_id >= 0 else -1,
        batch_size=1 << 20,
    )
    for i in range(count):
        n = first + i
        builder.append(
            i,
            timestamp=1_700_000_000_000 + n * 7 - (n % 3) * 1000,  # not monotonic on purpose
            key=None if n % 5 == 0 else f"k{n}".encode(),
            value=None if n % 11 == 0 else f"v{n}".encode() * (n % 4 + 1),
            headers=[("h", str(n).encode())] if n % 2 else [],
        )
    return bytes(builder.build())


def records(data: bytes, base: int) -> list[Record]:
    return [
        (base + r.offset, r.timestamp, r.key, r.value, tuple(r.headers))
        for r in DefaultRecordBatch(data)
    ]


def expected(first: int, last: int) -> list[Record]:
    out: list[Record] = []
    for base in range(first, last + 1):
        out += records(stored_batch(base, 1), base)
    return out


def test_a_merge_holds_every_record_at_its_offset_with_its_time_key_value_and_headers() -> None:
    pieces = [(0, stored_batch(0, 3)), (3, stored_batch(3, 1)), (4, stored_batch(4, 5))]
    merged, last = batches.merge(pieces)
    assert last == 8
    want: list[Record] = []
    for base, data in pieces:
        want += records(data, base)
    assert records(merged, 0) == want
    header = batches.read_header(merged)
    assert header is not None and header.count == 9 and header.mergeable
    assert DefaultRecordBatch(merged).validate_crc()
    assert merged[:8] == bytes(8)  # baseOffset 0, as Tansu stores batches


def test_a_suffix_starts_at_the_asked_offset_and_ends_with_the_segment() -> None:
    merged, last = batches.merge([(10 + i, stored_batch(10 + i, 1)) for i in range(6)])
    part = batches.suffix(merged, 10, 13)
    assert records(part, 13) == records(merged, 10)[3:]
    assert batches.record_count(part) == last - 13 + 1


def test_a_gap_between_batches_is_refused() -> None:
    with pytest.raises(batches.NotMergeable):
        batches.merge([(0, stored_batch(0, 2)), (3, stored_batch(3, 1))])


@pytest.mark.parametrize(
    "data",
    [
        stored_batch(0, 2, transactional=True, producer_id=7),
        stored_batch(0, 2, producer_id=7),
        stored_batch(0, 2)[:-1],
        stored_batch(0, 2)[:30] + b"\x00" + stored_batch(0, 2)[31:],  # CRC no longer matches
        b"{}",
    ],
    ids=["transactional", "idempotent producer", "truncated", "corrupt", "not a batch"],
)
def test_batches_that_must_keep_their_framing_are_not_merged(data: bytes) -> None:
    with pytest.raises(batches.NotMergeable):
        batches.check_mergeable(data)
    with pytest.raises(batches.NotMergeable):
        batches.merge([(0, data), (2, stored_batch(2, 1))])


def test_records_keys() -> None:
    prefix = "clusters/c/topics/t.x/partitions/0000000002/records/"
    key = batches.records_key(prefix, 42)
    assert key == prefix + "00000000000000000042.batch"
    assert batches.parse_records_key(key) == (prefix, 42)
    assert (
        batches.parse_records_key("clusters/c/topics/t/partitions/0000000000/watermark.json")
        is None
    )
