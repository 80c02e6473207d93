"""`OrderIndex`: the open orders as columns, one card against all of them at once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from services.matching.domain.features import CardProfile, Occupation, OrderProfile
from services.matching.domain.learned import LearnedScorer
from services.matching.domain.pair_features import (
    FEATURES,
    TARGETED_PROGRAMMES,
    SkillsOf,
    _card_skill_weights,
)
from services.matching.domain.scoring import _skill_met
from services.matching.domain.text_vectors import TextVector
from services.matching.domain.vectorized import pruning
from services.matching.domain.vectorized.card_index import TEXT_COLUMNS, TEXT_START, column_numbers
from services.matching.domain.vectorized.columns import F64, I32, I64, Vocab
from services.matching.domain.vectorized.occupations import OccupationTable
from services.matching.domain.vectorized.texts import TextTable
from services.rules import eligibility as elig_rules


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
        self.titles, self.bodies = TextTable(), TextTable()
        self.title_row = np.zeros(n, dtype=np.int32)
        self.body_row = np.zeros(n, dtype=np.int32)
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
            self.title_row[j] = self.titles.add(o.title_text)
            self.body_row[j] = self.bodies.add(o.body_text)
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
        names = scorer.model.features
        x = np.zeros((m, len(FEATURES)), dtype=np.float64)
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
        if not TEXT_COLUMNS.isdisjoint(column_numbers(names)):
            x[:, TEXT_START : TEXT_START + 3] = self._text_features(card, cols)
        # Summed as `CardIndex` sums it: a pair scores the same bits either way round.
        model = scorer.model
        columns = {j: x[:, j] for j in range(len(FEATURES))}
        return cols, pruning.probabilities(
            pruning.logits(model, pruning.terms_of(model), columns, m)
        )

    @staticmethod
    def _best(table: TextTable, texts: Sequence[TextVector]) -> F64:
        best = np.zeros(len(table), dtype=np.float64)
        for text in texts:
            best = np.maximum(best, table.cosines(text))
        return best

    def _text_features(self, card: CardProfile, cols: npt.NDArray[np.int64]) -> F64:
        """`text_features.text_similarities` of the card with the orders at `cols`."""
        x = np.zeros((len(cols), 3), dtype=np.float64)
        x[:, 0] = self._best(self.titles, card.experience_text)[self.title_row[cols]]
        x[:, 1] = self._best(self.titles, card.wish_text)[self.title_row[cols]]
        x[:, 2] = self._best(self.bodies, card.skill_text)[self.body_row[cols]]
        return x

    def _similarity_from(self, card_occ: Occupation) -> F64:
        """`occupation_similarity(card_occ, order_occ)` for every order occupation row."""
        # The rule is symmetric except that a shared uri needs a non-empty uri on both sides,
        # which holds either way round; so the card's occupation can play the order's role.
        return self.occ.similarity_to(card_occ)
