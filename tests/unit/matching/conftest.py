from __future__ import annotations

from collections.abc import Callable

import pytest

from services.matching.domain.scoring import RuleScorer
from services.matching.domain.state import MatchingState
from services.matching.domain.vectorized import CardIndex
from services.matching.linking import TaxonomyLinker, default_linker, distance_km, skills_of


@pytest.fixture(scope="session")
def linker() -> TaxonomyLinker:
    return default_linker()


@pytest.fixture
def make_state(linker: TaxonomyLinker) -> Callable[[], MatchingState]:
    """A small worker: top 3 per order, capacity 2, with the card index (modules that need
    another define their own)."""

    def make() -> MatchingState:
        return MatchingState(
            linker, RuleScorer(distance_km), k=3, capacity=2, index=CardIndex(skills_of)
        )

    return make
