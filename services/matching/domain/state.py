"""The matching state: open orders, available cards, and who is suggested where.

Pure domain: `apply` takes a decoded event and returns the decisions it leads to.

Two layers, both functions of the current cards and orders only (not of the order in which
topics were interleaved, so a replay reproduces them exactly):
- `shortlists[order]`: the exact top (k x depth) admissible citizens of each order;
- `suggestions[order]`: what is suggested, capacity-aware and reciprocal. Each citizen is
  offered to at most `capacity` orders: their best places by the mean of their own fit (job
  wish, way to work, hours) and the employer-side score, so the citizen's wishes count as
  much as the employer's requirements. An order's suggestions are its best k citizens among
  those offered to it. This keeps the same few citizens from being suggested to every
  employer.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime

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
from schemas.placements import (
    PlacementEnded,
    PlacementStarted,
    PlacementSuggested,
    RetractionReason,
    SuggestionRejected,
    SuggestionRetracted,
)
from schemas.reports import ModelActivated
from services.matching.domain.features import (
    CardProfile,
    Linker,
    OrderProfile,
    card_profile,
    order_profile,
)
from services.matching.domain.ranking import (
    DEFAULT_CAPACITY,
    DEFAULT_TOP_K,
    Candidate,
    candidate,
    rank_key,
    top_k,
)
from services.matching.domain.scoring import Scorer
from services.matching.domain.vectorized import CardIndex, OrderIndex, column_scorer


@dataclass(frozen=True)
class Suggest:
    order: OrderProfile
    candidate: Candidate
    rank: int
    # Decided by the state (`MatchingState.next_suggestion_id`): the pair's current
    # suggestion's while it stands, a new one once it has ended.
    suggestion_id: str


@dataclass(frozen=True)
class Retract:
    job_order_id: str
    candidate: Candidate
    reason: RetractionReason
    # The id of the suggestion withdrawn (the pair's current one).
    suggestion_id: str
    # The order's, so every event about an order carries the order's municipality.
    municipality_code: str | None = None


Decision = Suggest | Retract

# The scorer of a model version a `ModelActivated` record names; None: not available here.
ScorerFor = Callable[[str], Scorer | None]

# The (card, order) versions a pair's rejections hold against; None: whatever the versions
# (a rejection of a pair with no suggestion known).
RejectedAt = frozenset[tuple[str, str]] | None


@dataclass(frozen=True, slots=True)
class Emitted:
    """What the placements topic last said about one (order, citizen) pair: the content of
    its last `PlacementSuggested`, and whether that is still its last word (`live`), not
    followed by a retraction or a rejection of that suggestion."""

    live: bool
    # The id of the last PlacementSuggested: retractions and reviews refer to it.
    suggestion_id: str
    card_version: str
    order_version: str
    score: float
    model_version: str
    # Of the last PlacementSuggested: a retraction carries the same municipality.
    municipality_code: str | None
    correlation_id: uuid.UUID
    occurred_at: datetime
    # The last placements event about the pair (suggested, retracted or rejected).
    last_event_id: uuid.UUID
    # A consultant rejected `suggestion_id`. Live and rejected: the worker suggested the pair
    # again under that id before it read the rejection, so the review side can no longer
    # take it up; it is withdrawn and suggested anew under a new id.
    rejected: bool = False

    @property
    def standing(self) -> bool:
        """Live under an id that can still be reviewed: re-scoring updates it in place."""
        return self.live and not self.rejected

    def same_as(self, order: OrderProfile, c: Candidate, model_version: str) -> bool:
        return (
            self.standing
            and self.card_version == c.card_version
            and self.order_version == order.version
            and self.score == c.scored.score
            and self.model_version == model_version
        )


@dataclass(frozen=True)
class Orphan:
    """Live on the placements topic, not held by the state: to be retracted."""

    job_order_id: str
    citizen_id: str
    emitted: Emitted
    reason: RetractionReason


@dataclass(frozen=True)
class Unannounced:
    """Held by the state, but not live on the topic or live with other content: to be
    suggested (again). `emitted`: what the topic last said of the pair, if anything."""

    suggest: Suggest
    emitted: Emitted | None


@dataclass(frozen=True)
class Reconciliation:
    retract: list[Orphan]
    announce: list[Unannounced]
    # Live on the topic with the content the state holds: taken over as they are.
    adopted: int

    def counts(self) -> dict[str, int]:
        return {
            "retracted": len(self.retract),
            "suggested": len(self.announce),
            "adopted": self.adopted,
        }


def suggestion_id(order_id: str, citizen_id: str, after: str | None = None) -> str:
    """The id of a suggestion of the pair: re-scoring updates a suggestion in place, review
    refers to it. Once it has ended (retracted, or rejected by a consultant), the pair's next
    suggestion is a new one, to be reviewed afresh: its id is chained from the id of the one
    that ended (`after`). The first suggestion of a pair has the pair's own id (as before
    ids were chained). So each id is a function of the pair's events on its placements
    partition, which every replay reads in the same order."""
    key = f"{order_id}|{citizen_id}" if after is None else f"{order_id}|{citizen_id}|{after}"
    return "sug-" + hashlib.sha256(key.encode()).hexdigest()[:24]


@dataclass
class MatchingState:
    linker: Linker
    scorer: Scorer
    k: int = DEFAULT_TOP_K
    capacity: int = DEFAULT_CAPACITY
    depth: int = 2
    cards: dict[str, CardProfile] = field(default_factory=dict)
    unavailable: set[str] = field(default_factory=set)
    # Citizens in a started placement (citizen -> its placement ids, until PlacementEnded):
    # suggested nowhere meanwhile. Each placement's start and end are on one placements
    # partition, in that order, so any interleaving gives the same sets; an erasure leaves
    # them (a card that is gone is suggested nowhere anyway).
    placed: dict[str, set[str]] = field(default_factory=dict)
    # Citizens who withdrew their consent for all employers, or per employer (CVR).
    no_consent: set[str] = field(default_factory=set)
    no_consent_for: set[tuple[str, str]] = field(default_factory=set)
    # The same by employer (CVR -> citizens): what the columnar ranking leaves out per order.
    _no_consent_by_cvr: dict[str, set[str]] = field(default_factory=dict, repr=False)
    orders: dict[str, OrderProfile] = field(default_factory=dict)
    # rejected[order][citizen]: the card and order versions the consultants' rejections of
    # the pair hold against (None: any); it comes back only at other versions. Rejections
    # add up (one never lifts another), so any prefix of the log gives the same answer.
    rejected: dict[str, dict[str, RejectedAt]] = field(default_factory=dict)
    # emitted[order][citizen]: what the placements topic shows of the pair.
    emitted: dict[str, dict[str, Emitted]] = field(default_factory=dict)
    shortlists: dict[str, dict[str, Candidate]] = field(default_factory=dict)
    suggestions: dict[str, dict[str, Candidate]] = field(default_factory=dict)
    # Derived indexes: the orders a citizen is shortlisted for, and those they are offered to.
    listed: dict[str, dict[str, Candidate]] = field(default_factory=dict)
    offered: dict[str, frozenset[str]] = field(default_factory=dict)
    # Citizens whose shortlist places changed since the last settle.
    _touched: set[str] = field(default_factory=set, repr=False)
    # What this worker has sent about each pair and not read back yet: (event id, True for
    # a suggestion, the suggestion id). Bookkeeping of the live worker (see `sent`), not
    # part of the state.
    _in_flight: dict[tuple[str, str], tuple[uuid.UUID, bool, str]] = field(
        default_factory=dict, repr=False
    )
    # Columnar copy of the cards: ranks one order against all cards in milliseconds. Without
    # it (tests of small states), the same ranking is computed pair by pair.
    index: CardIndex | None = None
    # Open orders as columns, for one card against all of them; rebuilt when orders change.
    _order_index: OrderIndex | None = field(default=None, repr=False)
    # The day every open order without a start date was last ranked on together (their
    # eligibility is decided on today's date): a state ranked today needs no re-ranking.
    ranked_on: date | None = None
    # Resolves the version a `ModelActivated` record names (None: this state never switches
    # models, e.g. MATCHING_SCORER=rules). Injected by the composition root.
    models: ScorerFor | None = field(default=None, repr=False)
    # The version the log's last `ModelActivated` (read so far) named and this state scores
    # with; None: none read yet, the scorer it was made with.
    activated: str | None = None

    @property
    def shortlist_size(self) -> int:
        return self.k * self.depth

    # -- loading without deciding (replay) -------------------------------------------------

    def load(self, event: Event) -> None:
        """Take in an event's facts without ranking: replay calls `rebuild_rankings` after."""
        payload = event.payload
        if isinstance(payload, CompetenceCardRegistered | CompetenceCardUpdated):
            self._put_card(payload.card)
        elif isinstance(payload, CitizenAvailabilityChanged):
            self._set_available(payload.citizen_id, payload.available)
        elif isinstance(payload, ErasureRequested):
            self._forget(payload.citizen_id)
        elif isinstance(payload, JobOrderPosted | JobOrderUpdated):
            self._put_order(payload.order)
        elif isinstance(payload, JobOrderClosed):
            self.orders.pop(payload.job_order_id, None)
            self._order_index = None
        elif isinstance(payload, ConsentGiven | ConsentWithdrawn):
            self._set_consent(payload)
        elif isinstance(payload, SuggestionRejected):
            self._reject(event, payload)
        elif isinstance(payload, PlacementSuggested):
            self._note_suggested(event, payload)
        elif isinstance(payload, SuggestionRetracted):
            self._note_retracted(event, payload)
        elif isinstance(payload, ModelActivated):
            self._activate(payload.model_version)
        elif isinstance(payload, PlacementStarted | PlacementEnded):
            self._set_placed(payload)

    def rebuild_rankings(self) -> None:
        self.shortlists, self.suggestions, self.listed, self.offered = {}, {}, {}, {}
        self.ranked_on = self.today()
        for order in self.orders.values():
            self._set_shortlist(order.job_order_id, self._full_shortlist(order))
        self._settle(set(self.orders), {}, announce=False)

    def today(self) -> date:
        """The date eligibility is decided on (the card index's clock, if it has one)."""
        return self.index.today() if self.index is not None else date.today()

    def rerank_undated(self) -> int:
        """Rank again every open order without a start date, without deciding anything: the
        programme eligibility of such an order is decided on today's date
        (`services.rules.eligibility`), so its ranking taken on another day (a snapshot, a
        worker that ran past midnight) may differ from a replay today. Every other ranking
        is a function of the cards and orders alone. Returns how many were ranked again:
        none if they were all ranked today already (`ranked_on`, e.g. a snapshot taken today
        by a worker that started today)."""
        today = self.today()
        if self.ranked_on == today:
            return 0
        self.ranked_on = today
        undated = sorted(oid for oid, o in self.orders.items() if o.start_date is None)
        for oid in undated:
            self._set_shortlist(oid, self._full_shortlist(self.orders[oid]))
        if undated:
            self._settle(set(undated), {}, announce=False)
        return len(undated)

    # -- live processing ---------------------------------------------------------------------

    def apply(self, event: Event) -> list[Decision]:
        payload = event.payload
        if isinstance(payload, CompetenceCardRegistered | CompetenceCardUpdated):
            if not self._put_card(payload.card):
                return []
            return self._settle(self._card_changed(payload.citizen_id), {})
        if isinstance(payload, CitizenAvailabilityChanged):
            if not self._set_available(payload.citizen_id, payload.available):
                return []
            if payload.available:
                return self._settle(self._card_changed(payload.citizen_id), {})
            return self._card_left(payload.citizen_id, "citizen_unavailable")
        if isinstance(payload, ErasureRequested):
            decisions = self._card_left(payload.citizen_id, "erased", everywhere=True)
            self._forget(payload.citizen_id)
            return decisions
        if isinstance(payload, JobOrderPosted | JobOrderUpdated):
            if not self._put_order(payload.order):
                return []
            oid = payload.job_order_id
            self._set_shortlist(oid, self._full_shortlist(self.orders[oid]))
            return self._settle({oid}, {}, order_changed=oid)
        if isinstance(payload, ConsentGiven | ConsentWithdrawn):
            if not self._set_consent(payload):
                return []
            if isinstance(payload, ConsentGiven):
                return self._settle(self._card_changed(payload.citizen_id), {})
            return self._card_left(payload.citizen_id, "consent_withdrawn")
        if isinstance(payload, SuggestionRejected):
            oid, cid = payload.job_order_id, payload.citizen_id
            if not self._reject(event, payload):
                return []
            order = self.orders.get(oid)
            if order is None or cid not in self.shortlists.get(oid, {}):
                return []
            before = self.suggestions.get(oid, {}).get(cid)
            # What this worker sent about the pair after the rejection was written (before it
            # read it): a suggestion, which the topic shows after the rejection.
            sent = self._in_flight.get((oid, cid))
            later = sent[2] if sent is not None and sent[1] else None
            muni = order.order.municipality_code
            if self._admissible(self.cards[cid], order):
                # Rejected at other versions than the card's and order's: the pair stays
                # suggested, as a new suggestion. If the later one reused the rejected id
                # (the review side holds that id as rejected), withdraw it and suggest the
                # pair again under a new id.
                if before is None or later != payload.suggestion_id:
                    return []
                rank = 1 + sorted(self.suggestions[oid].values(), key=rank_key).index(before)
                new_id = suggestion_id(oid, cid, after=later)
                return [
                    Retract(oid, before, "rejected", later, muni),
                    Suggest(order, before, rank, new_id),
                ]
            self._set_shortlist(oid, self._full_shortlist(order))
            # The consultant has decided on this one: its place goes on without a retraction,
            # since the rejection ends the suggestion on the topic ...
            decisions = self._settle({oid}, {cid: None})
            if before is not None and later is not None:
                # ... unless this worker suggested the pair again after the rejection was
                # written (before it read it): that later suggestion must be retracted.
                decisions.append(Retract(oid, before, "rejected", later, muni))
            return decisions
        if isinstance(payload, JobOrderClosed):
            oid = payload.job_order_id
            closed = self.orders.pop(oid, None)
            if closed is None:
                return []
            self._order_index = None
            closing = sorted(self.suggestions.get(oid, {}).values(), key=rank_key)
            muni = closed.order.municipality_code
            retracted: list[Decision] = [
                Retract(oid, c, "order_closed", self._current_id(oid, c.citizen_id), muni)
                for c in closing
            ]
            self._set_shortlist(oid, {})
            self.suggestions.pop(oid, None)
            self.shortlists.pop(oid, None)
            return retracted + self._settle({oid}, {})
        if isinstance(payload, ModelActivated):
            return self._switch_model(payload.model_version)
        if isinstance(payload, PlacementStarted | PlacementEnded):
            cid = payload.citizen_id
            if not self._set_placed(payload) or cid not in self.cards:
                return []
            if isinstance(payload, PlacementStarted):
                return self._card_left(cid, "placed")
            return self._settle(self._card_changed(cid), {})
        if isinstance(payload, PlacementSuggested):
            self._note_suggested(event, payload)
        elif isinstance(payload, SuggestionRetracted):
            self._note_retracted(event, payload)
        return []

    # -- the model ---------------------------------------------------------------------------

    def _activate(self, version: str) -> bool:
        """Score with `version` from here on; True when the scorer changed. A version this
        state cannot resolve leaves the scorer as it is (the resolver logs why), as it does
        in every replay of the same log with the same registry."""
        if self.models is None:
            return False
        if version == self.scorer.model_version:
            self.activated = version
            return False
        scorer = self.models(version)
        if scorer is None or scorer.model_version != version:
            return False
        self.scorer = scorer
        self.activated = version
        self._order_index = None
        return True

    def resume_model(self) -> bool:
        """After a snapshot is loaded into a state made with the starting scorer: score with
        the version the snapshot's log had activated. False: it cannot be resolved here."""
        if self.activated is None or self.activated == self.scorer.model_version:
            return True
        return self._activate(self.activated)

    def _switch_model(self, version: str) -> list[Decision]:
        """A `ModelActivated` read live: rank every open order again with the new model (as
        a replay that read this record ranks them) and announce every suggestion anew, since
        each now carries the new model's score and version; those the new ranking drops are
        retracted as outranked."""
        before = {oid: dict(current) for oid, current in self.suggestions.items()}
        if not self._activate(version):
            return []
        self.rebuild_rankings()
        decisions: list[Decision] = []
        for oid in sorted(self.orders):
            order = self.orders[oid]
            ranked = sorted(self.suggestions.get(oid, {}).values(), key=rank_key)
            kept = {c.citizen_id for c in ranked}
            muni = order.order.municipality_code
            for cid, c in sorted(before.get(oid, {}).items()):
                if cid not in kept:
                    decisions.append(Retract(oid, c, "outranked", self._current_id(oid, cid), muni))
            decisions += [
                Suggest(order, c, rank, self.next_suggestion_id(oid, c.citizen_id))
                for rank, c in enumerate(ranked, start=1)
            ]
        return decisions

    # -- internals ---------------------------------------------------------------------------

    def _admissible(self, card: CardProfile, order: OrderProfile) -> bool:
        cid = card.citizen_id
        if cid in self.unavailable or cid in self.no_consent or cid in self.placed:
            return False
        if (cid, order.order.employer.cvr) in self.no_consent_for:
            return False
        return not self._rejected(cid, card.version, order)

    def _rejected(self, citizen_id: str, card_version: str, order: OrderProfile) -> bool:
        of_order = self.rejected.get(order.job_order_id)
        if not of_order or citizen_id not in of_order:
            return False
        at = of_order[citizen_id]
        return at is None or (card_version, order.version) in at

    def _pool(self, order: OrderProfile) -> Iterable[CardProfile]:
        return (c for c in self.cards.values() if self._admissible(c, order))

    def _full_shortlist(
        self, order: OrderProfile, without: str | None = None, reuse: bool = False
    ) -> dict[str, Candidate]:
        """The order's exact shortlist over every admissible card (`without`: leave this
        citizen out too, one who is being erased). `reuse`: the order is the one its current
        shortlist was ranked against, so a listed candidate at the same card version is
        taken as it is instead of being scored again (`candidate` is a function of the card
        and the order; not for an order without a start date, whose eligibility is decided
        on today's date)."""
        if self.index is None or not self.index.supports(self.scorer):
            pool = (c for c in self._pool(order) if c.citizen_id != without)
            ranked = top_k(order, pool, self.scorer, self.shortlist_size)
            return {c.citizen_id: c for c in ranked}
        exclude = self._excluded(order)
        if without is not None:
            exclude.add(without)
        best = self.index.top_k_order(order, self.scorer, self.shortlist_size, exclude=exclude)
        # Reasons only for the few that made the list, from the same per-pair score.
        known = (
            self.shortlists.get(order.job_order_id, {})
            if reuse and order.start_date is not None
            else {}
        )
        out = {}
        for cid, _ in best:
            card = self.cards[cid]
            cand = known.get(cid)
            if cand is None or cand.card_version != card.version:
                cand = candidate(card, order, self.scorer)
            if cand is not None:
                out[cid] = cand
        return out

    def _excluded(self, order: OrderProfile) -> set[str]:
        """Citizens the index must leave out for this order (what `_admissible` refuses)."""
        out = self.unavailable | self.no_consent | set(self.placed)
        cvr = order.order.employer.cvr
        out |= self._no_consent_by_cvr.get(cvr, set())
        out |= {
            cid
            for cid in self.rejected.get(order.job_order_id, {})
            if cid in self.cards and self._rejected(cid, self.cards[cid].version, order)
        }
        return out

    def _set_shortlist(self, oid: str, new: dict[str, Candidate]) -> None:
        old = self.shortlists.get(oid, {})
        for cid in old.keys() - new.keys():
            self.listed.get(cid, {}).pop(oid, None)
            if not self.listed.get(cid):
                self.listed.pop(cid, None)
        for cid, cand in new.items():
            self.listed.setdefault(cid, {})[oid] = cand
        self._touched |= {cid for cid in old.keys() | new.keys() if old.get(cid) != new.get(cid)}
        self.shortlists[oid] = new

    # -- what the placements topic says (each pair's events are on one partition, in order) --

    def _reject(self, event: Event, p: SuggestionRejected) -> bool:
        """Keyed by the pair, at the versions of the suggestion it rejects: independent of
        which cards and orders happen to be loaded when it is read. A rejection of an
        earlier suggestion of the pair than the topic's last (the review side decided before
        it read that the suggestion was withdrawn and the pair suggested anew) does not touch
        the later one, which is reviewed on its own: it is ignored (False)."""
        oid, cid = p.job_order_id, p.citizen_id
        seen = self.emitted.get(oid, {}).get(cid)
        if seen is not None and seen.suggestion_id != p.suggestion_id:
            return False
        of_order = self.rejected.setdefault(oid, {})
        if seen is None:
            of_order[cid] = None
        elif cid not in of_order:
            of_order[cid] = frozenset({(seen.card_version, seen.order_version)})
        elif (before := of_order[cid]) is not None:
            of_order[cid] = before | {(seen.card_version, seen.order_version)}
        if seen is not None:
            self.emitted[oid][cid] = replace(
                seen, live=False, rejected=True, last_event_id=event.event_id
            )
        return True

    def sent(self, events: Iterable[Event]) -> None:
        """The worker sent these (decisions of `apply`, or the start-up reconciliation's):
        until it reads them back they lie after whatever it reads next on their partition."""
        for event in events:
            p = event.payload
            if isinstance(p, PlacementSuggested | SuggestionRetracted):
                pair = (p.job_order_id, p.citizen_id)
                suggested = isinstance(p, PlacementSuggested)
                self._in_flight[pair] = (event.event_id, suggested, p.suggestion_id)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def _read_back(self, event: Event, pair: tuple[str, str]) -> None:
        mine = self._in_flight.get(pair)
        if mine is not None and mine[0] == event.event_id:
            del self._in_flight[pair]

    def _note_suggested(self, event: Event, p: PlacementSuggested) -> None:
        self._read_back(event, (p.job_order_id, p.citizen_id))
        of_order = self.emitted.setdefault(p.job_order_id, {})
        before = of_order.get(p.citizen_id)
        of_order[p.citizen_id] = Emitted(
            live=True,
            suggestion_id=p.suggestion_id,
            # The same id again after a rejection of it: still rejected on the review side.
            rejected=(
                before is not None and before.rejected and before.suggestion_id == p.suggestion_id
            ),
            card_version=p.card_version,
            order_version=p.order_version,
            score=p.score,
            model_version=p.model_version,
            municipality_code=event.municipality_code,
            correlation_id=event.correlation_id,
            occurred_at=event.occurred_at,
            last_event_id=event.event_id,
        )

    def _note_retracted(self, event: Event, p: SuggestionRetracted) -> None:
        oid, cid = p.job_order_id, p.citizen_id
        self._read_back(event, (oid, cid))
        of_order = self.emitted.get(oid)
        if of_order is None or cid not in of_order:
            return
        if p.reason != "order_closed" and of_order[cid].suggestion_id != p.suggestion_id:
            # Of an earlier suggestion of the pair, not of the one the topic shows last.
            return
        if p.reason == "order_closed":
            # The order is gone: forget the pair and the order's other finished pairs (its
            # live ones wait for their own retraction). Only the placements partition decides
            # this, so replays forget alike.
            del of_order[cid]
            for other in [c for c, e in of_order.items() if not e.live]:
                del of_order[other]
            if not of_order:
                del self.emitted[oid]
            return
        of_order[cid] = replace(of_order[cid], live=False, last_event_id=event.event_id)

    def _set_consent(self, payload: ConsentGiven | ConsentWithdrawn) -> bool:
        """Record a consent change; True when it can change what is suggested."""
        cid = payload.citizen_id
        given = isinstance(payload, ConsentGiven)
        if payload.scope == "employer" and payload.employer_cvr:
            pair = (cid, payload.employer_cvr)
            by_cvr = self._no_consent_by_cvr
            if given:
                self.no_consent_for.discard(pair)
                if cid in by_cvr.get(payload.employer_cvr, ()):
                    by_cvr[payload.employer_cvr].discard(cid)
                    if not by_cvr[payload.employer_cvr]:
                        del by_cvr[payload.employer_cvr]
            else:
                self.no_consent_for.add(pair)
                by_cvr.setdefault(payload.employer_cvr, set()).add(cid)
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
        if self.index is not None:
            self.index.upsert(profile)
        return True

    def _forget(self, citizen_id: str) -> None:
        self.cards.pop(citizen_id, None)
        self.unavailable.discard(citizen_id)
        if self.index is not None:
            self.index.remove(citizen_id)

    def _put_order(self, order: JobOrder) -> bool:
        profile = order_profile(order, self.linker)
        old = self.orders.get(order.job_order_id)
        if old is not None and old.version == profile.version:
            return False
        self.orders[order.job_order_id] = profile
        self._order_index = None
        return True

    def _set_placed(self, payload: PlacementStarted | PlacementEnded) -> bool:
        """Record a placement's start or end; True when the citizen's being placed changed
        (her first placement started, or her last one ended)."""
        cid, pid = payload.citizen_id, payload.placement_id
        was = cid in self.placed
        if isinstance(payload, PlacementStarted):
            self.placed.setdefault(cid, set()).add(pid)
        elif pid in self.placed.get(cid, ()):
            self.placed[cid].discard(pid)
            if not self.placed[cid]:
                del self.placed[cid]
        return was != (cid in self.placed)

    def _set_available(self, citizen_id: str, available: bool) -> bool:
        was = citizen_id not in self.unavailable
        if available:
            self.unavailable.discard(citizen_id)
        else:
            self.unavailable.add(citizen_id)
        return was != available and citizen_id in self.cards

    def _quick_scores(self, card: CardProfile) -> dict[str, float] | None:
        """The card's score for every order it passes the hard filters of, in one vectorised
        pass (learned score with an index only); used to skip orders it cannot enter."""
        columns = column_scorer(self.scorer)
        if self.index is None or columns is None or not columns.scores_cards:
            return None
        if self._order_index is None:
            self._order_index = OrderIndex(list(self.orders.values()), self.index.skills_of)
        positions, raw = columns.card_scores(self._order_index, card)
        orders = self._order_index.orders
        return {
            orders[int(p)].job_order_id: float(s)
            for p, s in zip(positions, columns.final(raw), strict=True)
        }

    def _card_changed(self, citizen_id: str) -> set[str]:
        """Update every shortlist for a new or changed card; the orders whose list changed."""
        card = self.cards[citizen_id]
        changed: set[str] = set()
        quick = self._quick_scores(card)
        for oid, order in self.orders.items():
            current = self.shortlists.get(oid, {})
            prev = current.get(citizen_id)
            if quick is not None and prev is None:
                # Not on the list and cannot enter it: nothing to do for this order.
                score = quick.get(oid)
                if score is None or score < self.scorer.min_score:
                    continue
                if len(current) >= self.shortlist_size and score < min(
                    c.scored.score for c in current.values()
                ):
                    continue
            new_c = candidate(card, order, self.scorer) if self._admissible(card, order) else None
            if prev is not None and (new_c is None or rank_key(new_c) > rank_key(prev)):
                # A shortlisted citizen fell back: someone outside the list may now belong.
                new = self._full_shortlist(order)
            else:
                pool = [c for c in current.values() if c.citizen_id != citizen_id]
                pool += [new_c] if new_c is not None else []
                new = {c.citizen_id: c for c in sorted(pool, key=rank_key)[: self.shortlist_size]}
            if new != current:
                self._set_shortlist(oid, new)
                changed.add(oid)
        return changed

    def _card_left(
        self, citizen_id: str, reason: RetractionReason, everywhere: bool = False
    ) -> list[Decision]:
        """Take the citizen off the lists they may no longer be on (`everywhere`: erased)."""
        card = self.cards.get(citizen_id)
        changed: set[str] = set()
        for oid in sorted(self.listed.get(citizen_id, {})):
            order = self.orders[oid]
            if not everywhere and card is not None and self._admissible(card, order):
                continue
            # The columnar ranking, as the replay ranks (pair by pair, this was most of the
            # worker's time: a second per order at a few thousand cards).
            self._set_shortlist(oid, self._full_shortlist(order, without=citizen_id, reuse=True))
            changed.add(oid)
        return self._settle(changed, {citizen_id: reason})

    def _offers(self, citizen_id: str) -> frozenset[str]:
        """The orders the citizen is offered to: their best `capacity` shortlist places,
        ranked on both sides alike (the citizen's fit and the employer's score)."""
        places = self.listed.get(citizen_id, {})
        best = sorted(places.items(), key=lambda item: (-item[1].scored.reciprocal, item[0]))
        return frozenset(oid for oid, _ in best[: self.capacity])

    def _settle(
        self,
        changed: set[str],
        reasons: dict[str, RetractionReason | None],
        order_changed: str | None = None,
        announce: bool = True,
    ) -> list[Decision]:
        """Recompute the suggestions the changed shortlists can affect, and their diff."""
        citizens = self._touched | set(reasons)
        citizens |= {cid for oid in changed for cid in self.suggestions.get(oid, {})}
        self._touched = set()
        orders = {oid for oid in changed if oid in self.orders}
        for cid in citizens:
            before = self.offered.get(cid, frozenset())
            after = self._offers(cid)
            if after:
                self.offered[cid] = after
            else:
                self.offered.pop(cid, None)
            orders |= {oid for oid in before ^ after if oid in self.orders}
        decisions: list[Decision] = []
        for oid in sorted(orders):
            order = self.orders[oid]
            offered = [
                c
                for cid, c in self.shortlists.get(oid, {}).items()
                if oid in self.offered.get(cid, frozenset())
            ]
            ranked = sorted(offered, key=rank_key)[: self.k]
            old = self.suggestions.get(oid, {})
            self.suggestions[oid] = {c.citizen_id: c for c in ranked}
            if not announce:
                continue
            decisions += [
                Suggest(order, c, rank, self.next_suggestion_id(oid, c.citizen_id))
                for rank, c in enumerate(ranked, start=1)
                if oid == order_changed or old.get(c.citizen_id) != c
            ]
            kept = self.suggestions[oid]
            muni = order.order.municipality_code
            for cid, c in sorted(old.items()):
                if cid in kept:
                    continue
                reason = reasons.get(cid, "outranked")
                if reason is not None:
                    sid = self._current_id(oid, cid)
                    decisions.append(Retract(oid, c, reason, sid, muni))
        return decisions

    # -- suggestion ids ----------------------------------------------------------------------

    def _last_word(self, oid: str, cid: str, in_flight: bool = True) -> tuple[str, bool] | None:
        """The id of the pair's last suggestion and whether it stands (live and reviewable),
        as the topic shows it once this worker's sends are read back (`in_flight`: counting
        them); None: the topic shows no suggestion of the pair."""
        if in_flight and (sent := self._in_flight.get((oid, cid))) is not None:
            return sent[2], sent[1]
        seen = self.emitted.get(oid, {}).get(cid)
        return None if seen is None else (seen.suggestion_id, seen.standing)

    def next_suggestion_id(self, oid: str, cid: str, in_flight: bool = True) -> str:
        """The id under which to suggest the pair: its standing suggestion's (re-scoring
        updates it), else a new one chained from the last that ended (see `suggestion_id`)."""
        last = self._last_word(oid, cid, in_flight)
        if last is None:
            return suggestion_id(oid, cid)
        sid, standing = last
        return sid if standing else suggestion_id(oid, cid, after=sid)

    def _current_id(self, oid: str, cid: str) -> str:
        """The id of the pair's last suggestion: what a retraction withdraws."""
        last = self._last_word(oid, cid)
        return suggestion_id(oid, cid) if last is None else last[0]

    # -- the placements topic against the state ---------------------------------------------

    def held(self) -> dict[str, list[Candidate]]:
        """The suggestions of each open order, best first."""
        return {
            oid: sorted(current.values(), key=rank_key)
            for oid, current in sorted(self.suggestions.items())
            if oid in self.orders and current
        }

    def reconcile(self) -> Reconciliation:
        """What to emit so that the placements topic shows exactly what the state holds:
        retract the live suggestions it does not hold, suggest (again) those it holds that
        the topic does not show as live or shows with other content, adopt the rest."""
        model = self.scorer.model_version
        held = self.held()
        retract: list[Orphan] = []
        announce: list[Unannounced] = []
        adopted = 0
        for oid, of_order in sorted(self.emitted.items()):
            kept = self.suggestions.get(oid, {}) if oid in self.orders else {}
            for cid, entry in sorted(of_order.items()):
                if entry.live and cid not in kept:
                    retract.append(Orphan(oid, cid, entry, self.why_not_held(oid, cid)))
                elif entry.live and entry.rejected:
                    # Held, but live under an id a consultant rejected: withdrawn, and
                    # suggested anew below under a new id.
                    retract.append(Orphan(oid, cid, entry, "rejected"))
        for oid, ranked in held.items():
            order = self.orders[oid]
            of_order = self.emitted.get(oid, {})
            for rank, c in enumerate(ranked, start=1):
                seen = of_order.get(c.citizen_id)
                if seen is not None and seen.same_as(order, c, model):
                    adopted += 1
                else:
                    sid = self.next_suggestion_id(oid, c.citizen_id, in_flight=False)
                    announce.append(Unannounced(Suggest(order, c, rank, sid), seen))
        return Reconciliation(retract, announce, adopted)

    def why_not_held(self, job_order_id: str, citizen_id: str) -> RetractionReason:
        """The retraction reason for a pair the state does not hold: what the log says of
        the pair where it says it (the order closed, the citizen erased, unavailable or
        without consent, the pair rejected, the card no longer passing the order's filters),
        else `not_held_on_restart`: the state rebuilt from the log does not hold it (a
        ranking the previous worker did not get to announce in full before it stopped).
        Only the start-up reconciliation gives that reason."""
        order = self.orders.get(job_order_id)
        if order is None:
            return "order_closed"
        card = self.cards.get(citizen_id)
        if card is None:
            # A card leaves the state only when the citizen's data is erased.
            return "erased"
        if citizen_id in self.placed:
            return "placed"
        if citizen_id in self.unavailable:
            return "citizen_unavailable"
        if citizen_id in self.no_consent or (
            (citizen_id, order.order.employer.cvr) in self.no_consent_for
        ):
            return "consent_withdrawn"
        if self._rejected(citizen_id, card.version, order):
            return "rejected"
        if candidate(card, order, self.scorer) is None:
            return "no_longer_eligible"
        return "not_held_on_restart"

    def divergence(self) -> dict[str, list[str]]:
        """Pairs where the topic (as read so far) and the state disagree: orphans (live on
        the topic, not held), missing (held, not live) and stale (live with other content).
        Empty once the worker has read its own output; `order|citizen` strings."""
        rec = self.reconcile()
        missing = [u for u in rec.announce if u.emitted is None or not u.emitted.live]
        stale = [u for u in rec.announce if u.emitted is not None and u.emitted.live]

        def pair(u: Unannounced) -> str:
            return f"{u.suggest.order.job_order_id}|{u.suggest.candidate.citizen_id}"

        return {
            "orphans": [f"{o.job_order_id}|{o.citizen_id}" for o in rec.retract],
            "missing": [pair(u) for u in missing],
            "stale": [pair(u) for u in stale],
        }

    # -- observation -------------------------------------------------------------------------

    def best_orders(self, citizen_id: str, k: int = 20) -> list[tuple[OrderProfile, Candidate]]:
        """The citizen's side: their top-k open orders among those they may be suggested to."""
        card = self.cards.get(citizen_id)
        if card is None:
            return []
        found = []
        for order in self.orders.values():
            if self._admissible(card, order):
                cand = candidate(card, order, self.scorer)
                if cand is not None:
                    found.append((order, cand))
        found.sort(key=lambda pair: (-pair[1].scored.score, pair[0].job_order_id))
        return found[:k]

    def snapshot(self) -> dict[str, object]:
        """A canonical view of the state, for comparing a restarted worker with a replay."""

        def listing(lists: dict[str, dict[str, Candidate]]) -> dict[str, list[list[object]]]:
            return {
                oid: [
                    [c.citizen_id, c.card_version, c.scored.score]
                    for c in sorted(current.values(), key=rank_key)
                ]
                for oid, current in sorted(lists.items())
                if oid in self.orders
            }

        return {
            "model_version": self.scorer.model_version,
            "k": self.k,
            "capacity": self.capacity,
            "cards": {cid: p.version for cid, p in sorted(self.cards.items())},
            "unavailable": sorted(self.unavailable),
            "placed": {cid: sorted(pids) for cid, pids in sorted(self.placed.items())},
            "no_consent": sorted(self.no_consent),
            "no_consent_for": sorted(self.no_consent_for),
            "rejected": sorted(
                f"{o}|{c}|{versions[0]}|{versions[1]}"
                for o, of_order in self.rejected.items()
                for c, at in of_order.items()
                for versions in (sorted(at) if at is not None else [("*", "*")])
            ),
            "emitted": {
                oid: [
                    [
                        cid,
                        e.live,
                        e.card_version,
                        e.order_version,
                        e.score,
                        e.model_version,
                        e.suggestion_id,
                        e.rejected,
                    ]
                    for cid, e in sorted(of_order.items())
                ]
                for oid, of_order in sorted(self.emitted.items())
            },
            "orders": {oid: p.version for oid, p in sorted(self.orders.items())},
            "shortlists": listing(self.shortlists),
            "suggestions": listing(self.suggestions),
        }

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.snapshot(), sort_keys=True).encode()).hexdigest()
