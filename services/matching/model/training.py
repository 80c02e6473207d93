"""Training and time-based evaluation of the learned score, with two baselines beside it.

- model: logistic regression on the pair features (`pair_features.FEATURES`: the ESCO
  features and the text features), trained on every example three times: as it is, as if
  the linker had missed the citizen's titles, and as if it had missed the order's title
  (`linking_misses`), so that the text features learn what they are worth when the ESCO
  features know nothing, as on real titles the linker does not know;
- rules: the skeleton's weighted rule score (`scoring.score`, factor score when excluded);
- tfidf: cosine similarity of the card's text and the order's text (TF-IDF fitted on the
  training window).
Metrics on the later part of the window (never seen in training): AUC over all pairs,
NDCG@10 and precision@10 per job order, averaged over orders with at least one good pair.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import roc_auc_score

from schemas.citizens import CompetenceCard
from schemas.jobs import JobOrder
from services.matching.domain.features import (
    CardProfile,
    Linker,
    OrderProfile,
    card_profile,
    content_version,
    order_profile,
)
from services.matching.domain.pair_features import FEATURES, SkillsOf, pair_facts
from services.matching.domain.scoring import DistanceFn, Excluded, score
from services.matching.domain.text_features import TEXT_FEATURES
from services.matching.domain.text_vectors import EMPTY, TextEncoder, TextVector
from services.matching.model.dataset import Example
from services.matching.model.linear import LinearModel


class _MissingOccupations:
    """The linker, but finding no occupation for any title (skills and texts as before)."""

    def __init__(self, linker: Linker) -> None:
        self._linker = linker

    def link_occupation(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        return []

    def link_skill(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        return self._linker.link_skill(text, top)

    def isco_of(self, occupation_uri: str) -> str | None:
        return self._linker.isco_of(occupation_uri)

    def text_vector(self, text: str) -> TextVector:
        if isinstance(self._linker, TextEncoder):
            return self._linker.text_vector(text)
        return EMPTY


def unlinked_card(card: CompetenceCard) -> CompetenceCard:
    """The card without the occupations of its experience and wishes."""
    return card.model_copy(
        update={
            "experience": [
                e.model_copy(update={"esco_occupation_uri": None}) for e in card.experience
            ],
            "job_wishes": [
                w.model_copy(update={"esco_occupation_uri": None}) for w in card.job_wishes
            ],
        }
    )


def unlinked_order(order: JobOrder) -> JobOrder:
    return order.model_copy(update={"esco_occupation_uri": None})


@dataclass
class Featurizer:
    linker: Linker
    skills_of: SkillsOf
    distance: DistanceFn
    _cards: dict[tuple[str, bool], CardProfile] = field(default_factory=dict)
    _orders: dict[tuple[str, bool], OrderProfile] = field(default_factory=dict)

    def card(self, card: CompetenceCard, linked: bool = True) -> CardProfile:
        key = (content_version(card), linked)
        if key not in self._cards:
            self._cards[key] = (
                card_profile(card, self.linker)
                if linked
                else card_profile(unlinked_card(card), _MissingOccupations(self.linker))
            )
        return self._cards[key]

    def order(self, order: JobOrder, linked: bool = True) -> OrderProfile:
        key = (content_version(order), linked)
        if key not in self._orders:
            self._orders[key] = (
                order_profile(order, self.linker)
                if linked
                else order_profile(unlinked_order(order), _MissingOccupations(self.linker))
            )
        return self._orders[key]

    def matrix(
        self, examples: Sequence[Example], card_linked: bool = True, order_linked: bool = True
    ) -> np.ndarray:
        rows = [
            pair_facts(
                self.card(e.card, card_linked),
                self.order(e.order, order_linked),
                self.skills_of,
                self.distance,
            ).vector
            for e in examples
        ]
        return np.vstack(rows) if rows else np.zeros((0, len(FEATURES)))

    def linking_misses(self, examples: Sequence[Example]) -> np.ndarray:
        """The examples' features as if the linker had missed the titles: first the
        citizens', then the orders' (two rows per example, labels unchanged)."""
        return np.vstack(
            [
                self.matrix(examples, card_linked=False),
                self.matrix(examples, order_linked=False),
            ]
        )

    def rule_scores(self, examples: Sequence[Example]) -> np.ndarray:
        out = []
        for e in examples:
            result = score(
                self.card(e.card), self.order(e.order), self.distance, with_soft_score=True
            )
            out.append(
                result.soft_score * 0.2
                if isinstance(result, Excluded)
                else 0.2 + 0.8 * result.score
            )
        return np.asarray(out, dtype=np.float64)


# Weight of an example seen as if linking had missed (each example appears twice so): with
# 0.1, one training row in six (2w / (1 + 2w)) is a miss, about the linker's measured miss
# rate on Danish job titles (hit@1 0.81, bench/linking.md), not a figure tuned on a ranking.
MISS_WEIGHT = 0.1


MIN_SCALE = 0.1
# Features whose weight may not be negative (see `fit`).
MORE_IS_BETTER: tuple[str, ...] = (
    "essential_skill_coverage",
    "optional_skill_coverage",
    "requested_skill_coverage",
    "same_occupation",
    "isco_similarity",
    "shared_skill_overlap",
    "relevant_years",
    "wish_match",
    *TEXT_FEATURES,
)


def fit(
    x: np.ndarray,
    y: np.ndarray,
    version: str,
    weights: np.ndarray | None = None,
    nonnegative: Sequence[str] = MORE_IS_BETTER,
) -> LinearModel:
    """Logistic regression on standardised features (L2, C = 1, as scikit-learn's default),
    with the coefficients of `nonnegative` kept >= 0: more skill coverage, a closer
    occupation, more relevant years, a closer wish or more textual likeness may raise a
    score, never lower it. These features repeat each other (on synthetic outcomes the titles
    are ESCO's labels, so the text repeats the links), and a negative weight on one of them
    is an artefact of that, which would rank the same occupation below a neighbour and
    explain experience as counting against the person."""
    mean = x.mean(axis=0) if weights is None else np.average(x, axis=0, weights=weights)
    # A feature that hardly varies in the training data (the synthetic history starts almost
    # every placement on time) must not get a huge weight per unit from a tiny spread.
    scale = np.maximum(np.sqrt(np.average((x - mean) ** 2, axis=0, weights=weights)), MIN_SCALE)
    z = (x - mean) / scale
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    target = np.asarray(y, dtype=np.float64)
    n = z.shape[1]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef, intercept = theta[:n], theta[n]
        margin = z @ coef + intercept
        # log(1 + e^m) - y m, summed with the sample weights; its gradient uses sigmoid(m).
        value = float(np.sum(w * (np.logaddexp(0.0, margin) - target * margin)))
        residual = w * (1.0 / (1.0 + np.exp(-margin)) - target)
        grad = np.concatenate([z.T @ residual + coef, [residual.sum()]])
        return value + 0.5 * float(coef @ coef), grad

    bounds = [(0.0, None) if name in nonnegative else (None, None) for name in FEATURES]
    found = minimize(
        loss,
        np.zeros(n + 1),
        jac=True,
        method="L-BFGS-B",
        bounds=[*bounds, (None, None)],
        options={"maxiter": 10000, "ftol": 1e-12, "gtol": 1e-8},
    )
    theta = found.x
    return LinearModel(version, FEATURES, mean, scale, theta[:n].copy(), float(theta[n]))


def time_split(examples: Sequence[Example], holdout: float) -> tuple[list[Example], list[Example]]:
    ordered = sorted(examples, key=lambda e: e.suggested_at)
    cut = round(len(ordered) * (1 - holdout))
    return ordered[:cut], ordered[cut:]


def _text_card(e: Example) -> str:
    c = e.card
    parts = [x.title for x in c.experience] + [s.label for s in c.skills]
    parts += [w.title for w in c.job_wishes] + c.certificates
    return " ".join(parts)


def _text_order(e: Example) -> str:
    o = e.order
    parts = [o.title, o.description or ""] + [s.label for s in o.requirements.skills]
    return " ".join(parts + o.requirements.certificates)


def tfidf_scores(train: Sequence[Example], test: Sequence[Example]) -> np.ndarray:
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    vec.fit([_text_card(e) for e in train] + [_text_order(e) for e in train])
    a = vec.transform([_text_card(e) for e in test])
    b = vec.transform([_text_order(e) for e in test])
    return np.asarray(a.multiply(b).sum(axis=1)).ravel()


def per_order_ranking(
    examples: Sequence[Example], scores: np.ndarray, k: int = 10
) -> tuple[list[float], list[float]]:
    """NDCG@k and precision@k of each job order with a good pair."""
    groups: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for e, s in zip(examples, scores, strict=True):
        groups[e.job_order_id].append((float(s), int(e.label or 0)))
    ndcgs, precisions = [], []
    for pairs in groups.values():
        labels = [lab for _, lab in sorted(pairs, key=lambda t: -t[0])]
        if not any(labels):
            continue
        dcg = sum(lab / math.log2(i + 2) for i, lab in enumerate(labels[:k]))
        ideal = sorted(labels, reverse=True)
        idcg = sum(lab / math.log2(i + 2) for i, lab in enumerate(ideal[:k]))
        ndcgs.append(dcg / idcg)
        precisions.append(sum(labels[:k]) / min(k, len(labels)))
    return ndcgs, precisions


def ranking_metrics(
    examples: Sequence[Example], scores: np.ndarray, k: int = 10
) -> tuple[float, float]:
    """NDCG@k and precision@k per job order, averaged over orders with a good pair."""
    ndcgs, precisions = per_order_ranking(examples, scores, k)
    if not ndcgs:
        return float("nan"), float("nan")
    return float(np.mean(ndcgs)), float(np.mean(precisions))


def metrics(examples: Sequence[Example], scores: np.ndarray) -> dict[str, float]:
    y = np.asarray([e.label for e in examples])
    auc = float(roc_auc_score(y, scores)) if len(set(y.tolist())) == 2 else float("nan")
    ndcg, precision = ranking_metrics(examples, scores)
    return {"auc": round(auc, 4), "ndcg@10": round(ndcg, 4), "precision@10": round(precision, 4)}


def calibration(
    examples: Sequence[Example], probabilities: np.ndarray, bins: int = 10
) -> dict[str, float]:
    """Brier score and expected calibration error: does 0.3 mean three good of ten?"""
    y = np.asarray([e.label for e in examples], dtype=np.float64)
    brier = float(np.mean((probabilities - y) ** 2))
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(probabilities, edges) - 1, 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(probabilities[mask].mean() - y[mask].mean())
    return {"brier": round(brier, 4), "ece": round(float(ece), 4)}


def new_version(now: dt.datetime) -> str:
    return f"{now:%Y%m%dT%H%M%S}-logistic"


def with_misses(
    featurizer: Featurizer, examples: Sequence[Example], miss_weight: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, weights) of the examples as they are (weight 1) and, when
    `miss_weight` > 0, as if linking had missed (`Featurizer.linking_misses`, that weight)."""
    x = featurizer.matrix(examples)
    y = np.asarray([e.label for e in examples])
    if miss_weight <= 0:
        return x, y, np.ones(len(y))
    misses = featurizer.linking_misses(examples)
    weights = np.concatenate([np.ones(len(y)), np.full(2 * len(y), miss_weight)])
    return np.vstack([x, misses]), np.concatenate([y, y, y]), weights


def train_and_evaluate(
    examples: Sequence[Example],
    featurizer: Featurizer,
    holdout: float,
    now: dt.datetime,
    miss_weight: float = MISS_WEIGHT,
) -> tuple[LinearModel, dict[str, Any]]:
    """Fit on the earlier part, report all three scorers on the later part, then refit on
    everything for the model that is saved (its hold-out figures are those reported)."""
    train, test = time_split(examples, holdout)
    if not train or not test:
        raise ValueError("too few labelled suggestions to train and evaluate")
    x_train, y_train, w_train = with_misses(featurizer, train, miss_weight)
    x_test = featurizer.matrix(test)
    if len(set(y_train.tolist())) < 2:
        raise ValueError("the training window holds only one kind of outcome")
    version = new_version(now)
    held_out = fit(x_train, y_train, version, w_train)
    report = {
        "holdout_fraction": holdout,
        "linking_miss_weight": miss_weight,
        "train": {
            "pairs": len(train),
            "from": train[0].suggested_at.isoformat(),
            "to": train[-1].suggested_at.isoformat(),
        },
        "test": {
            "pairs": len(test),
            "from": test[0].suggested_at.isoformat(),
            "to": test[-1].suggested_at.isoformat(),
        },
        "positive_rate": round(float(np.mean([e.label for e in examples])), 4),
        "model": metrics(test, held_out.predict_proba(x_test)),
        "calibration": calibration(test, held_out.predict_proba(x_test)),
        "rules": metrics(test, featurizer.rule_scores(test)),
        "tfidf": metrics(test, tfidf_scores(train, test)),
    }
    x_all, y_all, w_all = with_misses(featurizer, [*train, *test], miss_weight)
    return fit(x_all, y_all, version, w_all), report
