"""Assembling views from their hash fields (pure parts of the queries)."""

from __future__ import annotations

import json

from services.profiles.queries import _latest, _placements


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
