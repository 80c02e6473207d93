"""`CardIndex`: the cards as columns, one job order against all of them at once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from services.matching.domain.features import CardProfile, OrderProfile
from services.matching.domain.pair_features import (
    FEATURES,
    TARGETED_PROGRAMMES,
    SkillsOf,
    _card_skill_weights,
)
from services.matching.domain.ranking import DEFAULT_TOP_K
from services.matching.domain.scoring import WEIGHTS, DistanceFn, Scorer
from services.matching.domain.text import phrase_covered
from services.matching.domain.text_vectors import EMPTY, TextVector
from services.matching.domain.vectorized.columns import (
    F64,
    I32,
    I64,
    Bool,
    Postings,
    Ragged,
    Vocab,
    round4,
)
from services.matching.domain.vectorized.occupations import OccupationTable
from services.matching.domain.vectorized.phrases import PhraseKeys
from services.matching.domain.vectorized.pruning import BOUNDED
from services.matching.domain.vectorized.scorers import ColumnScorer, column_scorer
from services.matching.domain.vectorized.texts import TextTable
from services.rules import eligibility_columns
from services.rules.eligibility_columns import RESIDENCE, TARGET_GROUP

__all__ = ["RESIDENCE", "TARGET_GROUP", "CardIndex", "OrderTables"]

_MIN_COMPACT = 1024


@dataclass
class OrderTables:
    """Per-order lookups over the vocabularies (cached; extended when vocabularies grow)."""

    sim: F64
    overlap: F64


TEXT_START = FEATURES.index("title_similarity")
TEXT_COLUMNS = frozenset(range(TEXT_START, TEXT_START + 3))
# Per feature number: the count column of its entries, and a lower and an upper bound of
# its value for a row with entries (`CardIndex.feature_bounds`).
Bounds = dict[int, tuple[str, float, float]]


def column_numbers(names: Sequence[str]) -> list[int]:
    """Positions in `FEATURES` of a model's features (ValueError for one the code lacks)."""
    return [FEATURES.index(name) for name in names]


def _aligned(texts: tuple[TextVector, ...], items: tuple[Any, ...]) -> tuple[TextVector, ...]:
    """One text per item (a profile without texts gives empty ones)."""
    return texts[: len(items)] + (EMPTY,) * (len(items) - len(texts))


def _columns(scorer: Scorer) -> ColumnScorer:
    found = column_scorer(scorer)
    if found is None:
        raise TypeError(f"no column-wise scoring for {type(scorer).__name__}")
    return found


def _no_distance(*_: Any) -> float | None:
    raise RuntimeError("text features need no distance")


def _detached(*_: Any) -> Any:
    raise RuntimeError("an unpickled CardIndex needs attach() before use")


class CardIndex:
    """The cards of the matching state as columns; see the module docstring."""

    def __init__(self, skills_of: SkillsOf, today: Callable[[], dt.date] = dt.date.today) -> None:
        self.skills_of = skills_of
        self.today = today
        self.skills: Vocab[str] = Vocab()
        self.phrases: Vocab[frozenset[str]] = Vocab()
        self.phrase_keys = PhraseKeys()
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
        # Texts: experience titles and wishes (aligned with the two above), skill phrases.
        self.texts = TextTable()
        self.exp_text = Ragged(np.int32)
        self.wish_text = Ragged(np.int32)
        self.skill_text = Ragged(np.int32)
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
        "stext_start": np.int32,
        "stext_count": np.uint8,
    }

    # -- snapshots: pickled without the functions, which `attach` gives back -----------------

    def __getstate__(self) -> dict[str, Any]:
        skip = ("skills_of", "today", "_entries_memo")
        return {k: v for k, v in self.__dict__.items() if k not in skip}

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
        self.__dict__.pop("_entries_memo", None)
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
        (
            c["birth"][row],
            c["residence"][row],
            c["target"][row],
            c["arrival"][row],
        ) = eligibility_columns.encode_status(status)
        exps = card.experience[:255]
        c["exp_start"][row] = self.exp_occ.append([self.occ.add(e.occupation) for e in exps])
        self.exp_years.append([e.years for e in exps])
        c["exp_count"][row] = len(exps)
        wishes = card.wishes[:255]
        c["wish_start"][row] = self.wish_occ.append([self.occ.add(w) for w in wishes])
        c["wish_count"][row] = len(wishes)
        self.exp_text.append([self.texts.add(v) for v in _aligned(card.experience_text, exps)])
        self.wish_text.append([self.texts.add(v) for v in _aligned(card.wish_text, wishes)])
        stexts = card.skill_text[:255]
        c["stext_start"][row] = self.skill_text.append([self.texts.add(v) for v in stexts])
        c["stext_count"][row] = len(stexts)

        weights = _card_skill_weights(card, self.skills_of)
        keys = [self.skills.add(u) for u in weights]
        self.skill_post.append(keys, row, [self.weights.add(w) for w in weights.values()])
        self.phrase_post.append(sorted({self._phrase_id(p) for p in card.skill_terms}), row)
        self.cert_post.append([self.certs.add(x) for x in card.certificates], row)
        self.licence_post.append([self.licences.add(x) for x in card.licences], row)
        if merge:
            self._maybe_merge()
        return row

    def remove(self, citizen_id: str, compact: bool = True) -> bool:
        self.__dict__.pop("_entries_memo", None)
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
        self.__dict__.pop("_entries_memo", None)
        n = self.n
        alive = self.cols["alive"][:n].copy()
        remap = np.full(n, -1, dtype=np.int32)
        remap[alive] = np.arange(int(alive.sum()), dtype=np.int32)
        for ragged, start, count in (
            ((self.exp_occ, self.exp_years, self.exp_text), "exp_start", "exp_count"),
            ((self.wish_occ, self.wish_text), "wish_start", "wish_count"),
            ((self.skill_text,), "stext_start", "stext_count"),
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
            if name not in ("exp_start", "wish_start", "stext_start"):
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
        texts = self.exp_text.nbytes + self.wish_text.nbytes + self.skill_text.nbytes
        return {
            "columns": cols,
            "experience_and_wishes": ragged,
            "skills": self.skill_post.nbytes,
            "phrases": self.phrase_post.nbytes,
            "certificates_licences": self.cert_post.nbytes + self.licence_post.nbytes,
            # Each card's text rows, and the vectors of the distinct texts (shared by all).
            "texts": texts + self.texts.nbytes,
        }

    # -- per-order lookups -------------------------------------------------------------------

    def _phrase_id(self, phrase: frozenset[str]) -> int:
        n = len(self.phrases)
        i = self.phrases.add(phrase)
        if i == n:
            self.phrase_keys.add(i, phrase)
        return i

    def _phrase_rows(self, required: frozenset[str]) -> set[int]:
        """Phrase ids covering `required`, extended lazily as new phrases arrive."""
        checked, ids = self._covered.get(required, (0, set()))
        n = len(self.phrases)
        if checked < n:
            values = self.phrases.values
            candidates = self.phrase_keys.candidates(required, checked, n)
            ids = ids | {i for i in candidates if phrase_covered(required, values[i])}
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
        return eligibility_columns.eligible(
            programme,
            start,
            start or self.today(),  # the clock is read only when the order has no start
            c["birth"][:n],
            c["residence"][:n],
            c["target"][:n],
            c["arrival"][:n],
        )

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

    def _entries(self, rows: I32, start: str, count: str) -> tuple[I64, I32]:
        """Positions in a ragged list of every entry of `rows`, and each entry's owner
        (kept for the last `rows` asked about: one scoring asks for each list twice)."""
        memo: tuple[I32, dict[str, tuple[I64, I32]]] | None = self.__dict__.get("_entries_memo")
        if memo is None or memo[0] is not rows:
            memo = (rows, {})
            self.__dict__["_entries_memo"] = memo
        found = memo[1].get(start)
        if found is None:
            found = memo[1][start] = self._entries_of(rows, start, count)
        return found

    def _entries_of(self, rows: I32, start: str, count: str) -> tuple[I64, I32]:
        starts = self.cols[start][rows].astype(np.int64)
        counts = self.cols[count][rows].astype(np.int64)
        total = int(counts.sum())
        owner = np.repeat(np.arange(len(rows), dtype=np.int32), counts)
        offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.repeat(starts, counts) + offsets, owner

    def _experience(self, sim: F64, rows: I32) -> tuple[F64, F64, I32, I64]:
        """Per experience entry of `rows`: (similarity, years, owner position, occupation)."""
        entries, owner = self._entries(rows, "exp_start", "exp_count")
        occ = self.exp_occ.flat[entries]
        years = self.exp_years.flat[entries]
        return sim[occ], years, owner, occ.astype(np.int64)

    @staticmethod
    def _group_max(values: F64, owner: I32, n: int, default: float) -> F64:
        """Per owner, the largest of its values (`default` for an owner without any).
        Entries come grouped by owner in order (`_entries`), so one `reduceat` does it."""
        out = np.full(n, default, dtype=np.float64)
        if len(values) == 0:
            return out
        counts = np.bincount(owner, minlength=n)
        has = counts > 0
        starts = (np.cumsum(counts) - counts)[has]
        out[has] = np.maximum.reduceat(values, starts)
        return out

    def _wish(self, sim: F64, rows: I32) -> F64:
        entries, owner = self._entries(rows, "wish_start", "wish_count")
        occ = self.wish_occ.flat[entries]
        return self._group_max(sim[occ], owner, len(rows), 0.0)

    def _best_text(self, sims: F64, ragged: Ragged, rows: I32, start: str, count: str) -> F64:
        """Per row, the best of `sims` (one value per distinct text) over its texts."""
        entries, owner = self._entries(rows, start, count)
        return self._group_max(sims[ragged.flat[entries]], owner, len(rows), 0.0)

    def text_features(
        self, order: OrderProfile, rows: I32, unused: frozenset[str] = frozenset()
    ) -> F64:
        """`text_features.text_similarities` for `rows` (an n x 3 matrix); the features of
        `unused` (a model's zero weights) are left 0."""
        x = np.zeros((len(rows), 3), dtype=np.float64)
        wanted = [j for j in TEXT_COLUMNS if FEATURES[j] not in unused]
        for j, values in self.feature_columns(order, rows, [], _no_distance, wanted).items():
            x[:, j - TEXT_START] = values
        return x

    def features(
        self,
        order: OrderProfile,
        rows: I32,
        met: list[Bool],
        distance: DistanceFn,
        names: Sequence[str] = FEATURES,
        unused: frozenset[str] = frozenset(),
    ) -> F64:
        """The learned model's features for `rows`, column by column: every one of
        `FEATURES` (the pair code's `vector`), or those of `names` in that order. Features
        in `unused` (weight 0 in the model: they cannot change its score) are not computed
        and stay 0."""
        numbers = column_numbers(names)
        x = np.zeros((len(rows), len(numbers)), dtype=np.float64)
        wanted = [j for j in numbers if FEATURES[j] not in unused]
        found = self.feature_columns(order, rows, met, distance, wanted)
        for i, j in enumerate(numbers):
            if j in found:
                x[:, i] = found[j]
        return x

    def feature_columns(
        self,
        order: OrderProfile,
        rows: I32,
        met: list[Bool],
        distance: DistanceFn,
        wanted: Iterable[int],
    ) -> dict[int, F64]:
        """The features numbered `wanted` (positions in `FEATURES`) for `rows`, one array
        each: only those are computed (the pair code's `vector`, column by column)."""
        want = set(wanted)
        m = len(rows)
        out: dict[int, F64] = {}
        if m == 0:
            return {j: np.zeros(0, dtype=np.float64) for j in want}
        c = self.cols
        if want & {0, 1}:
            rel = self.skills_of(order.occupation.uri) if order.occupation.uri else None
            essential, optional = rel if rel else (frozenset(), frozenset())
            table = np.array(self.weights.values, dtype=np.float64)
            for col, skills in ((0, essential), (1, optional)):
                if col not in want:
                    continue
                if not skills:
                    out[col] = np.zeros(m, dtype=np.float64)
                    continue
                prow, pcode = self.skill_post.lookup(self.skills.get(u) for u in skills)
                sums = np.bincount(prow, weights=table[pcode], minlength=self.n)
                out[col] = sums[rows] / len(skills)
        if 2 in want:
            if order.skills:
                count = np.zeros(m, dtype=np.int64)
                for mt in met:
                    count += mt[rows]
                out[2] = count / len(order.skills)
            else:
                out[2] = np.full(m, 0.5)
        if want & {3, 4, 5, 6, 11}:
            tables = self._tables(order)
            if want & {3, 4, 5, 6}:
                sim, years, owner, occ = self._experience(tables.sim, rows)
                if want & {3, 4}:
                    best = self._group_max(sim, owner, m, 0.0)
                    out[4] = best
                    out[3] = (best == 1.0).astype(np.float64)
                if 5 in want:
                    out[5] = self._group_max(tables.overlap[occ], owner, m, 0.0)
                if 6 in want:
                    kept = np.where(sim >= 0.5, years, 0.0)
                    relevant = np.bincount(owner, weights=kept, minlength=m)
                    out[6] = np.minimum(relevant, 10.0) / 10.0
            if 11 in want:
                out[11] = self._wish(tables.sim, rows)
        if 7 in want:
            margin = c["danish"][rows].astype(np.int64) - order.danish_min_rank
            out[7] = np.clip(margin, -2, 3) / 3.0
        if 8 in want:
            km = self._distances(distance, order.postal_code)[c["postal"][rows]]
            commute = c["commute"][rows]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.minimum(2.0, km / commute)
            out[8] = np.where(np.isnan(km) | (commute == 0), 1.0, ratio)
        if 9 in want:
            gap = np.abs(c["hours"][rows] - order.hours_per_week)
            out[9] = np.maximum(0.0, 1.0 - gap / order.hours_per_week)
        if 10 in want:
            out[10] = self._late(order, rows).clip(0, 90) / 90.0
        if 12 in want:
            out[12] = np.full(m, 1.0 if order.order.mentor_available else 0.0)
        if 13 in want:
            out[13] = np.full(m, 1.0 if order.order.programme in TARGETED_PROGRAMMES else 0.0)
        if want & {TEXT_START, TEXT_START + 1}:
            title = self.texts.cosines(order.title_text)
            if TEXT_START in want:
                out[TEXT_START] = self._best_text(
                    title, self.exp_text, rows, "exp_start", "exp_count"
                )
            if TEXT_START + 1 in want:
                out[TEXT_START + 1] = self._best_text(
                    title, self.wish_text, rows, "wish_start", "wish_count"
                )
        if TEXT_START + 2 in want:
            body = self.texts.cosines(order.body_text)
            out[TEXT_START + 2] = self._best_text(
                body, self.skill_text, rows, "stext_start", "stext_count"
            )
        return {j: out[j] for j in sorted(want)}

    def feature_bounds(self, order: OrderProfile, wanted: Iterable[int]) -> Bounds:
        """For each of the features numbered `wanted` among `BOUNDED` (those of many values
        per card: experience, wishes, texts), the list of entries it is taken over (a count
        column: "exp_count", "wish_count", "stext_count") and a lower and an upper bound of
        its value for any row with entries there; a row without any has the value 0.

        Each of these features is the largest of a per-order table's values over the row's
        entries (or a function of that), and 0 for a row without entries: so it lies between
        the least and the largest value of the table (both known without looking at rows)."""
        want = set(wanted) & BOUNDED
        out: Bounds = {}

        def between(table: F64) -> tuple[float, float]:
            if len(table) == 0:
                return 0.0, 0.0
            return min(float(table.min()), 0.0), max(float(table.max()), 0.0)

        if want & {3, 4, 5, 6, 11}:
            tables = self._tables(order)
            top = between(tables.sim)[1]
            if 3 in want:  # the best similarity is 1.0
                out[3] = ("exp_count", 0.0, 1.0 if top == 1.0 else 0.0)
            if 4 in want:
                out[4] = ("exp_count", *between(tables.sim))
            if 5 in want:
                out[5] = ("exp_count", *between(tables.overlap))
            if 6 in want:  # years (never negative) of similarity 0.5 or more, at most 10, / 10
                out[6] = ("exp_count", 0.0, 1.0 if top >= 0.5 else 0.0)
            if 11 in want:
                out[11] = ("wish_count", *between(tables.sim))
        if want & {TEXT_START, TEXT_START + 1}:
            title = between(self.texts.cosines(order.title_text))
            if TEXT_START in want:
                out[TEXT_START] = ("exp_count", *title)
            if TEXT_START + 1 in want:
                out[TEXT_START + 1] = ("wish_count", *title)
        if TEXT_START + 2 in want:
            out[TEXT_START + 2] = ("stext_count", *between(self.texts.cosines(order.body_text)))
        return out

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

    @staticmethod
    def supports(scorer: Scorer) -> bool:
        """Whether the index can score with `scorer` (it has a column-wise twin)."""
        return column_scorer(scorer) is not None

    def score_order(
        self,
        order: OrderProfile,
        scorer: Scorer,
        exclude: Iterable[str] = (),
    ) -> tuple[I32, F64]:
        """(rows, scores) of every admissible card; scores equal `Scored.score` (4 decimals)."""
        rows, raw = self.score_order_raw(order, scorer, exclude)
        return rows, _columns(scorer).final(raw)

    def score_order_raw(
        self,
        order: OrderProfile,
        scorer: Scorer,
        exclude: Iterable[str] = (),
    ) -> tuple[I32, F64]:
        """Like `score_order`, but the learned probability is not rounded."""
        columns = _columns(scorer)
        rows, met = self.admissible_rows(order, exclude)
        return rows, columns.raw_rows(self, order, rows, met)

    def admissible_rows(
        self, order: OrderProfile, exclude: Iterable[str] = ()
    ) -> tuple[I32, list[Bool]]:
        """The admissible rows but those of `exclude`, and the skills met (`admissible`)."""
        ok, met = self.admissible(order)
        for cid in exclude:  # e.g. no consent for this employer, rejected at these versions
            row = self.row_of.get(cid)
            if row is not None:
                ok[row] = False
        return np.flatnonzero(ok).astype(np.int32), met

    def top_k_order(
        self,
        order: OrderProfile,
        scorer: Scorer,
        k: int = DEFAULT_TOP_K,
        exclude: Iterable[str] = (),
    ) -> list[tuple[str, float]]:
        """(citizen id, score) as `ranking.top_k` ranks them: score down, then citizen id.
        Only the rows that can rank are scored in full (`ColumnScorer.top_rows`)."""
        rows, met = self.admissible_rows(order, exclude)
        rows, scores = _columns(scorer).top_rows(self, order, rows, met, k)
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
