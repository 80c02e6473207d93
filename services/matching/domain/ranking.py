"""Top-k candidates of one job order, deterministic for a given set of cards."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.matching.domain.features import CardProfile, OrderProfile
from services.matching.domain.scoring import Scored, Scorer

DEFAULT_TOP_K = 10


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
