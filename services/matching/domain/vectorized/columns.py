"""Storage for the columnar indexes: interned vocabularies, CSR postings, ragged lists."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]
K = TypeVar("K")


class Vocab(Generic[K]):
    """Interns hashable values as dense ints, in first-seen order."""

    def __init__(self) -> None:
        self.ids: dict[K, int] = {}
        self.values: list[K] = []

    def __len__(self) -> int:
        return len(self.values)

    def add(self, value: K) -> int:
        found = self.ids.get(value)
        if found is None:
            found = self.ids[value] = len(self.values)
            self.values.append(value)
        return found

    def get(self, value: K, default: int = -1) -> int:
        return self.ids.get(value, default)


class Postings:
    """key -> rows (optionally with a uint16 code each): a key-sorted CSR base + a delta."""

    def __init__(self, with_codes: bool = False) -> None:
        self.with_codes = with_codes
        self.indptr: I64 = np.zeros(1, dtype=np.int64)
        self.rows: I32 = np.zeros(0, dtype=np.int32)
        self.codes: npt.NDArray[np.uint16] = np.zeros(0, dtype=np.uint16)
        self._dk = array("i")
        self._dr = array("i")
        self._dc = array("H")
        self._delta: tuple[I32, I32, npt.NDArray[np.uint16]] | None = None

    def append(self, keys: Sequence[int], row: int, codes: Sequence[int] = ()) -> None:
        if not keys:
            return
        self._dk.extend(keys)
        self._dr.extend([row] * len(keys))
        if self.with_codes:
            self._dc.extend(codes)
        self._delta = None

    @property
    def delta_size(self) -> int:
        return len(self._dk)

    def _delta_arrays(self) -> tuple[I32, I32, npt.NDArray[np.uint16]]:
        if self._delta is None:
            self._delta = (
                np.array(self._dk, dtype=np.int32),
                np.array(self._dr, dtype=np.int32),
                np.array(self._dc, dtype=np.uint16),
            )
        return self._delta

    def lookup(self, keys: Iterable[int]) -> tuple[I32, npt.NDArray[np.uint16]]:
        """All (row, code) entries of the keys, dead rows included (callers mask them)."""
        wanted = [k for k in keys if k >= 0]
        n_base = len(self.indptr) - 1
        row_parts = []
        code_parts = []
        for k in wanted:
            if k < n_base:
                lo, hi = self.indptr[k], self.indptr[k + 1]
                if hi > lo:
                    row_parts.append(self.rows[lo:hi])
                    if self.with_codes:
                        code_parts.append(self.codes[lo:hi])
        if self._dk and wanted:
            dk, dr, dc = self._delta_arrays()
            hit = np.isin(dk, np.asarray(wanted, dtype=np.int32))
            row_parts.append(dr[hit])
            if self.with_codes:
                code_parts.append(dc[hit])
        rows = np.concatenate(row_parts) if row_parts else np.zeros(0, dtype=np.int32)
        codes = np.concatenate(code_parts) if code_parts else np.zeros(0, dtype=np.uint16)
        return rows, codes

    def rebuild(self, remap: I32 | None = None) -> None:
        """Merge the delta into the base; `remap` renumbers rows (-1 drops an entry)."""
        base_keys = np.repeat(
            np.arange(len(self.indptr) - 1, dtype=np.int32), np.diff(self.indptr)
        ).astype(np.int32)
        dk, dr, dc = self._delta_arrays()
        keys = np.concatenate([base_keys, dk])
        rows = np.concatenate([self.rows, dr])
        codes = np.concatenate([self.codes, dc]) if self.with_codes else self.codes
        if remap is not None:
            rows = remap[rows]
            keep = rows >= 0
            keys, rows = keys[keep], rows[keep]
            if self.with_codes:
                codes = codes[keep]
        order = np.argsort(keys, kind="stable")
        n_keys = int(keys.max()) + 1 if len(keys) else 0
        self.indptr = np.zeros(n_keys + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys, minlength=n_keys), out=self.indptr[1:])
        self.rows = rows[order].astype(np.int32)
        self.codes = codes[order].astype(np.uint16) if self.with_codes else self.codes
        self._dk, self._dr, self._dc = array("i"), array("i"), array("H")
        self._delta = None

    @property
    def nbytes(self) -> int:
        d = self._dk.itemsize * len(self._dk) + self._dr.itemsize * len(self._dr)
        d += self._dc.itemsize * len(self._dc)
        return int(self.indptr.nbytes + self.rows.nbytes + self.codes.nbytes + d)


class Ragged:
    """Per-row variable-length lists, appended in row order: (start, count) + flat values."""

    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype
        self._flat = array("i" if np.dtype(dtype).kind == "i" else "d")
        self._cache: npt.NDArray[Any] | None = None

    def append(self, values: Sequence[Any]) -> int:
        start = len(self._flat)
        self._flat.extend(values)
        self._cache = None
        return start

    @property
    def flat(self) -> npt.NDArray[Any]:
        if self._cache is None:
            self._cache = np.array(self._flat, dtype=self.dtype)
        return self._cache

    def replace(self, values: npt.NDArray[Any]) -> None:
        self._flat = array(self._flat.typecode, values.tolist())
        self._cache = None

    def __len__(self) -> int:
        return len(self._flat)

    @property
    def nbytes(self) -> int:
        return int(np.dtype(self.dtype).itemsize * len(self._flat))


def round4(x: F64) -> F64:
    """`round(x, 4)` element-wise, exactly as Python's (correctly rounded) builtin does."""
    y = np.round(x, 4)
    scaled = x * 1e4
    near_half = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    if near_half.any():
        idx = np.flatnonzero(near_half)
        y[idx] = [round(float(v), 4) for v in x[idx]]
    return y
