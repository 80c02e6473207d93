"""The reconciler's checks on hand-made logs: each defect a drill must catch is caught, and
a clean log gives no finding (so a passing drill means something). No stack: seconds."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console

from schemas.citizens import CompetenceCard, CompetenceCardRegistered, CompetenceCardUpdated
from schemas.envelope import SYSTEM_MATCHING, Actor, Event, EventPayload
from schemas.jobs import EmployerRegistered, JobOrder, JobOrderPosted
from schemas.placements import PlacementSuggested, SuggestionRejected, SuggestionRetracted
from services.chaos.faults import FLUSH, schedule
from services.chaos.ledger import AckedEvent, CommandRecord
from services.chaos.logread import LogRecord
from services.chaos.observe import Settled
from services.chaos.reconcile import (
    CitizenView,
    LogFacts,
    OrderView,
    ViewsSnapshot,
    check_acknowledged,
    check_answers,
    check_duplicates,
    check_suggestions,
    check_views,
    facts,
)
from services.chaos.report import Inv
from services.chaos.run import ChaosOptions, ChaosRun
from services.demo import example_documents

CONSULTANT = Actor(role="consultant", id="k-1", municipality_code="0751")
AT = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)
CARDS, ORDERS = example_documents()


def event(
    payload: EventPayload, actor: Actor = CONSULTANT, event_id: uuid.UUID | None = None
) -> Event:
    return Event.new(payload, actor=actor, occurred_at=AT, event_id=event_id)


def card(cid: str, version: int = 1) -> Event:
    doc = copy.deepcopy(CARDS[0]) | {"citizen_id": cid}
    model = CompetenceCard.model_validate(doc)
    if version == 1:
        return event(CompetenceCardRegistered(citizen_id=cid, version=1, card=model))
    return event(CompetenceCardUpdated(citizen_id=cid, version=version, card=model))


def order(oid: str, cvr: str = "12345607") -> Event:
    doc: dict[str, Any] = copy.deepcopy(ORDERS[0]) | {"job_order_id": oid}
    doc["employer"]["cvr"] = cvr
    return event(JobOrderPosted(job_order_id=oid, version=1, order=JobOrder.model_validate(doc)))


def suggested(oid: str, cid: str, card_version: str = "c1", generation: int = 0) -> Event:
    payload = PlacementSuggested(
        job_order_id=oid,
        citizen_id=cid,
        suggestion_id=f"sug-{oid}-{cid}" + (f"-{generation}" if generation else ""),
        score=0.5,
        rank=1,
        model_version="rules-1",
        card_version=card_version,
        order_version="o1",
    )
    return event(payload, SYSTEM_MATCHING)


def retracted(oid: str, cid: str, generation: int = 0) -> Event:
    sid = f"sug-{oid}-{cid}" + (f"-{generation}" if generation else "")
    payload = SuggestionRetracted(
        job_order_id=oid, citizen_id=cid, suggestion_id=sid, reason="outranked"
    )
    return event(payload, SYSTEM_MATCHING)


def rejected(oid: str, cid: str, generation: int = 0) -> Event:
    payload = SuggestionRejected(
        job_order_id=oid,
        citizen_id=cid,
        suggestion_id=f"sug-{oid}-{cid}" + (f"-{generation}" if generation else ""),
        reason_code="transport",
    )
    return event(payload)


def log_of(*events: Event) -> list[LogRecord]:
    """Records at consecutive offsets of partition 0 of each event's topic."""
    offsets: dict[str, int] = {}
    out = []
    for e in events:
        offset = offsets.get(e.topic, 0)
        offsets[e.topic] = offset + 1
        out.append(LogRecord(e.topic, 0, offset, e.aggregate_id.encode(), e))
    return out


def acked(seq: int, e: Event, records: list[LogRecord], status: int = 202) -> CommandRecord:
    where = next(r for r in records if r.event == e)
    return CommandRecord(
        seq=seq,
        phase="t",
        name="register card",
        aggregate=e.aggregate_id,
        method="POST",
        path="/v1/competence-cards",
        expect=frozenset({202}),
        sent_at=0.0,
        status=status,
        events=(
            AckedEvent(str(e.event_id), e.event_type, where.topic, where.partition, where.offset),
        ),
    )


def test_a_clean_log_gives_no_finding() -> None:
    a, b = card("cit-a"), card("cit-b")
    records = log_of(a, b, card("cit-a", 2), order("jo-1"), suggested("jo-1", "cit-a"))
    log = facts(records)
    commands = [acked(1, a, records), acked(2, b, records)]
    assert not check_acknowledged(commands, log).lost
    assert check_duplicates(log).records == 0
    assert not log.conflicts and not check_answers(commands)
    assert not check_suggestions(log, {("jo-1", "cit-a")}).orphans
    views = ViewsSnapshot(
        citizens={
            "cit-a": CitizenView(200, 2, ["jo-1"], sorted(log.citizen_timeline["cit-a"])),
            "cit-b": CitizenView(200, 1, [], sorted(log.citizen_timeline["cit-b"])),
        },
        orders={"jo-1": OrderView(200, "open", 1, ["cit-a"], sorted(log.order_timeline["jo-1"]))},
    )
    seen = check_views(log, views)
    assert (seen.checked, seen.missing, seen.stale, seen.doubled) == (3, [], [], [])


def test_a_202_missing_from_the_log_or_elsewhere_or_twice_is_found() -> None:
    a, b, c = card("cit-a"), card("cit-b"), card("cit-c")
    records = log_of(a, b, c, c)
    commands = [acked(1, a, records), acked(2, b, records), acked(3, c, records)]
    lost = card("cit-lost")
    commands.append(acked(4, lost, log_of(lost)))
    moved = commands[1]
    moved.events = (AckedEvent(str(b.event_id), b.event_type, b.topic, 2, 9),)
    found = check_acknowledged(commands, facts(records))
    assert [f.key for f in found.lost] == [f"lost:{lost.event_id}"]
    assert [f.key for f in found.misplaced] == [f"misplaced:{b.event_id}"]
    assert [f.key for f in found.doubled] == [f"doubled:{c.event_id}"]


def test_repeated_ids_of_commands_fail_and_redelivered_matching_events_are_told_apart() -> None:
    a, s = card("cit-a"), suggested("jo-1", "cit-a")
    changed = event(s.payload, SYSTEM_MATCHING, event_id=s.event_id)
    other = suggested("jo-1", "cit-a", card_version="c2")
    forged = other.model_copy(update={"event_id": s.event_id})
    dup = check_duplicates(facts(log_of(a, a, s, changed, forged)))
    assert dup.records == 3
    assert [f.key for f in dup.of_commands] == [f"dup:{a.event_id}"]
    assert [f.key for f in dup.of_derived] == [f"dup:{s.event_id}"]
    assert [f.key for f in dup.divergent] == [f"divergent:{s.event_id}"]


def test_a_card_registered_twice_or_a_version_skipped_is_a_write_conflict() -> None:
    employer = event(EmployerRegistered(cvr="12345607", name="X"))
    log = facts(log_of(card("cit-a"), card("cit-a"), card("cit-a", 3), employer, employer))
    keys = sorted(f.key for f in log.conflicts)
    # The second EmployerRegistered is the same event (one id): a redelivery, not a conflict.
    assert keys == ["card-registered-again:cit-a:1", "card-version:cit-a:3"]
    again = event(EmployerRegistered(cvr="12345607", name="X"))
    log = facts(log_of(employer, again))
    assert [f.key for f in log.conflicts] == ["once:EmployerRegistered:12345607"]


def test_answers_are_held_against_the_prediction() -> None:
    def answered(seq: int, status: int | None, expect: set[int] | None) -> CommandRecord:
        return CommandRecord(
            seq, "t", "update card", "cit-a", "PUT", "/x",
            frozenset(expect) if expect is not None else None, 0.0, status=status,
        )  # fmt: skip

    commands = [
        answered(1, 202, {202}),
        answered(2, 404, {202}),  # the write side forgot the card
        answered(3, 202, {409}),  # ...and registers it again
        answered(4, 409, None),  # no prediction
        answered(5, 503, {202}),  # unknown outcome, not a contradiction
        answered(6, None, {202}),
        answered(7, 429, {202}),
    ]
    assert [f.key for f in check_answers(commands)] == ["answer:2", "answer:3"]


def test_orphans_unannounced_and_a_rejected_pair_suggested_again() -> None:
    records = log_of(
        suggested("jo-1", "cit-a"),
        suggested("jo-1", "cit-b"),
        retracted("jo-1", "cit-b"),
        suggested("jo-1", "cit-c"),
        rejected("jo-1", "cit-c"),
        suggested("jo-2", "cit-d"),
        rejected("jo-2", "cit-d"),
        suggested("jo-2", "cit-d"),  # the same versions it was rejected at
    )
    log = facts(records)
    assert set(log.live) == {("jo-1", "cit-a"), ("jo-2", "cit-d")}
    # A rejected suggestion leaves the worker but stays in the order's view, with its review.
    assert set(log.shown) == {("jo-1", "cit-a"), ("jo-1", "cit-c"), ("jo-2", "cit-d")}
    found = check_suggestions(log, {("jo-1", "cit-a"), ("jo-1", "cit-b")})
    assert [f.key for f in found.orphans] == ["orphan:jo-2:cit-d"]
    assert [f.key for f in found.unannounced] == ["unannounced:jo-1:cit-b"]
    assert [f.key.rsplit(":", 1)[0] for f in found.resurrected] == ["resurrected:jo-2:cit-d"]


def test_a_pair_suggested_again_before_the_rejection_was_read_and_withdrawn_is_no_finding() -> None:
    """As the 20-kill drill's log showed it: the worker outranked a suggestion, a consultant
    rejected it from a page that had not seen that yet, the worker suggested the pair again
    (new id, same versions) before it read the rejection, then withdrew it as `rejected`.
    Only a suggestion that stays at the rejected versions is a finding."""
    withdrawn_as_rejected = event(
        SuggestionRetracted(
            job_order_id="jo-1",
            citizen_id="cit-a",
            suggestion_id="sug-jo-1-cit-a-1",
            reason="rejected",
        ),
        SYSTEM_MATCHING,
    )
    mended = facts(
        log_of(
            suggested("jo-1", "cit-a"),
            retracted("jo-1", "cit-a"),
            rejected("jo-1", "cit-a"),
            suggested("jo-1", "cit-a", generation=1),
            withdrawn_as_rejected,
        )
    )
    found = check_suggestions(mended, set())
    assert (found.resurrected, found.withdrawn) == ([], 1)
    assert not mended.live

    left = facts(
        log_of(
            suggested("jo-1", "cit-a"),
            retracted("jo-1", "cit-a"),
            rejected("jo-1", "cit-a"),
            suggested("jo-1", "cit-a", generation=1),
        )
    )
    found = check_suggestions(left, {("jo-1", "cit-a")})
    assert [f.key.rsplit(":", 1)[0] for f in found.resurrected] == ["resurrected:jo-1:cit-a"]
    assert found.withdrawn == 0


def test_a_redelivered_retraction_after_a_newer_suggestion_takes_it_back() -> None:
    """Consumers apply every record where it lands: an old retraction redelivered after a
    crash, behind a newer suggestion of the pair, leaves the pair retracted for them."""
    old = retracted("jo-1", "cit-a")
    log = facts(log_of(suggested("jo-1", "cit-a"), old, suggested("jo-1", "cit-a", "c2"), old))
    assert not log.live and not log.shown
    assert check_duplicates(log).records == 1


def test_views_missing_stale_doubled_and_timeline_gaps() -> None:
    a, o = card("cit-a"), order("jo-1")
    employer = event(EmployerRegistered(cvr="12345607", name="X"))
    records = log_of(a, card("cit-b"), card("cit-a", 2), o, employer, suggested("jo-1", "cit-a"))
    log: LogFacts = facts(records)
    views = ViewsSnapshot(
        citizens={
            "cit-a": CitizenView(200, 1, ["jo-1", "jo-1"], [str(a.event_id), "e-unknown"]),
            "cit-b": CitizenView(404),
        },
        orders={"jo-1": OrderView(200, "open", 1, ["cit-x"], None)},
        employers={"12345607": 404},
    )
    seen = check_views(log, views)
    missing = sorted(f.key.split(":")[0] for f in seen.missing)
    assert missing == ["citizen", "citizen-version", "employer", "missing", "timeline", "timeline"]
    assert sorted(f.key.split(":")[0] for f in seen.stale) == ["stale", "timeline-extra"]
    assert [f.key for f in seen.doubled] == ["doubled:suggestions of citizen cit-a:jo-1"]


def test_the_schedule_kills_each_kind_as_often_as_asked_and_flushes_once() -> None:
    faults = schedule(("matching", "events"), 3, 100, seed=5, flush=True)
    kinds = [f.kind for f in faults]
    assert sorted(kinds) == sorted(["matching"] * 3 + ["events"] * 3 + [FLUSH])
    assert all(i * 100 < f.at_command < (i + 1) * 100 for i, f in enumerate(faults))
    assert schedule(("matching", "events"), 3, 100, seed=5, flush=True) == faults


def test_a_log_that_cannot_be_read_fails_the_drill_and_leaves_the_rest_unjudged(
    tmp_path: Path,
) -> None:
    run = ChaosRun(ChaosOptions(home=tmp_path, port_base=20000))
    report = run._report("load", None, Settled(False, 300.0, "the views lag"), "TimeoutError: x")
    assert not report.ok
    assert report.check(Inv.LOG_READ).ok is False and report.check(Inv.SETTLED).ok is False
    assert all(report.check(name).ok is None for name in Inv.OF_THE_LOG)
    assert report.check(Inv.RECOVERED).ok and report.check(Inv.NO_EXITS).ok
    out = io.StringIO()
    report.render(Console(file=out, width=120))
    assert "FAIL" in out.getvalue() and "invariants fail" in out.getvalue()
    assert json.loads(json.dumps(report.to_json()))["ok"] is False


def test_a_review_or_retraction_of_an_earlier_suggestion_leaves_the_pair_s_last() -> None:
    """Suggested again under a new id: a late rejection or retraction of the first id does
    not end the second, which the worker holds."""
    log = facts(
        log_of(
            suggested("jo-1", "cit-a"),
            retracted("jo-1", "cit-a"),
            suggested("jo-1", "cit-a", "c2", generation=1),
            rejected("jo-1", "cit-a"),
            retracted("jo-1", "cit-a"),
        )
    )
    assert log.live == {("jo-1", "cit-a"): "sug-jo-1-cit-a-1"}
    assert log.shown == {("jo-1", "cit-a"): "sug-jo-1-cit-a-1"}
    ended = facts(
        log_of(suggested("jo-1", "cit-a", generation=1), rejected("jo-1", "cit-a", generation=1))
    )
    assert ended.live == {}
