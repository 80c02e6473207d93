"""Turn the domain's decisions into events, with ids derived from their cause.

The id of an output is uuid5(cause event id, suggestion, kind): the same decision made again
from the same cause yields the same id, so a repeat is recognisable as one. The start-up
reconciliation's outputs derive theirs from the last placements event about the pair (and
the content), so a reconciliation that is interrupted and run again emits the same events.
Suggestion ids are the state's (`MatchingState.next_suggestion_id`): a pair suggested again
after its suggestion was retracted or rejected is a new suggestion, with a new id.
"""

from __future__ import annotations

from datetime import datetime

from schemas.envelope import SYSTEM_MATCHING, Event, derived_event_id
from schemas.placements import AppliedEligibility, PlacementSuggested, SuggestionRetracted
from services.matching.domain.state import Decision, Reconciliation, Suggest


def _suggested(decision: Suggest, model_version: str) -> PlacementSuggested:
    c = decision.candidate
    return PlacementSuggested(
        job_order_id=decision.order.job_order_id,
        citizen_id=c.citizen_id,
        suggestion_id=decision.suggestion_id,
        score=c.scored.score,
        rank=decision.rank,
        model_version=model_version,
        card_version=c.card_version,
        order_version=decision.order.version,
        reasons=list(c.scored.reasons),
        missing=list(c.scored.missing),
        programme=decision.order.order.programme,
        occupation_uri=decision.order.occupation.uri,
        title=decision.order.order.title,
        worksite_postal_code=decision.order.postal_code,
        eligibility=AppliedEligibility(
            programme=c.scored.eligibility.programme,
            eligible=c.scored.eligibility.eligible,
            reasons=list(c.scored.eligibility.reasons),
        ),
    )


def to_event(decision: Decision, cause: Event, model_version: str) -> Event:
    payload: PlacementSuggested | SuggestionRetracted
    municipality: str | None
    if isinstance(decision, Suggest):
        payload = _suggested(decision, model_version)
        sid = payload.suggestion_id
        municipality = decision.order.order.municipality_code
    else:
        sid = decision.suggestion_id
        payload = SuggestionRetracted(
            job_order_id=decision.job_order_id,
            citizen_id=decision.candidate.citizen_id,
            suggestion_id=sid,
            reason=decision.reason,
        )
        municipality = decision.municipality_code or cause.municipality_code
    return Event.new(
        payload,
        actor=SYSTEM_MATCHING,
        occurred_at=cause.occurred_at,
        event_id=derived_event_id(cause.event_id, sid, payload.event_type),
        correlation_id=cause.correlation_id,
        causation_id=cause.event_id,
        municipality_code=municipality,
    )


def reconciliation_events(rec: Reconciliation, model_version: str, now: datetime) -> list[Event]:
    """The events that make the placements topic show what the state holds: retractions
    first (an order's freed places before their new holders), then the suggestions.

    `now`: the latest time the log shows (a replay of the same log gives the same events).
    """
    out: list[Event] = []
    for orphan in rec.retract:
        seen = orphan.emitted
        # The id the topic shows live for the pair.
        sid = seen.suggestion_id
        retracted = SuggestionRetracted(
            job_order_id=orphan.job_order_id,
            citizen_id=orphan.citizen_id,
            suggestion_id=sid,
            reason=orphan.reason,
        )
        cause = seen.last_event_id
        out.append(
            Event.new(
                retracted,
                actor=SYSTEM_MATCHING,
                occurred_at=max(now, seen.occurred_at),
                event_id=derived_event_id("reconcile", cause, sid, retracted.event_type),
                correlation_id=seen.correlation_id,
                causation_id=cause,
                # The suggestion's own: views file it (and take it off) by municipality.
                municipality_code=seen.municipality_code,
            )
        )
    for item in rec.announce:
        suggested = _suggested(item.suggest, model_version)
        last = item.emitted.last_event_id if item.emitted is not None else None
        out.append(
            Event.new(
                suggested,
                actor=SYSTEM_MATCHING,
                occurred_at=now,
                event_id=derived_event_id(
                    "reconcile",
                    last,
                    suggested.suggestion_id,
                    suggested.event_type,
                    suggested.card_version,
                    suggested.order_version,
                    suggested.score,
                    model_version,
                ),
                causation_id=last,
                municipality_code=item.suggest.order.order.municipality_code,
            )
        )
    return out
