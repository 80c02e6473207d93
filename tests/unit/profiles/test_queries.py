"""Assembling views from their hash fields (pure parts of the queries)."""

from __future__ import annotations

import json

from schemas.citizens import DEFAULT_SHARED_FIELDS
from services.profiles.queries import _latest, _placements, candidate_profile, shared_fields


def test_placements_merge_start_follow_ups_and_end() -> None:
    raw = {
        b"plc-1:started": json.dumps(
            {
                "placement_type": "IGU",
                "start_date": "2027-01-04",
                "status": "active",
                "at": "t",
                "actor": {},
            }
        ),
        b"plc-1:follow-up:2027-03-01:e2": json.dumps({"date": "2027-03-01", "status": "at_risk"}),
        b"plc-1:follow-up:2027-02-01:e1": json.dumps({"date": "2027-02-01", "status": "on_track"}),
        b"plc-1:ended": json.dumps({"outcome": "education", "end_date": "2027-06-01"}),
    }
    (placement,) = _placements(raw)
    assert placement["placement_type"] == "IGU" and placement["status"] == "ended"
    assert placement["outcome"] == "education"
    assert [f["status"] for f in placement["follow_ups"]] == ["on_track", "at_risk"]
    assert "actor" not in placement
    # A hash returns its fields in no particular order: ended before started stays ended.
    (reordered,) = _placements(dict(reversed(list(raw.items()))))
    assert reordered["status"] == "ended" and reordered["outcome"] == "education"


def test_latest_review_with_history() -> None:
    raw = {
        "cit-1:accepted": json.dumps({"status": "accepted", "at": "2026-01-01T10:00"}),
        "cit-1:presented": json.dumps({"status": "presented", "at": "2026-01-02T10:00"}),
        "cit-2:rejected": json.dumps({"status": "rejected", "at": "2026-01-01T11:00"}),
    }
    reviews = _latest(raw, "citizen_id")
    assert [(r["citizen_id"], r["status"], r["history"]) for r in reviews] == [
        ("cit-1", "presented", ["accepted", "presented"]),
        ("cit-2", "rejected", ["rejected"]),
    ]


def test_employers_see_only_the_consented_fields() -> None:
    card = {
        "skills": [{"label": "Truck"}],
        "experience": [{"title": "Lagerarbejder", "years": 2.0, "country": "SY"}],
        "danish": {"cefr": "A2"},
        "programme": {"birth_year": 1990},
        "notes": "private",
        "location": {"postal_code": "8200"},
    }
    assert shared_fields([], "12345607") is None
    assert shared_fields([{"scope": "employer", "employer_cvr": "87654303"}], "12345607") is None
    mine = [{"scope": "employer", "employer_cvr": "12345607", "shared_fields": ["skills"]}]
    assert shared_fields(mine, "12345607") == {"skills"}
    everyone = shared_fields([{"scope": "all", "shared_fields": None}], "12345607")
    assert everyone == set(DEFAULT_SHARED_FIELDS) and "postal_code" not in everyone
    profile = candidate_profile(card, everyone)
    assert profile["skills"] == ["Truck"] and profile["experience"][0] == {
        "title": "Lagerarbejder",
        "years": 2.0,
    }
    assert "notes" not in profile and "programme" not in profile
    assert "postal_code" not in profile
    assert candidate_profile(card, {"skills", "postal_code"}) == {
        "postal_code": "8200",
        "skills": ["Truck"],
    }
