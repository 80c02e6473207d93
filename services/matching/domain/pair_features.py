"""Features of a (card, order) pair for the learned score, and the facts behind them.

Pure: the ESCO occupation -> skills relation and the distance function come in as
arguments. Hard requirements are not features (they filter before scoring), and nothing
here reads a protected attribute: the birth year only gates programme eligibility, in
`services.rules.eligibility`, and gender or origin are not on the card at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from schemas.common import CEFR_LEVELS
from services.matching.domain.features import CardProfile, OrderProfile
from services.matching.domain.scoring import DistanceFn, occupation_similarity
from services.matching.domain.text import phrase_covered
from services.matching.domain.text_features import TEXT_FEATURES, text_similarities

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
    *TEXT_FEATURES,
)
_COLUMN = {name: i for i, name in enumerate(FEATURES)}
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
    # ESCO URIs of the requested skills the citizen lacks (a gap among them is not repeated).
    missing_skill_uris: frozenset[str] = frozenset()
    same_occupation: bool = False
    late_days: int = 0
    mentor: bool = False
    programme: str = ""
    # Names quoting the person's words (set by the scorer, which has the label look-up):
    # the experience closest to the job, and the job wish closest to it.
    experience_label: str | None = None
    wish_label: str | None = None
    # title_similarity, wish_similarity, skill_text_similarity (see `text_features`).
    text: tuple[float, float, float] = (0.0, 0.0, 0.0)


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
    card: CardProfile,
    order: OrderProfile,
    skills_of: SkillsOf,
    distance: DistanceFn,
    features: Sequence[str] = FEATURES,
) -> PairFacts:
    """The facts of the pair; `vector` holds `features` (a model's own list) in that order."""
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
    text = text_similarities(card, order)

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
            *text,
        ],
        dtype=np.float64,
    )
    if tuple(features) != FEATURES:
        vector = vector[[_COLUMN[name] for name in features]]
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
        text=text,
        missing_skills=tuple(s.label for s in order.skills if s not in met),
        essential_gaps=tuple(sorted(u for u in essential if have.get(u, 0.0) < 0.5)),
        missing_skill_uris=frozenset(u for s in order.skills if s not in met for u in s.uris),
        same_occupation=bool(same),
        late_days=max(late, 0),
        mentor=bool(order.order.mentor_available),
        programme=order.order.programme or "",
    )


# Features explained together: the experience features are one fact to a reader ("4 years
# in similar work"), and so are the coverages of the job's ESCO skill profile. A factor's
# code is its first feature's name; every feature not listed is a factor of its own.
FACTORS: dict[str, tuple[str, ...]] = {
    "essential_skill_coverage": ("essential_skill_coverage", "optional_skill_coverage"),
    "relevant_years": (
        "relevant_years",
        "same_occupation",
        "isco_similarity",
        "shared_skill_overlap",
        # The text features are the same facts seen in the words (see `text_features`).
        "title_similarity",
    ),
    "wish_match": ("wish_match", "wish_similarity"),
    "requested_skill_coverage": ("requested_skill_coverage", "skill_text_similarity"),
}


def factor_of(feature: str) -> str:
    """The factor (its code) a feature is explained under."""
    for code, members in FACTORS.items():
        if feature in members:
            return code
    return feature


_PROGRAMMES: dict[str, tuple[str, str]] = {
    "IGU": ("IGU", "IGU"),
    "IO-stilling": ("IO-stilling", "IO position"),
    "jobpakke": ("jobpakke", "job package"),
    "virksomhedspraktik": ("virksomhedspraktik", "work placement"),
    "løntilskud": ("løntilskud", "wage subsidy"),
    "ordinary": ("ordinært job", "ordinary job"),
}

Text = tuple[str, str]


def describe(name: str, facts: PairFacts, contribution: float | None = None) -> Text | None:
    """A factor in plain Danish and English, quoting the facts behind it.

    With ``contribution`` (the factor's signed share of the score) the text agrees with its
    sign: a strength for a positive contribution, a shortfall for a negative one, or a plain
    fact that reads either way ("Afstand ukendt"); None when no true sentence has that sign,
    and the factor is then not shown. Without it: the plain description of the facts.
    """
    up = contribution is None or contribution >= 0
    down = contribution is None or contribution < 0
    against = contribution is not None and contribution < 0
    if name in ("essential_skill_coverage", "optional_skill_coverage"):
        return _essential(facts, down, against)
    if name == "requested_skill_coverage":
        n, total = facts.requested_met, facts.requested_total
        if not total:
            return "Jobordren nævner ingen kompetencer", "The job order names no skills"
        if against:
            return (
                f"Kun {n} af {total} efterspurgte kompetencer",
                f"Only {n} of {total} requested skills",
            )
        return f"{n} af {total} efterspurgte kompetencer", f"{n} of {total} requested skills"
    if name in FACTORS["relevant_years"]:
        return _experience(facts, down, against)
    if name == "danish_margin":
        return _danish(facts, contribution)
    if name == "distance_ratio":
        if facts.km is None:
            return "Afstand ukendt", "Distance unknown"
        km = f"{facts.km:.0f}"
        if against:
            return f"Lang vej: {km} km hjemmefra", f"Long way: {km} km from home"
        return f"{km} km hjemmefra", f"{km} km from home"
    if name == "hours_fit":
        h, o = f"{facts.hours_card:g}", f"{facts.hours_order:g}"
        if against:
            if facts.hours_card < facts.hours_order:
                return f"Kan kun {h} af {o} timer/uge", f"Available only {h} of {o} hours/week"
            return f"Ønsker {h} timer/uge, jobbet har {o}", f"Wants {h} hours/week, the job has {o}"
        return f"Kan {h} af {o} timer/uge", f"Available {h} of {o} hours/week"
    if name == "start_delay":
        late = facts.late_days
        if late <= 0:
            return ("Kan starte til tiden", "Can start on time") if up else None
        if down:
            return f"Ledig {late} dage efter start", f"Available {late} days after the start"
        return None
    if name == "wish_match":
        return _wish(facts, up, down, against)
    if name == "mentor":
        if facts.mentor:
            return ("Mentor på arbejdspladsen", "Mentor at the workplace") if up else None
        return ("Ingen mentor på arbejdspladsen", "No mentor at the workplace") if down else None
    if name in TEXT_FEATURES:
        return _describe_text(name, facts, contribution)
    if name == "targeted_programme":
        # A plain fact: the model's weight on it says which way it counts.
        da, en = _PROGRAMMES.get(facts.programme, (facts.programme, facts.programme))
        return (f"Ordning: {da}", f"Programme: {en}") if da else None
    return None


def _essential(facts: PairFacts, down: bool, against: bool) -> Text | None:
    n, total = facts.essential_met, facts.essential_total
    if not total:
        if down:
            return (
                "Jobbets væsentlige kompetencer er ukendte",
                "The job's essential skills are unknown",
            )
        return None
    if against:
        return (
            f"Kun {n} af {total} væsentlige kompetencer for jobbet",
            f"Only {n} of {total} essential skills for the job",
        )
    return f"{n} af {total} væsentlige kompetencer", f"{n} of {total} essential skills"


def _experience(facts: PairFacts, down: bool, against: bool) -> Text | None:
    if not facts.relevant_years:
        if down:
            return "Ingen erfaring i lignende job", "No experience in similar work"
        return None
    years = f"{facts.relevant_years:g}"
    unit = "year" if facts.relevant_years == 1 else "years"
    if against:
        return f"Kun {years} års erfaring i lignende job", f"Only {years} {unit} in similar work"
    label = facts.experience_label
    if label and facts.same_occupation:
        return f"{years} års erfaring som {label}", f"{years} {unit} as {label}"
    if label:
        return (
            f"{years} års erfaring i lignende job ({label})",
            f"{years} {unit} in similar work ({label})",
        )
    return f"{years} års erfaring i lignende job", f"{years} {unit} in similar work"


def _danish(facts: PairFacts, contribution: float | None) -> Text | None:
    have, need = facts.danish_have or "ukendt", facts.danish_need
    have_en = facts.danish_have or "unknown"
    if need is None:
        if contribution is None or contribution >= 0:
            return f"Dansk {have}, intet krav", f"Danish {have_en}, no requirement"
        return None
    if contribution is None:
        return f"Dansk {have} opfylder {need}", f"Danish {have} meets {need}"
    if have == need:
        if contribution < 0:
            # Meeting the requirement is no shortfall; having no margin above it is.
            return (
                f"Dansk {have}: lige præcis kravet ({need})",
                f"Danish {have}: only just the required {need}",
            )
        return f"Dansk {have} opfylder kravet ({need})", f"Danish {have} meets the required {need}"
    if contribution >= 0:
        return f"Dansk {have}, over kravet ({need})", f"Danish {have}, above the required {need}"
    return None


def _wish(facts: PairFacts, up: bool, down: bool, against: bool) -> Text | None:
    label = facts.wish_label
    if facts.wish >= 0.75:
        if not up:
            return None
        if label:
            return (
                f"Matcher borgerens jobønske: {label}",
                f"Matches the citizen's job wish: {label}",
            )
        return "Matcher borgerens jobønske", "Matches the citizen's job wish"
    if facts.wish > 0:
        if against:
            return "Kun delvis borgerens jobønske", "Only partly the citizen's job wish"
        return "Tæt på borgerens jobønske", "Close to the citizen's job wish"
    if down:
        return "Uden for borgerens jobønsker", "Outside the citizen's job wishes"
    return None


def _describe_text(name: str, facts: PairFacts, contribution: float | None) -> Text | None:
    value = facts.text[TEXT_FEATURES.index(name)]
    close = value >= 0.5
    # A resemblance that counts against the pair, or its absence for it, has no true text.
    if contribution is not None and (contribution >= 0) != close:
        return None
    if name == "title_similarity":
        if close:
            return "Tidligere jobtitel ligner jobbets titel", "A past job title resembles the title"
        return "Ingen tidligere jobtitel ligner jobbets", "No past job title resembles the title"
    if name == "wish_similarity":
        if close:
            return "Jobønsket ligner jobbets titel", "A job wish resembles the title"
        return "Intet jobønske ligner jobbets titel", "No job wish resembles the title"
    if close:
        return "Kompetencer nævnt i jobopslaget", "Skills named in the job order"
    return "Få af kompetencerne nævnt i jobopslaget", "Few of the skills named in the job order"
