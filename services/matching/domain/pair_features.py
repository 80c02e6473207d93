"""Features of a (card, order) pair for the learned score, and the facts behind them.

Pure: the ESCO occupation -> skills relation and the distance function come in as
arguments. Hard requirements are not features (they filter before scoring), and nothing
here reads a protected attribute: the birth year only gates programme eligibility, in
`services.rules.eligibility`, and gender or origin are not on the card at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from schemas.common import CEFR_LEVELS
from services.matching.domain.features import CardProfile, OrderProfile
from services.matching.domain.scoring import DistanceFn, occupation_similarity
from services.matching.domain.text import phrase_covered

# (essential skills, optional skills) of an ESCO occupation, or None when unknown.
SkillsOf = Callable[[str], tuple[frozenset[str], frozenset[str]] | None]

FEATURES: tuple[str, ...] = (
    "essential_skill_coverage",
    "optional_skill_coverage",
    "requested_skill_coverage",
    "same_occupation",
    "isco_similarity",
    "shared_skill_overlap",
    "relevant_years",
    "danish_margin",
    "distance_ratio",
    "hours_fit",
    "start_delay",
    "wish_match",
    "mentor",
    "targeted_programme",
)
TARGETED_PROGRAMMES = frozenset({"IGU", "IO-stilling", "jobpakke"})


@dataclass(frozen=True)
class PairFacts:
    """The vector plus the plain facts an explanation quotes."""

    vector: np.ndarray
    essential_met: int
    essential_total: int
    requested_met: int
    requested_total: int
    km: float | None
    danish_have: str | None
    danish_need: str | None
    relevant_years: float
    hours_card: float
    hours_order: float
    missing_skills: tuple[str, ...]
    # Essential skills of the order's occupation the citizen shows no sign of (ESCO URIs):
    # "what more is needed".
    essential_gaps: tuple[str, ...] = ()
    wish: float = 0.0


def _card_skill_weights(card: CardProfile, skills_of: SkillsOf) -> dict[str, float]:
    """Skills the citizen has (1.0) or is likely to have from past work (less, by years)."""
    weights = dict.fromkeys(card.skill_uris, 1.0)
    for item in card.experience:
        rel = skills_of(item.occupation.uri) if item.occupation.uri else None
        if rel is None:
            continue
        seasoned = 0.5 + 0.5 * min(item.years, 3.0) / 3.0
        for uri in rel[0]:
            weights[uri] = max(weights.get(uri, 0.0), 0.9 * seasoned)
        for uri in rel[1]:
            weights[uri] = max(weights.get(uri, 0.0), 0.5 * seasoned)
    return weights


def pair_facts(
    card: CardProfile, order: OrderProfile, skills_of: SkillsOf, distance: DistanceFn
) -> PairFacts:
    have = _card_skill_weights(card, skills_of)
    rel = skills_of(order.occupation.uri) if order.occupation.uri else None
    essential, optional = rel if rel else (frozenset(), frozenset())
    ess_cov = sum(have.get(u, 0.0) for u in essential) / len(essential) if essential else 0.0
    opt_cov = sum(have.get(u, 0.0) for u in optional) / len(optional) if optional else 0.0
    ess_met = sum(1 for u in essential if have.get(u, 0.0) >= 0.5)

    met = [
        s
        for s in order.skills
        if s.uris & card.skill_uris or any(phrase_covered(s.terms, t) for t in card.skill_terms)
    ]
    requested = len(met) / len(order.skills) if order.skills else 0.5

    best_sim, relevant_years, overlap = 0.0, 0.0, 0.0
    same = 0.0
    for item in card.experience:
        sim = occupation_similarity(item.occupation, order.occupation)
        best_sim = max(best_sim, sim)
        if sim >= 0.5:
            relevant_years += item.years
        if sim == 1.0:
            same = 1.0
        item_rel = skills_of(item.occupation.uri) if item.occupation.uri else None
        if item_rel and rel:
            a, b = item_rel[0] | item_rel[1], essential | optional
            overlap = max(overlap, len(a & b) / len(a | b) if a | b else 0.0)

    margin = card.danish_rank - order.danish_min_rank
    km = distance(card.postal_code, order.postal_code)
    ratio = min(2.0, km / card.max_commute_km) if km is not None and card.max_commute_km else 1.0
    hours_fit = max(
        0.0, 1.0 - abs(card.hours_per_week - order.hours_per_week) / order.hours_per_week
    )
    late = (
        (card.available_from - order.start_date).days
        if card.available_from and order.start_date
        else 0
    )
    wish = max((occupation_similarity(w, order.occupation) for w in card.wishes), default=0.0)
    targeted = 1.0 if order.order.programme in TARGETED_PROGRAMMES else 0.0

    vector = np.array(
        [
            ess_cov,
            opt_cov,
            requested,
            same,
            best_sim,
            overlap,
            min(relevant_years, 10.0) / 10.0,
            max(-2, min(3, margin)) / 3.0,
            ratio,
            hours_fit,
            min(max(late, 0), 90) / 90.0,
            wish,
            1.0 if order.order.mentor_available else 0.0,
            targeted,
        ],
        dtype=np.float64,
    )
    return PairFacts(
        vector=vector,
        essential_met=ess_met,
        essential_total=len(essential),
        requested_met=len(met),
        requested_total=len(order.skills),
        km=km,
        danish_have=CEFR_LEVELS[card.danish_rank - 1] if card.danish_rank else None,
        danish_need=CEFR_LEVELS[order.danish_min_rank - 1] if order.danish_min_rank else None,
        relevant_years=relevant_years,
        hours_card=card.hours_per_week,
        hours_order=order.hours_per_week,
        wish=wish,
        missing_skills=tuple(s.label for s in order.skills if s not in met),
        essential_gaps=tuple(sorted(u for u in essential if have.get(u, 0.0) < 0.5)),
    )


def describe(name: str, facts: PairFacts) -> tuple[str, str]:
    """A factor in plain Danish and English, quoting the facts behind it."""
    if name == "essential_skill_coverage":
        n, total = facts.essential_met, facts.essential_total
        return f"{n} af {total} væsentlige kompetencer", f"{n} of {total} essential skills"
    if name == "requested_skill_coverage":
        n, total = facts.requested_met, facts.requested_total
        return f"{n} af {total} efterspurgte kompetencer", f"{n} of {total} requested skills"
    if name in ("same_occupation", "isco_similarity", "relevant_years", "shared_skill_overlap"):
        years = f"{facts.relevant_years:g}"
        if not facts.relevant_years:
            return "Ingen erfaring i lignende job", "No experience in similar work"
        unit = "year" if facts.relevant_years == 1 else "years"
        return f"{years} års erfaring i lignende job", f"{years} {unit} in similar work"
    if name == "danish_margin":
        have, need = facts.danish_have or "ukendt", facts.danish_need
        if need is None:
            return (
                f"Dansk {have}, intet krav",
                f"Danish {facts.danish_have or 'unknown'}, no requirement",
            )
        return f"Dansk {have} opfylder {need}", f"Danish {have} meets {need}"
    if name == "distance_ratio":
        if facts.km is None:
            return "Afstand ukendt", "Distance unknown"
        return f"{facts.km:.0f} km hjemmefra", f"{facts.km:.0f} km from home"
    if name == "hours_fit":
        h, o = f"{facts.hours_card:g}", f"{facts.hours_order:g}"
        return f"Kan {h} af {o} timer/uge", f"Available {h} of {o} hours/week"
    if name == "start_delay":
        return "Startdato", "Start date"
    if name == "wish_match":
        if facts.wish >= 0.75:
            return "Matcher borgerens jobønske", "Matches the citizen's job wish"
        if facts.wish > 0:
            return "Tæt på borgerens jobønske", "Close to the citizen's job wish"
        return "Uden for borgerens jobønsker", "Outside the citizen's job wishes"
    if name == "mentor":
        return "Mentor på arbejdspladsen", "Mentor at the workplace"
    if name == "targeted_programme":
        return "Målrettet ordning (IGU, IO, jobpakke)", "Targeted programme (IGU, IO, jobpakke)"
    return "Valgfrie kompetencer fra erfaring", "Optional skills from experience"
