"""Columnar scoring: one job order against every card at once (and one card against many orders).

`CardIndex` keeps the cards as compact numpy columns plus inverted indexes (skill -> cards,
phrase -> cards, certificate -> cards, ...), so scoring an order is a handful of vector
operations instead of a Python loop over pairs. Results equal the per-pair code
(`scoring.score`, `learned.LearnedScorer`): admissibility exactly, scores to float rounding.

Exactness, and how it is kept cheap:

* Occupation similarity is looked up per occupation *vocabulary entry* (a few thousand), with
  ISCO prefixes compared as interned strings, so it is the per-pair rule exactly.
* Distances come from the scorer's own distance function, called once per distinct postal
  code of the cards (about 1,100 in Denmark) per order postal code, and cached.
* The implied skill weights are `pair_features._card_skill_weights` itself, stored per
  (card, skill) as a code into a table of the distinct float64 weights.
* Text phrase matching (`phrase_covered`) is evaluated once per (required phrase, distinct card
  phrase) and cached; cards reach their phrases through an inverted index. No approximation.

Storage is append-only with tombstones: an update appends a new row and kills the old one;
removals kill rows; dead rows are compacted away once they exceed a quarter of all rows.
Inverted indexes are a key-sorted CSR base plus an append-only delta merged when it grows.
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from services.matching.domain.features import CardProfile, Occupation, OrderProfile
from services.matching.domain.learned import LearnedScorer
from services.matching.domain.pair_features import (
    TARGETED_PROGRAMMES,
    SkillsOf,
    _card_skill_weights,
)
from services.matching.domain.ranking import DEFAULT_TOP_K
from services.matching.domain.scoring import WEIGHTS, DistanceFn, RuleScorer, _skill_met
from services.matching.domain.text import phrase_covered
from services.rules import eligibility as elig_rules

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]
K = TypeVar("K")

RESIDENCE = {None: 0, "refugee": 1, "family_reunified": 2, "eu": 3, "work": 4, "danish": 5}
TARGET_GROUP = {"integration": 1, "cash_benefit": 2, "unemployment_benefit": 3, "youth": 4}
_IGU_RESIDENCE = (RESIDENCE["refugee"], RESIDENCE["family_reunified"])
_JOBPAKKE_TARGETS = (TARGET_GROUP["integration"], TARGET_GROUP["cash_benefit"])
_MIN_COMPACT = 1024


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
            self._arrays = (a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy(), a[:, 3].copy())
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


@dataclass
class OrderTables:
    """Per-order lookups over the vocabularies (cached; extended when vocabularies grow)."""

    sim: F64
    overlap: F64


def _detached(*_: Any) -> Any:
    raise RuntimeError("an unpickled CardIndex needs attach() before use")


class CardIndex:
    """The cards of the matching state as columns; see the module docstring."""

    def __init__(self, skills_of: SkillsOf, today: Callable[[], dt.date] = dt.date.today) -> None:
        self.skills_of = skills_of
        self.today = today
        self.skills: Vocab[str] = Vocab()
        self.phrases: Vocab[frozenset[str]] = Vocab()
        self.certs: Vocab[str] = Vocab()
        self.licences: Vocab[str] = Vocab()
        self.postals: Vocab[str] = Vocab()
        self.munis: Vocab[str] = Vocab()
        self.weights: Vocab[float] = Vocab()
        self.occ = OccupationTable(skills_of)
        self.skill_post = Postings(with_codes=True)
        self.phrase_post = Postings()
        self.cert_post = Postings()
        self.licence_post = Postings()
        self.exp_occ = Ragged(np.int32)
        self.exp_years = Ragged(np.float64)
        self.wish_occ = Ragged(np.int32)
        self.row_of: dict[str, int] = {}
        self.id_of: list[str | None] = []
        self.n = 0
        self.dead = 0
        self.cols: dict[str, npt.NDArray[Any]] = {
            name: np.zeros(0, dtype=dtype) for name, dtype in self._SCHEMA.items()
        }
        self._covered: dict[frozenset[str], tuple[int, set[int]]] = {}
        self._dist: dict[tuple[int, str], tuple[int, F64]] = {}
        self._order_tables: dict[tuple[str | None, str | None], tuple[int, OrderTables]] = {}

    _SCHEMA: dict[str, Any] = {  # noqa: RUF012
        "alive": np.bool_,
        "danish": np.int8,
        "hours": np.float64,
        "commute": np.float64,
        "postal": np.int16,
        "muni": np.int16,
        "available": np.int32,  # date ordinal, -1 unknown
        "birth": np.int16,  # 0 unknown
        "residence": np.int8,
        "target": np.int8,
        "arrival": np.int32,  # date ordinal, -1 unknown
        "exp_start": np.int32,
        "exp_count": np.uint8,
        "wish_start": np.int32,
        "wish_count": np.uint8,
    }

    # -- snapshots: pickled without the functions, which `attach` gives back -----------------

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("skills_of", "today")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.skills_of = _detached
        self.today = _detached

    def attach(self, skills_of: SkillsOf, today: Callable[[], dt.date]) -> None:
        """Give an unpickled index the functions of the running worker."""
        self.skills_of = skills_of
        self.today = today
        self.occ.skills_of = skills_of

    # -- building and maintenance ------------------------------------------------------------

    @classmethod
    def build(
        cls,
        cards: Iterable[CardProfile],
        skills_of: SkillsOf,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> CardIndex:
        index = cls(skills_of, today)
        for card in cards:
            index.upsert(card, merge=False)
        index.merge()
        return index

    def __len__(self) -> int:
        return self.n - self.dead

    def _grow(self) -> None:
        cap = max(1024, 2 * len(self.cols["alive"]))
        for name, col in self.cols.items():
            new = np.zeros(cap, dtype=col.dtype)
            new[: len(col)] = col
            self.cols[name] = new

    def upsert(self, card: CardProfile, merge: bool = True) -> int:
        """Add the card, or replace its previous version; returns its (new) row."""
        self.remove(card.citizen_id, compact=False)
        row = self.n
        if row >= len(self.cols["alive"]):
            self._grow()
        self.n += 1
        self.id_of.append(card.citizen_id)
        self.row_of[card.citizen_id] = row
        status = card.card.programme
        c = self.cols
        c["alive"][row] = True
        c["danish"][row] = card.danish_rank
        c["hours"][row] = card.hours_per_week
        c["commute"][row] = card.max_commute_km
        c["postal"][row] = self.postals.add(card.postal_code)
        c["muni"][row] = self.munis.add(card.municipality_code)
        c["available"][row] = card.available_from.toordinal() if card.available_from else -1
        c["birth"][row] = status.birth_year or 0
        c["residence"][row] = RESIDENCE.get(status.residence_basis, 6)
        c["target"][row] = TARGET_GROUP.get(status.target_group, 5)
        c["arrival"][row] = status.arrival_date.toordinal() if status.arrival_date else -1
        exps = card.experience[:255]
        c["exp_start"][row] = self.exp_occ.append([self.occ.add(e.occupation) for e in exps])
        self.exp_years.append([e.years for e in exps])
        c["exp_count"][row] = len(exps)
        wishes = card.wishes[:255]
        c["wish_start"][row] = self.wish_occ.append([self.occ.add(w) for w in wishes])
        c["wish_count"][row] = len(wishes)

        weights = _card_skill_weights(card, self.skills_of)
        keys = [self.skills.add(u) for u in weights]
        self.skill_post.append(keys, row, [self.weights.add(w) for w in weights.values()])
        self.phrase_post.append(sorted({self.phrases.add(p) for p in card.skill_terms}), row)
        self.cert_post.append([self.certs.add(x) for x in card.certificates], row)
        self.licence_post.append([self.licences.add(x) for x in card.licences], row)
        if merge:
            self._maybe_merge()
        return row

    def remove(self, citizen_id: str, compact: bool = True) -> bool:
        row = self.row_of.pop(citizen_id, None)
        if row is None:
            return False
        self.cols["alive"][row] = False
        self.id_of[row] = None
        self.dead += 1
        if compact and self.dead > max(_MIN_COMPACT, self.n // 4):
            self.compact()
        return True

    def _posting_lists(self) -> tuple[Postings, ...]:
        return (self.skill_post, self.phrase_post, self.cert_post, self.licence_post)

    def _maybe_merge(self) -> None:
        if self.dead > max(_MIN_COMPACT, self.n // 4):
            self.compact()
            return
        for p in self._posting_lists():
            if p.delta_size > max(65536, len(p.rows) // 4):
                p.rebuild()

    def merge(self) -> None:
        for p in self._posting_lists():
            p.rebuild()

    def compact(self) -> None:
        """Drop dead rows: renumber the living ones and rewrite every column and index."""
        n = self.n
        alive = self.cols["alive"][:n].copy()
        remap = np.full(n, -1, dtype=np.int32)
        remap[alive] = np.arange(int(alive.sum()), dtype=np.int32)
        for ragged, start, count in (
            ((self.exp_occ, self.exp_years), "exp_start", "exp_count"),
            ((self.wish_occ,), "wish_start", "wish_count"),
        ):
            counts = self.cols[count][:n].astype(np.int64)
            keep = np.repeat(alive, counts)
            for r in ragged:
                r.replace(r.flat[keep])
            new_counts = counts[alive]
            starts = np.zeros(len(new_counts), dtype=np.int32)
            np.cumsum(new_counts[:-1], out=starts[1:])
            self.cols[start][: len(starts)] = starts
        m = int(alive.sum())
        for name, col in self.cols.items():
            if name not in ("exp_start", "wish_start"):
                col[:m] = col[:n][alive]
            col[m:] = 0
        ids = [cid for cid in self.id_of if cid is not None]
        self.id_of = list(ids)
        self.row_of = {cid: i for i, cid in enumerate(ids)}
        self.n, self.dead = m, 0
        for p in self._posting_lists():
            p.rebuild(remap)

    # -- memory ------------------------------------------------------------------------------

    def nbytes(self) -> dict[str, int]:
        """Bytes of the numeric state (used rows; Python id maps are not counted here)."""
        cols = sum(int(c.dtype.itemsize) * self.n for c in self.cols.values())
        ragged = self.exp_occ.nbytes + self.exp_years.nbytes + self.wish_occ.nbytes
        return {
            "columns": cols,
            "experience_and_wishes": ragged,
            "skills": self.skill_post.nbytes,
            "phrases": self.phrase_post.nbytes,
            "certificates_licences": self.cert_post.nbytes + self.licence_post.nbytes,
        }

    # -- per-order lookups -------------------------------------------------------------------

    def _phrase_rows(self, required: frozenset[str]) -> set[int]:
        """Phrase ids covering `required`, extended lazily as new phrases arrive."""
        checked, ids = self._covered.get(required, (0, set()))
        n = len(self.phrases)
        if checked < n:
            values = self.phrases.values
            ids = ids | {i for i in range(checked, n) if phrase_covered(required, values[i])}
            self._covered[required] = (n, ids)
        return ids

    def _distances(self, distance: DistanceFn, order_postal: str) -> F64:
        """km from each card postal code to the order's, NaN when unknown."""
        key = (id(distance), order_postal)
        done, km = self._dist.get(key, (0, np.zeros(0)))
        n = len(self.postals)
        if done < n:
            more = [distance(pc, order_postal) for pc in self.postals.values[done:n]]
            km = np.concatenate([km, [np.nan if v is None else v for v in more]])
            self._dist[key] = (n, km)
        return km

    def _tables(self, order: OrderProfile) -> OrderTables:
        key = (order.occupation.uri, order.occupation.isco)
        done, tables = self._order_tables.get(key, (-1, None))
        n = len(self.occ.vocab)
        if tables is None or done != n:
            rel = self.skills_of(order.occupation.uri) if order.occupation.uri else None
            tables = OrderTables(
                sim=self.occ.similarity_to(order.occupation),
                overlap=self.occ.overlap_to(rel[0] | rel[1] if rel is not None else None),
            )
            self._order_tables[key] = (n, tables)
        return tables

    def _rows_mask(self, rows: I32) -> Bool:
        mask = np.zeros(self.n, dtype=np.bool_)
        mask[rows] = True
        return mask

    def _all_of(self, post: Postings, vocab: Vocab[str], wanted: frozenset[str]) -> Bool:
        ok = np.ones(self.n, dtype=np.bool_)
        for value in wanted:
            rows, _ = post.lookup([vocab.get(value)])
            ok &= self._rows_mask(rows)
        return ok

    def _eligible(self, programme: str, start: dt.date | None) -> Bool:
        """`eligibility.check(...).eligible` for every row."""
        c, n = self.cols, self.n
        when = start or self.today()
        birth = c["birth"][:n].astype(np.int64)
        known_birth = birth > 0
        age = when.year - birth
        arrival = c["arrival"][:n].astype(np.int64)
        known_arrival = arrival >= 0
        since = (when.toordinal() - arrival) / 365.25
        if programme == "IGU":
            ok = known_birth & (age >= elig_rules.IGU_MIN_AGE) & (age <= elig_rules.IGU_MAX_AGE)
            ok &= np.isin(c["residence"][:n], _IGU_RESIDENCE)
            ok &= known_arrival & ~(since > elig_rules.IGU_MAX_YEARS_SINCE_ARRIVAL)
            if start is not None and start > elig_rules.IGU_LAST_START:
                ok[:] = False
            return ok
        if programme == "IO-stilling":
            newly = known_arrival & (since <= elig_rules.IO_NEWLY_ARRIVED_YEARS)
            young = known_birth & (age < elig_rules.IO_YOUTH_AGE)
            return newly | young
        if programme == "jobpakke":
            return np.isin(c["target"][:n], _JOBPAKKE_TARGETS)
        return np.ones(n, dtype=np.bool_)

    def _skills_met(self, order: OrderProfile) -> list[Bool]:
        """Per requested skill: does each row meet it (`scoring._skill_met`)."""
        one = self.weights.get(1.0)
        out = []
        for s in order.skills:
            rows, codes = self.skill_post.lookup(self.skills.get(u) for u in s.uris)
            met = self._rows_mask(rows[codes == one] if one >= 0 else rows[:0])
            if s.terms:
                prows, _ = self.phrase_post.lookup(self._phrase_rows(s.terms))
                met[prows] = True
            out.append(met)
        return out

    def admissible(self, order: OrderProfile) -> tuple[Bool, list[Bool]]:
        """Rows that pass the hard filter and programme eligibility, and the skills met."""
        c, n = self.cols, self.n
        ok = c["alive"][:n].copy()
        ok &= c["danish"][:n] >= order.danish_min_rank
        if order.certificates:
            ok &= self._all_of(self.cert_post, self.certs, order.certificates)
        if order.licences:
            ok &= self._all_of(self.licence_post, self.licences, order.licences)
        met = self._skills_met(order)
        for s, m in zip(order.skills, met, strict=True):
            if s.must:
                ok &= m
        ok &= self._eligible(order.order.programme, order.start_date)
        return ok, met

    # -- scoring -----------------------------------------------------------------------------

    def _experience(self, sim: F64, rows: I32) -> tuple[F64, F64, I32, I64]:
        """Per experience entry of `rows`: (similarity, years, owner position, occupation)."""
        c = self.cols
        starts = c["exp_start"][rows].astype(np.int64)
        counts = c["exp_count"][rows].astype(np.int64)
        total = int(counts.sum())
        owner = np.repeat(np.arange(len(rows), dtype=np.int32), counts)
        offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        entries = np.repeat(starts, counts) + offsets
        occ = self.exp_occ.flat[entries]
        years = self.exp_years.flat[entries]
        return sim[occ], years, owner, occ.astype(np.int64)

    @staticmethod
    def _group_max(values: F64, owner: I32, n: int, default: float) -> F64:
        out = np.full(n, -np.inf)
        np.maximum.at(out, owner, values)
        out[np.isneginf(out)] = default
        return out

    def _wish(self, sim: F64, rows: I32) -> F64:
        c = self.cols
        starts = c["wish_start"][rows].astype(np.int64)
        counts = c["wish_count"][rows].astype(np.int64)
        total = int(counts.sum())
        owner = np.repeat(np.arange(len(rows), dtype=np.int32), counts)
        offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        occ = self.wish_occ.flat[np.repeat(starts, counts) + offsets]
        return self._group_max(sim[occ], owner, len(rows), 0.0)

    def features(
        self, order: OrderProfile, rows: I32, met: list[Bool], distance: DistanceFn
    ) -> F64:
        """The learned model's FEATURES for `rows` (an n x 14 matrix), column by column."""
        c = self.cols
        m = len(rows)
        x = np.zeros((m, 14), dtype=np.float64)
        if m == 0:
            return x
        rel = self.skills_of(order.occupation.uri) if order.occupation.uri else None
        essential, optional = rel if rel else (frozenset(), frozenset())
        table = np.array(self.weights.values, dtype=np.float64)
        for col, wanted in ((0, essential), (1, optional)):
            if wanted:
                prow, pcode = self.skill_post.lookup(self.skills.get(u) for u in wanted)
                sums = np.bincount(prow, weights=table[pcode], minlength=self.n)
                x[:, col] = sums[rows] / len(wanted)
        if order.skills:
            count = np.zeros(m, dtype=np.int64)
            for mt in met:
                count += mt[rows]
            x[:, 2] = count / len(order.skills)
        else:
            x[:, 2] = 0.5

        tables = self._tables(order)
        sim, years, owner, occ = self._experience(tables.sim, rows)
        x[:, 4] = self._group_max(sim, owner, m, 0.0)
        x[:, 3] = (x[:, 4] == 1.0).astype(np.float64)
        relevant = np.bincount(owner, weights=np.where(sim >= 0.5, years, 0.0), minlength=m)
        x[:, 6] = np.minimum(relevant, 10.0) / 10.0
        x[:, 5] = self._group_max(tables.overlap[occ], owner, m, 0.0)

        margin = c["danish"][rows].astype(np.int64) - order.danish_min_rank
        x[:, 7] = np.clip(margin, -2, 3) / 3.0
        km = self._distances(distance, order.postal_code)[c["postal"][rows]]
        commute = c["commute"][rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.minimum(2.0, km / commute)
        x[:, 8] = np.where(np.isnan(km) | (commute == 0), 1.0, ratio)
        hours = c["hours"][rows]
        x[:, 9] = np.maximum(0.0, 1.0 - np.abs(hours - order.hours_per_week) / order.hours_per_week)
        x[:, 10] = self._late(order, rows).clip(0, 90) / 90.0
        x[:, 11] = self._wish(tables.sim, rows)
        x[:, 12] = 1.0 if order.order.mentor_available else 0.0
        x[:, 13] = 1.0 if order.order.programme in TARGETED_PROGRAMMES else 0.0
        return x

    def _late(self, order: OrderProfile, rows: I32) -> I64:
        avail = self.cols["available"][rows].astype(np.int64)
        if order.start_date is None:
            return np.zeros(len(rows), dtype=np.int64)
        return np.where(avail >= 0, avail - order.start_date.toordinal(), 0)

    def rule_scores(
        self, order: OrderProfile, rows: I32, met: list[Bool], distance: DistanceFn
    ) -> F64:
        """`scoring.score(...).score` (rules-1) for `rows`, with its per-reason rounding."""
        c = self.cols
        m = len(rows)
        w = WEIGHTS
        if order.skills:
            count = np.zeros(m, dtype=np.int64)
            for mt in met:
                count += mt[rows]
            skills = count / len(order.skills)
        else:
            skills = np.full(m, 0.5)
        tables = self._tables(order)
        sim, years, owner, _ = self._experience(tables.sim, rows)
        best = self._group_max(sim, owner, m, 0.0)
        at_best = sim == best[owner]
        best_years = self._group_max(np.where(at_best, years, 0.0), owner, m, 0.0)
        experience = np.where(best > 0, best * (0.6 + 0.4 * np.minimum(best_years, 3.0) / 3.0), 0.0)
        wishes = self._wish(tables.sim, rows)
        km = self._distances(distance, order.postal_code)[c["postal"][rows]]
        commute = c["commute"][rows]
        same_muni = c["muni"][rows] == self.munis.get(order.order.municipality_code)
        with np.errstate(divide="ignore", invalid="ignore"):
            near = np.where(commute != 0, np.maximum(0.0, 1.0 - km / commute), 0.0)
        dist = np.where(np.isnan(km), np.where(same_muni, 0.5, 0.0), near)
        rank_gap = c["danish"][rows].astype(np.int64) - order.danish_min_rank
        danish = np.minimum(1.0, 0.7 + 0.15 * rank_gap)
        gap = np.abs(c["hours"][rows] - order.hours_per_week)
        hours = np.maximum(0.0, 1.0 - gap / order.hours_per_week)
        late = self._late(order, rows)
        start = np.where(late <= 0, 1.0, np.maximum(0.0, 1.0 - late / 60.0))
        total = np.zeros(m)
        for name, value in (
            ("skills", skills),
            ("experience", experience),
            ("wishes", wishes),
            ("distance", dist),
            ("danish", danish),
            ("hours", hours),
            ("start", start),
        ):
            total = total + round4(w[name] * value)
        return round4(np.minimum(1.0, total))

    def score_order(
        self,
        order: OrderProfile,
        scorer: LearnedScorer | RuleScorer,
        exclude: Iterable[str] = (),
    ) -> tuple[I32, F64]:
        """(rows, scores) of every admissible card; scores equal `Scored.score` (4 decimals)."""
        rows, raw = self.score_order_raw(order, scorer, exclude)
        return rows, raw if isinstance(scorer, RuleScorer) else round4(raw)

    def score_order_raw(
        self,
        order: OrderProfile,
        scorer: LearnedScorer | RuleScorer,
        exclude: Iterable[str] = (),
    ) -> tuple[I32, F64]:
        """Like `score_order`, but the learned probability is not rounded."""
        ok, met = self.admissible(order)
        for cid in exclude:  # e.g. no consent for this employer, rejected at these versions
            row = self.row_of.get(cid)
            if row is not None:
                ok[row] = False
        rows = np.flatnonzero(ok).astype(np.int32)
        if isinstance(scorer, RuleScorer):
            return rows, self.rule_scores(order, rows, met, scorer.distance)
        if scorer.skills_of is not self.skills_of:
            raise ValueError("the scorer's skills_of differs from the index's")
        x = self.features(order, rows, met, scorer.distance)
        if len(rows) == 0:
            return rows, np.zeros(0)
        return rows, scorer.model.predict_proba(x)

    def top_k_order(
        self,
        order: OrderProfile,
        scorer: LearnedScorer | RuleScorer,
        k: int = DEFAULT_TOP_K,
        exclude: Iterable[str] = (),
    ) -> list[tuple[str, float]]:
        """(citizen id, score) as `ranking.top_k` ranks them: score down, then citizen id."""
        rows, scores = self.score_order(order, scorer, exclude)
        keep = scores >= scorer.min_score
        rows, scores = rows[keep], scores[keep]
        if k <= 0 or len(rows) == 0:
            return []
        if len(rows) > k:
            kth = -np.partition(-scores, k - 1)[k - 1]
            keep = scores >= kth  # ties at the boundary are all kept, then cut by id
            rows, scores = rows[keep], scores[keep]
        ranked = sorted(
            ((float(s), self.id_of[int(r)] or "") for r, s in zip(rows, scores, strict=True)),
            key=lambda t: (-t[0], t[1]),
        )
        return [(cid, s) for s, cid in ranked[:k]]


# -- one card against many orders ------------------------------------------------------------


class OrderIndex:
    """Open orders as columns, for one card against all of them (`score_card`)."""

    def __init__(self, orders: Sequence[OrderProfile], skills_of: SkillsOf) -> None:
        self.orders = list(orders)
        self.skills_of = skills_of
        self.skill_vocab: Vocab[str] = Vocab()
        self.occ = OccupationTable(skills_of)
        self.required: Vocab[tuple[frozenset[str], frozenset[str]]] = Vocab()
        self.postals: Vocab[str] = Vocab()
        self.programmes: Vocab[tuple[str, dt.date | None]] = Vocab()
        n = len(self.orders)
        self.occ_id = np.zeros(n, dtype=np.int32)
        self.postal = np.zeros(n, dtype=np.int32)
        self.prog = np.zeros(n, dtype=np.int32)
        self.danish_min = np.zeros(n, dtype=np.int64)
        self.hours = np.zeros(n, dtype=np.float64)
        self.start = np.full(n, -1, dtype=np.int64)
        self.mentor = np.zeros(n, dtype=np.float64)
        self.targeted = np.zeros(n, dtype=np.float64)
        self.muni: list[str] = []
        self.certs: list[frozenset[str]] = []
        req_ids: list[int] = []
        req_must: list[bool] = []
        req_ptr = [0]
        for j, o in enumerate(self.orders):
            self.occ_id[j] = self.occ.add(o.occupation)
            self.postal[j] = self.postals.add(o.postal_code)
            self.prog[j] = self.programmes.add((o.order.programme, o.start_date))
            self.danish_min[j] = o.danish_min_rank
            self.hours[j] = o.hours_per_week
            self.start[j] = o.start_date.toordinal() if o.start_date else -1
            self.mentor[j] = 1.0 if o.order.mentor_available else 0.0
            self.targeted[j] = 1.0 if o.order.programme in TARGETED_PROGRAMMES else 0.0
            self.muni.append(o.order.municipality_code)
            self.certs.append(o.certificates | {"\0licence:" + x for x in o.licences})
            for s in o.skills:
                req_ids.append(self.required.add((s.uris, s.terms)))
                req_must.append(s.must)
            req_ptr.append(len(req_ids))
        self.req_ids = np.array(req_ids, dtype=np.int32)
        self.req_must = np.array(req_must, dtype=np.bool_)
        self.req_ptr = np.array(req_ptr, dtype=np.int64)
        self.n_skills = np.diff(self.req_ptr)
        self.req_owner = np.repeat(np.arange(n, dtype=np.int32), self.n_skills)
        # Essential / optional skills of each distinct order occupation, as CSR over skills.
        self._ess, self._opt = self._occupation_skills()

    def _occupation_skills(self) -> tuple[tuple[I32, I64, I64], tuple[I32, I64, I64]]:
        out = []
        for part in (0, 1):
            ids: list[int] = []
            ptr = [0]
            for uri, _ in self.occ.vocab.values:
                rel = self.skills_of(uri) if uri else None
                ids += [self.skill_vocab.add(u) for u in (rel[part] if rel else ())]
                ptr.append(len(ids))
            p = np.array(ptr, dtype=np.int64)
            out.append((np.array(ids, dtype=np.int32), p, np.diff(p)))
        return out[0], out[1]

    @staticmethod
    def _coverage(have: F64, csr: tuple[I32, I64, I64]) -> F64:
        ids, _, size = csr
        owner = np.repeat(np.arange(len(size)), size)
        sums = np.bincount(owner, weights=have[ids], minlength=len(size))
        return np.divide(sums, size, out=np.zeros(len(size)), where=size > 0)

    def score_card(
        self, card: CardProfile, scorer: LearnedScorer
    ) -> tuple[npt.NDArray[np.int64], F64]:
        """(order positions, probabilities) of every order the card is admissible for."""
        n = len(self.orders)
        # Hard filter.
        have_certs = card.certificates | {"\0licence:" + x for x in card.licences}
        ok = np.fromiter((need <= have_certs for need in self.certs), dtype=np.bool_, count=n)
        ok &= card.danish_rank >= self.danish_min
        req_met = np.fromiter(
            (_skill_met(card, uris, terms) for uris, terms in self.required.values),
            dtype=np.bool_,
            count=len(self.required),
        )
        met = req_met[self.req_ids]
        must_missing = np.bincount(self.req_owner[self.req_must & ~met], minlength=n)
        ok &= must_missing == 0
        # Eligibility, per distinct (programme, start).
        elig = np.array(
            [
                elig_rules.check(card.card, p, s).eligible
                if p in ("IGU", "IO-stilling", "jobpakke")
                else True
                for p, s in self.programmes.values
            ],
            dtype=np.bool_,
        )
        ok &= elig[self.prog]
        cols = np.flatnonzero(ok)
        m = len(cols)
        x = np.zeros((m, 14), dtype=np.float64)
        if m == 0:
            return cols, np.zeros(0)
        # Skill coverage per distinct order occupation.
        weights = _card_skill_weights(card, self.skills_of)
        have = np.zeros(len(self.skill_vocab), dtype=np.float64)
        for uri, wt in weights.items():
            i = self.skill_vocab.get(uri)
            if i >= 0:
                have[i] = wt
        occ = self.occ_id[cols]
        x[:, 0] = self._coverage(have, self._ess)[occ]
        x[:, 1] = self._coverage(have, self._opt)[occ]
        n_met = np.bincount(self.req_owner[met], minlength=n)[cols]
        n_sk = self.n_skills[cols]
        x[:, 2] = np.where(n_sk > 0, n_met / np.maximum(n_sk, 1), 0.5)
        # Experience against every order occupation.
        n_occ = len(self.occ.vocab)
        best = np.zeros(n_occ)
        relevant = np.zeros(n_occ)
        overlap = np.zeros(n_occ)
        rel_sets = self.occ._rel_sets
        for item in card.experience:
            sim = self._similarity_from(item.occupation)
            best = np.maximum(best, sim)
            relevant = relevant + np.where(sim >= 0.5, item.years, 0.0)
            item_rel = self.skills_of(item.occupation.uri) if item.occupation.uri else None
            if item_rel is not None:
                a = item_rel[0] | item_rel[1]
                ov = np.array(
                    [
                        (len(a & b) / len(a | b) if a | b else 0.0) if b is not None else 0.0
                        for b in rel_sets
                    ]
                )
                overlap = np.maximum(overlap, ov)
        wish = np.zeros(n_occ)
        for w in card.wishes:
            wish = np.maximum(wish, self._similarity_from(w))
        x[:, 3] = (best[occ] == 1.0).astype(np.float64)
        x[:, 4] = best[occ]
        x[:, 5] = overlap[occ]
        x[:, 6] = np.minimum(relevant[occ], 10.0) / 10.0
        x[:, 7] = np.clip(card.danish_rank - self.danish_min[cols], -2, 3) / 3.0
        km_of = np.array(
            [
                np.nan if (v := scorer.distance(card.postal_code, pc)) is None else v
                for pc in self.postals.values
            ]
        )
        km = km_of[self.postal[cols]]
        if card.max_commute_km:
            ratio = np.where(np.isnan(km), 1.0, np.minimum(2.0, km / card.max_commute_km))
        else:
            ratio = np.ones(m)
        x[:, 8] = ratio
        oh = self.hours[cols]
        x[:, 9] = np.maximum(0.0, 1.0 - np.abs(card.hours_per_week - oh) / oh)
        start = self.start[cols]
        if card.available_from:
            late = np.where(start >= 0, card.available_from.toordinal() - start, 0)
        else:
            late = np.zeros(m, dtype=np.int64)
        x[:, 10] = np.clip(late, 0, 90) / 90.0
        x[:, 11] = wish[occ]
        x[:, 12] = self.mentor[cols]
        x[:, 13] = self.targeted[cols]
        return cols, scorer.model.predict_proba(x)

    def _similarity_from(self, card_occ: Occupation) -> F64:
        """`occupation_similarity(card_occ, order_occ)` for every order occupation row."""
        # The rule is symmetric except that a shared uri needs a non-empty uri on both sides,
        # which holds either way round; so the card's occupation can play the order's role.
        return self.occ.similarity_to(card_occ)
