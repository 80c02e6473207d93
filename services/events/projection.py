"""The states commands are decided on, as a projection of the log (pure: event in, writes out).

The events service decides every command on these states and nothing else, so a Redis wipe,
a crash at any point or an event written by another producer leave its decisions equal to
those of a fresh replay. Every write is a plain set or delete, so applying an event twice, or
a batch into a wiped keyspace before it is replayed from the start, ends in the same state.

Each aggregate's hash carries `v`, the id of the last event applied to it: the token a
command's optimistic check compares (see `store.py`). Keys (relative to the keyspace):

- `citizen:{id}` card_version, card (JSON), available, erased; `consents:{id}` consent id ->
  JSON
- `order:{id}` order_version, order (JSON), status (as closed; "filled" is also derived from
  `order-started:{id}`, placement id -> "1", against the order's positions)
- `employer:{cvr}`, `review:{suggestion id}` status, placement_id; `placement:{id}`
- `suggestion:{id}` what matching suggested (job_order_id, citizen_id, score, retracted,
  municipality_code)
- `deadlines` order id by the ordinal of its application deadline, for the sweeper;
  `filling` orders that took a placement and are not closed, for the sweeper to close as
  filled should the service have stopped between the two events.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

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
from schemas.jobs import EmployerRegistered, JobOrderClosed, JobOrderPosted, JobOrderUpdated
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
from services.projection.writes import Delete, HashDelete, HashUpdate, Write, ZAdd, ZRemove

VIEW = "aggregates"
DEADLINES = "deadlines"
FILLING = "filling"

Fields = tuple[tuple[str, str], ...]


def citizen(citizen_id: str) -> str:
    return f"citizen:{citizen_id}"


def consents(citizen_id: str) -> str:
    return f"consents:{citizen_id}"


def order(job_order_id: str) -> str:
    return f"order:{job_order_id}"


def order_started(job_order_id: str) -> str:
    return f"order-started:{job_order_id}"


def employer(cvr: str) -> str:
    return f"employer:{cvr}"


def review(suggestion_id: str) -> str:
    return f"review:{suggestion_id}"


def placement(placement_id: str) -> str:
    return f"placement:{placement_id}"


def citizen_placements(citizen_id: str) -> str:
    """The citizen's placements (hash: placement id -> active or ended)."""
    return f"citizen-placements:{citizen_id}"


def suggestion(suggestion_id: str) -> str:
    return f"suggestion:{suggestion_id}"


def project(event: Event) -> list[Write]:
    handler = _HANDLERS.get(type(event.payload))
    return handler(event) if handler else []


def _touch(key: str, event: Event, fields: Fields = ()) -> HashUpdate:
    return HashUpdate(key, (("v", str(event.event_id)), *fields))


def _card_registered(event: Event) -> list[Write]:
    p: Any = event.payload
    # A card registered afresh (also after an erasure) starts a new record.
    return [
        Delete(citizen(p.citizen_id)),
        Delete(consents(p.citizen_id)),
        _touch(
            citizen(p.citizen_id),
            event,
            (
                ("card_version", str(p.version)),
                ("card", p.card.model_dump_json()),
                ("available", "1"),
            ),
        ),
    ]


def _card_updated(event: Event) -> list[Write]:
    p: Any = event.payload
    fields = (("card_version", str(p.version)), ("card", p.card.model_dump_json()))
    return [_touch(citizen(p.citizen_id), event, fields)]


def _availability(event: Event) -> list[Write]:
    p: Any = event.payload
    fields = (("available", "1" if p.available else "0"),)
    return [_touch(citizen(p.citizen_id), event, fields)]


def _consent_given(event: Event) -> list[Write]:
    p: Any = event.payload
    consent = HashUpdate(
        consents(p.citizen_id),
        ((p.consent_id, _json(scope=p.scope, employer_cvr=p.employer_cvr)),),
    )
    return [consent, _touch(citizen(p.citizen_id), event)]


def _consent_withdrawn(event: Event) -> list[Write]:
    p: Any = event.payload
    return [HashDelete(consents(p.citizen_id), p.consent_id), _touch(citizen(p.citizen_id), event)]


def _erased(event: Event) -> list[Write]:
    p: Any = event.payload
    return [
        Delete(citizen(p.citizen_id)),
        Delete(consents(p.citizen_id)),
        Delete(citizen_placements(p.citizen_id)),
        _touch(citizen(p.citizen_id), event, (("erased", "1"),)),
    ]


def _deadline(event: Event) -> Write:
    p: Any = event.payload
    deadline = p.order.application_deadline
    if deadline is None:
        return ZRemove(DEADLINES, p.job_order_id)
    return ZAdd(DEADLINES, p.job_order_id, float(deadline.toordinal()))


def _order_posted(event: Event) -> list[Write]:
    p: Any = event.payload
    fields = (
        ("order_version", str(p.version)),
        ("order", p.order.model_dump_json()),
        ("status", "open"),
    )
    return [
        Delete(order(p.job_order_id)),
        Delete(order_started(p.job_order_id)),
        _touch(order(p.job_order_id), event, fields),
        _deadline(event),
    ]


def _order_updated(event: Event) -> list[Write]:
    p: Any = event.payload
    fields = (("order_version", str(p.version)), ("order", p.order.model_dump_json()))
    return [_touch(order(p.job_order_id), event, fields), _deadline(event)]


def _order_closed(event: Event) -> list[Write]:
    p: Any = event.payload
    return [
        _touch(order(p.job_order_id), event, (("status", f"closed_{p.reason}"),)),
        ZRemove(DEADLINES, p.job_order_id),
        ZRemove(FILLING, p.job_order_id),
    ]


def _employer(event: Event) -> list[Write]:
    p: Any = event.payload
    return [_touch(employer(p.cvr), event, (("registered", "1"),))]


def _suggested(event: Event) -> list[Write]:
    p: Any = event.payload
    fields = (
        ("job_order_id", p.job_order_id),
        ("citizen_id", p.citizen_id),
        ("score", str(p.score)),
        ("retracted", ""),
        ("municipality_code", event.municipality_code or ""),
    )
    return [HashUpdate(suggestion(p.suggestion_id), fields)]


def _retracted(event: Event) -> list[Write]:
    p: Any = event.payload
    fields = (
        ("job_order_id", p.job_order_id),
        ("citizen_id", p.citizen_id),
        ("retracted", str(p.reason)),
    )
    return [HashUpdate(suggestion(p.suggestion_id), fields)]


def _reviewed(status: str) -> Callable[[Event], list[Write]]:
    def apply(event: Event) -> list[Write]:
        p: Any = event.payload
        return [_touch(review(p.suggestion_id), event, (("status", status),))]

    return apply


def _employer_decided(event: Event) -> list[Write]:
    p: Any = event.payload
    return [_touch(review(p.suggestion_id), event, (("status", p.decision),))]


def _placement_started(event: Event) -> list[Write]:
    p: Any = event.payload
    writes: list[Write] = []
    if p.suggestion_id:
        fields = (("status", "placed"), ("placement_id", p.placement_id))
        writes.append(_touch(review(p.suggestion_id), event, fields))
    state = (
        ("suggestion_id", p.suggestion_id or ""),
        ("job_order_id", p.job_order_id),
        ("citizen_id", p.citizen_id),
        ("placement_type", p.placement_type),
        ("start_date", p.start_date.isoformat()),
        ("status", "active"),
        ("municipality_code", event.municipality_code or ""),
    )
    return [
        *writes,
        _touch(placement(p.placement_id), event, state),
        # The citizen is in a placement now: her version moves, so that of two placements
        # started for her at once only one gets her (see commands.decide_start_placement).
        HashUpdate(citizen_placements(p.citizen_id), ((p.placement_id, "active"),)),
        _touch(citizen(p.citizen_id), event),
        HashUpdate(order_started(p.job_order_id), ((p.placement_id, "1"),)),
        _touch(order(p.job_order_id), event),
        ZAdd(FILLING, p.job_order_id, event.occurred_at.timestamp()),
    ]


def _followed_up(event: Event) -> list[Write]:
    p: Any = event.payload
    return [_touch(placement(p.placement_id), event)]


def _placement_ended(event: Event) -> list[Write]:
    p: Any = event.payload
    fields = (("status", "ended"), ("outcome", p.outcome))
    return [
        _touch(placement(p.placement_id), event, fields),
        HashUpdate(citizen_placements(p.citizen_id), ((p.placement_id, "ended"),)),
    ]


def _json(**values: Any) -> str:
    return json.dumps(values, sort_keys=True)


_HANDLERS: dict[type, Callable[[Event], list[Write]]] = {
    CompetenceCardRegistered: _card_registered,
    CompetenceCardUpdated: _card_updated,
    CitizenAvailabilityChanged: _availability,
    ConsentGiven: _consent_given,
    ConsentWithdrawn: _consent_withdrawn,
    ErasureRequested: _erased,
    CitizenErased: _erased,
    JobOrderPosted: _order_posted,
    JobOrderUpdated: _order_updated,
    JobOrderClosed: _order_closed,
    EmployerRegistered: _employer,
    PlacementSuggested: _suggested,
    SuggestionRetracted: _retracted,
    SuggestionAccepted: _reviewed("accepted"),
    SuggestionRejected: _reviewed("rejected"),
    CandidatePresented: _reviewed("presented"),
    EmployerDecisionRecorded: _employer_decided,
    PlacementStarted: _placement_started,
    FollowUpRecorded: _followed_up,
    PlacementEnded: _placement_ended,
}
