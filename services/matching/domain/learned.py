"""The learned score: hard requirements still filter; a calibrated model ranks the rest.

The explanation is the model's own arithmetic: each factor's signed contribution to the
log-odds, largest first, in plain Danish and English.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from schemas.placements import Reason
from services.matching.domain.features import CardProfile, OrderProfile
from services.matching.domain.pair_features import (
    PairFacts,
    SkillsOf,
    describe,
    factor_of,
    pair_facts,
)
from services.matching.domain.scoring import (
    DistanceFn,
    Excluded,
    OccupationName,
    Scored,
    experience_label,
    hard_filter,
    wish_label,
)
from services.matching.model.linear import LinearModel
from services.rules import eligibility

TOP_FACTORS = 5
TOP_GAPS = 5
# Factors whose share of the log-odds rounds below this are not worth a line.
MIN_SHOWN = 0.005


def explain(
    features: Sequence[str], contributions: Iterable[float], facts: PairFacts
) -> tuple[Reason, ...]:
    """The largest factors, each once (the features behind one fact summed), with a text
    whose sign agrees with its contribution; factors with no true text for their sign, or
    too small to matter, are left out."""
    by_factor: dict[str, float] = {}
    for name, value in zip(features, contributions, strict=True):
        code = factor_of(name)
        by_factor[code] = by_factor.get(code, 0.0) + float(value)
    reasons: list[Reason] = []
    for code, value in sorted(by_factor.items(), key=lambda item: (-abs(item[1]), item[0])):
        contribution = round(value, 4)
        if abs(contribution) < MIN_SHOWN:
            continue
        text = describe(code, facts, contribution)
        if text is None:
            continue
        reasons.append(
            Reason(code=code, text_da=text[0], text_en=text[1], contribution=contribution)
        )
        if len(reasons) == TOP_FACTORS:
            break
    return tuple(reasons)


@dataclass(frozen=True)
class LearnedScorer:
    model: LinearModel
    skills_of: SkillsOf
    distance: DistanceFn
    min_score: float = 0.05
    # Not used any more: a gap is recorded by its skill URI and named by the reader, in the
    # reader's language (`services.reference.labels.skill_name`). Kept for callers.
    skill_label: Callable[[str], str | None] | None = None
    # Names an occupation in the person's words: the experience and the wish an explanation
    # quotes ("4 års erfaring som lastbilchauffør"); without it their own titles are quoted.
    occupation_name: OccupationName | None = None

    @property
    def model_version(self) -> str:
        return self.model.version

    def __call__(
        self, card: CardProfile, order: OrderProfile, with_soft_score: bool = False
    ) -> Scored | Excluded:
        blocked = hard_filter(card, order)
        elig = eligibility.check(card.card, order.order.programme, order.start_date)
        if not elig.eligible:
            blocked += [f"eligibility:{r}" for r in elig.reasons]
        if blocked and not with_soft_score:
            return Excluded(tuple(blocked))
        facts = pair_facts(card, order, self.skills_of, self.distance, self.model.features)
        probability = float(self.model.predict_proba(facts.vector)[0])
        if blocked:
            return Excluded(tuple(blocked), probability)
        facts = replace(
            facts,
            experience_label=experience_label(card, order, self.occupation_name),
            wish_label=wish_label(card, order, self.occupation_name),
        )
        contributions = self.model.contributions(facts.vector)
        reasons = explain(self.model.features, contributions, facts)
        # Codes, not sentences: the reader names them in its language ("gap:" + an ESCO
        # skill URI; "skill:" + the order's own words). A requested skill the citizen lacks
        # is not named again as a gap.
        missing = [f"skill:{label}" for label in facts.missing_skills]
        gaps = [u for u in facts.essential_gaps if u not in facts.missing_skill_uris]
        missing += [f"gap:{uri}" for uri in gaps[:TOP_GAPS]]
        if facts.km is not None and facts.km > card.max_commute_km:
            missing.append(f"commute:{facts.km:.0f}>{card.max_commute_km:g}km")
        v = dict(zip(self.model.features, facts.vector, strict=True))
        fit = (v["wish_match"] + max(0.0, 1.0 - v["distance_ratio"]) + v["hours_fit"]) / 3
        return Scored(round(probability, 4), tuple(reasons), tuple(missing), elig, round(fit, 4))
