"""Training: fitted weights keep their sign where more fit can only help, a barely varying
feature gets no outsized weight, and the linking-miss copies know nothing of occupations."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from services.matching.domain.pair_features import FEATURES
from services.matching.model.training import MORE_IS_BETTER, fit


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((2000, len(FEATURES)))
    logit = 2.0 * x[:, FEATURES.index("isco_similarity")]
    # Two copies of one fact: the second gets a negative weight when fitted freely.
    x[:, FEATURES.index("same_occupation")] = x[:, FEATURES.index("isco_similarity")] + (
        0.05 * rng.standard_normal(2000)
    )
    logit -= 1.5 * x[:, FEATURES.index("distance_ratio")]
    y = (rng.random(2000) < 1 / (1 + np.exp(-(logit - 1.0)))).astype(int)
    return x, y


def test_unconstrained_it_is_scikit_learns_logistic_regression() -> None:
    x, y = _data()
    model = fit(x, y, "t", nonnegative=())
    z = (x - model.mean) / model.scale
    ref = LogisticRegression(C=1.0, max_iter=10000, tol=1e-10).fit(z, y)
    np.testing.assert_allclose(model.coef, ref.coef_[0], atol=2e-3)
    assert abs(model.intercept - ref.intercept_[0]) < 2e-3


def test_more_fit_never_lowers_the_score() -> None:
    x, y = _data()
    free = fit(x, y, "t", nonnegative=())
    kept = fit(x, y, "t")
    assert min(free.coef[FEATURES.index(n)] for n in MORE_IS_BETTER) < 0  # the data tempt it
    assert all(kept.coef[FEATURES.index(n)] >= 0 for n in MORE_IS_BETTER)
    # Features outside the list keep their sign: a long way to work counts against.
    assert kept.coef[FEATURES.index("distance_ratio")] < 0


def test_a_feature_that_hardly_varies_gets_no_outsized_weight() -> None:
    x, y = _data()
    delay = FEATURES.index("start_delay")
    x[:, delay] = 0.0
    x[:5, delay] = 0.01  # a handful of late starts, all among the poor outcomes
    y[:5] = 0
    model = fit(x, y, "t")
    assert abs(model.coef[delay] / model.scale[delay]) < 10
