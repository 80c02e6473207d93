"""Kafka record batches as Tansu's S3 engine stores them, and merging them into segments.

Tansu keeps every produced batch as its own object, `.../partitions/NNNNNNNNNN/records/
<base offset, 20 digits>.batch`, holding the batch in the Kafka v2 wire format with its
baseOffset field left at 0: the key, not the bytes, says where the batch starts. A fetch
lists the whole `records/` prefix and reads the object whose key is the greatest one not
above the fetch offset (a multi-record batch is served from any offset inside it; the client
skips what lies before its position), then the following ones.

So several consecutive batches can be replaced by one batch holding all their records, under
the first one's key, and Tansu serves exactly the same records at the same offsets, from
fewer objects. That is what keeps a fetch's LIST short as the history grows.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

RECORDS_KEY = re.compile(r"^(?P<prefix>.*/partitions/\d+/records/)(?P<offset>\d{20})\.batch$")

# baseOffset, batchLength, partitionLeaderEpoch, magic, crc, attributes, lastOffsetDelta,
# firstTimestamp, maxTimestamp, producerId, producerEpoch, baseSequence, recordsCount
_HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = _HEADER.size  # 61

_COMPRESSION = 0x07
_TIMESTAMP_LOG_APPEND = 0x08
_TRANSACTIONAL = 0x10
_CONTROL = 0x20

# Far above any segment size: a builder refuses records once it reaches its batch size.
_UNBOUNDED = 1 << 31


def records_key(prefix: str, offset: int) -> str:
    return f"{prefix}{offset:020d}.batch"


def parse_records_key(key: str) -> tuple[str, int] | None:
    """(the partition's records prefix, the batch's base offset), if `key` is a Tansu batch."""
    found = RECORDS_KEY.match(key)
    if found is None:
        return None
    return found["prefix"], int(found["offset"])


@dataclass(frozen=True)
class BatchHeader:
    length: int
    magic: int
    attributes: int
    last_offset_delta: int
    producer_id: int
    count: int

    @property
    def mergeable(self) -> bool:
        """Whether the records can move into another batch without changing what a client
        reads: transactional and control batches carry meaning in their framing, and a
        LogAppendTime batch gives every record the batch's time."""
        return (
            self.magic == 2
            and not self.attributes & (_TIMESTAMP_LOG_APPEND | _TRANSACTIONAL | _CONTROL)
            and self.producer_id == -1
            and self.count == self.last_offset_delta + 1
        )


def read_header(data: bytes) -> BatchHeader | None:
    """The header of an object that holds exactly one v2 batch, else None."""
    if len(data) < HEADER_SIZE:
        return None
    (_, length, _, magic, _, attributes, last_delta, _, _, producer_id, _, _, count) = (
        _HEADER.unpack_from(data)
    )
    if 12 + length != len(data):
        return None
    return BatchHeader(length, magic, attributes, last_delta, producer_id, count)


def count_from_header(head: bytes, size: int) -> int | None:
    """The record count from the first HEADER_SIZE bytes of an object of `size` bytes."""
    if len(head) < HEADER_SIZE:
        return None
    length = _HEADER.unpack_from(head)[1]
    if 12 + length != size:
        return None
    return int(_HEADER.unpack_from(head)[6]) + 1


def record_count(data: bytes) -> int | None:
    header = read_header(data)
    return None if header is None else header.last_offset_delta + 1


class NotMergeable(ValueError):
    pass


@dataclass(frozen=True)
class _Record:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


def check_mergeable(data: bytes) -> int:
    """The number of records of a batch that `merge` can take, else NotMergeable."""
    header = read_header(data)
    if header is None or not header.mergeable:
        raise NotMergeable("not a single plain v2 batch")
    if not DefaultRecordBatch(data).validate_crc():
        raise NotMergeable("CRC mismatch")
    return header.count


def _records(data: bytes) -> list[_Record]:
    header = read_header(data)
    if header is None or not header.mergeable:
        raise NotMergeable("not a single plain v2 batch")
    batch = DefaultRecordBatch(data)
    if not batch.validate_crc():
        raise NotMergeable("CRC mismatch")
    out = [_Record(r.offset, r.timestamp, r.key, r.value, r.headers) for r in batch]
    if [r.offset for r in out] != list(range(header.count)):
        raise NotMergeable("offsets inside the batch are not 0..count-1")
    return out


def _build(records: Iterable[_Record], first: int) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=_UNBOUNDED,
    )
    for record in records:
        appended = builder.append(
            record.offset - first,
            timestamp=record.timestamp,
            key=record.key,
            value=record.value,
            headers=list(record.headers),
        )
        if appended is None:
            raise NotMergeable("segment too large for one batch")
    return bytes(builder.build())


def merge(batches: Sequence[tuple[int, bytes]]) -> tuple[bytes, int]:
    """One batch holding the records of `batches` ((base offset, object bytes), in offset
    order and contiguous), for the first one's key; and the last offset it holds.

    Compressed inputs are decoded and the segment is written uncompressed: the local disk
    is not the bottleneck, and one plain format keeps the suffix reads simple.
    """
    if not batches:
        raise ValueError("nothing to merge")
    first = batches[0][0]
    expected = first
    records: list[_Record] = []
    for base, data in batches:
        if base != expected:
            raise NotMergeable(f"gap before offset {base} (expected {expected})")
        inner = _records(data)
        records.extend(
            _Record(base + r.offset, r.timestamp, r.key, r.value, r.headers) for r in inner
        )
        expected = base + len(inner)
    return _build(records, first), expected - 1


def suffix(data: bytes, base: int, offset: int) -> bytes:
    """The records of the batch at `base` from `offset` on, as a batch for key `offset`.

    Served for a key that a segment has absorbed, to a reader that listed the partition just
    before the merge: every such reply ends where the segment ends, so a client reading one
    of them after the segment (or after the original batch) skips what it already has and
    its position never moves backwards.
    """
    records = _records(data)
    return _build(
        (
            _Record(base + r.offset, r.timestamp, r.key, r.value, r.headers)
            for r in records
            if base + r.offset >= offset
        ),
        offset,
    )
