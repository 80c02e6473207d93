"""One worked example on top of the demo data, so that the web application has a placement
and key figures to show: Amina (cit-7f3a9c2e) is accepted for the warehouse order, consents
to being presented, is presented, hired, starts an IGU (29 h work + 8 h school) and has a
first follow-up. Every step goes through the public APIs as the person who would take it;
a step already taken (an earlier run on the same data) is skipped.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import httpx

CITIZEN = "cit-7f3a9c2e"
ORDER = "jo-4410-aarhus-lager"
EMPLOYER = "12345607"


def _poll(
    client: httpx.Client,
    url: str,
    auth: dict[str, str],
    timeout: float,
    pick: Callable[[dict[str, Any]], str | None],
) -> str | None:
    """What `pick` finds in the document at `url`, once the views show it (None: not in time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(url, headers=auth)
        if answer.status_code == 200 and (found := pick(answer.json())) is not None:
            return found
        time.sleep(0.3)
    return None


def _suggestion(
    client: httpx.Client, profiles: str, auth: dict[str, str], timeout: float
) -> str | None:
    def pick(doc: dict[str, Any]) -> str | None:
        ids = [s["suggestion_id"] for s in doc.get("suggestions", []) if s["citizen_id"] == CITIZEN]
        return str(ids[0]) if ids else None

    # Every status: on a second run her suggestion is no longer pending (hired, placed).
    url = f"{profiles}/v1/job-orders/{ORDER}/suggestions?status=all"
    return _poll(client, url, auth, timeout, pick)


def load_story(
    events: str,
    profiles: str,
    consultant_token: Callable[[str], str],
    employer_token: Callable[[str], str],
    timeout: float = 60.0,
) -> list[str]:
    """Take the example's steps; returns the event types appended (none on a second run)."""
    done: list[str] = []
    consultant = {"Authorization": f"Bearer {consultant_token('0751')}"}
    employer = {"Authorization": f"Bearer {employer_token(EMPLOYER)}"}
    today = dt.date.today()
    with httpx.Client(timeout=30) as client:
        sid = _suggestion(client, profiles, consultant, timeout)
        if sid is None:
            return done
        steps: list[tuple[dict[str, str], str, dict[str, Any] | None]] = [
            (consultant, f"/v1/suggestions/{sid}/accept", None),
            (
                consultant,
                f"/v1/citizens/{CITIZEN}/consents",
                {
                    "consent_id": "cns-demo-amina-logistik",
                    "scope": "employer",
                    "employer_cvr": EMPLOYER,
                    "shared_fields": ["skills", "experience", "danish", "certificates"],
                },
            ),
            (consultant, f"/v1/suggestions/{sid}/present", None),
            (employer, f"/v1/suggestions/{sid}/employer-decision", {"decision": "hired"}),
            (
                consultant,
                "/v1/placements",
                {
                    "suggestion_id": sid,
                    "placement_type": "IGU",
                    "start_date": today.isoformat(),
                    "end_date": (today + dt.timedelta(days=2 * 365)).isoformat(),
                    "weekly_hours_work": 29,
                    "weekly_hours_school": 8,
                },
            ),
        ]
        for auth, path, body in steps:
            answer = client.post(events + path, json=body, headers=auth)
            if answer.status_code == 409:
                continue  # taken by an earlier run
            answer.raise_for_status()
            done.append(str(answer.json()["event_type"]))
        if "PlacementStarted" in done:
            placement = _placement(client, profiles, consultant, timeout)
            if placement is not None:
                note = {"date": today.isoformat(), "status": "on_track", "note": "God start."}
                answer = client.post(
                    f"{events}/v1/placements/{placement}/follow-ups", json=note, headers=consultant
                )
                if answer.status_code == 202:
                    done.append(str(answer.json()["event_type"]))
    return done


def _placement(
    client: httpx.Client, profiles: str, auth: dict[str, str], timeout: float
) -> str | None:
    def pick(doc: dict[str, Any]) -> str | None:
        ids = [
            p["placement_id"] for p in doc.get("placements", []) if p.get("job_order_id") == ORDER
        ]
        return str(ids[0]) if ids else None

    return _poll(client, f"{profiles}/v1/citizens/{CITIZEN}", auth, timeout, pick)
