"""Response examples for the OpenAPI docs of the query API."""

from __future__ import annotations

from typing import Any

WORKLIST = {
    "municipality_code": "0751",
    "total": 1,
    "offset": 0,
    "limit": 50,
    "items": [
        {
            "suggestion_id": "sug-3f9a1c",
            "job_order_id": "jo-4410-aarhus-lager",
            "citizen_id": "cit-7f3a9c2e",
            "score": 0.81,
            "model_version": "20261124T224149-logistic",
            "suggested_at": "2026-11-24T09:12:03+00:00",
            "municipality_code": "0751",
            "programme": "IGU",
            "occupation_uri": "http://data.europa.eu/esco/occupation/…",
            "title": "Lagermedarbejder",
            "worksite_postal_code": "8200",
        }
    ],
}
FOLLOW_UPS = {
    "municipality_code": "0751",
    "as_of": "2027-03-10",
    "until": "2027-03-24",
    "total": 1,
    "offset": 0,
    "limit": 50,
    "items": [
        {
            "placement_id": "plc-5c1e0a",
            "citizen_id": "cit-7f3a9c2e",
            "job_order_id": "jo-4410-aarhus-lager",
            "placement_type": "IGU",
            "start_date": "2027-01-04",
            "end_date": "2028-12-31",
            "due_date": "2027-03-04",
            "reason": "monthly",
            "overdue": True,
            "last_follow_up": {"date": "2027-02-03", "status": "on_track", "note": None},
        }
    ],
}
WORKLIST_COUNTS = {
    "municipality_code": "0751",
    "total": 10000,
    "by_programme": {
        "IGU": 2210,
        "IO-stilling": 480,
        "virksomhedspraktik": 1650,
        "løntilskud": 1320,
        "jobpakke": 740,
        "ordinary": 3600,
    },
}
EMPLOYER = {
    "cvr": "12345607",
    "name": "Østjysk Logistik ApS",
    "job_orders": [
        {
            "job_order_id": "jo-4410-aarhus-lager",
            "title": "Lagermedarbejder",
            "programme": "IGU",
            "status": "open",
            "positions": {"total": 2, "filled": 1, "open": 1},
            "presented_candidates": 3,
            "updated_at": "2026-11-24T08:30:00+00:00",
            "version": 2,
            # Left out with include_order=false.
            "order": {
                "job_order_id": "jo-4410-aarhus-lager",
                "employer": {"cvr": "12345607", "name": "Østjysk Logistik ApS"},
                "municipality_code": "0751",
                "title": "Lagermedarbejder",
                "esco_occupation_uri": "http://data.europa.eu/esco/occupation/…",
                "description": "Plukning og pakning af ordrer, truckkørsel og varemodtagelse.",
                "programme": "IGU",
                "positions": 2,
                "worksite": {"postal_code": "8200"},
                "hours_per_week": 37.0,
                "start_date": "2027-01-04",
                "requirements": {
                    "danish_min_cefr": "A2",
                    "driving_licences": [],
                    "certificates": ["truckcertifikat"],
                    "skills": [{"label": "truckkørsel", "esco_skill_uri": None, "must": True}],
                },
                "mentor_available": True,
                "application_deadline": "2026-12-20",
            },
        }
    ],
}
CANDIDATES = {
    "cvr": "12345607",
    "total": 1,
    "offset": 0,
    "limit": 50,
    "candidates": [
        {
            "job_order_id": "jo-4410-aarhus-lager",
            "citizen_id": "cit-7f3a9c2e",
            "presented_at": "2026-11-25T10:02:00+00:00",
            "status": "interview",
            "consent": "given",
            "shared_fields": ["danish", "skills"],
            "profile": {"danish": {"cefr": "A2"}, "skills": ["Truckkørsel", "Lagerstyring"]},
        }
    ],
}
KPIS = {
    "municipality_code": "0751",
    "from": "2026-01",
    "to": "2026-01",
    "months": [
        {
            "month": "2026-01",
            "job_orders": {
                "created": 40,
                "with_suggestions": 36,
                "with_presented_candidates": 21,
                "hired_within_3_months": 9,
                "share_with_suggestions": 0.9,
                "share_with_presented_candidates": 0.525,
                "share_hired_within_3_months": 0.225,
                "hire_window_closed": True,
                "by_programme": {"IGU": 12, "jobpakke": 5, "ordinary": 23},
            },
            "placements": {
                "started": 11,
                "by_type": {"IGU": 4, "ordinary": 3, "virksomhedspraktik": 4},
                "by_order_programme": {"IGU": 4, "jobpakke": 2, "ordinary": 5},
            },
            "outcomes": {"education": 1, "negative_drop_out": 1, "ordinary_job": 3},
            "time_to_placement_days": {"placements": 11, "median": 38, "mean": 41.5},
            "jobpakker": {"orders_created": 5, "placements_started": 2, "hired_within_3_months": 1},
        }
    ],
}


def ok(example: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {"application/json": {"example": example}}}}
