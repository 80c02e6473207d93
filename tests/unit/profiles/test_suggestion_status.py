"""The status of a suggestion, from the facts the views record about it (pure)."""

from __future__ import annotations

import json

from services.profiles.queries import STATUSES, statuses_of, suggestion_status


def test_the_furthest_review_decides_whatever_the_order_of_the_facts() -> None:
    assert suggestion_status("s", {}).status == "pending"
    assert suggestion_status("s", {"s:accepted": "1"}).status == "accepted"
    facts = {"s:placed": "1", "s:accepted": "1", "s:hired": "1", "s:presented": "1"}
    got = suggestion_status("s", facts)
    assert (got.status, got.review) == ("hired", "placed")
    got = suggestion_status("s", {"s:accepted": "1", "s:presented": "1", "s:interview": "1"})
    assert (got.status, got.review) == ("presented", "interview")
    got = suggestion_status("s", {"s:accepted": "1", "s:presented": "1", "s:declined": "1"})
    assert (got.status, got.review) == ("rejected", "declined")
    assert suggestion_status("s", {"s:rejected": "1"}).status == "rejected"


def test_a_retraction_counts_only_where_no_review_got_further() -> None:
    got = suggestion_status("s", {"s:retracted": "outranked"})
    assert (got.status, got.retraction_reason) == ("retracted", "outranked")
    got = suggestion_status("s", {"s:hired": "1", "s:retracted": "placed"})
    assert (got.status, got.retraction_reason) == ("hired", "placed")


def test_only_the_pairs_current_suggestion_counts() -> None:
    """A pair suggested anew after a rejection is pending again under its new id."""
    facts = {"current:cit-1": "s2", "s1:rejected": "1", "s1:retracted": "rejected"}
    assert statuses_of(facts, ["cit-1"])["cit-1"].status == "pending"
    assert {st.status for st in statuses_of({}, ["cit-9"]).values()} == {"pending"}


def test_the_status_is_appended_to_a_stored_document() -> None:
    tail = suggestion_status("s", {"s:hired": "1", "s:retracted": "placed"}).json_tail()
    doc = json.loads(b'{"citizen_id": "cit-1"' + tail)
    assert doc == {
        "citizen_id": "cit-1",
        "status": "hired",
        "review": "hired",
        "retraction_reason": "placed",
    }
    assert STATUSES == ("pending", "accepted", "rejected", "presented", "hired", "retracted")
