"""The text features of a (card, order) pair: what the words say, beside the ESCO links.

- title_similarity: the best cosine between one of the citizen's experience titles and the
  order's title;
- wish_similarity: the best cosine between one of the citizen's job wishes and the order's
  title;
- skill_text_similarity: the best cosine between one of the citizen's skill labels or
  certificates and the whole order (title, description, requested skills).

Each is 0 when either side has no text. They never depend on linking, so a title the linker
misses (or links below its threshold) still counts for what it says.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.matching.domain.features import CardProfile, OrderProfile
from services.matching.domain.text_vectors import TextVector, cosine

TEXT_FEATURES: tuple[str, ...] = ("title_similarity", "wish_similarity", "skill_text_similarity")


def best_cosine(texts: Iterable[TextVector], target: TextVector) -> float:
    return max((cosine(t, target) for t in texts), default=0.0)


def text_similarities(card: CardProfile, order: OrderProfile) -> tuple[float, float, float]:
    """(title_similarity, wish_similarity, skill_text_similarity) of the pair."""
    return (
        best_cosine(card.experience_text, order.title_text),
        best_cosine(card.wish_text, order.title_text),
        best_cosine(card.skill_text, order.body_text),
    )
