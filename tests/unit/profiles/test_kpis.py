"""Key figures per month from the facts the projection keeps per job order."""

from __future__ import annotations

import datetime as dt
import json

from services.profiles.kpis import collect, monthly, months_between


def _ts(day: str) -> float:
    return dt.datetime.fromisoformat(day + "T10:00:00+00:00").timestamp()


def test_fact_names_split_even_when_ids_hold_colons() -> None:
    orders = collect(
        [("jo:1", _ts("2027-01-10"))],
        {
            "jo:1:programme": "jobpakke",
            "jo:1:suggested": "1",
            "jo:1:hired:cit-1": "2027-03-01",
            "jo:1:placement:plc-1": json.dumps(
                {"placement_type": "IGU", "start_date": "2027-03-15"}
            ),
            "jo:1:ended:plc-1": json.dumps({"outcome": "education", "end_date": "2027-09-01"}),
        },
    )
    facts = orders["jo:1"]
    assert facts.programme == "jobpakke" and facts.suggested and not facts.presented
    assert facts.hired_on == [dt.date(2027, 3, 1)] and set(facts.placements) == {"plc-1"}


def test_monthly_figures() -> None:
    placement = {"placement_type": "virksomhedspraktik", "start_date": "2027-02-01"}
    late_hire = {"placement_type": "ordinary", "start_date": "2027-06-01"}
    orders = collect(
        [("a", _ts("2027-01-05")), ("b", _ts("2027-01-20")), ("c", _ts("2027-02-02"))],
        {
            "a:programme": "IGU",
            "a:suggested": "1",
            "a:presented": "1",
            "a:placement:p1": json.dumps({"placement_type": "IGU", "start_date": "2027-02-15"}),
            "b:programme": "jobpakke",
            "b:suggested": "1",
            "b:placement:p2": json.dumps(placement),
            "b:placement:p3": json.dumps(late_hire),
            "b:ended:p2": json.dumps({"outcome": "negative_drop_out", "end_date": "2027-02-20"}),
            "c:programme": "ordinary",
        },
    )
    jan, feb = monthly(orders, months_between("2027-01", "2027-02"), dt.date(2027, 7, 1))
    assert jan["job_orders"]["created"] == 2
    assert jan["job_orders"]["share_with_suggestions"] == 1.0
    assert jan["job_orders"]["share_with_presented_candidates"] == 0.5
    # a: IGU from 15 Feb is a hire within 3 months; b: praktik is no hire, the job came late.
    assert jan["job_orders"]["hired_within_3_months"] == 1
    assert jan["job_orders"]["hire_window_closed"] is True
    assert jan["jobpakker"] == {
        "orders_created": 1,
        "placements_started": 0,
        "hired_within_3_months": 0,
    }
    assert feb["placements"]["by_type"] == {"IGU": 1, "virksomhedspraktik": 1}
    assert feb["placements"]["by_order_programme"] == {"IGU": 1, "jobpakke": 1}
    assert feb["outcomes"] == {"negative_drop_out": 1}
    assert feb["time_to_placement_days"] == {"placements": 2, "median": 26.5, "mean": 26.5}
    assert feb["job_orders"]["created"] == 1 and feb["job_orders"]["share_with_suggestions"] == 0
    assert feb["jobpakker"]["placements_started"] == 1


def test_months_between_crosses_the_year() -> None:
    assert months_between("2026-11", "2027-02") == ["2026-11", "2026-12", "2027-01", "2027-02"]
