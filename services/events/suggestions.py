"""The events service's own view of suggestions, projected from the placements topic.

Review commands refer to suggestions the matching service made; this view tells the
events service which exist and which were retracted.
"""

from __future__ import annotations

from redis.asyncio import Redis

from schemas.envelope import Event
from schemas.placements import PlacementSuggested, SuggestionRetracted
from services.events.state import SuggestionState
from services.profiles.projections.writes import HashUpdate, Write
from services.profiles.queries import text

VIEW = "events-suggestions"


def suggestion_key(suggestion_id: str) -> str:
    """Relative to the events service's key prefix (the view store puts it in front)."""
    return f"suggestion:{suggestion_id}"


def project_suggestions(event: Event) -> list[Write]:
    p = event.payload
    if isinstance(p, PlacementSuggested):
        fields = (
            ("job_order_id", p.job_order_id),
            ("citizen_id", p.citizen_id),
            ("score", str(p.score)),
            ("retracted", ""),
            ("municipality_code", event.municipality_code or ""),
        )
        return [HashUpdate(suggestion_key(p.suggestion_id), fields)]
    if isinstance(p, SuggestionRetracted):
        retracted = (
            ("job_order_id", p.job_order_id),
            ("citizen_id", p.citizen_id),
            ("retracted", str(p.reason)),
        )
        return [HashUpdate(suggestion_key(p.suggestion_id), retracted)]
    return []


async def load_suggestion(redis: Redis, prefix: str, suggestion_id: str) -> SuggestionState | None:
    raw = await redis.hgetall(prefix + suggestion_key(suggestion_id))
    if not raw:
        return None
    doc = {text(k): text(v) for k, v in raw.items()}
    return SuggestionState(
        job_order_id=doc["job_order_id"],
        citizen_id=doc["citizen_id"],
        score=float(doc.get("score") or 0),
        retracted=doc.get("retracted") or None,
        municipality_code=doc.get("municipality_code") or None,
    )
