"""The rule score (model "rules-1"): hard requirements filter, weighted factors rank.

Pure: a pair of profiles and a distance function in, a scored match or an exclusion out.
Issue "learned matching" replaces the weighted sum with a trained model; the filters stay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from schemas.common import CEFR_LEVELS
from schemas.placements import Reason
from services.matching.domain.features import CardProfile, Occupation, OrderProfile
from services.matching.domain.text import phrase_covered
from services.rules import eligibility

MODEL_VERSION = "rules-1"
DistanceFn = Callable[[str, str], float | None]
# (occupation URI, the person's words) -> the occupation's label closest to those words.
OccupationName = Callable[[str, str], str | None]
# A factor's contribution is its weight times how far its value (0-1) lies above or below
# this middle, so a strength counts up and a shortfall down: score = MIDDLE + the sum.
MIDDLE = 0.5

WEIGHTS: dict[str, float] = {
    "skills": 0.25,
    "experience": 0.20,
    "wishes": 0.15,
    "distance": 0.15,
    "danish": 0.10,
    "hours": 0.10,
    "start": 0.05,
}


@dataclass(frozen=True)
class Scored:
    score: float
    reasons: tuple[Reason, ...]
    missing: tuple[str, ...]
    eligibility: eligibility.Eligibility
    # The citizen's side of the match, 0-1: the job wish, the way to work, the hours.
    citizen_fit: float = 0.0

    @property
    def reciprocal(self) -> float:
        """Both sides weighed alike: what the citizen is offered on (see MatchingState)."""
        return round((self.score + self.citizen_fit) / 2, 6)


class Scorer(Protocol):
    """Scores one pair; the rule score and the learned model both fit this."""

    @property
    def model_version(self) -> str: ...

    @property
    def min_score(self) -> float: ...

    def __call__(
        self, card: CardProfile, order: OrderProfile, with_soft_score: bool = False
    ) -> Scored | Excluded: ...


@dataclass(frozen=True)
class Excluded:
    reasons: tuple[str, ...]
    # What the factors alone would give, for offline ranking beyond the filters.
    soft_score: float = 0.0


def occupation_similarity(a: Occupation, b: Occupation) -> float:
    if a.uri and a.uri == b.uri:
        return 1.0
    if not a.isco or not b.isco:
        return 0.0
    for digits, value in ((4, 0.75), (3, 0.5), (2, 0.25)):
        if a.isco[:digits] == b.isco[:digits]:
            return value
    return 0.0


def _skill_met(card: CardProfile, uris: frozenset[str], phrase: frozenset[str]) -> bool:
    if uris & card.skill_uris:
        return True
    return any(phrase_covered(phrase, have) for have in card.skill_terms)


def hard_filter(card: CardProfile, order: OrderProfile) -> list[str]:
    """Why the citizen cannot take this job at all (empty when nothing stops it)."""
    missing = [f"certificate:{c}" for c in sorted(order.certificates - card.certificates)]
    missing += [f"driving_licence:{c}" for c in sorted(order.licences - card.licences)]
    if card.danish_rank < order.danish_min_rank:
        missing.append(f"danish_min:{CEFR_LEVELS[order.danish_min_rank - 1]}")
    missing += [
        f"skill:{s.label}" for s in order.skills if s.must and not _skill_met(card, s.uris, s.terms)
    ]
    return missing


def _reason(code: str, weight: float, value: float, da: str, en: str) -> Reason:
    return Reason(
        code=code, text_da=da, text_en=en, contribution=round(weight * (value - MIDDLE), 4)
    )


def _closest(
    items: Sequence[tuple[Occupation, str, float]],
    target: Occupation,
    name: OccupationName | None,
) -> str | None:
    """The occupation of ``items`` (occupation, the person's words, years) closest to the
    target, named in the person's words; None when none is related at all."""
    best: tuple[Occupation, str] | None = None
    best_key = (0.0, 0.0)
    for occupation, words, years in items:
        sim = occupation_similarity(occupation, target)
        if sim > 0 and (sim, years) > best_key:
            best, best_key = (occupation, words), (sim, years)
    if best is None:
        return None
    occupation, words = best
    named = name(occupation.uri, words) if name and occupation.uri else None
    return named or words or None


def experience_label(
    card: CardProfile, order: OrderProfile, name: OccupationName | None
) -> str | None:
    """The citizen's experience closest to the job, in their words or the label matching them
    ("lastbilchauffør", where ESCO prefers "bagagevognschauffør")."""
    titles = [item.title for item in card.card.experience]
    items = [(e.occupation, t, e.years) for e, t in zip(card.experience, titles, strict=False)]
    return _closest(items, order.occupation, name)


def wish_label(card: CardProfile, order: OrderProfile, name: OccupationName | None) -> str | None:
    """The citizen's job wish closest to the job, named like ``experience_label``."""
    titles = [wish.title for wish in card.card.job_wishes]
    items = [(w, t, 0.0) for w, t in zip(card.wishes, titles, strict=False)]
    return _closest(items, order.occupation, name)


def score(
    card: CardProfile,
    order: OrderProfile,
    distance_km: DistanceFn,
    with_soft_score: bool = False,
    occupation_name: OccupationName | None = None,
) -> Scored | Excluded:
    blocked = hard_filter(card, order)
    elig = eligibility.check(card.card, order.order.programme, order.start_date)
    if not elig.eligible:
        blocked += [f"eligibility:{r}" for r in elig.reasons]
    if blocked:
        if not with_soft_score:
            return Excluded(tuple(blocked))
        soft = _weighted(card, order, distance_km, elig)
        return Excluded(tuple(blocked), soft.score)
    return _weighted(card, order, distance_km, elig, occupation_name)


def _weighted(
    card: CardProfile,
    order: OrderProfile,
    distance_km: DistanceFn,
    elig: eligibility.Eligibility,
    occupation_name: OccupationName | None = None,
) -> Scored:
    reasons: list[Reason] = []
    missing: list[str] = []

    met = [s for s in order.skills if _skill_met(card, s.uris, s.terms)]
    missing += [f"skill:{s.label}" for s in order.skills if s not in met]
    skills = len(met) / len(order.skills) if order.skills else 0.5
    n, wanted = len(met), len(order.skills)
    few = skills < MIDDLE
    reasons.append(
        _reason(
            "skills",
            WEIGHTS["skills"],
            skills,
            f"{'Kun ' if few else ''}{n} af {wanted} efterspurgte kompetencer",
            f"{'Only ' if few else ''}{n} of {wanted} requested skills",
        )
    )

    best_years, best_sim = 0.0, 0.0
    for item in card.experience:
        sim = occupation_similarity(item.occupation, order.occupation)
        if sim > best_sim or (sim == best_sim and item.years > best_years):
            best_sim, best_years = sim, item.years
    # Similar experience counts more with time in it; three years is treated as seasoned.
    experience = best_sim * (0.6 + 0.4 * min(best_years, 3.0) / 3.0) if best_sim else 0.0
    years, unit = f"{best_years:g}", "year" if best_years == 1 else "years"
    label = experience_label(card, order, occupation_name) if best_sim else None
    if not best_sim:
        da, en = "Ingen erfaring i lignende job", "No experience in similar work"
    elif experience < MIDDLE:
        da = f"Kun fjernt beslægtet erfaring: {years} år" + (f" som {label}" if label else "")
        en = f"Only loosely related experience: {years} {unit}" + (f" as {label}" if label else "")
    elif best_sim == 1.0 and label:
        da, en = f"{years} års erfaring som {label}", f"{years} {unit} as {label}"
    else:
        da = f"{years} års erfaring i lignende job" + (f" ({label})" if label else "")
        en = f"{years} {unit} in similar work" + (f" ({label})" if label else "")
    reasons.append(_reason("experience", WEIGHTS["experience"], experience, da, en))

    wishes = max((occupation_similarity(w, order.occupation) for w in card.wishes), default=0.0)
    if wishes >= 0.75:
        wished = wish_label(card, order, occupation_name)
        da, en = "Matcher borgerens jobønske", "Matches the citizen's job wish"
        if wished:
            da, en = f"{da}: {wished}", f"{en}: {wished}"
    elif wishes >= MIDDLE:
        da, en = "Tæt på borgerens jobønske", "Close to the citizen's job wish"
    else:
        da, en = "Ligger uden for borgerens jobønsker", "Outside the citizen's job wishes"
    reasons.append(_reason("wishes", WEIGHTS["wishes"], wishes, da, en))

    km = distance_km(card.postal_code, order.postal_code)
    if km is None:
        distance = 0.5 if card.municipality_code == order.order.municipality_code else 0.0
        da, en = "Afstand ukendt", "Distance unknown"
    else:
        distance = max(0.0, 1.0 - km / card.max_commute_km) if card.max_commute_km else 0.0
        da, en = f"{km:.0f} km hjemmefra", f"{km:.0f} km from home"
        if distance < MIDDLE:
            da, en = f"Lang vej: {da}", f"Long way: {en}"
        if km > card.max_commute_km:
            missing.append(f"commute:{km:.0f}>{card.max_commute_km:g}km")
    reasons.append(_reason("distance", WEIGHTS["distance"], distance, da, en))

    have = CEFR_LEVELS[card.danish_rank - 1] if card.danish_rank else "ingen"
    need = CEFR_LEVELS[order.danish_min_rank - 1] if order.danish_min_rank else None
    danish = min(1.0, 0.7 + 0.15 * (card.danish_rank - order.danish_min_rank))
    reasons.append(
        _reason(
            "danish",
            WEIGHTS["danish"],
            danish,
            f"Dansk {have} opfylder {need}" if need else f"Dansk {have}, intet krav",
            f"Danish {have} meets {need}" if need else f"Danish {have}, no requirement",
        )
    )

    gap = abs(card.hours_per_week - order.hours_per_week)
    hours = max(0.0, 1.0 - gap / order.hours_per_week)
    h, o = f"{card.hours_per_week:g}", f"{order.hours_per_week:g}"
    if hours >= MIDDLE:
        da, en = f"Kan {h} af {o} timer/uge", f"Available {h} of {o} hours/week"
    elif card.hours_per_week < order.hours_per_week:
        da, en = f"Kan kun {h} af {o} timer/uge", f"Available only {h} of {o} hours/week"
    else:
        da, en = f"Ønsker {h} timer/uge, jobbet har {o}", f"Wants {h} hours/week, the job has {o}"
    reasons.append(_reason("hours", WEIGHTS["hours"], hours, da, en))

    late = (
        (card.available_from - order.start_date).days
        if card.available_from and order.start_date
        else 0
    )
    start = 1.0 if late <= 0 else max(0.0, 1.0 - late / 60.0)
    if late <= 0:
        da, en = "Kan starte til tiden", "Can start on time"
    elif start >= MIDDLE:
        da, en = f"Kan starte kort efter ({late} dage)", f"Can start shortly after ({late} days)"
    else:
        da, en = f"Ledig {late} dage efter start", f"Available {late} days after the start"
    reasons.append(_reason("start", WEIGHTS["start"], start, da, en))

    # As before the contributions were centred: the sum of each weight times its value.
    values: dict[str, float] = {
        "skills": skills,
        "experience": experience,
        "wishes": wishes,
        "distance": distance,
        "danish": danish,
        "hours": hours,
        "start": start,
    }
    total = 0.0
    for code, value in values.items():
        total += round(WEIGHTS[code] * value, 4)
    # A factor at the middle neither helps nor hurts: it is not worth a line.
    shown = sorted(
        (r for r in reasons if r.contribution), key=lambda r: (-abs(r.contribution), r.code)
    )
    fit = round((wishes + distance + hours) / 3, 4)
    return Scored(round(min(1.0, total), 4), tuple(shown), tuple(missing), elig, fit)


@dataclass(frozen=True)
class RuleScorer:
    distance: DistanceFn
    model_version: str = MODEL_VERSION
    min_score: float = 0.25
    # Names the experience and wish an explanation quotes (see `experience_label`).
    occupation_name: OccupationName | None = None

    def __call__(
        self, card: CardProfile, order: OrderProfile, with_soft_score: bool = False
    ) -> Scored | Excluded:
        return score(card, order, self.distance, with_soft_score, self.occupation_name)
