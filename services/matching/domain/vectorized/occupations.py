"""Occupations as vocabulary rows: vectorised `occupation_similarity` and skill overlap."""

from __future__ import annotations

from typing import Any

import numpy as np

from services.matching.domain.features import Occupation
from services.matching.domain.pair_features import SkillsOf
from services.matching.domain.vectorized.columns import F64, I32, I64, Vocab


def _prefix_ids(strings: Vocab[str], isco: str | None) -> tuple[int, int, int]:
    if not isco:
        return (-1, -1, -1)
    return (strings.add(isco[:4]), strings.add(isco[:3]), strings.add(isco[:2]))


class OccupationTable:
    """Occupations (uri, isco) as vocabulary rows, for vectorised `occupation_similarity`."""

    def __init__(self, skills_of: SkillsOf | None) -> None:
        self.vocab: Vocab[tuple[str | None, str | None]] = Vocab()
        self.strings: Vocab[str] = Vocab()
        self.skills_of = skills_of
        self._cols: list[tuple[int, int, int, int]] = []  # uri, isco[:4], [:3], [:2]
        self._rel_sets: list[frozenset[str] | None] = []
        self._arrays: tuple[I32, I32, I32, I32] | None = None
        # Rows x skills incidence (CSR parts) and row sizes, rebuilt when rows are added.
        self._skill_ids: dict[str, int] = {}
        self._incidence: tuple[I32, I64, F64] | None = None

    # Pickled (the worker's snapshot) without the function, which the loader gives back.
    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "skills_of"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.skills_of = None

    def add(self, occ: Occupation) -> int:
        n = len(self.vocab)
        i = self.vocab.add((occ.uri, occ.isco))
        if i == n:
            uri = self.strings.add(occ.uri) if occ.uri else -1
            self._cols.append((uri, *_prefix_ids(self.strings, occ.isco)))
            rel = self.skills_of(occ.uri) if self.skills_of and occ.uri else None
            self._rel_sets.append(rel[0] | rel[1] if rel is not None else None)
            self._arrays = None
            self._incidence = None
        return i

    def _cols_arrays(self) -> tuple[I32, I32, I32, I32]:
        if self._arrays is None:
            a = np.array(self._cols, dtype=np.int32).reshape(-1, 4)
            self._arrays = (
                a[:, 0].copy(),
                a[:, 1].copy(),
                a[:, 2].copy(),
                a[:, 3].copy(),
            )
        return self._arrays

    def similarity_to(self, occ: Occupation) -> F64:
        """`occupation_similarity(row, occ)` for every vocabulary row."""
        uri, p4, p3, p2 = self._cols_arrays()
        sim = np.zeros(len(uri), dtype=np.float64)
        if occ.isco:
            b2 = self.strings.get(occ.isco[:2], -2)
            b3 = self.strings.get(occ.isco[:3], -2)
            b4 = self.strings.get(occ.isco[:4], -2)
            sim[p2 == b2] = 0.25
            sim[p3 == b3] = 0.5
            sim[p4 == b4] = 0.75
        if occ.uri:
            sim[uri == self.strings.get(occ.uri, -2)] = 1.0
        return sim

    def _incidence_arrays(self) -> tuple[I32, I64, F64]:
        """(skill ids, row pointers, row sizes) of every row's skill set."""
        if self._incidence is None:
            ids: list[int] = []
            ptr = [0]
            sizes = []
            for rel in self._rel_sets:
                members = sorted(rel) if rel is not None else []
                ids += [self._skill_ids.setdefault(u, len(self._skill_ids)) for u in members]
                ptr.append(len(ids))
                sizes.append(len(members) if rel is not None else -1)
            self._incidence = (
                np.asarray(ids, dtype=np.int32),
                np.asarray(ptr, dtype=np.int64),
                np.asarray(sizes, dtype=np.float64),
            )
        return self._incidence

    def overlap_to(self, rel: frozenset[str] | None) -> F64:
        """Jaccard of each row's (essential | optional) skills with `rel`; 0 without both.

        Counted with one pass over the rows' skill ids instead of a set operation per row:
        this table is built once per order occupation, on the first order of its kind.
        """
        n = len(self._rel_sets)
        out = np.zeros(n, dtype=np.float64)
        if rel is None or n == 0:
            return out
        ids, ptr, sizes = self._incidence_arrays()
        wanted = np.zeros(len(self._skill_ids) + 1, dtype=np.float64)
        known = [self._skill_ids[u] for u in rel if u in self._skill_ids]
        wanted[known] = 1.0
        owner = np.repeat(np.arange(n), np.diff(ptr))
        common = np.bincount(owner, weights=wanted[ids], minlength=n)
        union = sizes + len(rel) - common
        has = (sizes >= 0) & (union > 0)
        out[has] = common[has] / union[has]
        return out
