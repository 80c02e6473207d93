"""Redis key layout of the views (one place, so API and projections agree).

Keys are relative to a keyspace: the store and the readers put the active keyspace's prefix
in front (see services/profiles/keyspace.py), so a rebuild can fill a fresh one.
"""

from __future__ import annotations


def citizen(citizen_id: str) -> str:
    return f"citizen:{citizen_id}"


def citizen_suggestions(citizen_id: str) -> str:
    return f"citizen:{citizen_id}:suggestions"


def job_order(job_order_id: str) -> str:
    return f"job-order:{job_order_id}"


def order_ranking(job_order_id: str) -> str:
    return f"job-order:{job_order_id}:ranking"


def order_suggestions(job_order_id: str) -> str:
    return f"job-order:{job_order_id}:suggestions"


def employer(cvr: str) -> str:
    return f"employer:{cvr}"


def reports(kind: str) -> str:
    return f"reports:{kind}"


def citizen_timeline(citizen_id: str) -> str:
    return f"citizen:{citizen_id}:timeline"


def order_timeline(job_order_id: str) -> str:
    return f"job-order:{job_order_id}:timeline"


def order_reviews(job_order_id: str) -> str:
    return f"job-order:{job_order_id}:reviews"


def citizen_reviews(citizen_id: str) -> str:
    return f"citizen:{citizen_id}:reviews"


def order_placements(job_order_id: str) -> str:
    return f"job-order:{job_order_id}:placements"


def citizen_placements(citizen_id: str) -> str:
    return f"citizen:{citizen_id}:placements"


def citizen_consents(citizen_id: str) -> str:
    return f"citizen:{citizen_id}:consents"


def worklist(municipality: str) -> str:
    """Suggestions awaiting review, scored newest day first then best (sorted set)."""
    return f"worklist:{municipality}"


def worklist_programme(municipality: str, programme: str) -> str:
    return f"worklist:{municipality}:programme:{programme}"


def worklist_docs(municipality: str) -> str:
    return f"worklist:{municipality}:docs"


def follow_ups(municipality: str) -> str:
    """Placements of the municipality: starts, follow-ups and ends (hash, field per fact)."""
    return f"follow-ups:{municipality}"


def employer_orders(cvr: str) -> str:
    return f"employer:{cvr}:orders"


def employer_candidates(cvr: str) -> str:
    return f"employer:{cvr}:candidates"


def kpi_orders(municipality: str) -> str:
    """Job orders of the municipality scored by when they were posted (sorted set)."""
    return f"kpi:{municipality}:orders"


def kpi_facts(municipality: str) -> str:
    """What became of each order: suggested, presented, hired, placements (hash)."""
    return f"kpi:{municipality}:facts"


def citizen_keys(citizen_id: str) -> tuple[str, ...]:
    """Every key that holds the citizen's own data: what an erasure deletes."""
    return (
        citizen(citizen_id),
        citizen_suggestions(citizen_id),
        citizen_timeline(citizen_id),
        citizen_reviews(citizen_id),
        citizen_placements(citizen_id),
        citizen_consents(citizen_id),
    )


def is_citizens_own(key: str, citizen_id: str) -> bool:
    own = citizen(citizen_id)
    return key == own or key.startswith(own + ":")


ERASED = "erased"
