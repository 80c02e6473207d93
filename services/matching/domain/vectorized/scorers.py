"""One interface for scoring column-wise, whichever per-pair scorer the state holds.

`column_scorer(scorer)` gives the column-wise twin of a per-pair `Scorer` (the rule score
or the learned model), or None for a scorer the indexes cannot reproduce; the matching state
asks this instead of checking concrete types. Twins score exactly as their per-pair scorer:
`score_rows` equals `Scored.score` for every admissible card of an order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from services.matching.domain.features import CardProfile, OrderProfile
from services.matching.domain.learned import LearnedScorer
from services.matching.domain.scoring import RuleScorer, Scorer
from services.matching.domain.vectorized import pruning
from services.matching.domain.vectorized.columns import F64, I32, I64, Bool, round4

if TYPE_CHECKING:
    from services.matching.domain.vectorized.card_index import CardIndex
    from services.matching.domain.vectorized.order_index import OrderIndex


class ColumnScorer(Protocol):
    """A per-pair scorer's column-wise twin."""

    @property
    def scorer(self) -> Scorer: ...

    @property
    def scores_cards(self) -> bool:
        """Whether `card_scores` (one card against every open order) is available."""
        ...

    def raw_rows(self, index: CardIndex, order: OrderProfile, rows: I32, met: list[Bool]) -> F64:
        """Scores of `rows` for `order` before the per-pair scorer's final rounding."""
        ...

    def final(self, raw: F64) -> F64:
        """`raw_rows` as `Scored.score` gives them."""
        ...

    def top_rows(
        self, index: CardIndex, order: OrderProfile, rows: I32, met: list[Bool], k: int
    ) -> tuple[I32, F64]:
        """(rows, final scores) of a part of `rows` holding every row whose score is at least
        the scorer's `min_score` and the k-th best such score (the top k, ties included)."""
        ...

    def card_scores(self, orders: OrderIndex, card: CardProfile) -> tuple[I64, F64]:
        """(order positions, raw scores) of every order the card is admissible for."""
        ...


@dataclass(frozen=True)
class RuleColumns:
    scorer: RuleScorer
    scores_cards: bool = False

    def raw_rows(self, index: CardIndex, order: OrderProfile, rows: I32, met: list[Bool]) -> F64:
        return index.rule_scores(order, rows, met, self.scorer.distance)

    def final(self, raw: F64) -> F64:
        return raw  # rounded per reason already, as `scoring.score` does

    def top_rows(
        self, index: CardIndex, order: OrderProfile, rows: I32, met: list[Bool], k: int
    ) -> tuple[I32, F64]:
        return rows, self.raw_rows(index, order, rows, met)

    def card_scores(self, orders: OrderIndex, card: CardProfile) -> tuple[I64, F64]:
        raise NotImplementedError("the rule score has no one-card-against-orders path")


@dataclass(frozen=True)
class LearnedColumns:
    scorer: LearnedScorer
    scores_cards: bool = True

    def raw_rows(self, index: CardIndex, order: OrderProfile, rows: I32, met: list[Bool]) -> F64:
        if self.scorer.skills_of is not index.skills_of:
            raise ValueError("the scorer's skills_of differs from the index's")
        if len(rows) == 0:
            return np.zeros(0)
        return pruning.scores(index, order, rows, met, self.scorer.distance, self.scorer.model)

    def final(self, raw: F64) -> F64:
        return round4(raw)

    def top_rows(
        self, index: CardIndex, order: OrderProfile, rows: I32, met: list[Bool], k: int
    ) -> tuple[I32, F64]:
        if self.scorer.skills_of is not index.skills_of:
            raise ValueError("the scorer's skills_of differs from the index's")
        s = self.scorer
        return pruning.top_rows(index, order, rows, met, s.distance, s.model, k, s.min_score)

    def card_scores(self, orders: OrderIndex, card: CardProfile) -> tuple[I64, F64]:
        return orders.score_card(card, self.scorer)


def column_scorer(scorer: Scorer) -> ColumnScorer | None:
    """The column-wise twin of `scorer`, or None when there is none."""
    if isinstance(scorer, LearnedScorer):
        return LearnedColumns(scorer)
    if isinstance(scorer, RuleScorer):
        return RuleColumns(scorer)
    return None
