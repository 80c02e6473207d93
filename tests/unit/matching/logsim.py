"""A log in memory, laid out as the broker lays it out (topics, partitions by key, offsets),
and a matching worker that consumes it in any interleaving of partitions, appends its
decisions to the placements topic, crashes and restarts as the real one does."""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from schemas.envelope import Actor, Event
from schemas.placements import PlacementSuggested, SuggestionRejected, SuggestionRetracted
from schemas.topics import CITIZENS, JOB_ORDERS, PLACEMENTS, REPORTS
from services.matching.decisions import reconciliation_events, to_event
from services.matching.domain.state import MatchingState
from services.matching.snapshot import restore_state

PARTITIONS = {t.name: t.partitions for t in (CITIZENS, JOB_ORDERS, PLACEMENTS, REPORTS)}
TP = tuple[str, int]
CONSULTANT = Actor(role="consultant", id="sim")


def partition_of(event: Event) -> TP:
    n = PARTITIONS[event.topic]
    return event.topic, zlib.crc32(event.aggregate_id.encode()) % n


@dataclass
class Log:
    parts: dict[TP, list[Event]] = field(default_factory=dict)

    def append(self, event: Event) -> None:
        self.parts.setdefault(partition_of(event), []).append(event)

    def ends(self) -> dict[TP, int]:
        return {tp: len(events) for tp, events in self.parts.items()}

    def placements(self) -> Iterator[Event]:
        for (topic, _), events in sorted(self.parts.items()):
            if topic == PLACEMENTS.name:
                yield from events

    def live(self) -> dict[tuple[str, str], PlacementSuggested]:
        """Each pair whose last word on the placements topic is a PlacementSuggested whose
        id is neither retracted nor rejected since (as the review side sees it: by id)."""
        out: dict[tuple[str, str], PlacementSuggested] = {}
        ended: set[str] = set()
        for event in self.placements():
            p = event.payload
            if isinstance(p, PlacementSuggested):
                out[(p.job_order_id, p.citizen_id)] = p
                if p.suggestion_id in ended:
                    # Suggested again under an id a consultant rejected: no longer live.
                    del out[(p.job_order_id, p.citizen_id)]
            elif isinstance(p, SuggestionRetracted | SuggestionRejected):
                if isinstance(p, SuggestionRejected):
                    ended.add(p.suggestion_id)
                pair = (p.job_order_id, p.citizen_id)
                if pair in out and out[pair].suggestion_id == p.suggestion_id:
                    del out[pair]
        return out

    def event_ids(self) -> list[str]:
        return [str(e.event_id) for events in self.parts.values() for e in events]

    def latest(self) -> datetime:
        return max(e.occurred_at for events in self.parts.values() for e in events)


class Reader:
    """A consumer of every partition from `start`: the next record comes from a partition
    picked at random, so topics interleave differently with every seed."""

    def __init__(self, log: Log, rng: random.Random, start: dict[TP, int] | None = None) -> None:
        self.log, self.rng = log, rng
        self.next_offset: dict[TP, int] = dict(start or {})

    def __iter__(self) -> Iterator[tuple[TP, Event]]:
        while True:
            ready = [
                tp
                for tp, events in sorted(self.log.parts.items())
                if self.next_offset.get(tp, 0) < len(events)
            ]
            if not ready:
                return
            tp = self.rng.choice(ready)
            offset = self.next_offset.get(tp, 0)
            self.next_offset[tp] = offset + 1
            yield tp, self.log.parts[tp][offset]


def process(state: MatchingState, log: Log, event: Event, keep: int | None = None) -> int:
    """Apply one record and append its decisions (only the first `keep` of them: a crash
    while sending); the number of decisions."""
    outputs = [to_event(d, event, state.scorer.model_version) for d in state.apply(event)]
    state.sent(outputs)
    for out in outputs[:keep]:
        log.append(out)
    return len(outputs)


def run(
    state: MatchingState,
    log: Log,
    reader: Reader,
    steps: int | None = None,
    crash_keep: int | None = None,
    consultant: Callable[[int], None] | None = None,
) -> int:
    """Consume until the log is exhausted or `steps` records are done; with `crash_keep`, the
    last record's decisions are cut to that many (the worker dies while sending them).
    `consultant(step)` may append review decisions between records."""
    done = 0
    for _, event in reader:
        done += 1
        last = steps is not None and done == steps
        process(state, log, event, keep=crash_keep if last else None)
        if consultant is not None:
            consultant(done)
        if last:
            break
    return done


def replay(log: Log, make_state: Callable[[], MatchingState], seed: int = 0) -> MatchingState:
    """A fresh replay: every record loaded in some interleaving, then ranked."""
    state = make_state()
    for _, event in Reader(log, random.Random(seed)):
        state.load(event)
    state.rebuild_rankings()
    return state


def restart(
    log: Log, make_state: Callable[[], MatchingState], seed: int = 0
) -> tuple[MatchingState, Reader, dict[str, int]]:
    """What the worker does on start: replay the whole log, reconcile the placements topic
    (appending the reconciliation's events), then read on from where the replay stopped."""
    ends = log.ends()
    state = replay(log, make_state, seed)
    rec = state.reconcile()
    events = reconciliation_events(rec, state.scorer.model_version, log.latest())
    for event in events:
        log.append(event)
    state.sent(events)
    return state, Reader(log, random.Random(seed + 1000), start=ends), rec.counts()


def reject_first_live(log: Log, reason: str = "transport") -> tuple[str, str] | None:
    """A consultant rejects the first suggestion the log shows as live (as the events service
    would: the rejection goes to the order's partition, after the suggestion)."""
    live = log.live()
    if not live:
        return None
    oid, cid = min(live)
    log.append(
        Event.new(
            SuggestionRejected(
                job_order_id=oid,
                citizen_id=cid,
                suggestion_id=live[(oid, cid)].suggestion_id,
                reason_code=reason,  # type: ignore[arg-type]
            ),
            actor=CONSULTANT,
            occurred_at=log.latest(),
        )
    )
    return oid, cid


def held_pairs(state: MatchingState) -> dict[tuple[str, str], tuple[str, str, float]]:
    return {
        (oid, c.citizen_id): (c.card_version, state.orders[oid].version, c.scored.score)
        for oid, ranked in state.held().items()
        for c in ranked
    }


def live_pairs(log: Log) -> dict[tuple[str, str], tuple[str, str, float]]:
    return {pair: (p.card_version, p.order_version, p.score) for pair, p in log.live().items()}


def restart_from_snapshot(
    log: Log,
    make_state: Callable[[], MatchingState],
    body: bytes,
    positions: dict[TP, int],
    seed: int = 0,
) -> tuple[MatchingState, Reader, dict[str, int], dict[TP, int]]:
    """What the worker does on start with a snapshot (recovery.py): load it, rank the
    undated orders again, apply every record after its positions as the agent would (in
    some interleaving, the decisions dropped), reconcile the placements topic, then read on.
    Also returns the ends of the log it read before reconciling."""
    ends = log.ends()
    state = restore_state(body, make_state)
    state.rerank_undated()
    for _, event in Reader(log, random.Random(seed), start=positions):
        state.apply(event)
    rec = state.reconcile()
    events = reconciliation_events(rec, state.scorer.model_version, log.latest())
    for event in events:
        log.append(event)
    state.sent(events)
    return state, Reader(log, random.Random(seed + 1000), start=ends), rec.counts(), ends
