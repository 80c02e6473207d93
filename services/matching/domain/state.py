"""The matching state: open orders, available cards and each order's current top-k.

Pure domain: `apply` takes a decoded event and returns the decisions it leads to. The
invariant is that `suggestions[order]` always equals the exact top-k over all available
cards, so the state depends only on the latest version of each card and order, not on the
order in which topics were interleaved: a replay reproduces it exactly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.citizens import (
    CitizenAvailabilityChanged,
    CompetenceCard,
    CompetenceCardRegistered,
    CompetenceCardUpdated,
    ConsentGiven,
    ConsentWithdrawn,
    ErasureRequested,
)
from schemas.envelope import Event
from schemas.jobs import JobOrder, JobOrderClosed, JobOrderPosted, JobOrderUpdated
from schemas.placements import SuggestionRejected
from services.matching.domain.features import (
    CardProfile,
    Linker,
    OrderProfile,
    card_profile,
    order_profile,
)
from services.matching.domain.ranking import (
    DEFAULT_TOP_K,
    Candidate,
    candidate,
    rank_key,
    top_k,
)
from services.matching.domain.scoring import Scorer


@dataclass(frozen=True)
class Suggest:
    order: OrderProfile
    candidate: Candidate
    rank: int


@dataclass(frozen=True)
class Retract:
    job_order_id: str
    candidate: Candidate
    reason: str


Decision = Suggest | Retract


def suggestion_id(order_id: str, citizen_id: str) -> str:
    """One suggestion per (order, citizen) pair: re-scoring updates it, review refers to it."""
    return "sug-" + hashlib.sha256(f"{order_id}|{citizen_id}".encode()).hexdigest()[:24]


@dataclass
class MatchingState:
    linker: Linker
    scorer: Scorer
    k: int = DEFAULT_TOP_K
    cards: dict[str, CardProfile] = field(default_factory=dict)
    unavailable: set[str] = field(default_factory=set)
    # Citizens who withdrew their consent for all employers, or per employer (CVR).
    no_consent: set[str] = field(default_factory=set)
    no_consent_for: set[tuple[str, str]] = field(default_factory=set)
    orders: dict[str, OrderProfile] = field(default_factory=dict)
    suggestions: dict[str, dict[str, Candidate]] = field(default_factory=dict)
    # A pair the consultant rejected, with the card and order versions it was rejected at:
    # it comes back only when one of them changes.
    rejected: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    # -- loading without deciding (replay) -------------------------------------------------

    def load(self, event: Event) -> None:
        """Take in an event's facts without ranking: replay calls `rebuild_rankings` after."""
        payload = event.payload
        if isinstance(payload, CompetenceCardRegistered | CompetenceCardUpdated):
            self._put_card(payload.card)
        elif isinstance(payload, CitizenAvailabilityChanged):
            self._set_available(payload.citizen_id, payload.available)
        elif isinstance(payload, ErasureRequested):
            self.cards.pop(payload.citizen_id, None)
            self.unavailable.discard(payload.citizen_id)
        elif isinstance(payload, JobOrderPosted | JobOrderUpdated):
            self._put_order(payload.order)
        elif isinstance(payload, JobOrderClosed):
            self.orders.pop(payload.job_order_id, None)
            self.suggestions.pop(payload.job_order_id, None)
        elif isinstance(payload, ConsentGiven | ConsentWithdrawn):
            self._set_consent(payload)
        elif isinstance(payload, SuggestionRejected):
            self._reject(payload.job_order_id, payload.citizen_id)

    def rebuild_rankings(self) -> None:
        for order in self.orders.values():
            self.suggestions[order.job_order_id] = {
                c.citizen_id: c for c in top_k(order, self._pool(order), self.scorer, self.k)
            }

    # -- live processing ---------------------------------------------------------------------

    def apply(self, event: Event) -> list[Decision]:
        payload = event.payload
        if isinstance(payload, CompetenceCardRegistered | CompetenceCardUpdated):
            changed = self._put_card(payload.card)
            return self._card_changed(payload.citizen_id) if changed else []
        if isinstance(payload, CitizenAvailabilityChanged):
            if not self._set_available(payload.citizen_id, payload.available):
                return []
            if payload.available:
                return self._card_changed(payload.citizen_id)
            return self._card_left(payload.citizen_id, "citizen_unavailable")
        if isinstance(payload, ErasureRequested):
            decisions = self._card_left(payload.citizen_id, "erased", everywhere=True)
            self.cards.pop(payload.citizen_id, None)
            self.unavailable.discard(payload.citizen_id)
            return decisions
        if isinstance(payload, JobOrderPosted | JobOrderUpdated):
            if not self._put_order(payload.order):
                return []
            order = self.orders[payload.job_order_id]
            new = top_k(order, self._pool(order), self.scorer, self.k)
            return self._replace(order, new, order_changed=True)
        if isinstance(payload, ConsentGiven | ConsentWithdrawn):
            if not self._set_consent(payload):
                return []
            if isinstance(payload, ConsentGiven):
                return self._card_changed(payload.citizen_id)
            return self._card_left(payload.citizen_id, "consent_withdrawn")
        if isinstance(payload, SuggestionRejected):
            oid, cid = payload.job_order_id, payload.citizen_id
            self._reject(oid, cid)
            rejected_in = self.orders.get(oid)
            if rejected_in is None or self.suggestions.get(oid, {}).pop(cid, None) is None:
                return []
            # The rejected citizen's place goes to the next best.
            pool = self._pool(rejected_in)
            return self._replace(rejected_in, top_k(rejected_in, pool, self.scorer, self.k))
        if isinstance(payload, JobOrderClosed):
            current = self.suggestions.pop(payload.job_order_id, {})
            self.orders.pop(payload.job_order_id, None)
            return [
                Retract(payload.job_order_id, c, "order_closed")
                for c in sorted(current.values(), key=rank_key)
            ]
        return []

    # -- internals ---------------------------------------------------------------------------

    def _admissible(self, card: CardProfile, order: OrderProfile) -> bool:
        cid = card.citizen_id
        if cid in self.unavailable or cid in self.no_consent:
            return False
        if (cid, order.order.employer.cvr) in self.no_consent_for:
            return False
        rejected_at = self.rejected.get((order.job_order_id, cid))
        return rejected_at is None or rejected_at != (card.version, order.version)

    def _pool(self, order: OrderProfile) -> Iterable[CardProfile]:
        return (c for c in self.cards.values() if self._admissible(c, order))

    def _reject(self, job_order_id: str, citizen_id: str) -> None:
        card, order = self.cards.get(citizen_id), self.orders.get(job_order_id)
        if card is not None and order is not None:
            self.rejected[(job_order_id, citizen_id)] = (card.version, order.version)

    def _set_consent(self, payload: ConsentGiven | ConsentWithdrawn) -> bool:
        """Record a consent change; True when it can change what is suggested."""
        cid = payload.citizen_id
        given = isinstance(payload, ConsentGiven)
        if payload.scope == "employer" and payload.employer_cvr:
            pair = (cid, payload.employer_cvr)
            if given:
                self.no_consent_for.discard(pair)
            else:
                self.no_consent_for.add(pair)
        elif given:
            self.no_consent.discard(cid)
        else:
            self.no_consent.add(cid)
        return cid in self.cards

    def _put_card(self, card: CompetenceCard) -> bool:
        profile = card_profile(card, self.linker)
        old = self.cards.get(card.citizen_id)
        if old is not None and old.version == profile.version:
            return False
        self.cards[card.citizen_id] = profile
        return True

    def _put_order(self, order: JobOrder) -> bool:
        profile = order_profile(order, self.linker)
        old = self.orders.get(order.job_order_id)
        if old is not None and old.version == profile.version:
            return False
        self.orders[order.job_order_id] = profile
        return True

    def _set_available(self, citizen_id: str, available: bool) -> bool:
        was = citizen_id not in self.unavailable
        if available:
            self.unavailable.discard(citizen_id)
        else:
            self.unavailable.add(citizen_id)
        return was != available and citizen_id in self.cards

    def _card_changed(self, citizen_id: str) -> list[Decision]:
        card = self.cards[citizen_id]
        decisions: list[Decision] = []
        for order in sorted(self.orders.values(), key=lambda o: o.job_order_id):
            current = self.suggestions.get(order.job_order_id, {})
            new_c = candidate(card, order, self.scorer) if self._admissible(card, order) else None
            prev = current.get(citizen_id)
            if prev is not None and (new_c is None or rank_key(new_c) > rank_key(prev)):
                # A suggested candidate fell back: someone outside the top-k may now belong.
                ranked = top_k(order, self._pool(order), self.scorer, self.k)
            else:
                pool = [c for c in current.values() if c.citizen_id != citizen_id]
                pool += [new_c] if new_c is not None else []
                ranked = sorted(pool, key=rank_key)[: self.k]
            decisions += self._replace(order, ranked)
        return decisions

    def _card_left(self, citizen_id: str, reason: str, everywhere: bool = False) -> list[Decision]:
        """Retract the citizen where they may no longer be suggested (`everywhere`: erased)."""
        decisions: list[Decision] = []
        card = self.cards.get(citizen_id)
        for order in sorted(self.orders.values(), key=lambda o: o.job_order_id):
            if not everywhere and card is not None and self._admissible(card, order):
                continue
            current = self.suggestions.get(order.job_order_id, {})
            gone = current.pop(citizen_id, None)
            if gone is None:
                continue
            decisions.append(Retract(order.job_order_id, gone, reason))
            pool = (c for c in self._pool(order) if c.citizen_id != citizen_id)
            decisions += self._replace(order, top_k(order, pool, self.scorer, self.k))
        return decisions

    def _replace(
        self, order: OrderProfile, ranked: list[Candidate], order_changed: bool = False
    ) -> list[Decision]:
        """Make `ranked` the order's suggestions; suggest what is new, retract what fell out."""
        old = self.suggestions.get(order.job_order_id, {})
        decisions: list[Decision] = [
            Suggest(order, c, rank)
            for rank, c in enumerate(ranked, start=1)
            if order_changed or old.get(c.citizen_id) != c
        ]
        kept = {c.citizen_id for c in ranked}
        decisions += [
            Retract(order.job_order_id, c, "outranked")
            for cid, c in sorted(old.items())
            if cid not in kept
        ]
        self.suggestions[order.job_order_id] = {c.citizen_id: c for c in ranked}
        return decisions

    # -- observation -------------------------------------------------------------------------

    def snapshot(self) -> dict[str, object]:
        """A canonical view of the state, for comparing a restarted worker with a replay."""
        return {
            "model_version": self.scorer.model_version,
            "cards": {cid: p.version for cid, p in sorted(self.cards.items())},
            "unavailable": sorted(self.unavailable),
            "no_consent": sorted(self.no_consent),
            "no_consent_for": sorted(self.no_consent_for),
            "rejected": sorted(f"{o}|{c}|{v[0]}|{v[1]}" for (o, c), v in self.rejected.items()),
            "orders": {oid: p.version for oid, p in sorted(self.orders.items())},
            "suggestions": {
                oid: [
                    [c.citizen_id, c.card_version, c.scored.score]
                    for c in sorted(current.values(), key=rank_key)
                ]
                for oid, current in sorted(self.suggestions.items())
            },
        }

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.snapshot(), sort_keys=True).encode()).hexdigest()
