"""What sealing costs: command throughput and rebuild events/s, with and without, in one run.

For each mode (plain, sealed) on a throwaway broker and Redis of its own:
1. commands: `--events` competence cards registered through the events service's write path
   (load, decide, claim, append with acks=all, settle: `Handlers.execute` with the real
   publisher and Redis store, 16 at a time; the HTTP layer, the same in both modes, left out);
2. the log filled up to `--events` x 4 records: per card a suggestion with reasons quoting
   the card, a rejection with a text, and a follow-up with a note (sealed in the sealed mode);
3. `jobmatch projections rebuild` of the profile views from that log: events/s.

Prints each figure and the sealed/plain ratio (the goal: at most 15 % slower).

    .venv/bin/python bench/privacy.py --events 2000
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable without the editable install too
    sys.path.insert(0, str(REPO))

import _common as common  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from schemas.citizens import CompetenceCard  # noqa: E402
from schemas.envelope import Actor, Event  # noqa: E402
from schemas.placements import FollowUpRecorded, PlacementSuggested, Reason, SuggestionRejected  # noqa: E402
from services.events import commands as c  # noqa: E402
from services.events import projection  # noqa: E402
from services.events.handlers import Handlers, Meta, States  # noqa: E402
from services.events.publisher import EventPublisher  # noqa: E402
from services.events.store import AggregateStore  # noqa: E402
from services.keys.setup import install_keystore, installed_ring  # noqa: E402
from services.profiles.rebuild import rebuild  # noqa: E402
from services.projection.store import marker_key  # noqa: E402

CARD = json.loads((REPO / "tests" / "data" / "competence_card_amina.json").read_text())
CONSULTANT = Meta(actor=Actor(role="consultant", id="bench", municipality_code="0751"))
CONCURRENCY = 16


@dataclass
class Figures:
    commands_per_s: float
    rebuild_events_per_s: float
    rebuild_events: int


async def commands(bootstrap: str, redis: Redis, n: int, keys_path: str, run: str) -> float:
    ring = install_keystore(keys_path, "bench")
    publisher = EventPublisher(bootstrap, keys=ring)
    await publisher.start()
    prefix = f"jm:bench:{run}:"
    # The states are "projected" (empty): every card is new.
    await redis.set(prefix + marker_key(projection.VIEW), "1")
    handlers = Handlers(publisher, AggregateStore(redis, prefix))
    today = date(2026, 11, 30)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            card = CompetenceCard.model_validate(
                copy.deepcopy(CARD) | {"citizen_id": f"cit-{run}-{i:06d}".replace("0", "o")}
            )
            cmd = c.SubmitCompetenceCard(card, [])
            key = c.citizen_key(card.citizen_id)
            decide = partial(_register, cmd, key, today)
            await handlers.execute([key], decide, CONSULTANT, "0751")

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    finally:
        await publisher.stop()
    return n / (time.perf_counter() - started)


def _register(cmd: c.SubmitCompetenceCard, key: c.Key, today: date, s: States) -> c.Decision:
    return c.decide_register_card(cmd, s.get(key), today)


def history(n: int, run: str) -> list[Event]:
    at = datetime(2026, 11, 30, 12, tzinfo=UTC)
    system = Actor(role="system", id="matching")
    events = []
    for i in range(n):
        cid, oid = f"cit-{run}-{i:06d}".replace("0", "o"), f"jo-{run}-{i % 50:03d}"
        sid = f"sug-{run}-{i:06d}"
        reasons = [
            Reason(
                code="skill",
                text_da="Kan køre truck",
                text_en="Drives a forklift",
                contribution=0.3,
            ),
            Reason(code="danish", text_da="Dansk på A2", text_en="Danish at A2", contribution=0.1),
        ]
        for payload in (
            PlacementSuggested(
                job_order_id=oid,
                citizen_id=cid,
                suggestion_id=sid,
                score=0.7,
                rank=1,
                model_version="bench",
                card_version="1",
                order_version="1",
                reasons=reasons,
                missing=["truckcertifikat"],
                programme="IGU",
                title="Lager",
            ),
            SuggestionRejected(
                job_order_id=oid,
                citizen_id=cid,
                suggestion_id=sid,
                reason_code="other",
                reason_text="Borgeren ønsker et andet fag",
            ),
            FollowUpRecorded(
                job_order_id=oid,
                citizen_id=cid,
                placement_id=f"pl-{sid}",
                date=date(2027, 2, 4),
                status="on_track",
                note="Trives; sprogtræning aftalt.",
            ),
        ):
            events.append(
                Event.new(payload, actor=system, occurred_at=at, municipality_code="0751")
            )
    return events


def measure(n: int, sealed: bool, repeats: int = 3) -> Figures:
    mode = "sealed" if sealed else "plain"
    with common.throwaway_stack(f"jm-privacy-{mode}-", memory=True, keep_home=False) as stack:
        stack.start_stores()
        assert stack.bootstrap and stack.redis_url
        keys = str(Path(tempfile.mkdtemp(prefix="jm-keys-")) / "keys.sqlite") if sealed else ""
        return asyncio.run(_measure(stack.bootstrap, stack.redis_url, n, keys, mode, repeats))


async def _measure(
    bootstrap: str, redis_url: str, n: int, keys: str, mode: str, repeats: int
) -> Figures:
    redis = Redis.from_url(redis_url)
    try:
        common.progress(f"{mode}: {n} commands")
        per_s = await commands(bootstrap, redis, n, keys, mode)
        common.progress(f"{mode}: filling the log")
        ring = installed_ring()
        await common.produce_events(bootstrap, history(n, mode), keys=ring)
        # A rebuild takes seconds and starts worker processes: one run is mostly noise on
        # shared cores (0.42 to 1.1 for the same code), so the median of a few.
        rates = []
        for i in range(repeats):
            common.progress(f"{mode}: rebuilding the views ({i + 1}/{repeats})")
            report = await rebuild(bootstrap, redis, grace_s=0, keystore=keys)
            rates.append(report.rate)
    finally:
        await redis.aclose()
    return Figures(per_s, statistics.median(rates), report.events)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--events", type=int, default=2000, help="cards registered per mode")
    p.add_argument("--repeats", type=int, default=3, help="rebuilds per mode (the median)")
    opts = p.parse_args(argv)
    plain = measure(opts.events, sealed=False, repeats=opts.repeats)
    sealed = measure(opts.events, sealed=True, repeats=opts.repeats)
    table = common.table("sealing: with and without", "figure", "plain", "sealed", "sealed/plain")
    table.add_row(
        "commands/s (card registrations, 16 at a time)",
        f"{plain.commands_per_s:,.0f}",
        f"{sealed.commands_per_s:,.0f}",
        f"{sealed.commands_per_s / plain.commands_per_s:.2f}",
    )
    table.add_row(
        f"rebuild events/s ({plain.rebuild_events:,} events, median of {opts.repeats})",
        f"{plain.rebuild_events_per_s:,.0f}",
        f"{sealed.rebuild_events_per_s:,.0f}",
        f"{sealed.rebuild_events_per_s / plain.rebuild_events_per_s:.2f}",
    )
    common.Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
