"""Character n-gram TF-IDF vectors of short texts (titles, skill phrases), and their cosine.

What the text says, apart from any ESCO link: two titles that share their spelling are
similar here even when the linker found no occupation for either (a typo, a word ESCO does
not know, an English title against a Danish one spelled alike). Pure: the encoder is fitted
on texts handed to it (`services.matching.linking` gives it ESCO's Danish and English labels)
and is deterministic, so the same text gives the same vector in every process and replay.

N-grams are taken inside words padded with a space (scikit-learn's ``char_wb``), 3 to 5
characters, after case folding and with everything but letters and digits as spaces. Weights
are sublinear term frequency times smoothed IDF over the fitting texts; an n-gram the fitting
texts never had gets the largest IDF and a hashed id beyond the vocabulary, so words ESCO does
not know still match themselves. Vectors have unit length: the dot product is the cosine.
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

NGRAMS = (3, 5)
HASH_BUCKETS = 1 << 18
_NON_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True, slots=True, eq=False)
class TextVector:
    """A unit-length sparse vector (sorted ids, weights) and the normalised text it is of.

    Equal and hashed by the text alone: equal texts give equal vectors."""

    text: str
    ids: npt.NDArray[np.int32] = field(repr=False)
    weights: npt.NDArray[np.float64] = field(repr=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextVector) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __bool__(self) -> bool:
        return len(self.ids) > 0


EMPTY = TextVector("", np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float64))


@runtime_checkable
class TextEncoder(Protocol):
    """Turns a text into its vector (a linker that also encodes text fits this)."""

    def text_vector(self, text: str) -> TextVector: ...


def normalise(text: str) -> str:
    """Case folded, letters and digits only, single spaces."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", folded).split())


def ngrams(norm: str) -> Iterable[str]:
    lo, hi = NGRAMS
    for word in norm.split():
        padded = f" {word} "
        for n in range(lo, hi + 1):
            if len(padded) < n:
                break
            for i in range(len(padded) - n + 1):
                yield padded[i : i + n]


def cosine(a: TextVector, b: TextVector) -> float:
    """Dot product of two unit vectors (0 when either is empty)."""
    if not a or not b:
        return 0.0
    _, ia, ib = np.intersect1d(a.ids, b.ids, assume_unique=True, return_indices=True)
    return float(np.dot(a.weights[ia], b.weights[ib]))


class CharNgramEncoder:
    """Fitted TF-IDF weights of character n-grams; see the module docstring."""

    def __init__(self, vocabulary: dict[str, int], idf: npt.NDArray[np.float64]) -> None:
        self.vocabulary = vocabulary
        self.idf = idf
        self.unseen_idf = float(idf.max()) if len(idf) else 1.0

    @classmethod
    def fit(cls, texts: Iterable[str]) -> CharNgramEncoder:
        df: Counter[str] = Counter()
        n_docs = 0
        for text in texts:
            df.update(set(ngrams(normalise(text))))
            n_docs += 1
        vocabulary = {gram: i for i, gram in enumerate(sorted(df))}
        counts = np.array([df[g] for g in sorted(df)], dtype=np.float64)
        idf = np.log((1.0 + n_docs) / (1.0 + counts)) + 1.0
        return cls(vocabulary, idf)

    def _id_weight(self, gram: str) -> tuple[int, float]:
        i = self.vocabulary.get(gram)
        if i is not None:
            return i, float(self.idf[i])
        bucket = zlib.crc32(gram.encode("utf-8")) % HASH_BUCKETS
        return len(self.vocabulary) + bucket, self.unseen_idf

    def text_vector(self, text: str) -> TextVector:
        norm = normalise(text)
        counts = Counter(ngrams(norm))
        if not counts:
            return TextVector(norm, EMPTY.ids, EMPTY.weights)
        acc: dict[int, float] = {}
        for gram, tf in counts.items():
            i, idf = self._id_weight(gram)
            acc[i] = acc.get(i, 0.0) + (1.0 + math.log(tf)) * idf
        ids = np.array(sorted(acc), dtype=np.int32)
        weights = np.array([acc[i] for i in ids.tolist()], dtype=np.float64)
        weights /= np.linalg.norm(weights)
        return TextVector(norm, ids, weights)
