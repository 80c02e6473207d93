"""The columnar index scores exactly like the per-pair code, for every card and order."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from schemas.citizens import (
    CompetenceCard,
    DanishLevel,
    Experience,
    JobWish,
    ProgrammeStatus,
    SkillClaim,
)
from schemas.jobs import JobOrder, RequiredSkill
from services.demo.synthetic import generate
from services.matching.domain.features import CardProfile, OrderProfile, card_profile, order_profile
from services.matching.domain.learned import LearnedScorer
from services.matching.domain.pair_features import FEATURES, pair_facts
from services.matching.domain.ranking import top_k
from services.matching.domain.scoring import RuleScorer, Scored
from services.matching.domain.vectorized import CardIndex, OrderIndex
from services.matching.linking import TaxonomyLinker, distance_km, skills_of
from services.matching.model.linear import LinearModel

EXAMPLES = Path(__file__).resolve().parents[3] / "services" / "demo" / "examples"
POSTALS = ["8000", "8200", "2610", "9881", "5000", "6700", "1050", "0999", "3700", "8600"]
CEFR = [None, "A1", "A2", "B1", "B2", "C1"]
LABELS = [
    "truckkørsel",
    "pakning af varer",
    "rengøring",
    "opvask",
    "opvaskemaskine",
    "græsslåning",
    "kundeservice",
    "madlavning",
    "lagerstyring",
    "varemodtagelse",
]
CERTS = ["truckcertifikat", "hygiejnebevis", "førstehjælp"]
BASIS = [None, "refugee", "family_reunified", "eu", "work", "other"]
TARGETS = ["integration", "cash_benefit", "unemployment_benefit", "youth", "other"]


def _model() -> LinearModel:
    n = len(FEATURES)
    coef = np.linspace(-1.2, 1.5, n)
    return LinearModel("test-logistic", FEATURES, np.full(n, 0.4), np.full(n, 0.3), coef, -0.2)


def _vary(card: CompetenceCard, i: int, rng: np.random.Generator) -> CompetenceCard:
    """A different but plausible citizen built from `card`."""
    pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
    skills = list(card.skills)
    for _ in range(int(rng.integers(0, 3))):
        skills.append(SkillClaim(label=pick(LABELS)))
    exp = list(card.experience)
    if rng.random() < 0.4:
        exp.append(
            Experience(
                title=pick(["kok", "lagerarbejder", "rengøringsassistent"]),
                years=float(rng.integers(0, 8)) / 2,
            )
        )
    if rng.random() < 0.2:
        exp = []
    birth = None if rng.random() < 0.1 else int(rng.integers(1960, 2008))
    arrival = (
        None
        if rng.random() < 0.1
        else dt.date(int(rng.integers(max(birth or 1990, 1990), 2026)), 3, 1)
    )
    available = (
        None
        if rng.random() < 0.3
        else dt.date(2025, 1, 1) + dt.timedelta(days=int(rng.integers(0, 900)))
    )
    return card.model_copy(
        update={
            "citizen_id": f"{card.citizen_id}-v{i:04d}",
            "programme": ProgrammeStatus(
                target_group=pick(TARGETS),
                residence_basis=pick(BASIS),
                arrival_date=arrival,
                birth_year=birth,
            ),
            "danish": DanishLevel(cefr=pick(CEFR)),
            "skills": skills,
            "experience": exp,
            "certificates": [c for c in CERTS if rng.random() < 0.3],
            "driving_licences": ["B"] if rng.random() < 0.5 else [],
            "availability": card.availability.model_copy(
                update={
                    "hours_per_week": float(pick([10, 20, 25, 30, 37])),
                    "available_from": available,
                }
            ),
            "location": card.location.model_copy(
                update={
                    "postal_code": pick(POSTALS),
                    "max_commute_km": float(pick([0, 10, 25, 30, 60])),
                }
            ),
            "job_wishes": [JobWish(title=pick(["kok", "lagermedarbejder", "gartner"]))]
            if rng.random() < 0.5
            else card.job_wishes,
        }
    )


def _vary_order(order: JobOrder, i: int, rng: np.random.Generator) -> JobOrder:
    programmes = ["IGU", "IO-stilling", "jobpakke", "ordinary", "løntilskud"]
    skills = [
        RequiredSkill(label=LABELS[int(j)], must=bool(rng.random() < 0.4))
        for j in rng.choice(len(LABELS), size=int(rng.integers(0, 3)), replace=False)
    ]
    start = (
        None if i % 4 == 0 else dt.date(2025, 3, 1) + dt.timedelta(days=int(rng.integers(0, 1400)))
    )
    return order.model_copy(
        update={
            "job_order_id": f"{order.job_order_id}-v{i}",
            "programme": programmes[i % len(programmes)],
            "start_date": start,
            "mentor_available": bool(i % 2),
            "hours_per_week": float([37, 20, 30][i % 3]),
            "requirements": order.requirements.model_copy(
                update={
                    "skills": list(order.requirements.skills) + skills,
                    "danish_min_cefr": CEFR[i % 4],
                    "certificates": ["truckcertifikat"] if i % 5 == 1 else [],
                    "driving_licences": ["B"] if i % 7 == 2 else [],
                }
            ),
            "worksite": order.worksite.model_copy(
                update={"postal_code": POSTALS[i % len(POSTALS)]}
            ),
        }
    )


def base_pool(seed: int) -> tuple[list[CompetenceCard], list[JobOrder]]:
    """A synthetic history's cards and orders plus the contract examples."""
    history = generate(60, 12, seed=seed, start=dt.date(2025, 1, 1), months=3)
    examples = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))]
    cards = history.cards + [
        CompetenceCard.model_validate(d) for d in examples if "citizen_id" in d
    ]
    orders = history.orders + [JobOrder.model_validate(d) for d in examples if "job_order_id" in d]
    return cards, orders


@pytest.fixture(scope="module")
def data(linker: TaxonomyLinker) -> tuple[list[CardProfile], list[OrderProfile]]:
    base_cards, base_orders = base_pool(3)
    rng = np.random.default_rng(7)
    cards = list(base_cards)
    cards += [_vary(base_cards[i % len(base_cards)], i, rng) for i in range(240)]
    orders = list(base_orders)
    orders += [_vary_order(base_orders[i % len(base_orders)], i, rng) for i in range(16)]
    return [card_profile(c, linker) for c in cards], [order_profile(o, linker) for o in orders]


def _learned() -> LearnedScorer:
    return LearnedScorer(_model(), skills_of, distance_km)


def _check_order(index: CardIndex, cards: list[CardProfile], order: OrderProfile) -> int:
    learned, rules = _learned(), RuleScorer(distance_km)
    rows, scores = index.score_order(order, learned)
    _, raw = index.score_order_raw(order, learned)
    got = {index.id_of[int(r)]: (s, p) for r, s, p in zip(rows, scores, raw, strict=True)}
    rule_rows, rule_scores = index.score_order(order, rules)
    got_rules = {index.id_of[int(r)]: s for r, s in zip(rule_rows, rule_scores, strict=True)}
    admitted = 0
    for card in cards:
        ref = learned(card, order)
        ref_rule = rules(card, order)
        assert isinstance(ref_rule, Scored) == isinstance(ref, Scored)
        if not isinstance(ref, Scored):
            assert card.citizen_id not in got, (card.citizen_id, order.job_order_id, ref)
            assert card.citizen_id not in got_rules
            continue
        admitted += 1
        assert isinstance(ref_rule, Scored)
        score, prob = got[card.citizen_id]
        facts = pair_facts(card, order, skills_of, distance_km)
        assert abs(prob - float(learned.model.predict_proba(facts.vector)[0])) <= 1e-9
        assert score == ref.score, (card.citizen_id, order.job_order_id)
        assert got_rules[card.citizen_id] == ref_rule.score, (card.citizen_id, order.job_order_id)
    assert len(got) == admitted
    return admitted


def test_every_card_and_order_scores_as_the_pair_code(
    data: tuple[list[CardProfile], list[OrderProfile]],
) -> None:
    cards, orders = data
    index = CardIndex.build(cards, skills_of)
    admitted = [_check_order(index, cards, order) for order in orders]
    # The data exercise both sides of the filters.
    assert sum(admitted) > 100
    assert any(a == 0 for a in admitted) or min(admitted) < len(cards) // 2


def test_features_match_pair_facts(data: tuple[list[CardProfile], list[OrderProfile]]) -> None:
    cards, orders = data
    index = CardIndex.build(cards, skills_of)
    for order in orders[:: max(1, len(orders) // 8)]:
        _, met = index.admissible(order)
        rows = np.arange(index.n, dtype=np.int32)  # every card, admissible or not
        x = index.features(order, rows, met, distance_km)
        for r in rows:
            card = cards[int(r)]
            ref = pair_facts(card, order, skills_of, distance_km).vector
            np.testing.assert_allclose(x[r], ref, rtol=0, atol=1e-12, err_msg=card.citizen_id)


@pytest.mark.parametrize("k", [1, 3, 10, 10_000])
def test_top_k_equals_ranking(
    data: tuple[list[CardProfile], list[OrderProfile]], linker: TaxonomyLinker, k: int
) -> None:
    cards, orders = data
    # Identical cards under other ids tie exactly: they must come out by citizen id.
    twins = [
        c.card.model_copy(update={"citizen_id": f"aaa-twin-{i}"}) for i, c in enumerate(cards[:3])
    ]
    twins += [
        c.card.model_copy(update={"citizen_id": f"zzz-twin-{i}"}) for i, c in enumerate(cards[:3])
    ]
    pool = cards + [card_profile(t, linker) for t in twins]
    index = CardIndex.build(pool, skills_of)
    for scorer in (_learned(), RuleScorer(distance_km)):
        for order in orders:
            want = [(c.citizen_id, c.scored.score) for c in top_k(order, pool, scorer, k)]
            assert index.top_k_order(order, scorer, k) == want
    # Per-order exclusions (consent, rejections) drop exactly those citizens.
    order, scorer = orders[0], _learned()
    full = index.top_k_order(order, scorer, k)
    gone = {cid for cid, _ in full[:2]}
    want = [(c.citizen_id, c.scored.score) for c in top_k(order, pool, scorer, k + 2)]
    want = [w for w in want if w[0] not in gone][:k]
    assert index.top_k_order(order, scorer, k, exclude=gone) == want


def test_add_update_remove_and_compaction(
    data: tuple[list[CardProfile], list[OrderProfile]], linker: TaxonomyLinker
) -> None:
    cards, orders = data
    index = CardIndex.build(cards[:150], skills_of)
    live = {c.citizen_id: c for c in cards[:150]}
    # Adds after the build go to the delta of the inverted indexes.
    for c in cards[150:]:
        index.upsert(c)
        live[c.citizen_id] = c
    # Updates: the same citizen with another card.
    rng = np.random.default_rng(11)
    for i, c in enumerate(cards[:40]):
        new = card_profile(
            _vary(c.card, 9000 + i, rng).model_copy(update={"citizen_id": c.citizen_id}), linker
        )
        index.upsert(new)
        live[c.citizen_id] = new
    for c in cards[40:90]:
        assert index.remove(c.citizen_id)
        del live[c.citizen_id]
    assert not index.remove("nobody")
    assert len(index) == len(live)
    for order in orders[:6]:
        _check_order(index, list(live.values()), order)
    index.compact()
    assert index.n == len(live) and index.dead == 0
    assert set(index.row_of) == set(live)
    for order in orders[:6]:
        _check_order(index, list(live.values()), order)
    index.merge()
    _check_order(index, list(live.values()), orders[-1])


def test_one_card_against_many_orders(data: tuple[list[CardProfile], list[OrderProfile]]) -> None:
    cards, orders = data
    scorer = _learned()
    oindex = OrderIndex(orders, skills_of)
    for card in cards[::10]:
        cols, probs = oindex.score_card(card, scorer)
        got = dict(zip(cols.tolist(), probs.tolist(), strict=True))
        for j, order in enumerate(orders):
            ref = scorer(card, order)
            assert (j in got) == isinstance(ref, Scored), (card.citizen_id, order.job_order_id)
            if isinstance(ref, Scored):
                assert round(got[j], 4) == ref.score
                facts = pair_facts(card, order, skills_of, distance_km)
                assert abs(got[j] - float(scorer.model.predict_proba(facts.vector)[0])) <= 1e-9


def test_memory_stays_compact(data: tuple[list[CardProfile], list[OrderProfile]]) -> None:
    cards, _ = data
    index = CardIndex.build(cards, skills_of)
    per_card = sum(index.nbytes().values()) / len(index)
    assert per_card < 1024
