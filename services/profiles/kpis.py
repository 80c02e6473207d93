"""Key figures of a municipality per month (pure): the national job order measures and what
became of the placements.

Job orders are counted in the month they were posted: the share that got suggestions, got
candidates presented, and led to a hire within three months of posting (an employer's
"hired" decision, or a paid placement starting: IGU, IO-stilling, løntilskud or ordinary
work; a virksomhedspraktik is not a hire). Placements count in the month they started,
outcomes in the month the placement ended, and time to placement is from the order's
posting to the placement's start. Months are calendar months in UTC.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.profiles.followups import add_months

HIRE_WINDOW_MONTHS = 3
PAID = {"IGU", "IO-stilling", "løntilskud", "ordinary"}


@dataclass
class OrderFacts:
    posted: dt.date | None = None
    programme: str | None = None
    suggested: bool = False
    presented: bool = False
    hired_on: list[dt.date] = field(default_factory=list)
    placements: dict[str, dict[str, str]] = field(default_factory=dict)
    ended: dict[str, dict[str, str]] = field(default_factory=dict)

    def hired_within(self, months: int) -> bool:
        if self.posted is None:
            return False
        limit = add_months(self.posted, months)
        starts = [
            dt.date.fromisoformat(p["start_date"])
            for p in self.placements.values()
            if p["placement_type"] in PAID
        ]
        return any(day <= limit for day in [*self.hired_on, *starts])


def collect(posted: Iterable[tuple[str, float]], facts: Mapping[str, str]) -> dict[str, OrderFacts]:
    """Per order, from the posting times and the `{order}:{fact}[:{id}]` hash fields."""
    orders: dict[str, OrderFacts] = {}
    for order_id, at in posted:
        orders.setdefault(order_id, OrderFacts()).posted = dt.datetime.fromtimestamp(
            at, dt.UTC
        ).date()
    for name, value in facts.items():
        order_id, kind, rest = _split(name)
        facts_of = orders.setdefault(order_id, OrderFacts())
        if kind == "programme":
            facts_of.programme = value
        elif kind == "suggested":
            facts_of.suggested = True
        elif kind == "presented":
            facts_of.presented = True
        elif kind == "hired":
            facts_of.hired_on.append(dt.date.fromisoformat(value))
        elif kind == "placement":
            facts_of.placements[rest] = json.loads(value)
        elif kind == "ended":
            facts_of.ended[rest] = json.loads(value)
    return orders


def _split(name: str) -> tuple[str, str, str]:
    # Order ids may hold ':'; the fact kinds are known, so split at the last known kind.
    for kind in ("programme", "suggested", "presented", "hired", "placement", "ended"):
        marker = f":{kind}"
        at = name.rfind(marker)
        if at > 0 and (name.endswith(marker) or name[at + len(marker)] == ":"):
            return name[:at], kind, name[at + len(marker) + 1 :]
    return name, "", ""


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def months_between(first: str, last: str) -> list[str]:
    year, month = (int(x) for x in first.split("-"))
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def monthly(orders: Mapping[str, OrderFacts], months: list[str], today: dt.date) -> list[Any]:
    rows: dict[str, dict[str, Any]] = {m: _empty(m) for m in months}
    waits: dict[str, list[int]] = {m: [] for m in months}
    for facts in orders.values():
        if facts.posted is not None and (row := rows.get(month_of(facts.posted))):
            jobs = row["job_orders"]
            hired = facts.hired_within(HIRE_WINDOW_MONTHS)
            jobs["created"] += 1
            jobs["with_suggestions"] += facts.suggested
            jobs["with_presented_candidates"] += facts.presented
            jobs["hired_within_3_months"] += hired
            jobs["by_programme"][facts.programme or "unknown"] += 1
            if facts.programme == "jobpakke":
                row["jobpakker"]["orders_created"] += 1
                row["jobpakker"]["hired_within_3_months"] += hired
        for placement in facts.placements.values():
            start = dt.date.fromisoformat(placement["start_date"])
            if row := rows.get(month_of(start)):
                row["placements"]["started"] += 1
                row["placements"]["by_type"][placement["placement_type"]] += 1
                row["placements"]["by_order_programme"][facts.programme or "unknown"] += 1
                if facts.programme == "jobpakke":
                    row["jobpakker"]["placements_started"] += 1
                if facts.posted is not None:
                    waits[month_of(start)].append((start - facts.posted).days)
        for ended in facts.ended.values():
            if row := rows.get(month_of(dt.date.fromisoformat(ended["end_date"]))):
                row["outcomes"][ended["outcome"]] += 1
    out = []
    for month, row in rows.items():
        jobs = row["job_orders"]
        jobs["share_with_suggestions"] = _share(jobs["with_suggestions"], jobs["created"])
        jobs["share_with_presented_candidates"] = _share(
            jobs["with_presented_candidates"], jobs["created"]
        )
        jobs["share_hired_within_3_months"] = _share(jobs["hired_within_3_months"], jobs["created"])
        # Orders of the last three months may still lead to a hire in time.
        year, mon = (int(x) for x in month.split("-"))
        jobs["hire_window_closed"] = add_months(dt.date(year, mon, 1), 4) <= today
        days = waits[month]
        row["time_to_placement_days"] = {
            "placements": len(days),
            "median": statistics.median(days) if days else None,
            "mean": round(statistics.fmean(days), 1) if days else None,
        }
        for part in (jobs, row["placements"]):
            for key, value in part.items():
                if isinstance(value, Counter):
                    part[key] = dict(sorted(value.items()))
        row["outcomes"] = dict(sorted(row["outcomes"].items()))
        out.append(row)
    return out


def _empty(month: str) -> dict[str, Any]:
    return {
        "month": month,
        "job_orders": {
            "created": 0,
            "with_suggestions": 0,
            "with_presented_candidates": 0,
            "hired_within_3_months": 0,
            "by_programme": Counter(),
        },
        "placements": {"started": 0, "by_type": Counter(), "by_order_programme": Counter()},
        "outcomes": Counter(),
        "jobpakker": {"orders_created": 0, "placements_started": 0, "hired_within_3_months": 0},
    }
