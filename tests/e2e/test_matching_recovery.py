"""SIGKILL the matching worker while it emits suggestions, then restart it: the placements
topic shows exactly what the restarted worker holds (no orphan, nothing unannounced, the
same content), its state equals a fresh replay of the log up to the positions it reports,
and the suggestions the profiles API serves equal that state. Killed again once caught up,
it adopts what the topic shows and appends nothing.

The crash windows are made certain as well: before the restart, the log gets what a worker
killed while sending would leave behind, a suggestion the replayed state does not hold and
a retraction of one it does hold; the restarted worker must retract the first and announce
the second again.

Snapshots: the second kill comes after the restarted worker wrote one; the next worker
starts from it (it says so on /ready), applies only what follows, and holds what a fresh
replay holds. Then the newest snapshot is damaged (set aside as `.corrupt`, the worker
starts from an older one or from offset 0), and then one is made to look as if taken from
another log (its anchor no longer matches: set aside as `.stale`); both times the state
still equals the fresh replay.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import ConsumerRecord

from schemas.citizens import CompetenceCard, CompetenceCardRegistered
from schemas.envelope import SYSTEM_MATCHING, Actor, Event
from schemas.jobs import JobOrder, JobOrderPosted
from schemas.placements import (
    PlacementSuggested,
    SuggestionRejected,
    SuggestionRetracted,
)
from schemas.registry import REGISTRY
from schemas.topics import PLACEMENTS
from services.common.kafka import read_log
from services.demo import example_documents
from services.matching.bootstrap import state_factory
from services.matching.domain.state import MatchingState, suggestion_id
from services.matching.replay import INPUTS, positions_from_json, replay_log
from services.matching.settings import MatchingSettings
from services.matching.snapshot import SnapshotStore, decode_header, encode
from services.stack import Proc, Stack, service_env, start_service, wait_ready
from tests.e2e.signin import User, administrator, consultant
from tests.integration.kafka_helpers import produce_events

N_CARDS = 4000
POSTALS = ["8000", "8200", "8210", "8220", "8230", "8240", "8250", "8260", "8270", "8300"]
ORDERS = ("rec-jo-4410-aarhus-lager", "rec-jo-4411-aarhus-kantine")
Pair = tuple[str, str]


def _events() -> list[Event]:
    cards, orders = example_documents()
    actor = Actor(role="consultant", id="recovery-test")
    now = datetime.now(UTC)
    out = []
    for doc in orders:
        order = copy.deepcopy(doc)
        order["job_order_id"] = "rec-" + order["job_order_id"]
        model = JobOrder.model_validate(order)
        out.append(
            Event.new(
                JobOrderPosted(job_order_id=model.job_order_id, version=1, order=model),
                actor=actor,
                occurred_at=now,
            )
        )
    for i in range(N_CARDS):
        doc = copy.deepcopy(cards[i % len(cards)])
        doc["citizen_id"] = f"cit-rec-{i:04d}"
        doc["location"]["postal_code"] = POSTALS[i % len(POSTALS)]
        doc["availability"]["hours_per_week"] = 20 + i % 18
        card = CompetenceCard.model_validate(doc)
        out.append(
            Event.new(
                CompetenceCardRegistered(citizen_id=card.citizen_id, version=1, card=card),
                actor=actor,
                occurred_at=now,
            )
        )
    return out


def _state(admin: User, port: int) -> dict[str, Any]:
    response = admin.get(f"http://127.0.0.1:{port}/v1/state", timeout=10)
    response.raise_for_status()
    doc: dict[str, Any] = response.json()
    return doc


def _ready(admin: User, port: int) -> dict[str, Any]:
    doc: dict[str, Any] = admin.get(f"http://127.0.0.1:{port}/ready", timeout=10).json()
    return doc


def _snapshots_taken(admin: User, port: int) -> int:
    return int(_ready(admin, port)["snapshots"].get("taken", 0))


def _snapshot_settled(admin: User, port: int) -> bool:
    """The worker wrote the snapshot it takes after a recovery that read anything."""
    ready = _ready(admin, port)
    started = ready["recovery"]["started_from"]
    read = started.get("tail_records", started.get("replayed_records", 0))
    return not read or int(ready["snapshots"].get("taken", 0)) >= 1


def _rec_cards(state: dict[str, Any]) -> int:
    return sum(1 for cid in state["state"]["cards"] if cid.startswith("cit-rec-"))


def _rec_suggestions(state: dict[str, Any]) -> int:
    return sum(len(state["state"]["suggestions"].get(oid, [])) for oid in ORDERS)


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _matching(stack: Stack, port: int) -> Proc:
    assert stack.bootstrap and stack.redis_url
    env = service_env("matching", port, stack.bootstrap, stack.redis_url, stack.home, stack.issuer)
    # A snapshot after each recovery; none by cadence meanwhile (the test decides).
    env["MATCHING_SNAPSHOT_INTERVAL_S"] = "3600"
    proc = start_service("matching", env, stack.home / "logs" / "restarted")
    stack.procs.append(proc)
    wait_ready(proc, port, timeout=120)
    return proc


def _log(bootstrap: str) -> list[ConsumerRecord[bytes, bytes]]:
    return asyncio.run(read_log(bootstrap, INPUTS, idle_ms=400, timeout=60))


def _ends(records: list[ConsumerRecord[bytes, bytes]]) -> dict[str, int]:
    ends: dict[str, int] = {}
    for r in records:
        key = f"{r.topic}:{r.partition}"
        ends[key] = max(ends.get(key, 0), r.offset + 1)
    return ends


def _live(records: list[ConsumerRecord[bytes, bytes]]) -> dict[Pair, PlacementSuggested]:
    """Each pair whose last word on the placements topic is a PlacementSuggested (a pair's
    events share the order's partition, so its records are in order here)."""
    out: dict[Pair, PlacementSuggested] = {}
    for r in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        if r.topic != PLACEMENTS.name:
            continue
        p = REGISTRY.decode(r.value or b"").payload
        if isinstance(p, PlacementSuggested):
            out[(p.job_order_id, p.citizen_id)] = p
        elif isinstance(p, SuggestionRetracted | SuggestionRejected):
            out.pop((p.job_order_id, p.citizen_id), None)
    return out


def _fresh(stack: Stack, models: Path, stop_at: dict[str, int] | None = None) -> MatchingState:
    """A replay of the log in this process, with the worker's settings (the shipped model)."""
    assert stack.bootstrap
    settings = MatchingSettings(
        kafka_bootstrap_servers=stack.bootstrap,
        auth_issuer=stack.issuer,
        auth_jwks_url=f"{stack.issuer}/.well-known/jwks.json",
        matching_model_dir=models,
        matching_data_dir=models.parent / "replay",
    )
    state = state_factory(settings)()
    positions = None if stop_at is None else positions_from_json(stop_at)
    asyncio.run(replay_log(state, stack.bootstrap, INPUTS, positions))
    return state


def _crash_leftovers(state: MatchingState) -> tuple[Pair, Pair, list[Event]]:
    """What a worker killed while sending could leave: a suggestion the state does not hold
    (an outranked citizen) and the retraction of one it holds."""
    oid = ORDERS[0]
    held = sorted(state.suggestions[oid])
    order = state.orders[oid]
    outside = sorted(cid for cid in state.cards if cid.startswith("cit-rec-") and cid not in held)[
        0
    ]
    # Preferably one the killed worker did suggest, so that the retraction withdraws its id.
    emitted = state.emitted.get(oid, {})
    shown = [cid for cid in held if cid in emitted and emitted[cid].live]
    orphan, unannounced = (oid, outside), (oid, (shown or held)[0])
    shown_id = emitted[shown[0]].suggestion_id if shown else suggestion_id(*unannounced)
    muni = order.order.municipality_code
    events = [
        Event.new(
            PlacementSuggested(
                job_order_id=oid,
                citizen_id=outside,
                suggestion_id=suggestion_id(oid, outside),
                score=0.99,
                rank=1,
                model_version=state.scorer.model_version,
                card_version=state.cards[outside].version,
                order_version=order.version,
            ),
            actor=SYSTEM_MATCHING,
            occurred_at=datetime.now(UTC),
            municipality_code=muni,
        ),
        Event.new(
            SuggestionRetracted(
                job_order_id=oid,
                citizen_id=unannounced[1],
                # The id the topic shows live for the pair (a pair retracted and suggested
                # again while the cards streamed in has a chained one).
                suggestion_id=shown_id,
                reason="outranked",
            ),
            actor=SYSTEM_MATCHING,
            occurred_at=datetime.now(UTC),
            municipality_code=muni,
        ),
    ]
    return orphan, unannounced, events


def test_after_sigkill_the_topic_shows_what_the_restarted_worker_holds(
    stack: Stack, tmp_path: Path
) -> None:
    assert stack.bootstrap
    matching = next(p for p in stack.procs if p.name == "matching")
    port = stack.ports.matching
    admin = administrator(stack)  # the state page is for administrators
    asyncio.run(produce_events(stack.bootstrap, _events()))

    # Killed while it works through the cards, emitting suggestions as it goes.
    seen: list[dict[str, Any]] = []

    def suggesting() -> bool:
        seen.append(_state(admin, port))
        return _rec_cards(seen[-1]) >= 40 and _rec_suggestions(seen[-1]) > 0

    _wait_for(suggesting, 90, "matching to suggest from the stream")
    matching.kill()
    assert _rec_cards(seen[-1]) < N_CARDS, "the worker finished before it could be killed"
    assert _live(_log(stack.bootstrap)), "killed before it emitted anything"

    # What the replayed state holds, and what a crash while sending could have left.
    replayed = _fresh(stack, tmp_path / "models")
    assert sum(1 for c in replayed.cards if c.startswith("cit-rec-")) == N_CARDS
    orphan, unannounced, leftovers = _crash_leftovers(replayed)
    asyncio.run(produce_events(stack.bootstrap, leftovers))

    restarted = _matching(stack, port)
    ready = admin.get(f"http://127.0.0.1:{port}/ready", timeout=10).json()
    assert ready["state_replayed"] and ready["agent_running"] and not ready["failed"]
    assert ready["reconciled"]["retracted"] >= 1 and ready["reconciled"]["suggested"] >= 1

    # Caught up: the worker has read the whole log, its own output included.
    bootstrap = stack.bootstrap

    def caught_up() -> bool:
        state = _state(admin, port)
        return state["in_flight"] == 0 and state["positions"] == {
            **dict.fromkeys(state["positions"], 0),
            **_ends(_log(bootstrap)),
        }

    _wait_for(caught_up, 120, "the restarted worker to read the whole log")
    doc = _state(admin, port)
    records = _log(bootstrap)
    assert doc["positions"] == {**dict.fromkeys(doc["positions"], 0), **_ends(records)}
    assert _rec_cards(doc) == N_CARDS
    assert restarted.alive()

    # Every suggestion the log shows as live is held, with the same content, and vice versa.
    live = _live(records)
    held = {
        (oid, cid): (card_version, score)
        for oid, ranked in doc["state"]["suggestions"].items()
        for cid, card_version, score in ranked
    }
    assert {pair: (p.card_version, p.score) for pair, p in live.items()} == held
    assert doc["divergence"] == {"orphans": [], "missing": [], "stale": []}
    assert orphan not in live and unannounced in live
    # The orphan is retracted for the reason the log gives, not as `outranked`; the pair whose
    # suggestion the leftovers retracted is suggested again as a new suggestion (a new id,
    # to be reviewed afresh).
    placements = [
        REGISTRY.decode(r.value or b"")
        for r in sorted(records, key=lambda r: (r.partition, r.offset))
        if r.topic == PLACEMENTS.name
    ]
    after = [e.event_id for e in placements].index(leftovers[0].event_id)
    reasons = {
        e.payload.reason
        for e in placements[after:]
        if isinstance(e.payload, SuggestionRetracted)
        and (e.payload.job_order_id, e.payload.citizen_id) == orphan
    }
    assert reasons == {replayed.why_not_held(*orphan)}
    assert reasons <= {"not_held_on_restart", "no_longer_eligible"}
    shown = replayed.emitted.get(unannounced[0], {}).get(unannounced[1])
    if shown is not None:  # the retraction withdrew a suggestion: the next one is new
        assert live[unannounced].suggestion_id == suggestion_id(
            *unannounced, after=shown.suggestion_id
        )
    else:  # it named a pair never suggested: the first suggestion of the pair
        assert live[unannounced].suggestion_id == suggestion_id(*unannounced)
    # Matching's own events are never appended twice.
    ids = Counter(
        str(REGISTRY.decode(r.value or b"").event_id) for r in records if r.topic == PLACEMENTS.name
    )
    assert [i for i, n in ids.items() if n > 1] == []

    # The state equals a fresh replay of the log up to the positions it reports.
    fresh = _fresh(stack, tmp_path / "models", doc["positions"])
    assert json.loads(json.dumps(fresh.snapshot())) == doc["state"]
    assert fresh.digest() == doc["digest"]

    # Killed again once it has caught up and written a snapshot (after its recovery): the
    # next start loads the snapshot, applies what follows, adopts every live suggestion as
    # it is (same suggestion ids) and appends nothing.
    store = SnapshotStore(stack.home / "matching" / "snapshots")
    _wait_for(lambda: _snapshots_taken(admin, port) >= 1, 60, "a snapshot")
    snapshot = store.files()[0]
    restarted.kill()
    again = _matching(stack, port)
    ready = admin.get(f"http://127.0.0.1:{port}/ready", timeout=10).json()
    started = ready["recovery"]["started_from"]
    assert started["snapshot"] == snapshot.name, started
    assert started["snapshot_records"] + started["tail_records"] <= sum(doc["positions"].values())
    assert started["snapshot_records"] > N_CARDS
    assert ready["reconciled"] == {"retracted": 0, "suggested": 0, "adopted": len(held)}
    assert _state(admin, port)["digest"] == doc["digest"] == fresh.digest()
    assert len(_log(bootstrap)) == len(records)
    assert again.alive()

    # The newest snapshot damaged: set aside, the worker starts from an older one or from
    # offset 0, and holds the same.
    # (Killed first: a running worker may write a newer one meanwhile.)
    again.kill()
    newest = store.files()[0]
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    again = _matching(stack, port)
    started = _ready(admin, port)["recovery"]["started_from"]
    assert newest.with_name(newest.name + ".corrupt").exists()
    assert started["snapshot"] != newest.name
    assert _state(admin, port)["digest"] == doc["digest"]
    _wait_for(lambda: _snapshot_settled(admin, port), 60, "the snapshot after the recovery")

    # A snapshot taken from another log (the broker's memory engine restarted, say): its
    # anchor does not match the record at its position. Set aside; a replay instead.
    for path in store.files():
        header, body = decode_header(path.read_bytes())
        anchors = dict.fromkeys(header.anchors, "0" * 24)
        path.write_bytes(encode(dataclasses.replace(header, anchors=anchors), bytes(body)))
    stale = store.files()[0]
    again.kill()
    again = _matching(stack, port)
    started = _ready(admin, port)["recovery"]["started_from"]
    assert stale.with_name(stale.name + ".stale").exists()
    assert started["snapshot"] is None or started["snapshot"] != stale.name
    assert _state(admin, port)["digest"] == doc["digest"]
    assert len(_log(bootstrap)) == len(records)

    # What consultants see is what the restarted worker holds.
    aarhus = consultant(stack)  # the orders are copies of the Aarhus examples
    for order_id in ORDERS:
        want = [c[0] for c in doc["state"]["suggestions"][order_id]]
        assert want, order_id
        url = f"{stack.urls['profiles']}/v1/job-orders/{order_id}/suggestions?limit=200"
        showing: list[list[Any]] = []

        def equal(u: str = url, w: list[str] = want, out: list[list[Any]] = showing) -> bool:
            got = aarhus.get(u, timeout=5).json()["suggestions"]
            out[:] = [[s["citizen_id"], s.get("status"), s.get("retraction_reason")] for s in got]
            return [s["citizen_id"] for s in got] == w

        try:
            _wait_for(equal, 30, f"profiles view of {order_id} to equal the matching state")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: held {want}, shown {showing}") from None
