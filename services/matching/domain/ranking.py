"""Top-k candidates of one job order, deterministic for a given set of cards."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.matching.domain.features import CardProfile, OrderProfile
from services.matching.domain.scoring import DistanceFn, Scored, score

DEFAULT_TOP_K = 10
MIN_SCORE = 0.25


@dataclass(frozen=True)
class Candidate:
    citizen_id: str
    card_version: str
    scored: Scored


def rank_key(c: Candidate) -> tuple[float, str]:
    # Ties break on citizen id, so any replay order gives the same ranking.
    return (-c.scored.score, c.citizen_id)


def candidate(card: CardProfile, order: OrderProfile, distance: DistanceFn) -> Candidate | None:
    result = score(card, order, distance)
    if isinstance(result, Scored) and result.score >= MIN_SCORE:
        return Candidate(card.citizen_id, card.version, result)
    return None


def top_k(
    order: OrderProfile, cards: Iterable[CardProfile], distance: DistanceFn, k: int = DEFAULT_TOP_K
) -> list[Candidate]:
    found = [c for card in cards if (c := candidate(card, order, distance)) is not None]
    return sorted(found, key=rank_key)[:k]
