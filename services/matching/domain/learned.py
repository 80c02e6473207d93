"""The learned score: hard requirements still filter; a calibrated model ranks the rest.

The explanation is the model's own arithmetic: each factor's signed contribution to the
log-odds, largest first, in plain Danish and English.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from schemas.placements import Reason
from services.matching.domain.features import CardProfile, OrderProfile
from services.matching.domain.pair_features import SkillsOf, describe, pair_facts
from services.matching.domain.scoring import DistanceFn, Excluded, Scored, hard_filter
from services.matching.model.linear import LinearModel
from services.rules import eligibility

TOP_FACTORS = 5
TOP_GAPS = 5


@dataclass(frozen=True)
class LearnedScorer:
    model: LinearModel
    skills_of: SkillsOf
    distance: DistanceFn
    min_score: float = 0.05
    # Names a skill URI for "what more is needed"; without it the URI itself is shown.
    skill_label: Callable[[str], str | None] | None = None

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
        facts = pair_facts(card, order, self.skills_of, self.distance)
        probability = float(self.model.predict_proba(facts.vector)[0])
        if blocked:
            return Excluded(tuple(blocked), probability)
        contributions = self.model.contributions(facts.vector)
        order_of = sorted(range(len(contributions)), key=lambda i: -abs(contributions[i]))
        reasons = []
        for i in order_of[:TOP_FACTORS]:
            da, en = describe(self.model.features[i], facts)
            reasons.append(
                Reason(
                    code=self.model.features[i],
                    text_da=da,
                    text_en=en,
                    contribution=round(float(contributions[i]), 4),
                )
            )
        missing = [f"skill:{label}" for label in facts.missing_skills]
        for uri in facts.essential_gaps[:TOP_GAPS]:
            name = self.skill_label(uri) if self.skill_label else None
            missing.append(f"gap:{name or uri}")
        if facts.km is not None and facts.km > card.max_commute_km:
            missing.append(f"commute:{facts.km:.0f}>{card.max_commute_km:g}km")
        v = dict(zip(self.model.features, facts.vector, strict=True))
        fit = (v["wish_match"] + max(0.0, 1.0 - v["distance_ratio"]) + v["hours_fit"]) / 3
        return Scored(round(probability, 4), tuple(reasons), tuple(missing), elig, round(fit, 4))
