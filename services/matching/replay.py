"""Build the matching state from the log: the worker's start-up, and a fresh replay to check
a running worker against.

The state is a function of the log read partition by partition (see domain/state.py), so
the records may be loaded in whatever order the fetches return them. The worker reads every
input partition from the start up to the end the fetch responses report (the highwater,
which the embedded broker reports correctly, unlike ListOffsets(LATEST)); the agent then
skips what the replay already loaded. A check reads up to the positions a worker reports
(`stop_at`), so it compares like with like while the log grows.

From a snapshot (snapshot.py) the worker reads only from the snapshot's positions on, and
applies those records as the live agent does (`apply`, the decisions dropped: the
reconciliation that follows emits what the topic lacks), since the snapshot holds rankings
already. It first reads the record just before each position and checks it against the
snapshot's anchor: a log that is not the one the snapshot was taken from raises
`SnapshotStale`, and the worker replays from the start instead.

`python -m services.matching.replay --positions '{"jobmatch.citizens:0": 12, ...}'` prints
the digest of a fresh replay up to those positions (all of the log without them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition

from schemas.registry import REGISTRY
from schemas.topics import CITIZENS, JOB_ORDERS, PLACEMENTS, REPORTS, Topic
from services.common.kafka import Security, make_consumer
from services.matching.domain.state import MatchingState
from services.matching.snapshot import Anchors, SnapshotStale, anchor_of

log = logging.getLogger(__name__)

# Placements too: rejections, and what matching itself has suggested and retracted; and
# reports, for the `ModelActivated` records that say which model scores from where on.
INPUTS: tuple[Topic, ...] = (CITIZENS, JOB_ORDERS, PLACEMENTS, REPORTS)

Positions = dict[TopicPartition, int]


@dataclass
class Replayed:
    # The next offset of each partition: everything before it is in the state.
    positions: Positions
    events: int
    # Records that do not decode or load: the live agent dead-letters them.
    skipped: int
    # The latest `occurred_at` the log showed (None: an empty log).
    log_time: datetime | None
    # anchor_of(the record at position - 1) of each partition read past offset 0.
    anchors: Anchors = field(default_factory=dict)
    # Where the time went: waiting for fetches, decoding and loading, ranking.
    seconds: dict[str, float] = field(default_factory=dict)
    # Where the worker's recovery began: a snapshot (which, how many records) or offset 0.
    started_from: dict[str, Any] = field(default_factory=dict)


class TailNotApplied(RuntimeError):
    """A record after a snapshot's positions could not be applied: replay from the start
    (which skips such a record, as the first replay did)."""


def positions_to_json(positions: Mapping[TopicPartition, int]) -> dict[str, int]:
    return {f"{tp.topic}:{tp.partition}": off for tp, off in sorted(positions.items())}


def positions_from_json(doc: Mapping[str, int]) -> Positions:
    out: Positions = {}
    for key, offset in doc.items():
        topic, _, partition = key.rpartition(":")
        out[TopicPartition(topic, int(partition))] = int(offset)
    return out


def load_records(
    state: MatchingState, records: Sequence[ConsumerRecord[bytes, bytes]], apply: bool = False
) -> tuple[int, int, datetime | None]:
    """Load decoded records into `state` (no ranking), or with `apply` apply them as the
    live agent does (the decisions dropped); (loaded, skipped, latest time)."""
    loaded = skipped = 0
    latest: datetime | None = None
    for record in records:
        try:
            event = REGISTRY.decode_record(record.value or b"", record.headers or ())
        except ValueError:
            # The live agent dead-lettered it the first time round.
            skipped += 1
            continue
        if apply:
            try:
                state.apply(event)
            except Exception as exc:
                # The state may be half-updated: only a replay from the start is safe.
                raise TailNotApplied(
                    f"{record.topic}:{record.partition}@{record.offset}: {exc!r}"
                ) from exc
        else:
            try:
                state.load(event)
            except Exception:
                log.exception(
                    "replay: event not loaded",
                    extra={"topic": record.topic, "offset": record.offset},
                )
                skipped += 1
                continue
        loaded += 1
        if latest is None or event.occurred_at > latest:
            latest = event.occurred_at
    return loaded, skipped, latest


async def replay_log(
    state: MatchingState,
    bootstrap: str,
    topics: Iterable[Topic] = INPUTS,
    stop_at: Mapping[TopicPartition, int] | None = None,
    *,
    start_at: Mapping[TopicPartition, int] | None = None,
    anchors: Mapping[TopicPartition, str] | None = None,
    security: Security | None = None,
    stall_s: float = 120.0,
) -> Replayed:
    """Load every record of `topics` into `state`, up to `stop_at` (default: the end the
    fetches report), then rank. Loading and ranking run in a worker thread, so the event
    loop (the consumer group's heartbeats, the pages) keeps going meanwhile: `state` must
    be one that nothing else uses yet. Raises TimeoutError when nothing arrives for
    `stall_s` seconds while partitions are still short of their end (broker gone).

    With `start_at` (a snapshot's positions), `state` holds the records before them, ranked:
    the records from there on are applied as the live agent applies them, and nothing is
    ranked again. `anchors` (the snapshot's) are checked first: a partition shorter than
    its position, or another record just before it, raises `SnapshotStale`."""
    started = time.monotonic()
    busy = 0.0
    ranked = start_at is not None
    consumer = make_consumer(
        bootstrap,
        security=security,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    count = skipped = 0
    latest: datetime | None = None
    parts = [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
    first = {tp: (start_at or {}).get(tp, 0) for tp in parts}
    # The record before each start, to be read and checked first.
    expect: dict[TopicPartition, str] = {}
    last: Anchors = {}
    try:
        consumer.assign(parts)
        for tp in parts:
            if first[tp] > 0 and anchors is not None:
                if tp not in anchors:
                    raise SnapshotStale(f"{tp.topic}:{tp.partition} has no anchor")
                expect[tp] = last[tp] = anchors[tp]
                consumer.seek(tp, first[tp] - 1)
            else:
                consumer.seek(tp, first[tp])
        positions: Positions = dict(first)
        pending = set(parts) if stop_at is None else {tp for tp in parts if stop_at.get(tp, 0)}
        loop = asyncio.get_running_loop()
        moved = loop.time()
        while pending:
            if loop.time() - moved > stall_s:
                raise TimeoutError(f"replay stalled: {len(pending)} partitions short of their end")
            batch = await consumer.getmany(*pending, timeout_ms=200, max_records=10000)
            if batch:
                moved = loop.time()
            records = []
            for tp, found in batch.items():
                if tp in expect and found:
                    head = found[0]
                    if head.offset != first[tp] - 1 or anchor_of(head.value) != expect.pop(tp):
                        raise SnapshotStale(
                            f"{tp.topic}:{tp.partition}: the record at {first[tp] - 1} is "
                            "not the one the snapshot was taken after"
                        )
                    found = found[1:]
                end = None if stop_at is None else stop_at.get(tp, 0)
                found = [r for r in found if end is None or r.offset < end]
                if found:
                    last[tp] = anchor_of(found[-1].value)
                records += found
            if records:
                cpu = time.monotonic()
                loaded, bad, at = await asyncio.to_thread(load_records, state, records, ranked)
                busy += time.monotonic() - cpu
                count, skipped = count + loaded, skipped + bad
                if at is not None and (latest is None or at > latest):
                    latest = at
            for tp in list(pending):
                # Every record returned below it was loaded (or was at or past `stop_at`).
                position = await consumer.position(tp)
                highwater = consumer.highwater(tp)
                if highwater is not None and highwater < first[tp]:
                    raise SnapshotStale(
                        f"{tp.topic}:{tp.partition} ends at {highwater}, before {first[tp]}"
                    )
                end = highwater if stop_at is None else stop_at.get(tp, 0)
                if end is not None and position >= end and tp not in expect:
                    pending.discard(tp)
                    moved = loop.time()
                position = max(position, first[tp])
                positions[tp] = position if stop_at is None else min(position, stop_at[tp])
    finally:
        await consumer.stop()
    read = time.monotonic()
    if not ranked:
        await asyncio.to_thread(state.rebuild_rankings)
    done = time.monotonic()
    seconds = {
        "fetch": round(read - started - busy, 3),
        "apply" if ranked else "load": round(busy, 3),
        "rank": round(done - read, 3),
    }
    log.info(
        "state replayed",
        extra={
            "events": count,
            "skipped": skipped,
            "from_snapshot": ranked,
            "seconds": seconds,
        },
    )
    anchored = {tp: a for tp, a in last.items() if positions.get(tp, 0) > 0}
    return Replayed(positions, count, skipped, latest, anchored, seconds)


def main(argv: list[str] | None = None) -> int:
    """Print the digest of a fresh replay (the worker's own settings: model, k, capacity)."""
    from services.keys.setup import install_keystore
    from services.matching.bootstrap import replay_settings, state_factory

    parser = argparse.ArgumentParser(prog="python -m services.matching.replay")
    parser.add_argument("--bootstrap", help="default: KAFKA_BOOTSTRAP_SERVERS")
    parser.add_argument(
        "--positions",
        help="JSON {'topic:partition': next offset} as GET /v1/state reports; default: the end",
    )
    args = parser.parse_args(argv)
    settings = replay_settings()
    # The worker's key store: without it every sealed card would read as erased.
    install_keystore(settings.keystore_path, "matching-replay")
    bootstrap = args.bootstrap or settings.kafka_bootstrap_servers
    stop_at = positions_from_json(json.loads(args.positions)) if args.positions else None
    state = state_factory(settings)()
    done = asyncio.run(replay_log(state, bootstrap, INPUTS, stop_at))
    json.dump(
        {
            "digest": state.digest(),
            "events": done.events,
            "skipped": done.skipped,
            "positions": positions_to_json(done.positions),
            "model_version": state.scorer.model_version,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
