"""The learned model's top k without computing every feature of every admissible card.

The model is logistic: its probability grows with its logit, `intercept + sum over the
features of (x_j - mean_j) / scale_j * coef_j`. Most features are a gather or a comparison
per row (distance, hours, start, Danish, requested skills); those with many values per card
(experience, wishes, texts: `BOUNDED`) cost most, and each lies between bounds known without
computing it (`CardIndex.feature_bounds`: the least and the largest value of the order's
table over all cards, or 0 for a card without entries in that list). So `top_rows`:

1. computes the cheap features of every admissible row, and bounds each row's logit from
   above with the dear features at whichever bound makes their term largest;
2. scores rows exactly in rounds, best upper bound first (`candidates_for(k)` rows, then
   twice as many each round); after each round, the k-th best score so far (of at least
   `min_score`) drops every row whose upper bound cannot round up to it;
3. stops when no row is left: every row that can rank in the top k, ties at the k-th score
   included, has been scored exactly, so the ranking is that of scoring every row.

Conservative at every step: a row is dropped only when its upper bound is below the logit of
the k-th score less half a unit of the 4-decimal rounding of `Scored.score`, less margins far
wider than the rounding errors of the sums and of `exp` (`_margin`). The exact scores do not
depend on which rows are scored together: `logits` sums each row's terms in one fixed order,
and the full scoring (`LearnedColumns.raw_rows`) uses it too; the tests compare the two.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from services.matching.domain.features import OrderProfile
from services.matching.domain.pair_features import FEATURES
from services.matching.domain.scoring import DistanceFn
from services.matching.domain.vectorized.columns import F64, I32, Bool, round4
from services.matching.model.linear import LinearModel

if TYPE_CHECKING:
    from services.matching.domain.vectorized.card_index import Bounds, CardIndex

# Features with many values per card (experience, wishes, texts): the dearest to compute,
# and bounded per row by `CardIndex.feature_bounds` without computing them.
BOUNDED = frozenset(
    FEATURES.index(name)
    for name in (
        "same_occupation",
        "isco_similarity",
        "shared_skill_overlap",
        "relevant_years",
        "wish_match",
        "title_similarity",
        "wish_similarity",
        "skill_text_similarity",
    )
)
# Every feature lies in [-LIMIT, LIMIT] (ratios, shares, similarities, clipped margins).
LIMIT = 2.0
# Fewer admissible rows than this: every row is scored (bounding would not pay).
FULL_BELOW = 2048
# A probability below t - HALF rounds (to 4 decimals) below t; MARGIN (in probability, and
# at least as much in logits) is far above the rounding errors of exp and of the sums.
HALF = 5e-5
MARGIN = 1e-9

# (feature number in `FEATURES`, mean, scale, coefficient) of each term of the logit.
Terms = Sequence[tuple[int, float, float, float]]


def terms_of(model: LinearModel) -> Terms:
    """The logit's terms: every feature the model weighs, in the model's order. A zero
    weight cannot change a logit, so its feature is not computed at all."""
    return [
        (FEATURES.index(name), float(mu), float(s), float(c))
        for name, mu, s, c in zip(model.features, model.mean, model.scale, model.coef, strict=True)
        if c != 0
    ]


def logits(model: LinearModel, terms: Terms, columns: Mapping[int, F64], m: int) -> F64:
    """The model's logit of `m` rows from their feature columns (by feature number), summed
    term by term in the model's order: each row's value depends on that row alone."""
    z = np.full(m, float(model.intercept))
    for j, mu, s, c in terms:
        z += (columns[j] - mu) / s * c
    return z


def probabilities(z: F64) -> F64:
    return 1.0 / (1.0 + np.exp(-z))


def scores(
    index: CardIndex,
    order: OrderProfile,
    rows: I32,
    met: list[Bool],
    distance: DistanceFn,
    model: LinearModel,
) -> F64:
    """The unrounded probability of every row (every feature the model weighs computed)."""
    terms = terms_of(model)
    columns = index.feature_columns(order, rows, met, distance, [j for j, *_ in terms])
    return probabilities(logits(model, terms, columns, len(rows)))


def _margin(model: LinearModel, terms: Terms) -> float:
    """More than the rounding error of a logit summed in any order: each of the n terms
    (three roundings) and the n sums err by at most 2^-53 of a magnitude no term or partial
    sum exceeds, with features within LIMIT."""
    size = abs(float(model.intercept))
    size += sum(abs(c / s) * (LIMIT + abs(mu)) for _, mu, s, c in terms)
    return MARGIN + 4 * (len(terms) + 4) * 2.0**-53 * size


def _threshold(score: float, margin: float) -> float:
    """A logit below which `Scored.score` is certainly below `score` (-inf when every
    logit may reach it)."""
    p = score - HALF - MARGIN
    if p <= 0.0:
        return -math.inf
    return math.log(p / (1.0 - p)) - margin


def upper_logits(
    index: CardIndex,
    model: LinearModel,
    terms: Terms,
    rows: I32,
    cheap: Mapping[int, F64],
    bounds: Bounds,
) -> F64:
    """An upper bound of each row's logit (up to rounding: see `_margin`): the cheap
    features' terms exact, the others' at their largest. Those depend on which lists
    (experience, wishes, skill texts) a row has entries in: a table of the patterns."""
    lists = sorted({name for name, _, _ in bounds.values()})
    pattern = np.zeros(len(rows), dtype=np.intp)
    for bit, name in enumerate(lists):
        pattern |= (index.cols[name][rows] > 0).astype(np.intp) << bit
    table = np.zeros(1 << len(lists))
    z = np.full(len(rows), float(model.intercept))
    for j, mu, s, c in terms:
        if j in cheap:
            z += (cheap[j] - mu) / s * c
            continue
        name, lo, hi = bounds[j]
        bit = 1 << lists.index(name)
        without = (0.0 - mu) / s * c
        largest = max((lo - mu) / s * c, (hi - mu) / s * c)
        for p in range(len(table)):
            table[p] += largest if p & bit else without
    return z + table[pattern]


def candidates_for(k: int) -> int:
    """How many rows (best by their upper bounds) are scored in the first round."""
    return 4 * k + 32


def top_rows(
    index: CardIndex,
    order: OrderProfile,
    rows: I32,
    met: list[Bool],
    distance: DistanceFn,
    model: LinearModel,
    k: int,
    min_score: float,
    full_below: int | None = None,
) -> tuple[I32, F64]:
    """(rows, `Scored.score`s) of a part of `rows` holding every row whose score is at least
    `min_score` and at least the k-th best such score: the top k by score and citizen id,
    ties at the k-th score included, come out as from scoring every row. With fewer rows
    than `full_below` (default `FULL_BELOW`) every row is scored."""
    m = len(rows)
    terms = terms_of(model)
    dear = [j for j, *_ in terms if j in BOUNDED]
    if m < max(FULL_BELOW if full_below is None else full_below, 1) or k <= 0 or not dear:
        return rows, round4(scores(index, order, rows, met, distance, model))
    cheap_numbers = [j for j, *_ in terms if j not in BOUNDED]
    cheap = index.feature_columns(order, rows, met, distance, cheap_numbers)
    bounds = index.feature_bounds(order, dear)
    z_hi = upper_logits(index, model, terms, rows, cheap, bounds)
    margin = _margin(model, terms)

    def exact(at: npt.NDArray[np.intp]) -> F64:
        columns = {j: v[at] for j, v in cheap.items()}
        columns.update(index.feature_columns(order, rows[at], met, distance, dear))
        return round4(probabilities(logits(model, terms, columns, len(at))))

    pool = np.flatnonzero(z_hi >= _threshold(min_score, margin))  # may reach min_score
    done: list[npt.NDArray[np.intp]] = []
    found: list[F64] = []
    best = np.zeros(0)  # the k best exact scores so far (of at least min_score)
    size = candidates_for(k)
    while len(pool):
        if len(pool) > size:
            part = np.argpartition(-z_hi[pool], size - 1)
            batch, pool = pool[part[:size]], pool[part[size:]]
        else:
            batch, pool = pool, pool[:0]
        got = exact(batch)
        done.append(batch)
        found.append(got)
        best = np.concatenate([best, got[got >= min_score]])
        if len(best) >= k:
            best = -np.partition(-best, k - 1)[:k]
            pool = pool[z_hi[pool] >= _threshold(float(best.min()), margin)]
        size *= 2
    if not done:
        return rows[:0], np.zeros(0)
    at = np.concatenate(done)
    return rows[at], np.concatenate(found)
