"""The skeleton's views, as pure handlers: event -> writes.

- citizen (hash): the current card, its version, availability;
- citizen suggestions (hash): open suggestions of the citizen, by job order;
- job order (hash): the order, its version and status;
- job order ranking (sorted set) + suggestions (hash): ranked suggestions with reasons;
- employer (hash): name and CVR; the summaries of its job orders (hash).
Every write is keyed by the aggregate and sets absolute values, so applying an event twice
gives the same view.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, get_args

import orjson

from schemas.audit import PersonalDataAccessed
from schemas.citizens import (
    CitizenAvailabilityChanged,
    CitizenErased,
    CompetenceCardRegistered,
    CompetenceCardUpdated,
    ConsentGiven,
    ConsentWithdrawn,
    ErasureRequested,
)
from schemas.envelope import Event
from schemas.jobs import (
    EmployerRegistered,
    JobOrderClosed,
    JobOrderPosted,
    JobOrderUpdated,
    Programme,
)
from schemas.placements import (
    CandidatePresented,
    EmployerDecisionRecorded,
    FollowUpRecorded,
    PlacementEnded,
    PlacementStarted,
    PlacementSuggested,
    SuggestionAccepted,
    SuggestionRejected,
    SuggestionRetracted,
)
from schemas.reports import FairnessReported, ModelEvaluated
from schemas.topics import AUDIT, CITIZENS, EMPLOYERS, JOB_ORDERS, PLACEMENTS, REPORTS
from services.profiles.projections import keys
from services.projection.writes import (
    Delete,
    HashDelete,
    HashSet,
    HashUpdate,
    Write,
    ZAdd,
    ZRemove,
)
from services.reference.missing import explained

PROGRAMMES: tuple[str, ...] = get_args(Programme)

# Each view and the topics it is built from: its consumer lag is theirs.
SOURCES: dict[str, tuple[str, ...]] = {
    "citizens": (CITIZENS.name, PLACEMENTS.name),
    "job-orders": (JOB_ORDERS.name, PLACEMENTS.name),
    "timelines": (CITIZENS.name, JOB_ORDERS.name, PLACEMENTS.name),
    "worklists": (PLACEMENTS.name,),
    "employers": (EMPLOYERS.name, JOB_ORDERS.name, PLACEMENTS.name, CITIZENS.name),
    "kpis": (JOB_ORDERS.name, PLACEMENTS.name),
    "reports": (REPORTS.name,),
    "access-logs": (AUDIT.name,),
}


_DUMP_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def dump(doc: Any) -> str:
    """Compact JSON with sorted keys: the same document gives the same bytes. orjson, because
    the standard encoder was a third of the rebuild's projection time."""
    return orjson.dumps(doc, default=str, option=_DUMP_OPTIONS).decode()


def _fields(event: Event, **values: Any) -> tuple[tuple[str, str], ...]:
    values["updated_at"] = event.occurred_at.isoformat()
    values["last_event_type"] = event.event_type
    # Every value as JSON, strings too: a CVR or a postal code must not come back a number.
    return tuple((name, dump(value)) for name, value in sorted(values.items()))


def timeline(event: Event) -> list[Write]:
    """An entry in the timeline of every citizen and job order the event is about: who did
    what, when. Keyed by event id and scored by time, so a replay writes the same entries."""
    p = event.payload
    citizen_id = getattr(p, "citizen_id", None)
    job_order_id = getattr(p, "job_order_id", None)
    actor = event.actor
    entry = dump(
        {
            "event_id": event.event_id,
            "event_type": event.event_type,
            "occurred_at": event.occurred_at,
            # Who: role and subject, and the tenant their token named, if any.
            "actor": actor.model_dump(exclude_none=True),
            "citizen_id": citizen_id,
            "job_order_id": job_order_id,
        }
    )
    at = event.occurred_at.timestamp()
    writes: list[Write] = []
    if isinstance(citizen_id, str) and not isinstance(p, ErasureRequested | CitizenErased):
        writes.append(ZAdd(keys.citizen_timeline(citizen_id), entry, at))
    if isinstance(job_order_id, str):
        writes.append(ZAdd(keys.order_timeline(job_order_id), entry, at))
    return writes


def erase(citizen_id: str) -> list[Write]:
    return [Delete(key) for key in keys.citizen_keys(citizen_id)]


def access_logged(event: Event, p: PersonalDataAccessed) -> list[Write]:
    """An entry in the citizen's access log, keyed by event id and scored by time."""
    entry = dump(
        {
            "event_id": event.event_id,
            "occurred_at": event.occurred_at,
            "actor": event.actor.model_dump(exclude_none=True),
            **p.model_dump(mode="json", exclude={"citizen_id"}),
        }
    )
    return [ZAdd(keys.access_log(p.citizen_id), entry, event.occurred_at.timestamp())]


def project(event: Event) -> list[Write]:
    """All writes one event causes across the views."""
    if isinstance(event.payload, PersonalDataAccessed):
        return access_logged(event, event.payload)
    return _current(event) + timeline(event)


# A suggestion's nested models, dumped in one call.
_NESTED = {"reasons", "eligibility"}


def _suggested(event: Event, p: PlacementSuggested) -> list[Write]:
    """The ranked suggestion in the order's and the citizen's views, and on the worklist."""
    sid = p.suggestion_id
    doc = dump(
        {
            "suggestion_id": p.suggestion_id,
            "job_order_id": p.job_order_id,
            "citizen_id": p.citizen_id,
            "score": p.score,
            "rank_at_suggestion": p.rank,
            "model_version": p.model_version,
            "card_version": p.card_version,
            "order_version": p.order_version,
            **p.model_dump(include=_NESTED),
            "missing": p.missing,
            # The same gaps as sentences (code, text_da, text_en), named from the shipped
            # reference data: an API reader gets Danish, not "gap:<URI>".
            "missing_text": explained(p.missing),
            "suggested_at": event.occurred_at,
            "event_id": event.event_id,
        }
    )
    pending = dump(
        {
            "suggestion_id": p.suggestion_id,
            "job_order_id": p.job_order_id,
            "citizen_id": p.citizen_id,
            "score": p.score,
            "model_version": p.model_version,
            "suggested_at": event.occurred_at,
            "municipality_code": event.municipality_code,
            "programme": p.programme,
            "occupation_uri": p.occupation_uri,
            "title": p.title,
            "worksite_postal_code": p.worksite_postal_code,
        }
    )
    writes: list[Write] = [
        ZAdd(keys.order_ranking(p.job_order_id), p.citizen_id, p.score),
        HashSet(keys.order_suggestions(p.job_order_id), p.citizen_id, doc),
        HashSet(keys.citizen_suggestions(p.citizen_id), p.job_order_id, doc),
        # The pair's current suggestion: its status is read off the facts about that id.
        # Announced again under the same id after a retraction of it (a restarted worker
        # re-announcing what it holds), it is live again: both are on the pair's partition,
        # so every reading order applies them in this order. (An empty reason rather than a
        # delete keeps a batch's writes to the hash one HSET.)
        HashUpdate(
            keys.order_suggestion_status(p.job_order_id),
            ((f"current:{p.citizen_id}", sid), (f"{sid}:retracted", "")),
        ),
        HashUpdate(
            keys.citizen_suggestion_status(p.citizen_id),
            ((f"current:{p.job_order_id}", sid), (f"{sid}:retracted", "")),
        ),
    ]
    muni = event.municipality_code
    if muni is None:  # written before events carried the order's municipality
        return writes
    rank = worklist_rank(event.occurred_at.date(), p.score)
    writes += [
        HashSet(keys.worklist_docs(muni), p.suggestion_id, pending),
        HashSet(keys.worklist_filters(muni), p.suggestion_id, worklist_filter(p)),
        ZAdd(keys.worklist(muni), p.suggestion_id, rank),
        HashSet(keys.kpi_facts(muni), f"{p.job_order_id}:suggested", "1"),
    ]
    if p.programme:
        writes.append(ZAdd(keys.worklist_programme(muni, p.programme), p.suggestion_id, rank))
    return writes


def _current(event: Event) -> list[Write]:
    p = event.payload
    if type(p) is PlacementSuggested:  # most of the log: first
        return _suggested(event, p)
    if isinstance(p, CompetenceCardRegistered | CompetenceCardUpdated):
        fields = _fields(
            event,
            citizen_id=p.citizen_id,
            municipality_code=p.card.municipality_code,
            version=p.version,
            card=p.card.model_dump(mode="json"),
            links=[link.model_dump(mode="json") for link in p.links],
            eligibility=[e.model_dump(mode="json") for e in p.eligibility],
        )
        return [HashUpdate(keys.citizen(p.citizen_id), fields)]
    if isinstance(p, CitizenAvailabilityChanged):
        return [HashUpdate(keys.citizen(p.citizen_id), _fields(event, available=p.available))]
    if isinstance(p, ErasureRequested | CitizenErased):
        return [
            *erase(p.citizen_id),
            # The tombstone that keeps later writes about the citizen out (see guarded.py).
            HashSet(keys.ERASED, p.citizen_id, event.occurred_at.isoformat()),
        ]
    if isinstance(p, EmployerRegistered):
        return [HashUpdate(keys.employer(p.cvr), _fields(event, cvr=p.cvr, name=p.name))]
    if isinstance(p, JobOrderPosted | JobOrderUpdated):
        muni, cvr = p.order.municipality_code, p.order.employer.cvr
        fields = _fields(
            event,
            job_order_id=p.job_order_id,
            version=p.version,
            status="open",
            municipality_code=muni,
            employer_cvr=cvr,
            order=p.order.model_dump(mode="json"),
            links=[link.model_dump(mode="json") for link in p.links],
        )
        writes: list[Write] = [
            HashUpdate(keys.job_order(p.job_order_id), fields),
            HashSet(keys.employer_orders(cvr), p.job_order_id, event.occurred_at.isoformat()),
            HashSet(keys.employer_order_summaries(cvr), p.job_order_id, order_summary(p)),
            HashSet(keys.kpi_facts(muni), f"{p.job_order_id}:programme", p.order.programme),
        ]
        if isinstance(p, JobOrderPosted):
            at = event.occurred_at.timestamp()
            writes.append(ZAdd(keys.kpi_orders(muni), p.job_order_id, at))
        return writes
    if isinstance(p, JobOrderClosed):
        status = f"closed_{p.reason}"
        return [HashUpdate(keys.job_order(p.job_order_id), _fields(event, status=status))]
    if isinstance(p, ModelEvaluated | FairnessReported):
        kind = "model" if isinstance(p, ModelEvaluated) else "fairness"
        report = {
            **p.model_dump(mode="json", by_alias=True),
            "event_type": event.event_type,
            "reported_at": event.occurred_at.isoformat(),
            "reported_by": event.actor.id,
        }
        return [HashSet(keys.reports(kind), p.report_id, dump(report))]
    if isinstance(p, SuggestionRetracted):
        return _retracted(event, p)
    return _lifecycle(event)


def order_summary(p: JobOrderPosted | JobOrderUpdated) -> str:
    """The order as the employer's list shows it (see keys.employer_order_summaries): what
    the list would otherwise decode the whole order for. The version ties it to the order's
    document, written by the same event."""
    order = p.order
    return dump(
        {
            "title": order.title,
            "programme": order.programme,
            "positions": order.positions,
            "version": p.version,
        }
    )


def _retracted(event: Event, p: SuggestionRetracted) -> list[Write]:
    """Off the worklist and the citizen's open suggestions; the order's list keeps it, with
    the status `retracted` unless a review got further (see queries.suggestion_status). An
    erased citizen's suggestion leaves the order's list altogether."""
    oid, cid, sid = p.job_order_id, p.citizen_id, p.suggestion_id
    writes: list[Write] = [
        HashDelete(keys.citizen_suggestions(cid), oid),
        *_off_worklist(event.municipality_code, sid),
    ]
    if p.reason == "erased":
        return [
            ZRemove(keys.order_ranking(oid), cid),
            HashDelete(keys.order_suggestions(oid), cid),
            HashDelete(keys.order_suggestion_status(oid), f"current:{cid}"),
            *writes,
        ]
    return [
        HashSet(keys.order_suggestion_status(oid), f"{sid}:retracted", p.reason),
        HashSet(keys.citizen_suggestion_status(cid), f"{sid}:retracted", p.reason),
        *writes,
    ]


def _status_fact(job_order_id: str, citizen_id: str, suggestion_id: str, fact: str) -> list[Write]:
    """A review fact about one suggestion, for its status in the order's and citizen's lists."""
    field = f"{suggestion_id}:{fact}"
    return [
        HashSet(keys.order_suggestion_status(job_order_id), field, "1"),
        HashSet(keys.citizen_suggestion_status(citizen_id), field, "1"),
    ]


_REVIEW_STATUS = {
    SuggestionAccepted: "accepted",
    SuggestionRejected: "rejected",
    CandidatePresented: "presented",
}


def _lifecycle(event: Event) -> list[Write]:
    """Review decisions, placements and consents: each fact in its own hash field, so no
    write needs to read what an earlier event wrote."""
    p = event.payload
    base: dict[str, Any] = {
        "at": event.occurred_at.isoformat(),
        "actor": event.actor.model_dump(),
        "event_type": event.event_type,
    }
    if isinstance(p, SuggestionAccepted | SuggestionRejected | CandidatePresented):
        doc: dict[str, Any] = {
            **base,
            "status": _REVIEW_STATUS[type(p)],
            "suggestion_id": p.suggestion_id,
        }
        if isinstance(p, SuggestionRejected):
            doc |= {"reason_code": p.reason_code, "reason_text": p.reason_text}
        # Reviewed: off the consultants' worklist.
        writes = [
            *_review(p.job_order_id, p.citizen_id, doc),
            *_off_worklist(event.municipality_code, p.suggestion_id),
            *_status_fact(p.job_order_id, p.citizen_id, p.suggestion_id, doc["status"]),
            HashSet(keys.REVIEWED, p.suggestion_id, "1"),
        ]
        if isinstance(p, CandidatePresented):
            presented = {**doc, "job_order_id": p.job_order_id, "citizen_id": p.citizen_id}
            field = f"{p.job_order_id}:{p.citizen_id}"
            writes.append(HashSet(keys.employer_candidates(p.employer_cvr), field, dump(presented)))
            writes += _kpi(event, f"{p.job_order_id}:presented", "1")
        return writes
    if isinstance(p, EmployerDecisionRecorded):
        decided = {
            **base,
            "status": p.decision,
            "reason": p.reason,
            "suggestion_id": p.suggestion_id,
        }
        writes = _review(p.job_order_id, p.citizen_id, decided)
        writes += _status_fact(p.job_order_id, p.citizen_id, p.suggestion_id, p.decision)
        if p.decision == "hired":
            day = event.occurred_at.date().isoformat()
            writes += _kpi(event, f"{p.job_order_id}:hired:{p.citizen_id}", day)
        return writes
    if isinstance(p, PlacementStarted):
        doc = {**base, **p.model_dump(mode="json"), "status": "active"}
        fact = {"placement_type": p.placement_type, "start_date": p.start_date.isoformat()}
        writes = _placement(event, f"{p.placement_id}:started", doc) + _kpi(
            event, f"{p.job_order_id}:placement:{p.placement_id}", dump(fact)
        )
        if p.suggestion_id:
            writes += _status_fact(p.job_order_id, p.citizen_id, p.suggestion_id, "placed")
        return writes
    if isinstance(p, FollowUpRecorded):
        doc = {**base, **p.model_dump(mode="json")}
        field = f"{p.placement_id}:follow-up:{p.date.isoformat()}:{event.event_id}"
        return _placement(event, field, doc)
    if isinstance(p, PlacementEnded):
        doc = {**base, **p.model_dump(mode="json"), "status": "ended"}
        fact = {"outcome": p.outcome, "end_date": p.end_date.isoformat()}
        return _placement(event, f"{p.placement_id}:ended", doc) + _kpi(
            event, f"{p.job_order_id}:ended:{p.placement_id}", dump(fact)
        )
    if isinstance(p, ConsentGiven):
        doc = {**base, **p.model_dump(mode="json")}
        return [HashSet(keys.citizen_consents(p.citizen_id), p.consent_id, dump(doc))]
    if isinstance(p, ConsentWithdrawn):
        return [HashDelete(keys.citizen_consents(p.citizen_id), p.consent_id)]
    return []


# Free texts about a citizen (review reasons, follow-up notes) are kept in the citizen's own
# keys only, which an erasure deletes; the order's and the municipality's views hold the
# statuses and dates (docs/privacy.md).
_TEXTS = frozenset(("reason", "reason_text", "note"))


def _without_texts(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in _TEXTS}


def _review(job_order_id: str, citizen_id: str, doc: dict[str, Any]) -> list[Write]:
    # One field per decision kind keeps the history; the query shows the latest.
    field_name = str(doc["status"])
    shared = _without_texts(doc)
    return [
        HashSet(keys.order_reviews(job_order_id), f"{citizen_id}:{field_name}", dump(shared)),
        HashSet(keys.citizen_reviews(citizen_id), f"{job_order_id}:{field_name}", dump(doc)),
    ]


def _placement(event: Event, field: str, doc: dict[str, Any]) -> list[Write]:
    """The placement fact in the order's and the citizen's views, and in the municipality's
    follow-up list."""
    p = event.payload
    assert isinstance(p, PlacementStarted | FollowUpRecorded | PlacementEnded)
    shared = dump(_without_texts(doc))
    writes: list[Write] = [
        HashSet(keys.order_placements(p.job_order_id), field, shared),
        HashSet(keys.citizen_placements(p.citizen_id), field, dump(doc)),
    ]
    if event.municipality_code:
        writes.append(HashSet(keys.follow_ups(event.municipality_code), field, shared))
    return writes


def _kpi(event: Event, field: str, value: str) -> list[Write]:
    muni = event.municipality_code
    return [HashSet(keys.kpi_facts(muni), field, value)] if muni else []


def worklist_rank(day: dt.date, score: float) -> float:
    """Newest day first, then best score: one sorted-set score for both."""
    return day.toordinal() * 10 + score


def worklist_filter(p: PlacementSuggested) -> str:
    """The fields the worklist filters on, compactly (see keys.worklist_filters): the score
    as its shortest exact repr, so `float()` gives the very number the document holds."""
    return f"{p.score!r}\t{p.worksite_postal_code or ''}\t{p.occupation_uri or ''}"


def _off_worklist(municipality: str | None, suggestion_id: str) -> list[Write]:
    if municipality is None:
        return []
    return [
        HashDelete(keys.worklist_docs(municipality), suggestion_id),
        HashDelete(keys.worklist_filters(municipality), suggestion_id),
        ZRemove(keys.worklist(municipality), suggestion_id),
        # Blind removal from every programme's list: no need to know which one it was in.
        *(ZRemove(keys.worklist_programme(municipality, g), suggestion_id) for g in PROGRAMMES),
    ]
