"""The ranking evaluation's metrics (bench/ranking.py) on lists worked out by hand."""

from __future__ import annotations

import math

import pytest

from services.matching.domain.ranking_metrics import dcg, hit_at_k, ndcg_at_k


def test_a_perfect_ranking_scores_one() -> None:
    relevance = {"a": 2, "b": 1}
    assert ndcg_at_k(["a", "b", "x"], relevance) == pytest.approx(1.0)
    assert hit_at_k(["a", "b", "x"], relevance) == 1.0


def test_graded_gains_and_log_discounts() -> None:
    relevance = {"a": 2, "b": 1}
    # b first, a second: (2^1-1)/log2(2) + (2^2-1)/log2(3); ideal 3/1 + 1/log2(3).
    got = ndcg_at_k(["b", "a"], relevance)
    want = (1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3))
    assert got == pytest.approx(want)
    assert dcg([0, 2], 10) == pytest.approx(3 / math.log2(3))


def test_relevant_items_outside_the_list_count_against_it() -> None:
    relevance = {"a": 2, "b": 2, "c": 2}
    assert ndcg_at_k(["a"], relevance) == pytest.approx(3 / (3 + 3 / math.log2(3) + 3 / 2))


def test_the_cut_at_k() -> None:
    relevance = {"z": 1}
    ranked = [f"x{i}" for i in range(10)] + ["z"]
    assert ndcg_at_k(ranked, relevance, k=10) == 0.0
    assert hit_at_k(ranked, relevance, k=10) == 0.0
    assert hit_at_k(ranked, relevance, k=11) == 1.0
    assert ndcg_at_k(ranked, relevance, k=11) == pytest.approx(1 / math.log2(12))


def test_a_query_without_relevant_items_is_refused() -> None:
    with pytest.raises(ValueError, match="no NDCG"):
        ndcg_at_k(["a"], {"a": 0})
