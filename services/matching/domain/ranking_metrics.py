"""Ranking quality of one ranked list against graded relevance: NDCG@k and hit rate@k.

Pure. Gains are graded (`2**grade - 1`, grade 0 = not relevant), discounted by
`log2(position + 1)`; the ideal ranking is every relevant item known for the query, best
grade first, so items the ranking never showed count against it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def dcg(grades: Sequence[int], k: int) -> float:
    return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(grades[:k]))


def ndcg_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int = 10) -> float:
    """NDCG@k of `ranked` ids; `relevance` holds the grade of every relevant id (> 0)."""
    ideal = dcg(sorted((g for g in relevance.values() if g > 0), reverse=True), k)
    if ideal == 0:
        raise ValueError("a query without relevant items has no NDCG")
    return dcg([relevance.get(i, 0) for i in ranked], k) / ideal


def hit_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int = 10) -> float:
    """1.0 when a relevant id is among the first k, else 0.0."""
    return 1.0 if any(relevance.get(i, 0) > 0 for i in ranked[:k]) else 0.0
