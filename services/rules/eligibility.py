"""Programme eligibility gates. Birth year is read here only, never as a scoring feature."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from schemas.citizens import CompetenceCard

IGU_LAST_START = dt.date(2027, 12, 31)
IGU_MIN_AGE, IGU_MAX_AGE = 18, 50
IGU_MAX_YEARS_SINCE_ARRIVAL = 20
IO_NEWLY_ARRIVED_YEARS = 5
IO_YOUTH_AGE = 25
PROGRAMMES = ("IGU", "IO-stilling", "jobpakke", "virksomhedspraktik", "løntilskud", "ordinary")


@dataclass(frozen=True)
class Eligibility:
    programme: str
    eligible: bool
    reasons: tuple[str, ...]


def _age_at(birth_year: int | None, when: dt.date) -> int | None:
    # Only the birth year is on the card: the age reached during that calendar year.
    return None if birth_year is None else when.year - birth_year


def _years_since(day: dt.date | None, when: dt.date) -> float | None:
    return None if day is None else (when - day).days / 365.25


def check(card: CompetenceCard, programme: str, start: dt.date | None) -> Eligibility:
    """Whether the citizen may be placed in `programme` starting `start`, and why (not)."""
    when = start or dt.date.today()
    status = card.programme
    failures: list[str] = []
    if programme == "IGU":
        if start is not None and start > IGU_LAST_START:
            failures.append("igu_scheme_ends_2027_12_31")
        age = _age_at(status.birth_year, when)
        if age is None:
            failures.append("igu_age_unknown")
        elif not IGU_MIN_AGE <= age <= IGU_MAX_AGE:
            failures.append("igu_age_outside_18_50")
        if status.residence_basis not in ("refugee", "family_reunified"):
            failures.append("igu_not_refugee_or_family_reunified")
        since = _years_since(status.arrival_date, when)
        if since is None:
            failures.append("igu_arrival_unknown")
        elif since > IGU_MAX_YEARS_SINCE_ARRIVAL:
            failures.append("igu_arrived_over_20_years_ago")
        ok_reason = "igu_eligible"
    elif programme == "IO-stilling":
        age = _age_at(status.birth_year, when)
        since = _years_since(status.arrival_date, when)
        newly_arrived = since is not None and since <= IO_NEWLY_ARRIVED_YEARS
        young = age is not None and age < IO_YOUTH_AGE
        if not (newly_arrived or young):
            failures.append("io_not_newly_arrived_nor_under_25")
        ok_reason = "io_newly_arrived" if newly_arrived else "io_under_25"
    elif programme == "jobpakke":
        if status.target_group not in ("integration", "cash_benefit"):
            failures.append("jobpakke_outside_target_group")
        ok_reason = "jobpakke_target_group"
    else:
        ok_reason = "open_programme"
    if failures:
        return Eligibility(programme, False, tuple(failures))
    return Eligibility(programme, True, (ok_reason,))
