"""The matching state: exact top-k whatever the arrival order, retractions when things leave."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime
from typing import Any

from schemas.citizens import (
    CitizenAvailabilityChanged,
    CompetenceCard,
    CompetenceCardRegistered,
    CompetenceCardUpdated,
    ConsentGiven,
    ConsentWithdrawn,
    ErasureRequested,
)
from schemas.envelope import Actor, Event, EventPayload
from schemas.jobs import JobOrder, JobOrderClosed, JobOrderPosted
from schemas.placements import SuggestionRejected
from services.matching.decisions import to_event
from services.matching.domain.scoring import RuleScorer
from services.matching.domain.state import (
    Decision,
    MatchingState,
    Retract,
    Suggest,
    suggestion_id,
)
from services.matching.linking import TaxonomyLinker, distance_km

ACTOR = Actor(role="consultant", id="t")
T0 = datetime(2026, 11, 24, 9, tzinfo=UTC)


def ev(payload: EventPayload) -> Event:
    return Event.new(payload, actor=ACTOR, occurred_at=T0)


def card_ev(doc: dict[str, Any], version: int = 1) -> Event:
    card = CompetenceCard.model_validate(doc)
    if version == 1:
        return ev(CompetenceCardRegistered(citizen_id=card.citizen_id, version=1, card=card))
    return ev(CompetenceCardUpdated(citizen_id=card.citizen_id, version=version, card=card))


def order_ev(doc: dict[str, Any]) -> Event:
    order = JobOrder.model_validate(doc)
    return ev(JobOrderPosted(job_order_id=order.job_order_id, version=1, order=order))


def variants(base: dict[str, Any], n: int, prefix: str = "v") -> list[dict[str, Any]]:
    postals = ["8000", "8200", "8210", "8220", "8230", "8240", "8250", "8260", "8270", "8300"]
    out = []
    for i in range(n):
        doc = copy.deepcopy(base)
        doc["citizen_id"] = f"cit-{prefix}{i:03d}"
        doc["location"]["postal_code"] = postals[i % len(postals)]
        doc["availability"]["hours_per_week"] = 20 + i % 18
        out.append(doc)
    return out


def test_state_is_the_same_whatever_the_interleaving(
    linker: TaxonomyLinker, amina: Any, yonas: Any, lager: Any, kantine: Any
) -> None:
    events = [card_ev(d) for d in variants(amina, 8, "a") + variants(yonas, 6, "y")]
    events += [order_ev(lager), order_ev(kantine)]
    digests = set()
    for seed in range(4):
        shuffled = events[:]
        random.Random(seed).shuffle(shuffled)
        state = MatchingState(linker, RuleScorer(distance_km), k=5)
        for e in shuffled:
            state.apply(e)
        digests.add(state.digest())
        assert len(state.suggestions["jo-4410-aarhus-lager"]) == 5
    replayed = MatchingState(linker, RuleScorer(distance_km), k=5)
    for e in events:
        replayed.load(e)
    replayed.rebuild_rankings()
    digests.add(replayed.digest())
    assert len(digests) == 1


def test_decisions_follow_the_examples(
    linker: TaxonomyLinker, amina: Any, yonas: Any, fatima: Any, lager: Any, kantine: Any
) -> None:
    state = MatchingState(linker, RuleScorer(distance_km))
    decisions = []
    for e in (card_ev(amina), card_ev(yonas), card_ev(fatima), order_ev(lager), order_ev(kantine)):
        decisions += state.apply(e)
    suggested = {
        (d.order.job_order_id, d.candidate.citizen_id) for d in decisions if isinstance(d, Suggest)
    }
    assert suggested == {
        ("jo-4410-aarhus-lager", "cit-7f3a9c2e"),
        ("jo-4411-aarhus-kantine", "cit-2b8e41d0"),
    }
    # Applying the same card again changes nothing and decides nothing.
    assert state.apply(card_ev(amina, version=2)) == []


def test_leaving_citizens_and_closing_orders_retract(
    linker: TaxonomyLinker, amina: Any, lager: Any
) -> None:
    state = MatchingState(linker, RuleScorer(distance_km), k=2)
    cards = variants(amina, 3)
    for doc in cards:
        state.apply(card_ev(doc))
    state.apply(order_ev(lager))
    top = [
        c.citizen_id
        for c in sorted(
            state.suggestions["jo-4410-aarhus-lager"].values(), key=lambda c: -c.scored.score
        )
    ]
    leaving = top[0]
    (outside,) = {d["citizen_id"] for d in cards} - set(top)

    decisions = state.apply(ev(CitizenAvailabilityChanged(citizen_id=leaving, available=False)))
    retracted = [d for d in decisions if isinstance(d, Retract)]
    assert [(d.candidate.citizen_id, d.reason) for d in retracted] == [
        (leaving, "citizen_unavailable")
    ]
    # The order's municipality, though the cause was a citizen event.
    assert [d.municipality_code for d in retracted] == [lager["municipality_code"]]
    # The next best citizen moves up into the freed place.
    assert [d.candidate.citizen_id for d in decisions if isinstance(d, Suggest)] == [outside]

    decisions = state.apply(ev(ErasureRequested(citizen_id=top[1])))
    assert any(isinstance(d, Retract) and d.reason == "erased" for d in decisions)
    assert top[1] not in state.cards

    decisions = state.apply(
        ev(JobOrderClosed(job_order_id="jo-4410-aarhus-lager", reason="withdrawn"))
    )
    assert decisions and all(
        isinstance(d, Retract)
        and d.reason == "order_closed"
        and d.municipality_code == lager["municipality_code"]
        for d in decisions
    )
    assert "jo-4410-aarhus-lager" not in state.orders


def test_a_worse_card_gives_its_place_to_the_next_best(
    linker: TaxonomyLinker, amina: Any, lager: Any
) -> None:
    state = MatchingState(linker, RuleScorer(distance_km), k=1)
    first, second = variants(amina, 2)
    second["location"]["postal_code"] = "8000"
    first["location"]["postal_code"] = "8200"
    state.apply(card_ev(first))
    state.apply(card_ev(second))
    state.apply(order_ev(lager))
    (leader,) = state.suggestions["jo-4410-aarhus-lager"]
    doc = first if leader == first["citizen_id"] else second
    worse = copy.deepcopy(doc)
    worse["certificates"] = []
    decisions = state.apply(card_ev(worse, version=2))
    kinds = sorted((type(d).__name__, d.candidate.citizen_id) for d in decisions)
    other = second["citizen_id"] if doc is first else first["citizen_id"]
    assert kinds == [("Retract", leader), ("Suggest", other)]


def with_output(state: MatchingState, event: Event) -> list[Decision]:
    """Apply, then read back what the worker emitted (as it does from the placements topic)."""
    decisions = state.apply(event)
    for out in [to_event(d, event, state.scorer.model_version) for d in decisions]:
        state.apply(out)
    return decisions


def test_rejected_pair_returns_only_after_a_material_change(
    linker: TaxonomyLinker, amina: Any, lager: Any
) -> None:
    state = MatchingState(linker, RuleScorer(distance_km), k=1)
    first, second = variants(amina, 2, "r")
    with_output(state, card_ev(first))
    with_output(state, card_ev(second))
    with_output(state, order_ev(lager))
    (top,) = state.suggestions["jo-4410-aarhus-lager"]
    other = second["citizen_id"] if top == first["citizen_id"] else first["citizen_id"]
    rejected = SuggestionRejected(
        job_order_id="jo-4410-aarhus-lager",
        citizen_id=top,
        suggestion_id=suggestion_id("jo-4410-aarhus-lager", top),
        reason_code="transport",
    )
    decisions = state.apply(ev(rejected))
    assert [(type(d).__name__, d.candidate.citizen_id) for d in decisions] == [("Suggest", other)]
    # The same card again (no change) does not bring the rejected pair back ...
    doc = first if top == first["citizen_id"] else second
    assert state.apply(card_ev(doc, version=2)) == []
    assert set(state.suggestions["jo-4410-aarhus-lager"]) == {other}
    # ... a material change of the card does.
    changed = copy.deepcopy(doc)
    changed["location"]["postal_code"] = "8200"
    changed["availability"]["hours_per_week"] = 37
    state.apply(card_ev(changed, version=3))
    assert set(state.suggestions["jo-4410-aarhus-lager"]) == {top}


def test_withdrawn_consent_retracts_and_given_consent_restores(
    linker: TaxonomyLinker, amina: Any, lager: Any, kantine: Any
) -> None:
    state = MatchingState(linker, RuleScorer(distance_km))
    state.apply(card_ev(amina))
    state.apply(order_ev(lager))
    cid = "cit-7f3a9c2e"
    withdrawn = ConsentWithdrawn(
        citizen_id=cid, consent_id="c1", scope="employer", employer_cvr="12345607"
    )
    decisions = state.apply(ev(withdrawn))
    assert [(type(d).__name__, getattr(d, "reason", None)) for d in decisions] == [
        ("Retract", "consent_withdrawn")
    ]
    assert state.suggestions["jo-4410-aarhus-lager"] == {}
    given = ConsentGiven(citizen_id=cid, consent_id="c2", scope="employer", employer_cvr="12345607")
    decisions = state.apply(ev(given))
    assert [type(d).__name__ for d in decisions] == ["Suggest"]
    everyone = ConsentWithdrawn(citizen_id=cid, consent_id="c3", scope="all")
    assert any(isinstance(d, Retract) for d in state.apply(ev(everyone)))
    assert cid in state.snapshot()["no_consent"]  # type: ignore[operator]


def test_a_citizen_is_offered_to_at_most_capacity_orders(
    linker: TaxonomyLinker, amina: Any, lager: Any
) -> None:
    state = MatchingState(linker, RuleScorer(distance_km), k=3, capacity=2)
    state.apply(card_ev(amina))
    postals = ["8200", "8000", "8210", "8270"]
    for i, postal in enumerate(postals):
        order = copy.deepcopy(lager)
        order["job_order_id"] = f"jo-cap-{i}"
        order["worksite"]["postal_code"] = postal
        state.apply(order_ev(order))
    where = sorted(o for o, current in state.suggestions.items() if "cit-7f3a9c2e" in current)
    assert len(where) == 2, where
    # The citizen's best places, both sides weighed alike.
    scores = {o: state.shortlists[o]["cit-7f3a9c2e"].scored.reciprocal for o in state.shortlists}
    best_two = sorted(scores, key=lambda o: (-scores[o], o))[:2]
    assert where == sorted(best_two)
    # When one of those orders closes, the next best place takes its turn.
    decisions = state.apply(ev(JobOrderClosed(job_order_id=best_two[0], reason="withdrawn")))
    kinds = sorted((type(d).__name__, d.candidate.citizen_id) for d in decisions)
    assert kinds == [("Retract", "cit-7f3a9c2e"), ("Suggest", "cit-7f3a9c2e")]
    assert sum("cit-7f3a9c2e" in current for current in state.suggestions.values()) == 2
    replayed = MatchingState(linker, RuleScorer(distance_km), k=3, capacity=2)
    replayed.cards, replayed.orders = dict(state.cards), dict(state.orders)
    replayed.rebuild_rankings()
    assert replayed.digest() == state.digest()


def test_the_columnar_index_ranks_exactly_as_the_pair_loop(
    linker: TaxonomyLinker, amina: Any, yonas: Any, fatima: Any, lager: Any, kantine: Any
) -> None:
    from services.matching.domain.vectorized import CardIndex
    from services.matching.linking import skills_of

    cards = variants(amina, 12, "a") + variants(yonas, 8, "y") + variants(fatima, 5, "f")
    orders = [copy.deepcopy(lager), copy.deepcopy(kantine)]
    extra = copy.deepcopy(lager)
    extra["job_order_id"], extra["worksite"]["postal_code"] = "jo-extra", "8000"
    orders.append(extra)
    events = [card_ev(d) for d in cards] + [order_ev(o) for o in orders]
    events.append(ev(CitizenAvailabilityChanged(citizen_id="cit-a003", available=False)))
    events.append(ev(ConsentWithdrawn(citizen_id="cit-a004", consent_id="x", scope="all")))
    events.append(
        ev(
            SuggestionRejected(
                job_order_id="jo-4410-aarhus-lager",
                citizen_id="cit-a001",
                suggestion_id=suggestion_id("jo-4410-aarhus-lager", "cit-a001"),
                reason_code="transport",
            )
        )
    )
    plain = MatchingState(linker, RuleScorer(distance_km), k=3, capacity=2)
    indexed = MatchingState(
        linker, RuleScorer(distance_km), k=3, capacity=2, index=CardIndex(skills_of)
    )
    for e in events:
        assert plain.apply(e) == indexed.apply(e)
    assert plain.digest() == indexed.digest()
    assert any(state for state in indexed.suggestions.values())


def test_the_citizens_wishes_decide_where_they_are_offered(
    linker: TaxonomyLinker, yonas: Any, kantine: Any
) -> None:
    """Two equal kitchen orders; the citizen wishes for one occupation only."""
    state = MatchingState(linker, RuleScorer(distance_km), k=3, capacity=1)
    wished = copy.deepcopy(kantine)
    wished["job_order_id"] = "jo-wished"
    other = copy.deepcopy(kantine)
    other["job_order_id"], other["title"] = "jo-other", "Opvasker"
    yonas["job_wishes"] = [{"title": "køkkenmedhjælper"}]
    state.apply(card_ev(yonas))
    state.apply(order_ev(wished))
    state.apply(order_ev(other))
    where = [o for o, current in state.suggestions.items() if "cit-2b8e41d0" in current]
    assert where == ["jo-wished"]
    fit = {o: state.shortlists[o]["cit-2b8e41d0"].scored.citizen_fit for o in state.shortlists}
    assert fit["jo-wished"] > fit["jo-other"]


def test_the_learned_score_with_both_indexes_decides_as_the_pair_loop(
    linker: TaxonomyLinker, amina: Any, yonas: Any, fatima: Any, lager: Any, kantine: Any
) -> None:
    from services.matching.domain.learned import LearnedScorer
    from services.matching.domain.vectorized import CardIndex
    from services.matching.linking import skills_of
    from services.matching.model.registry import SHIPPED, Registry

    entry = Registry(SHIPPED).newest_approved()
    assert entry is not None
    scorer = LearnedScorer(entry.model(), skills_of, distance_km)
    orders = []
    for i, postal in enumerate(["8000", "8200", "8210", "8300", "8600"]):
        for base in (lager, kantine):
            doc = copy.deepcopy(base)
            doc["job_order_id"] = f"{base['job_order_id']}-{i}"
            doc["worksite"]["postal_code"] = postal
            orders.append(doc)
    cards = variants(amina, 10, "a") + variants(yonas, 10, "y") + variants(fatima, 4, "f")
    # Orders first, so every card arrives against many orders (the one-card path).
    events = [order_ev(o) for o in orders] + [card_ev(d) for d in cards]
    events.append(ev(JobOrderClosed(job_order_id="jo-4410-aarhus-lager-1", reason="withdrawn")))
    events += [card_ev({**d, "notes": "opdateret"}, version=2) for d in cards[:6]]
    plain = MatchingState(linker, scorer, k=2, capacity=2)
    indexed = MatchingState(linker, scorer, k=2, capacity=2, index=CardIndex(skills_of))
    for e in events:
        assert plain.apply(e) == indexed.apply(e)
    assert plain.digest() == indexed.digest()
    assert sum(len(s) for s in indexed.suggestions.values()) > 5
