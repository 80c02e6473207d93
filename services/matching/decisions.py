"""Turn the domain's decisions into events, with ids derived from their cause.

The id of an output is uuid5(cause event id, suggestion, kind): processing the same input
again after a crash yields the same ids, so consumers drop the repeats.
"""

from __future__ import annotations

from schemas.envelope import SYSTEM_MATCHING, Event, derived_event_id
from schemas.placements import AppliedEligibility, PlacementSuggested, SuggestionRetracted
from services.matching.domain.state import Decision, Suggest, suggestion_id


def to_event(decision: Decision, cause: Event, model_version: str) -> Event:
    payload: PlacementSuggested | SuggestionRetracted
    municipality: str | None
    if isinstance(decision, Suggest):
        c = decision.candidate
        sid = suggestion_id(decision.order.job_order_id, c.citizen_id)
        payload = PlacementSuggested(
            job_order_id=decision.order.job_order_id,
            citizen_id=c.citizen_id,
            suggestion_id=sid,
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
        municipality = decision.order.order.municipality_code
    else:
        c = decision.candidate
        sid = suggestion_id(decision.job_order_id, c.citizen_id)
        payload = SuggestionRetracted(
            job_order_id=decision.job_order_id,
            citizen_id=c.citizen_id,
            suggestion_id=sid,
            reason=decision.reason,  # type: ignore[arg-type]
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
