"""The learned model's pruned top k (`vectorized.pruning`) ranks exactly as scoring every
admissible card: same citizens, same scores, ties at the k-th score by citizen id, with
exclusions and minimum scores, for the shipped model and for models with negative weights."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from services.matching.domain.features import CardProfile, OrderProfile, card_profile, order_profile
from services.matching.domain.learned import LearnedScorer
from services.matching.domain.pair_features import FEATURES
from services.matching.domain.ranking import top_k
from services.matching.domain.vectorized import CardIndex, OrderIndex, pruning, round4
from services.matching.linking import TaxonomyLinker, distance_km, skills_of
from services.matching.model.linear import LinearModel
from services.matching.model.registry import SHIPPED, Registry
from tests.unit.matching.test_vectorized import _vary, _vary_order, base_pool

KS = (1, 3, 10, 40, 10_000)  # 10,000: more than there are cards


def _shipped() -> LinearModel:
    entry = Registry(SHIPPED).newest_approved()
    assert entry is not None
    return entry.model()


def _signed(seed: int) -> LinearModel:
    """Random weights of both signs (a few zero), on every feature: the lower bounds of
    the dear features matter where their weight is negative."""
    rng = np.random.default_rng(seed)
    n = len(FEATURES)
    coef = rng.normal(0.0, 1.0, n) * (rng.random(n) > 0.15)
    return LinearModel(
        f"signed-{seed}",
        FEATURES,
        rng.uniform(0.0, 0.6, n),
        rng.uniform(0.1, 0.6, n),
        coef,
        float(rng.normal(-0.5, 0.5)),
    )


def _coarse() -> LinearModel:
    """Few features with coarse values and small weights: many cards tie to 4 decimals,
    also at the k-th score."""
    n = len(FEATURES)
    coef = np.zeros(n)
    for name, w in (("wish_match", 0.02), ("same_occupation", -0.01), ("mentor", 0.3)):
        coef[FEATURES.index(name)] = w
    return LinearModel("coarse", FEATURES, np.zeros(n), np.ones(n), coef, 0.0)


def _tight() -> LinearModel:
    """Continuous cheap features and nearly weightless dear ones: the bounds are nearly
    exact, so rows are dropped right at the rounding edge of the k-th score."""
    n = len(FEATURES)
    coef = np.full(n, 1e-9)
    for name, w in (("distance_ratio", -1.1), ("hours_fit", 0.8), ("start_delay", -0.7)):
        coef[FEATURES.index(name)] = w
    return LinearModel("tight", FEATURES, np.zeros(n), np.ones(n), coef, 0.3)


MODELS = {
    "shipped": _shipped,
    "tight": _tight,
    "signed-1": lambda: _signed(1),
    "signed-2": lambda: _signed(2),
    "coarse": _coarse,
}


@pytest.fixture(scope="module")
def pool(linker: TaxonomyLinker) -> tuple[CardIndex, list[CardProfile], list[OrderProfile]]:
    base_cards, base_orders = base_pool(5)
    rng = np.random.default_rng(17)
    raw = list(base_cards) + [_vary(base_cards[i % len(base_cards)], i, rng) for i in range(400)]
    # Identical cards under other ids tie exactly: before and after the originals by id.
    raw += [c.model_copy(update={"citizen_id": f"aaa-twin-{i}"}) for i, c in enumerate(raw[:40])]
    raw += [c.model_copy(update={"citizen_id": f"zzz-twin-{i}"}) for i, c in enumerate(raw[:40])]
    orders = list(base_orders) + [
        _vary_order(base_orders[i % len(base_orders)], i, rng) for i in range(60)
    ]
    cards = [card_profile(c, linker) for c in raw]
    index = CardIndex.build(cards, skills_of)
    return index, cards, [order_profile(o, linker) for o in orders]


def _full_ranking(
    index: CardIndex, order: OrderProfile, scorer: LearnedScorer, k: int, exclude: set[str]
) -> list[tuple[str, float]]:
    """Every admissible card scored, then ranked: score down, citizen id up."""
    rows, scores = index.score_order(order, scorer, exclude)
    ranked = sorted(
        (-float(s), index.id_of[int(r)] or "")
        for r, s in zip(rows, scores, strict=True)
        if s >= scorer.min_score
    )
    return [(cid, -s) for s, cid in ranked[:k]]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_pruned_top_k_equals_scoring_every_card(
    pool: tuple[CardIndex, list[CardProfile], list[OrderProfile]],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    index, _, orders = pool
    monkeypatch.setattr(pruning, "FULL_BELOW", 0)  # prune however few the cards
    model = MODELS[name]()
    rng = np.random.default_rng(3)
    pruned = 0
    for min_score in (0.0, 0.05, 0.4, 0.8):
        scorer = LearnedScorer(model, skills_of, distance_km, min_score=min_score)
        for order in orders:
            full = _full_ranking(index, order, scorer, max(KS), set())
            for k in KS:
                assert index.top_k_order(order, scorer, k) == full[:k], (order.job_order_id, k)
            # Excluding some of the best (and some others) leaves the rest in their order.
            ids = [cid for cid, _ in full]
            gone = {cid for cid in ids[:3] if rng.random() < 0.7}
            gone |= {ids[int(i)] for i in rng.integers(0, len(ids), 3)} if ids else set()
            for k in (1, 10):
                want = _full_ranking(index, order, scorer, k, gone)
                assert index.top_k_order(order, scorer, k, exclude=gone) == want
            rows, met = index.admissible_rows(order)
            kept, _ = pruning.top_rows(index, order, rows, met, distance_km, model, 3, min_score)
            pruned += len(kept) < len(rows)
    assert pruned > 20  # the pruning did drop cards, not just score them all


@pytest.mark.parametrize("name", sorted(MODELS))
def test_pruned_scores_are_the_full_scores(
    pool: tuple[CardIndex, list[CardProfile], list[OrderProfile]], name: str
) -> None:
    """The cards scored by the pruning get exactly (bit for bit) their full score, and
    every card left out scores below the k-th best or below the minimum."""
    index, _, orders = pool
    model = MODELS[name]()
    scorer = LearnedScorer(model, skills_of, distance_km, min_score=0.05)
    for order in orders:
        rows, met = index.admissible_rows(order)
        all_rows, all_scores = index.score_order(order, scorer)
        full = dict(zip(all_rows.tolist(), all_scores.tolist(), strict=True))
        for k in (1, 5):
            got_rows, got = pruning.top_rows(
                index, order, rows, met, distance_km, model, k, 0.05, full_below=0
            )
            assert len(set(got_rows.tolist())) == len(got_rows)
            assert [full[r] for r in got_rows.tolist()] == got.tolist()
            passing = sorted((s for s in full.values() if s >= 0.05), reverse=True)
            if not passing:
                continue
            kth = passing[min(k, len(passing)) - 1]
            left_out = set(full) - set(got_rows.tolist())
            assert all(full[r] < kth for r in left_out), (order.job_order_id, k)


def test_pruned_top_k_equals_the_pair_code(
    pool: tuple[CardIndex, list[CardProfile], list[OrderProfile]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The per-pair scorer and `ranking.top_k` agree with the pruned top k."""
    index, cards, orders = pool
    monkeypatch.setattr(pruning, "FULL_BELOW", 0)
    for make in (_shipped, lambda: _signed(1)):
        scorer = LearnedScorer(make(), skills_of, distance_km)
        for order in orders[::4]:
            want = [(c.citizen_id, c.scored.score) for c in top_k(order, cards, scorer, 10)]
            assert index.top_k_order(order, scorer, 10) == want


@pytest.mark.parametrize("name", sorted(MODELS))
def test_bounds_hold_for_every_card(
    pool: tuple[CardIndex, list[CardProfile], list[OrderProfile]], name: str
) -> None:
    """Each dear feature lies within `feature_bounds` (0 without entries), and the upper
    bound of the logit is never below the exact logit (beyond the rounding margin)."""
    index, _, orders = pool
    model = MODELS[name]()
    terms = pruning.terms_of(model)
    dear = sorted(pruning.BOUNDED)
    for order in orders:
        rows = np.arange(index.n, dtype=np.int32)  # every card, admissible or not
        _, met = index.admissible(order)
        x = index.feature_columns(order, rows, met, distance_km, range(len(FEATURES)))
        bounds = index.feature_bounds(order, dear)
        assert set(bounds) == set(dear)
        for j, (count, lo, hi) in bounds.items():
            has = index.cols[count][rows] > 0
            assert (x[j][~has] == 0).all(), FEATURES[j]
            assert ((x[j][has] >= lo) & (x[j][has] <= hi)).all(), FEATURES[j]
        cheap = {j: x[j] for j, *_ in terms if j not in pruning.BOUNDED}
        upper = pruning.upper_logits(index, model, terms, rows, cheap, bounds)
        z = pruning.logits(model, terms, x, len(rows))
        assert (z <= upper + pruning._margin(model, terms)).all()


def test_full_scores_match_the_model(
    pool: tuple[CardIndex, list[CardProfile], list[OrderProfile]],
) -> None:
    """`logits` summed term by term is the model's own `predict_proba` to rounding, and
    a zero weight's feature is not needed."""
    index, _, orders = pool
    model = _shipped()
    assert (model.coef == 0).any()
    for order in orders[::5]:
        rows, met = index.admissible_rows(order)
        x = index.features(order, rows, met, distance_km, model.features)
        ours = pruning.scores(index, order, rows, met, distance_km, model)
        np.testing.assert_allclose(ours, model.predict_proba(x), rtol=0, atol=1e-12)
    zeroed = dataclasses.replace(model, coef=np.zeros(len(model.coef)))
    assert pruning.terms_of(zeroed) == []


def test_threshold_keeps_every_probability_that_rounds_up_to_the_score() -> None:
    """A row is dropped only below `_threshold(score)`: every probability whose 4-decimal
    `Scored.score` reaches the score (half a unit below it, at the rounding edge) is above."""
    rng = np.random.default_rng(9)
    margin = pruning._margin(_shipped(), pruning.terms_of(_shipped()))
    for score in np.round(np.concatenate([rng.uniform(0, 1, 400), [1e-4, 0.5, 0.9999]]), 4):
        edge = float(score) - pruning.HALF
        near = [edge + d for d in (-1e-12, 0.0, 1e-12, 1e-9, 1e-6)] + [float(score)]
        for p in (np.nextafter(edge, 1.0), *near):
            if not 0.0 < p < 1.0 or round4(np.array([p]))[0] < score:
                continue
            assert math.log(p / (1.0 - p)) >= pruning._threshold(float(score), margin)


def test_a_pair_scores_the_same_bits_from_either_index(
    pool: tuple[CardIndex, list[CardProfile], list[OrderProfile]],
) -> None:
    """One order against the cards and one card against the orders sum the logit alike."""
    index, cards, orders = pool
    scorer = LearnedScorer(_shipped(), skills_of, distance_km)
    by_order = {}
    for order in orders:
        rows, raw = index.score_order_raw(order, scorer)
        by_order[order.job_order_id] = dict(zip(rows.tolist(), raw.tolist(), strict=True))
    oindex = OrderIndex(orders, skills_of)
    compared = 0
    for card in cards[::7]:
        row = index.row_of[card.citizen_id]
        positions, raw = oindex.score_card(card, scorer)
        for p, s in zip(positions.tolist(), raw.tolist(), strict=True):
            assert by_order[oindex.orders[p].job_order_id][row] == s
            compared += 1
    assert compared > 50
