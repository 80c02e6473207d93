"""Programme rules at the moment a placement starts (pure: no I/O, no clock).

A placement's type must fit the job order's programme, the citizen must be eligible for it
on the placement's start date, and the weekly hours must be what the arrangement allows:

- **type and programme**: an IGU order takes an IGU placement, an IO-stilling order an
  IO-stilling, a løntilskud order løntilskud, a virksomhedspraktik order virksomhedspraktik;
  a jobpakke (VIP2) combines virksomhedspraktik, løntilskud and an ordinary job. An ordinary
  job fits every order: the employer may always hire on ordinary terms.
- **eligibility on the start date** (`services.rules.eligibility.check`): IGU 18-50 years
  old, refugee or family-reunified, at most 20 years since arrival, starting by
  31 December 2027; IO-stilling newly arrived (at most 5 years) or under 25.
- **hours**: an IGU is work and school together of at most a full-time week (37 hours; the
  usual arrangement is 29 hours of work and 8 of school, paid alike every month), and it
  holds school; an IO-stilling spends 20 % of the hours on training (within an hour a
  week); no placement exceeds 48 hours a week (the working-time limit) or has no work.

Each refusal names the request field it is about, says why in Danish and in English, and
carries the HTTP status the events service answers with: 422 when the request itself breaks
a rule (hours, dates), 409 when it does not fit the order or the citizen as the log has them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from schemas.citizens import CompetenceCard
from services.rules.eligibility import IGU_LAST_START, IGU_MAX_AGE, IGU_MIN_AGE, check

# The placement types each order programme takes.
TYPE_FITS: dict[str, tuple[str, ...]] = {
    "IGU": ("IGU", "ordinary"),
    "IO-stilling": ("IO-stilling", "ordinary"),
    "løntilskud": ("løntilskud", "ordinary"),
    "virksomhedspraktik": ("virksomhedspraktik", "ordinary"),
    "jobpakke": ("virksomhedspraktik", "løntilskud", "ordinary"),
    "ordinary": ("ordinary",),
}

FULL_TIME_HOURS = 37.0
MAX_WEEKLY_HOURS = 48.0
IGU_USUAL_WORK, IGU_USUAL_SCHOOL = 29, 8
IO_TRAINING_SHARE = 0.20
# How far an IO-stilling's training hours may lie from 20 % of the week (whole hours).
IO_TRAINING_TOLERANCE_HOURS = 1.0

NAMES: dict[str, tuple[str, str]] = {
    "IGU": ("IGU (integrationsgrunduddannelse)", "IGU (basic integration education)"),
    "IO-stilling": ("IO-stilling", "IO position (integration and training post)"),
    "løntilskud": ("løntilskud", "wage subsidy (løntilskud)"),
    "virksomhedspraktik": ("virksomhedspraktik", "work placement (virksomhedspraktik)"),
    "jobpakke": ("jobpakke", "job package (jobpakke)"),
    "ordinary": ("ordinært job", "ordinary job"),
}


@dataclass(frozen=True)
class Refusal:
    """One rule a placement breaks: the field it names, a stable code, the reason in Danish
    and English, and the status to answer with (409 or 422)."""

    field: str
    code: str
    da: str
    en: str
    status: int


@dataclass(frozen=True)
class PlacementPlan:
    placement_type: str
    start_date: dt.date
    end_date: dt.date | None
    weekly_hours_work: float
    weekly_hours_school: float


def _name(programme: str) -> tuple[str, str]:
    return NAMES.get(programme, (programme, programme))


def _hours(value: float) -> str:
    return f"{value:g}"


def _da_hours(value: float, decimals: int | None = None) -> str:
    """A number of hours as Danish writes it (decimal comma)."""
    text = f"{value:.{decimals}f}" if decimals is not None else f"{value:g}"
    return text.replace(".", ",")


_MONTHS: tuple[str, ...] = ("januar", "februar", "marts", "april", "maj", "juni", "juli")
_MONTHS += ("august", "september", "oktober", "november", "december")


def _da_date(day: dt.date) -> str:
    return f"{day.day}. {_MONTHS[day.month - 1]} {day.year}"


def type_refusals(placement_type: str, order_programme: str) -> list[Refusal]:
    """The placement type against the order's programme."""
    fits = TYPE_FITS.get(order_programme, ("ordinary",))
    if placement_type in fits:
        return []
    kind_da, kind_en = _name(placement_type)
    prog_da, prog_en = _name(order_programme)
    allowed_da = " eller ".join(_name(t)[0] for t in fits)
    allowed_en = " or ".join(_name(t)[1] for t in fits)
    return [
        Refusal(
            "placement_type",
            "programme_type_mismatch",
            f"Et forløb som {kind_da} passer ikke til en jobordre under {prog_da}; "
            f"ordren kan besættes med {allowed_da}.",
            f"A placement as {kind_en} does not fit a job order under {prog_en}; "
            f"the order takes {allowed_en}.",
            409,
        )
    ]


def hours_refusals(plan: PlacementPlan) -> list[Refusal]:
    """The weekly hours against the arrangement of the placement type."""
    work, school = plan.weekly_hours_work, plan.weekly_hours_school
    total = work + school
    out: list[Refusal] = []
    if work <= 0:
        out.append(
            Refusal(
                "weekly_hours_work",
                "hours_no_work",
                "Et forløb skal have arbejdstimer (timer om ugen større end 0).",
                "A placement needs working hours (more than 0 a week).",
                422,
            )
        )
    if plan.placement_type == "IGU":
        if total > FULL_TIME_HOURS:
            out.append(
                Refusal(
                    "weekly_hours_work",
                    "igu_hours_over_full_time",
                    f"En IGU er højst {_hours(FULL_TIME_HOURS)} timer om ugen med arbejde og "
                    f"skole tilsammen (typisk {IGU_USUAL_WORK} timers arbejde og "
                    f"{IGU_USUAL_SCHOOL} timers skole); her er det {_da_hours(work)} + "
                    f"{_da_hours(school)} = {_da_hours(total)} timer.",
                    f"An IGU is at most {_hours(FULL_TIME_HOURS)} hours a week of work and "
                    f"school together (usually {IGU_USUAL_WORK} hours of work and "
                    f"{IGU_USUAL_SCHOOL} of school); here it is {_hours(work)} + "
                    f"{_hours(school)} = {_hours(total)} hours.",
                    422,
                )
            )
        if school <= 0:
            out.append(
                Refusal(
                    "weekly_hours_school",
                    "igu_without_school",
                    "En IGU omfatter skoleundervisning: angiv skoletimerne i gennemsnit om "
                    f"ugen (typisk {IGU_USUAL_SCHOOL}).",
                    "An IGU includes school: give the average school hours a week "
                    f"(usually {IGU_USUAL_SCHOOL}).",
                    422,
                )
            )
    elif total > MAX_WEEKLY_HOURS:
        out.append(
            Refusal(
                "weekly_hours_work",
                "hours_over_limit",
                f"Arbejde og uddannelse er højst {_hours(MAX_WEEKLY_HOURS)} timer om ugen "
                f"tilsammen; her er det {_da_hours(total)} timer.",
                f"Work and training are at most {_hours(MAX_WEEKLY_HOURS)} hours a week "
                f"together; here it is {_hours(total)} hours.",
                422,
            )
        )
    if plan.placement_type == "IO-stilling" and total > 0:
        expected = IO_TRAINING_SHARE * total
        if abs(school - expected) > IO_TRAINING_TOLERANCE_HOURS:
            out.append(
                Refusal(
                    "weekly_hours_school",
                    "io_training_share",
                    "I en IO-stilling går 20 % af timerne til oplæring og uddannelse: ved "
                    f"{_da_hours(total)} timer om ugen er det ca. {_da_hours(expected, 1)} "
                    f"timer, ikke {_da_hours(school)}.",
                    "In an IO position 20 % of the hours go to training: at "
                    f"{_hours(total)} hours a week that is about {expected:.1f} hours, "
                    f"not {_hours(school)}.",
                    422,
                )
            )
    return out


def date_refusals(plan: PlacementPlan) -> list[Refusal]:
    out: list[Refusal] = []
    if plan.end_date is not None and plan.end_date < plan.start_date:
        out.append(
            Refusal(
                "end_date",
                "end_before_start",
                "Slutdatoen ligger før startdatoen.",
                "The end date lies before the start date.",
                422,
            )
        )
    if plan.placement_type == "IGU" and plan.start_date > IGU_LAST_START:
        out.append(
            Refusal(
                "start_date",
                "igu_scheme_ends_2027_12_31",
                f"IGU kan kun starte senest {_da_date(IGU_LAST_START)}; ordningen slutter da.",
                "An IGU can start no later than 31 December 2027, when the scheme ends.",
                422,
            )
        )
    return out


def eligibility_refusals(plan: PlacementPlan, card: CompetenceCard) -> list[Refusal]:
    """The citizen's eligibility for the placement type on its start date (only the gates
    of the programme itself: the scheme's end date is a date rule, see `date_refusals`)."""
    result = check(card, plan.placement_type, plan.start_date)
    if result.eligible:
        return []
    status = card.programme
    start = plan.start_date
    kind_da, kind_en = _name(plan.placement_type)
    out: list[Refusal] = []
    for code in result.reasons:
        if code == "igu_scheme_ends_2027_12_31":
            continue
        if code == "igu_age_outside_18_50" and status.birth_year is not None:
            age = start.year - status.birth_year
            out.append(
                Refusal(
                    "start_date",
                    code,
                    f"Borgeren er {age} år i startåret ({start.year}); en IGU kræver, at "
                    f"borgeren er {IGU_MIN_AGE}-{IGU_MAX_AGE} år ved start.",
                    f"The citizen is {age} in the year of the start ({start.year}); an IGU "
                    f"requires {IGU_MIN_AGE}-{IGU_MAX_AGE} years of age at the start.",
                    409,
                )
            )
        elif code == "igu_arrived_over_20_years_ago" and status.arrival_date is not None:
            out.append(
                Refusal(
                    "start_date",
                    code,
                    f"Borgeren kom til Danmark {_da_date(status.arrival_date)}, mere end 20 år "
                    f"før starten {_da_date(start)}; en IGU kræver højst 20 års ophold.",
                    f"The citizen arrived in Denmark on {status.arrival_date.isoformat()}, "
                    f"more than 20 years before the start on {start.isoformat()}; an IGU "
                    "requires at most 20 years since arrival.",
                    409,
                )
            )
        else:
            da, en = REASONS.get(
                code,
                (
                    f"Borgeren opfylder ikke betingelserne for {kind_da} ({code}).",
                    f"The citizen does not meet the conditions of {kind_en} ({code}).",
                ),
            )
            out.append(Refusal("placement_type", code, da, en, 409))
    return out


REASONS: dict[str, tuple[str, str]] = {
    "igu_age_unknown": (
        "Borgerens fødselsår står ikke på kompetencekortet; en IGU kræver, at borgeren er "
        f"{IGU_MIN_AGE}-{IGU_MAX_AGE} år ved start.",
        "The citizen's birth year is not on the competence card; an IGU requires "
        f"{IGU_MIN_AGE}-{IGU_MAX_AGE} years of age at the start.",
    ),
    "igu_age_outside_18_50": (
        f"Borgeren er ikke {IGU_MIN_AGE}-{IGU_MAX_AGE} år ved start, som en IGU kræver.",
        f"The citizen is not {IGU_MIN_AGE}-{IGU_MAX_AGE} years old at the start, as an IGU "
        "requires.",
    ),
    "igu_not_refugee_or_family_reunified": (
        "En IGU er for flygtninge og familiesammenførte; borgerens opholdsgrundlag er et "
        "andet (eller står ikke på kompetencekortet).",
        "An IGU is for refugees and family-reunified persons; the citizen's residence basis "
        "is another (or not on the competence card).",
    ),
    "igu_arrival_unknown": (
        "Borgerens indrejsedato står ikke på kompetencekortet; en IGU kræver højst 20 års ophold.",
        "The citizen's arrival date is not on the competence card; an IGU requires at most "
        "20 years since arrival.",
    ),
    "igu_arrived_over_20_years_ago": (
        "Borgeren kom til Danmark mere end 20 år før starten; en IGU kræver højst 20 års ophold.",
        "The citizen arrived more than 20 years before the start; an IGU requires at most "
        "20 years since arrival.",
    ),
    "io_not_newly_arrived_nor_under_25": (
        "En IO-stilling er for nyankomne (højst 5 år i Danmark) og unge under 25; borgeren "
        "er ingen af delene ved start.",
        "An IO position is for the newly arrived (at most 5 years in Denmark) and the young "
        "under 25; the citizen is neither at the start.",
    ),
}


def placement_refusals(
    plan: PlacementPlan, order_programme: str, card: CompetenceCard
) -> list[Refusal]:
    """Every rule the placement breaks, the request's own (422) before those of the order
    and the citizen (409); empty when it may start."""
    own = date_refusals(plan) + hours_refusals(plan)
    if own:
        return own
    return type_refusals(plan.placement_type, order_programme) + eligibility_refusals(plan, card)
