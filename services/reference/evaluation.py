"""Held-out evaluation of the occupation linker (used by ``bench/linking.py`` and tests).

Hold out Danish ESCO alternative labels, fit the linkers on the rest, predict the held-out
labels' occupations; and a plain character n-gram TF-IDF baseline to compare with.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from services.reference.esco import Occupation, normalise

TITLES_FILE = Path(__file__).resolve().parents[2] / "bench" / "data" / "titles_da.csv"
# Written afterwards, without looking at the linker's output, and never tuned on.
TITLES_HELDOUT_FILE = TITLES_FILE.with_name("titles_da_2.csv")
BASELINE_RANGES: tuple[tuple[int, int], ...] = ((2, 4), (3, 5))
K = 10

Link = Callable[[str, int], list[tuple[str, float]]]


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    accepted: frozenset[str]


@dataclass(frozen=True, slots=True)
class Metrics:
    n: int
    mrr: float
    hit1: float
    hit10: float


class BaselineLinker:
    """Character n-gram TF-IDF over Danish labels only; an occupation scores its best label."""

    def __init__(self, occupations: Iterable[Occupation], ngram_range: tuple[int, int]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        labels: list[str] = []
        owners: list[int] = []
        self._uris: list[str] = []
        for occ in occupations:
            danish = [label for label in (occ.label_da, *occ.alt_da) if label]
            if not danish:
                continue
            for label in danish:
                labels.append(label.lower())
                owners.append(len(self._uris))
            self._uris.append(occ.uri)
        self._vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=ngram_range, sublinear_tf=True, lowercase=True
        )
        self._matrix = self._vectorizer.fit_transform(labels).tocsr()
        self._owners = np.asarray(owners, dtype=np.intp)
        self.labels = labels

    def link(self, text: str, top: int) -> list[tuple[str, float]]:
        query = self._vectorizer.transform([text.lower()])
        sims = np.asarray((self._matrix @ query.T).todense()).ravel()
        best = np.zeros(len(self._uris), dtype=np.float64)
        np.maximum.at(best, self._owners, sims)
        order = np.argsort(-best, kind="stable")[:top]
        return [(self._uris[i], float(best[i])) for i in order if best[i] > 0]


def holdout(
    occupations: dict[str, Occupation], seed: int, fraction: float
) -> tuple[dict[str, Occupation], list[Query]]:
    """Remove one Danish alt label from a random share of occupations; return both parts.

    Only labels that identify their occupation are eligible: a label that (normalised) is
    also another label of any occupation, in either language, would still be in the index
    and make the query trivial or ambiguous.
    """
    owners: dict[str, set[str]] = {}
    for occ in occupations.values():
        for label in occ.labels():
            owners.setdefault(normalise(label), set()).add(occ.uri)
    counts: dict[str, int] = {}
    for occ in occupations.values():
        for label in occ.labels():
            key = normalise(label)
            counts[key] = counts.get(key, 0) + 1

    eligible: list[tuple[str, list[str]]] = []
    for uri in sorted(occupations):
        occ = occupations[uri]
        if not occ.label_da:
            continue
        alts = [a for a in occ.alt_da if normalise(a) and counts[normalise(a)] == 1]
        if alts:
            eligible.append((uri, alts))

    rng = random.Random(seed)
    chosen = rng.sample(eligible, round(fraction * len(eligible)))
    train = dict(occupations)
    queries: list[Query] = []
    for uri, alts in sorted(chosen):
        label = rng.choice(alts)
        occ = occupations[uri]
        train[uri] = replace(occ, alt_da=tuple(a for a in occ.alt_da if a != label))
        queries.append(Query(label, frozenset({uri})))
    return train, queries


def read_titles(path: Path = TITLES_FILE) -> list[Query]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [
            Query(row["title"], frozenset(row["accepted_uris"].split()))
            for row in csv.DictReader(fh)
        ]


def evaluate(link: Link, queries: Sequence[Query]) -> Metrics:
    reciprocal = hit1 = hit10 = 0.0
    for query in queries:
        ranked = [uri for uri, _ in link(query.text, K)]
        rank = next((i for i, uri in enumerate(ranked, 1) if uri in query.accepted), None)
        if rank is not None:
            reciprocal += 1.0 / rank
            hit1 += rank == 1
            hit10 += rank <= K
    n = max(len(queries), 1)
    return Metrics(len(queries), reciprocal / n, hit1 / n, hit10 / n)
