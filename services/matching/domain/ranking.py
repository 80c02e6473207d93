"""Top-k candidates of one job order, deterministic for a given set of cards."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.matching.domain.features import CardProfile, OrderProfile
from services.matching.domain.scoring import Scored, Scorer

DEFAULT_TOP_K = 10
# At most this many open suggestions per citizen at a time.
DEFAULT_CAPACITY = 5


@dataclass(frozen=True)
class Candidate:
    citizen_id: str
    card_version: str
    scored: Scored


def rank_key(c: Candidate) -> tuple[float, str]:
    # Ties break on citizen id, so any replay order gives the same ranking.
    return (-c.scored.score, c.citizen_id)


def candidate(card: CardProfile, order: OrderProfile, scorer: Scorer) -> Candidate | None:
    result = scorer(card, order)
    if isinstance(result, Scored) and result.score >= scorer.min_score:
        return Candidate(card.citizen_id, card.version, result)
    return None


def top_k(
    order: OrderProfile, cards: Iterable[CardProfile], scorer: Scorer, k: int = DEFAULT_TOP_K
) -> list[Candidate]:
    found = [c for card in cards if (c := candidate(card, order, scorer)) is not None]
    return sorted(found, key=rank_key)[:k]


def exposure(lists: Iterable[Iterable[str]], population: Iterable[str]) -> dict[str, float]:
    """How evenly suggestions spread over the people who could receive them.

    coverage: share of the population that appears in at least one list.
    congestion: Gini coefficient of how many lists each person appears in (0 = everyone
    equally often, 1 = all suggestions go to one person): a few people suggested to every
    employer show up as congestion.
    """
    counts = dict.fromkeys(population, 0)
    for ranked in lists:
        for ident in ranked:
            counts[ident] = counts.get(ident, 0) + 1
    values = sorted(counts.values())
    n, total = len(values), sum(values)
    if n == 0 or total == 0:
        return {"coverage": 0.0, "congestion": 0.0, "population": float(n)}
    weighted = sum((i + 1) * v for i, v in enumerate(values))
    gini = (2 * weighted) / (n * total) - (n + 1) / n
    covered = sum(1 for v in values if v > 0) / n
    return {"coverage": round(covered, 4), "congestion": round(gini, 4), "population": float(n)}
