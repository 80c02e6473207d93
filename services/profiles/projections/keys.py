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


def order_suggestion_status(job_order_id: str) -> str:
    """What became of the order's suggestions (hash): `current:{citizen}` the pair's latest
    suggestion id, `{suggestion id}:{review status}` "1" per review fact (accepted, rejected,
    presented, interview, hired, declined, placed), `{suggestion id}:retracted` the reason.
    Plain sets only: the status is worked out when read (see queries.suggestion_status)."""
    return f"job-order:{job_order_id}:suggestion-status"


def citizen_suggestion_status(citizen_id: str) -> str:
    """The same for the citizen's suggestions, `current:{job order}` per pair."""
    return f"citizen:{citizen_id}:suggestion-status"


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


def worklist_filters(municipality: str) -> str:
    """What the worklist filters on, per suggestion (hash): "score\tpostal code\toccupation
    URI", so that a filtered worklist reads ~80 bytes per entry and parses no JSON."""
    return f"worklist:{municipality}:filters"


def follow_ups(municipality: str) -> str:
    """Placements of the municipality: starts, follow-ups and ends (hash, field per fact)."""
    return f"follow-ups:{municipality}"


def employer_orders(cvr: str) -> str:
    return f"employer:{cvr}:orders"


def employer_order_summaries(cvr: str) -> str:
    """The employer's job orders as its pages list them (hash: order id -> JSON: title,
    programme, positions, version), written with the order's document by the same posting
    or update, so that the employer's list decodes no order document (queries.employer).
    An order's status, update time, presented candidates and filled positions are read
    beside it, from the order's own keys: a close or a placement does not name the employer.
    """
    return f"employer:{cvr}:order-summaries"


def employer_candidates(cvr: str) -> str:
    return f"employer:{cvr}:candidates"


def kpi_orders(municipality: str) -> str:
    """Job orders of the municipality scored by when they were posted (sorted set)."""
    return f"kpi:{municipality}:orders"


def kpi_facts(municipality: str) -> str:
    """What became of each order: suggested, presented, hired, placements (hash)."""
    return f"kpi:{municipality}:facts"


def access_log(citizen_id: str) -> str:
    """Who read or changed the citizen's data. Not the citizen's own data (it names the
    readers, not the citizen's content), so an erasure keeps it: the audit must outlive it."""
    return f"access-log:{citizen_id}"


def citizen_keys(citizen_id: str) -> tuple[str, ...]:
    """Every key that holds the citizen's own data: what an erasure deletes."""
    return (
        citizen(citizen_id),
        citizen_suggestions(citizen_id),
        citizen_suggestion_status(citizen_id),
        citizen_timeline(citizen_id),
        citizen_reviews(citizen_id),
        citizen_placements(citizen_id),
        citizen_consents(citizen_id),
    )


def is_citizens_own(key: str, citizen_id: str) -> bool:
    own = citizen(citizen_id)
    return key == own or key.startswith(own + ":")


ERASED = "erased"
# Suggestion ids a consultant has reviewed (hash, field per id): matching re-scores a
# standing suggestion under its id, which must not bring a reviewed one back to the worklist.
REVIEWED = "reviewed-suggestions"


def is_worklist(key: str) -> bool:
    return key.startswith("worklist:")
