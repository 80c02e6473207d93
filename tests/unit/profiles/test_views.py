"""The view handlers are pure: event in, writes out, the same writes every time."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from schemas.citizens import CompetenceCard, CompetenceCardRegistered, ErasureRequested
from schemas.envelope import SYSTEM_MATCHING, Actor, Event
from schemas.jobs import JobOrder, JobOrderClosed, JobOrderPosted, JobOrderUpdated
from schemas.placements import (
    PlacementStarted,
    PlacementSuggested,
    Reason,
    SuggestionAccepted,
    SuggestionRetracted,
)
from services.profiles.projections import keys
from services.profiles.projections.guarded import ProfileProjection
from services.profiles.projections.views import project, worklist_rank
from services.profiles.queries import statuses_of
from services.projection.writes import (
    Delete,
    HashDelete,
    HashSet,
    HashUpdate,
    Write,
    ZAdd,
    ZRemove,
    coalesce,
)

T0 = datetime(2026, 11, 24, 9, tzinfo=UTC)


def _suggested() -> Event:
    payload = PlacementSuggested(
        job_order_id="jo-1",
        citizen_id="cit-1",
        suggestion_id="sug-1",
        score=0.8,
        rank=1,
        model_version="rules-1",
        card_version="c",
        order_version="o",
        reasons=[Reason(code="danish", text_da="Dansk A2", text_en="Danish A2", contribution=0.1)],
        missing=[
            "danish_min:B1",
            "gap:http://data.europa.eu/esco/skill/00dd3271-077f-4a12-a958-e297fdd724ce",
        ],
    )
    return Event.new(payload, actor=SYSTEM_MATCHING, occurred_at=T0)


def test_card_registered_writes_the_citizen_view(amina: dict[str, Any]) -> None:
    card = CompetenceCard.model_validate(amina)
    event = Event.new(
        CompetenceCardRegistered(citizen_id=card.citizen_id, version=1, card=card),
        actor=Actor(role="consultant", id="c"),
        occurred_at=T0,
    )
    write, entry = project(event)
    assert isinstance(write, HashUpdate) and write.key == keys.citizen("cit-7f3a9c2e")
    assert isinstance(entry, ZAdd) and entry.key == keys.citizen_timeline("cit-7f3a9c2e")
    assert '"consultant"' in entry.member and entry.score == T0.timestamp()
    fields = dict(write.fields)
    assert fields["version"] == "1" and '"truckcertifikat"' in fields["card"]
    assert project(event) == [write, entry], "the same event writes the same entries"


def test_suggestion_and_retraction_touch_order_and_citizen() -> None:
    writes = project(_suggested())
    assert ZAdd(keys.order_ranking("jo-1"), "cit-1", 0.8) in writes
    assert {type(w) for w in writes} == {ZAdd, HashSet, HashUpdate}
    (doc,) = [
        w.value
        for w in writes
        if isinstance(w, HashSet) and w.key == keys.order_suggestions("jo-1")
    ]
    gaps = json.loads(doc)["missing_text"]  # the codes named, for readers of the API
    assert [g["text_da"] for g in gaps] == [
        "Dansk på mindst niveau B1",
        "Væsentlig kompetence for jobbet: køre landbrugsmaskiner",
    ]
    timelines = {w.key for w in writes if isinstance(w, ZAdd) and w.key.endswith(":timeline")}
    assert timelines == {keys.citizen_timeline("cit-1"), keys.order_timeline("jo-1")}
    retracted = Event.new(
        SuggestionRetracted(
            job_order_id="jo-1", citizen_id="cit-1", suggestion_id="sug-1", reason="order_closed"
        ),
        actor=SYSTEM_MATCHING,
        occurred_at=T0,
    )
    # The order's list keeps it, as retracted; the citizen's open suggestions lose it.
    assert project(retracted)[:3] == [
        HashSet(keys.order_suggestion_status("jo-1"), "sug-1:retracted", "order_closed"),
        HashSet(keys.citizen_suggestion_status("cit-1"), "sug-1:retracted", "order_closed"),
        HashDelete(keys.citizen_suggestions("cit-1"), "jo-1"),
    ]
    erased = Event.new(
        SuggestionRetracted(
            job_order_id="jo-1", citizen_id="cit-1", suggestion_id="sug-1", reason="erased"
        ),
        actor=SYSTEM_MATCHING,
        occurred_at=T0,
    )
    assert project(erased)[:3] == [
        ZRemove(keys.order_ranking("jo-1"), "cit-1"),
        HashDelete(keys.order_suggestions("jo-1"), "cit-1"),
        HashDelete(keys.order_suggestion_status("jo-1"), "current:cit-1"),
    ]


def test_closing_an_order_sets_its_status() -> None:
    event = Event.new(
        JobOrderClosed(job_order_id="jo-1", reason="filled"),
        actor=Actor(role="employer", id="e"),
        occurred_at=T0,
    )
    write, entry = project(event)
    assert isinstance(write, HashUpdate)
    assert json.loads(dict(write.fields)["status"]) == "closed_filled"
    assert isinstance(entry, ZAdd) and entry.key == keys.order_timeline("jo-1")


def test_placement_facts_land_in_their_own_fields() -> None:
    import datetime as dt

    from schemas.placements import PlacementEnded, PlacementStarted

    started = Event.new(
        PlacementStarted(
            job_order_id="jo-1",
            citizen_id="cit-1",
            placement_id="plc-1",
            suggestion_id="s",
            placement_type="IGU",
            start_date=dt.date(2027, 1, 4),
            weekly_hours_work=29,
            weekly_hours_school=8,
        ),
        actor=Actor(role="consultant", id="k"),
        occurred_at=T0,
    )
    ended = Event.new(
        PlacementEnded(
            job_order_id="jo-1",
            citizen_id="cit-1",
            placement_id="plc-1",
            end_date=dt.date(2027, 6, 1),
            outcome="education",
        ),
        actor=Actor(role="consultant", id="k"),
        occurred_at=T0,
    )
    fields = {w.field for w in project(started) + project(ended) if isinstance(w, HashSet)}
    assert {"plc-1:started", "plc-1:ended"} <= fields


def test_writes_about_an_erased_citizen_are_dropped_whatever_the_order() -> None:
    """The erasure may be read before earlier placement events (another topic): the
    citizen's own keys stay empty either way; the job order keeps its side."""
    erased = Event.new(
        ErasureRequested(citizen_id="cit-1"), actor=Actor(role="consultant", id="c"), occurred_at=T0
    )
    first = ProfileProjection()
    erasure_writes = first(erased)
    assert HashSet(keys.ERASED, "cit-1", T0.isoformat()) in erasure_writes
    after = first(_suggested())
    assert after and all(not w.key.startswith(keys.citizen("cit-1")) for w in after)
    assert any(w.key == keys.order_suggestions("jo-1") for w in after)

    other = ProfileProjection()
    assert any(w.key.startswith(keys.citizen("cit-1") + ":") for w in other(_suggested()))
    assert other(erased) == erasure_writes


def test_per_municipality_views_are_keyed_by_the_events_municipality() -> None:
    suggested = _suggested().model_copy(update={"municipality_code": "0851"})
    writes = project(suggested)
    rank = worklist_rank(T0.date(), 0.8)
    assert ZAdd(keys.worklist("0851"), "sug-1", rank) in writes
    assert HashSet(keys.kpi_facts("0851"), "jo-1:suggested", "1") in writes
    # What the filtered worklist reads instead of the documents: score, postal code, URI.
    assert HashSet(keys.worklist_filters("0851"), "sug-1", "0.8\t\t") in writes
    assert not any(w.key.startswith("worklist") for w in project(_suggested())), "no municipality"
    # Newer days rank above better scores of older days.
    assert worklist_rank(T0.date(), 0.1) > worklist_rank(T0.date().replace(day=23), 0.99)

    accepted = Event.new(
        SuggestionAccepted(job_order_id="jo-1", citizen_id="cit-1", suggestion_id="sug-1"),
        actor=Actor(role="consultant", id="k"),
        occurred_at=T0,
        municipality_code="0851",
    )
    off = project(accepted)
    assert ZRemove(keys.worklist("0851"), "sug-1") in off
    assert ZRemove(keys.worklist_programme("0851", "IGU"), "sug-1") in off
    assert HashDelete(keys.worklist_docs("0851"), "sug-1") in off
    assert HashDelete(keys.worklist_filters("0851"), "sug-1") in off

    started = Event.new(
        PlacementStarted(
            job_order_id="jo-1",
            citizen_id="cit-1",
            placement_id="plc-1",
            placement_type="IGU",
            start_date=T0.date(),
            weekly_hours_work=29,
        ),
        actor=Actor(role="consultant", id="k"),
        occurred_at=T0,
        municipality_code="0851",
    )
    keyed = {w.key for w in project(started)}
    assert {keys.follow_ups("0851"), keys.kpi_facts("0851"), keys.order_placements("jo-1")} <= keyed


def test_writes_coalesce_into_few_commands_keeping_the_order_per_key() -> None:
    writes: list[Write] = [
        HashSet("a", "f1", "1"),
        ZAdd("z", "m1", 0.5),
        HashUpdate("a", (("f2", "2"), ("f3", "3"))),
        ZAdd("z", "m2", 2.0),
        HashDelete("a", "f1"),
        HashSet("a", "f1", "again"),
        ZRemove("z", "m1"),
        HashSet("gone", "x", "1"),
        Delete("gone"),
        HashSet("gone", "y", "2"),
    ]
    assert coalesce(writes) == [
        ("HSET", "a", ["f1", "1", "f2", "2", "f3", "3"]),
        ("HDEL", "a", ["f1"]),
        ("HSET", "a", ["f1", "again"]),
        ("ZADD", "z", ["0.5", "m1", "2.0", "m2"]),
        ("ZREM", "z", ["m1"]),
        ("DEL", "gone", []),
        ("HSET", "gone", ["y", "2"]),
    ]


def test_a_reviewed_suggestion_re_scored_by_matching_stays_off_the_worklist() -> None:
    """Matching re-scores a standing suggestion under its id (an order update, say); one a
    consultant has accepted already must not come back to the worklist, while the order's
    and the citizen's lists take the new score. A projector that starts again knows the
    reviewed ids from the keyspace."""
    suggested = _suggested().model_copy(update={"municipality_code": "0851"})
    accepted = Event.new(
        SuggestionAccepted(job_order_id="jo-1", citizen_id="cit-1", suggestion_id="sug-1"),
        actor=Actor(role="consultant", id="c", municipality_code="0851"),
        occurred_at=T0,
        municipality_code="0851",
    )
    projection = ProfileProjection()
    assert any(keys.is_worklist(w.key) for w in projection(suggested))
    assert HashSet(keys.REVIEWED, "sug-1", "1") in projection(accepted)
    again = projection(suggested)
    assert not any(keys.is_worklist(w.key) for w in again)
    assert any(w.key == keys.order_suggestions("jo-1") for w in again)

    class Stored:
        async def hash(self, key: str) -> dict[str, str]:
            return {"sug-1": "1"} if key == keys.REVIEWED else {}

    restarted = ProfileProjection()
    asyncio.run(restarted.load(Stored()))
    assert not any(keys.is_worklist(w.key) for w in restarted(suggested))


def test_a_suggestion_announced_again_after_its_retraction_is_pending_again() -> None:
    """A restarted worker re-announces a suggestion it holds whose retraction a crashed one
    left on the topic, under the same id: the order's list shows it pending again."""
    retracted = Event.new(
        SuggestionRetracted(
            job_order_id="jo-1", citizen_id="cit-1", suggestion_id="sug-1", reason="outranked"
        ),
        actor=SYSTEM_MATCHING,
        occurred_at=T0,
    )
    facts: dict[str, str] = {}
    for event in (_suggested(), retracted, _suggested()):
        for w in project(event):
            if w.key != keys.order_suggestion_status("jo-1"):
                continue
            if isinstance(w, HashSet):
                facts[w.field] = w.value
            elif isinstance(w, HashUpdate):
                facts.update(dict(w.fields))
        if event is retracted:
            assert statuses_of(facts, ["cit-1"])["cit-1"].status == "retracted"
    assert statuses_of(facts, ["cit-1"])["cit-1"].status == "pending"
    assert statuses_of(facts, ["cit-1"])["cit-1"].retraction_reason is None


def test_an_order_posted_or_updated_writes_its_summary_for_its_employer(
    lager: dict[str, Any],
) -> None:
    """The employer's list reads the title, programme and positions from the summary written
    with the order's document (no order decoded); an update to another employer writes it
    for that one. A close names no employer and leaves the summaries alone."""
    order = JobOrder.model_validate(lager)
    employer = Actor(role="employer", id="e")
    posted = project(
        Event.new(JobOrderPosted(job_order_id=order.job_order_id, version=1, order=order),
                  actor=employer, occurred_at=T0)
    )  # fmt: skip
    summary = keys.employer_order_summaries("12345607")
    (written,) = [w for w in posted if w.key == summary]
    assert isinstance(written, HashSet) and written.field == order.job_order_id
    assert json.loads(written.value) == {
        "title": "Lagermedarbejder", "programme": "IGU", "positions": 2, "version": 1
    }  # fmt: skip
    moved = order.model_copy(
        update={"employer": order.employer.model_copy(update={"cvr": "87654303"}), "positions": 3}
    )
    updated = project(
        Event.new(JobOrderUpdated(job_order_id=order.job_order_id, version=2, order=moved),
                  actor=employer, occurred_at=T0)
    )  # fmt: skip
    (written,) = [w for w in updated if keys.employer_order_summaries("87654303") == w.key]
    assert isinstance(written, HashSet)
    assert json.loads(written.value)["version"] == 2
    assert json.loads(written.value)["positions"] == 3
    assert not any(w.key == summary for w in updated)
    closed = project(
        Event.new(
            JobOrderClosed(job_order_id=order.job_order_id, reason="withdrawn"),
            actor=employer,
            occurred_at=T0,
        )
    )
    assert not any(w.key.endswith(":order-summaries") for w in closed)
