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


def tracking(view: str) -> str:
    return f"tracking:{view}"


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


WORKLIST = "worklist"
ERASED = "erased"
