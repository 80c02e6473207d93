"""One column-wise interface for the rule score and the learned model; and the vectorised
programme eligibility of `services.rules` equal to the per-card rule."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from schemas.citizens import CompetenceCard, ProgrammeStatus
from services.matching.domain.features import CardProfile, OrderProfile
from services.matching.domain.learned import LearnedScorer
from services.matching.domain.pair_features import FEATURES
from services.matching.domain.ranking import rank_key, top_k
from services.matching.domain.scoring import Excluded, RuleScorer, Scored, Scorer
from services.matching.domain.state import MatchingState
from services.matching.domain.vectorized import (
    CardIndex,
    LearnedColumns,
    RuleColumns,
    column_scorer,
)
from services.matching.linking import TaxonomyLinker, distance_km, skills_of
from services.matching.model.linear import LinearModel
from services.rules import eligibility, eligibility_columns
from tests.unit.matching.test_state import card_ev, order_ev, variants


def _learned() -> LearnedScorer:
    n = len(FEATURES)
    model = LinearModel("t", FEATURES, np.zeros(n), np.ones(n), np.linspace(-1, 1, n), 0.0)
    return LearnedScorer(model, skills_of, distance_km)


@dataclass(frozen=True)
class Halved:
    """A scorer the indexes know nothing about (it wraps another one)."""

    inner: Scorer
    model_version: str = "halved"
    min_score: float = 0.0

    def __call__(
        self, card: CardProfile, order: OrderProfile, with_soft_score: bool = False
    ) -> Scored | Excluded:
        result = self.inner(card, order, with_soft_score)
        if isinstance(result, Scored):
            return Scored(result.score / 2, result.reasons, result.missing, result.eligibility)
        return result


def test_each_scorer_has_its_column_twin() -> None:
    rules, learned = RuleScorer(distance_km), _learned()
    assert isinstance(column_scorer(rules), RuleColumns)
    assert isinstance(column_scorer(learned), LearnedColumns)
    assert column_scorer(rules).scorer is rules  # type: ignore[union-attr]
    assert not column_scorer(rules).scores_cards  # type: ignore[union-attr]
    assert column_scorer(learned).scores_cards  # type: ignore[union-attr]
    assert column_scorer(Halved(rules)) is None
    assert CardIndex.supports(rules) and CardIndex.supports(learned)
    assert not CardIndex.supports(Halved(rules))


def test_the_index_refuses_a_scorer_without_a_twin() -> None:
    index = CardIndex(skills_of)
    with pytest.raises(TypeError, match="Halved"):
        index.score_order(None, Halved(RuleScorer(distance_km)))  # type: ignore[arg-type]


@pytest.mark.parametrize("wrapped", [False, True])
def test_the_state_ranks_alike_with_and_without_a_twin(
    linker: TaxonomyLinker, amina: dict[str, Any], lager: dict[str, Any], wrapped: bool
) -> None:
    """A scorer without a twin is ranked pair by pair; with one, through the index: the
    shortlists are the per-pair ranking either way."""
    rules = RuleScorer(distance_km)
    scorer: Scorer = Halved(rules) if wrapped else rules
    state = MatchingState(linker, scorer, k=3, capacity=2, index=CardIndex(skills_of))
    cards = variants(amina, 6)
    for doc in cards:
        state.apply(card_ev(doc))
    state.apply(order_ev(lager))
    order = state.orders[lager["job_order_id"]]
    want = top_k(order, state.cards.values(), scorer, state.shortlist_size)
    listed = state.shortlists[order.job_order_id]
    got = sorted(listed.values(), key=rank_key)
    assert [(c.citizen_id, c.scored.score) for c in got] == [
        (c.citizen_id, c.scored.score) for c in want
    ]
    assert want, "the data must put someone on the list"


def _card(status: ProgrammeStatus) -> CompetenceCard:
    return CompetenceCard.model_validate(
        {
            "citizen_id": "cit-e",
            "municipality_code": "0751",
            "availability": {"hours_per_week": 37},
            "location": {"postal_code": "8000"},
            "programme": status.model_dump(),
        }
    )


def test_vectorised_eligibility_equals_the_rule_for_every_status() -> None:
    statuses = [
        ProgrammeStatus(
            target_group=target,  # type: ignore[arg-type]
            residence_basis=basis,  # type: ignore[arg-type]
            birth_year=birth,
            arrival_date=arrival,
        )
        for target, basis, birth, arrival in itertools.product(
            ["integration", "cash_benefit", "unemployment_benefit", "youth", "other"],
            [None, "refugee", "family_reunified", "eu", "work", "danish", "other"],
            [None, 1960, 1975, 1976, 2001, 2002, 2008, 2009],
            [None, dt.date(2005, 6, 1), dt.date(2006, 6, 1), dt.date(2021, 1, 1)],
        )
        if not (birth and arrival and arrival.year < birth)
    ]
    cols = np.array([eligibility_columns.encode_status(s) for s in statuses]).T
    today = dt.date(2026, 3, 1)
    for programme in eligibility.PROGRAMMES:
        for start in (None, dt.date(2026, 1, 1), dt.date(2027, 12, 31), dt.date(2028, 1, 1)):
            got = eligibility_columns.eligible(programme, start, today, *cols)
            for status, ok in zip(statuses, got.tolist(), strict=True):
                want = eligibility.check(_card(status), programme, start or today).eligible
                assert ok == want, (programme, start, status)
