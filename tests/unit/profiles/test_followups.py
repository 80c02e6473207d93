"""The follow-up rhythm: monthly for six months, and three months before an IGU ends."""

from __future__ import annotations

import datetime as dt

from services.profiles.followups import add_months, due_dates, open_follow_ups, schedule

D = dt.date


def test_add_months_keeps_the_day_or_takes_the_months_last() -> None:
    assert add_months(D(2027, 1, 31), 1) == D(2027, 2, 28)
    assert add_months(D(2027, 11, 15), 2) == D(2028, 1, 15)
    assert add_months(D(2027, 3, 31), -1) == D(2027, 2, 28)


def test_schedule_is_monthly_then_igu_notice() -> None:
    igu = schedule("IGU", D(2027, 1, 4), D(2028, 12, 31))
    assert [d for d, _ in igu] == [D(2027, m, 4) for m in range(2, 8)] + [D(2028, 9, 30)]
    assert igu[-1][1] == "igu_ends_in_3_months"
    # A short virksomhedspraktik: only the months it lasts, no IGU notice.
    short = schedule("virksomhedspraktik", D(2027, 1, 4), D(2027, 3, 1))
    assert short == [(D(2027, 2, 4), "monthly")]


def test_a_follow_up_covers_one_due_date_from_two_weeks_before() -> None:
    dues = due_dates("ordinary", D(2027, 1, 4), None, [D(2027, 1, 25), D(2027, 3, 10)])
    # 25 Jan is early for 4 Feb but within two weeks; 10 Mar is late for 4 Mar, still counts.
    assert [d.done_on for d in dues[:3]] == [D(2027, 1, 25), D(2027, 3, 10), None]
    # Too early for the first due date: it counts for nothing.
    early = due_dates("ordinary", D(2027, 1, 4), None, [D(2027, 1, 10)])
    assert all(d.done_on is None for d in early)
    # One follow-up cannot cover two due dates.
    twice = due_dates("ordinary", D(2027, 1, 4), None, [D(2027, 2, 4)])
    assert [d.done_on for d in twice[:2]] == [D(2027, 2, 4), None]


def test_open_follow_ups_skip_ended_placements_and_the_future() -> None:
    active = {
        "placement_type": "IGU",
        "start_date": "2027-01-04",
        "end_date": "2028-12-31",
        "follow_ups": [{"date": "2027-02-03", "status": "on_track"}],
    }
    due = open_follow_ups(active, D(2027, 3, 24))
    assert [(d.date, d.reason) for d in due] == [(D(2027, 3, 4), "monthly")]
    assert open_follow_ups({**active, "status": "ended"}, D(2028, 1, 1)) == []
