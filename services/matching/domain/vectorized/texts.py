"""Distinct texts as rows, for the cosine of every text with one vector at once.

Cards repeat titles and skill phrases, so the index keeps each distinct text once (as its
`TextVector`) and a card holds row numbers. The cosine of all rows with an order's title is
one sparse product: a CSC matrix over n-gram ids gathers only the postings of the n-grams the
order's text has; rows added since the matrix was built are scanned directly until there are
enough of them to build it again. Per-order results are kept for the most recent texts only
(a bounded cache), extended as rows are added.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse import csc_matrix, csr_matrix

from services.matching.domain.text_vectors import TextVector
from services.matching.domain.vectorized.columns import F64, Vocab

# Cached cosines: at most this many floats in all (128 MB), and 16 targets at least.
_CACHED_FLOATS = 1 << 24
_MIN_REBUILD = 1024


class TextTable:
    def __init__(self) -> None:
        self.vocab: Vocab[str] = Vocab()
        self.vectors: list[TextVector] = []
        self._matrix: csc_matrix | None = None
        self._built = 0
        self._width = 1
        self._cache: dict[str, tuple[int, F64]] = {}

    def __len__(self) -> int:
        return len(self.vectors)

    # The cache and the matrix are derived: a snapshot carries the vectors only.
    def __getstate__(self) -> dict[str, Any]:
        return {"vocab": self.vocab, "vectors": self.vectors}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]
        self.vocab = state["vocab"]
        self.vectors = state["vectors"]

    def add(self, vector: TextVector) -> int:
        n = len(self.vectors)
        row = self.vocab.add(vector.text)
        if row == n:
            self.vectors.append(vector)
        return row

    def _rebuild(self) -> None:
        vectors = self.vectors
        lengths = np.fromiter((len(v.ids) for v in vectors), dtype=np.int64, count=len(vectors))
        indptr = np.zeros(len(vectors) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        ids = np.concatenate([v.ids for v in vectors]) if vectors else np.zeros(0, np.int32)
        weights = (
            np.concatenate([v.weights for v in vectors]) if vectors else np.zeros(0, np.float64)
        )
        self._width = max(self._width, int(ids.max()) + 1 if len(ids) else 1)
        self._matrix = csr_matrix((weights, ids, indptr), shape=(len(vectors), self._width)).tocsc()
        self._built = len(vectors)

    def _scan(self, target: TextVector, lo: int, hi: int) -> F64:
        """Cosines of rows lo..hi with `target` (the rows added since the matrix was built):
        their entries looked up among the target's sorted ids, products summed per row."""
        if hi <= lo:
            return np.zeros(0, dtype=np.float64)
        rows = self.vectors[lo:hi]
        ids = np.concatenate([v.ids for v in rows])
        weights = np.concatenate([v.weights for v in rows])
        owner = np.repeat(np.arange(hi - lo), [len(v.ids) for v in rows])
        at = np.minimum(np.searchsorted(target.ids, ids), len(target.ids) - 1)
        hit = target.ids[at] == ids
        products = weights[hit] * target.weights[at[hit]]
        return np.bincount(owner[hit], weights=products, minlength=hi - lo).astype(np.float64)

    def _base(self, target: TextVector) -> F64:
        """Cosines of the built rows with `target`."""
        assert self._matrix is not None
        inside = target.ids < self._width
        cols = self._matrix[:, target.ids[inside]]
        return np.asarray(cols @ target.weights[inside], dtype=np.float64).ravel()

    def cosines(self, target: TextVector) -> F64:
        """The cosine of every row with `target` (0 for an empty text on either side)."""
        n = len(self.vectors)
        if not target:
            return np.zeros(n, dtype=np.float64)
        done, sims = self._cache.pop(target.text, (0, np.zeros(0, dtype=np.float64)))
        if done < n:
            if n - self._built > max(_MIN_REBUILD, self._built // 4) or self._matrix is None:
                self._rebuild()
            parts = [sims]
            if done < self._built:
                parts.append(self._base(target)[done:])
            parts.append(self._scan(target, max(done, self._built), n))
            sims = np.concatenate(parts)
        self._cache[target.text] = (n, sims)
        while len(self._cache) > max(16, _CACHED_FLOATS // max(n, 1)):
            del self._cache[next(iter(self._cache))]  # the least recently used
        return sims

    @property
    def nbytes(self) -> int:
        return sum(v.ids.nbytes + v.weights.nbytes for v in self.vectors)
