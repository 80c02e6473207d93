"""When a placement is due for follow-up (pure).

The job centres' rhythm: a follow-up every month in the first six months of a placement,
and one three months before an IGU ends (so that the next step, a job or education, can be
prepared). A due date counts as done when a follow-up is recorded no more than
`EARLY_DAYS` before it, and before the next due date's window opens.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

MONTHLY_FOR = 6
EARLY_DAYS = 14
IGU_NOTICE_MONTHS = 3

DueReason = Literal["monthly", "igu_ends_in_3_months"]


def add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


@dataclass(frozen=True)
class Due:
    date: dt.date
    reason: DueReason
    done_on: dt.date | None


def schedule(
    placement_type: str, start: dt.date, end: dt.date | None
) -> list[tuple[dt.date, DueReason]]:
    dates: list[tuple[dt.date, DueReason]] = [
        (add_months(start, m), "monthly") for m in range(1, MONTHLY_FOR + 1)
    ]
    if end is not None:
        dates = [(d, r) for d, r in dates if d < end]
    if placement_type == "IGU" and end is not None:
        notice = add_months(end, -IGU_NOTICE_MONTHS)
        if notice > start:
            dates.append((notice, "igu_ends_in_3_months"))
    return sorted(dates)


def due_dates(
    placement_type: str, start: dt.date, end: dt.date | None, recorded: list[dt.date]
) -> list[Due]:
    """Each due date, and the follow-up that covered it, if any."""
    planned = schedule(placement_type, start, end)
    left = sorted(recorded)
    out: list[Due] = []
    for i, (day, reason) in enumerate(planned):
        opens = day - dt.timedelta(days=EARLY_DAYS)
        closes = planned[i + 1][0] - dt.timedelta(days=EARLY_DAYS) if i + 1 < len(planned) else None
        hit = next((r for r in left if r >= opens and (closes is None or r < closes)), None)
        if hit is not None:
            left.remove(hit)
        out.append(Due(day, reason, hit))
    return out


def open_follow_ups(placement: dict[str, Any], until: dt.date) -> list[Due]:
    """The follow-ups an active placement still needs, due on or before `until`."""
    if placement.get("status") == "ended" or "start_date" not in placement:
        return []
    start = dt.date.fromisoformat(placement["start_date"])
    end = placement.get("end_date")
    recorded = [dt.date.fromisoformat(f["date"]) for f in placement.get("follow_ups", [])]
    dues = due_dates(
        placement.get("placement_type", ""),
        start,
        dt.date.fromisoformat(end) if end else None,
        recorded,
    )
    return [d for d in dues if d.done_on is None and d.date <= until]
