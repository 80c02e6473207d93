from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from schemas.citizens import CompetenceCard, CompetenceCardRegistered
from schemas.common import _CPR_SHAPE
from schemas.envelope import Event
from schemas.jobs import JobOrder, JobOrderPosted
from schemas.placements import (
    CandidatePresented,
    EmployerDecisionRecorded,
    FollowUpRecorded,
    PlacementEnded,
    PlacementStarted,
    PlacementSuggested,
    SuggestionAccepted,
    SuggestionRejected,
    SuggestionRetracted,
)
from schemas.registry import REGISTRY
from services.demo.synthetic import (
    MODEL_VERSION,
    SyntheticHistory,
    cvr_from,
    eligible_matrix,
    generate,
    hard_reasons,
    load_reference,
    write_history,
)
from services.matching.domain.features import card_profile, order_profile
from services.matching.domain.scoring import hard_filter
from services.matching.domain.state import suggestion_id
from services.rules import eligibility
from tests.unit.demo.conftest import START

ESCO_URI = re.compile(r"http://data\.europa\.eu/esco/(occupation|skill)/[0-9a-f-]{36}")
PROTECTED = re.compile(r'"(gender|sex|origin\w*|religion|ethnic\w*|nationality|age)"\s*:')


class _NoLinker:
    """The rules engine's linker without free-text linking: only the URIs on the documents."""

    def __init__(self) -> None:
        self._isco = {o.uri: o.isco for o in load_reference().occupations}

    def link_occupation(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        return []

    def link_skill(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        return []

    def isco_of(self, occupation_uri: str) -> str | None:
        return self._isco.get(occupation_uri)


def _by_id(history: SyntheticHistory) -> tuple[dict[str, CompetenceCard], dict[str, JobOrder]]:
    return (
        {c.citizen_id: c for c in history.cards},
        {o.job_order_id: o for o in history.orders},
    )


def test_same_seed_gives_identical_files(tmp_path: Path, small: SyntheticHistory) -> None:
    again = generate(n_cards=120, n_orders=30, seed=3, start=START, months=8)
    a = write_history(small, tmp_path / "a")
    b = write_history(again, tmp_path / "b")
    assert set(a) == {
        "cards.jsonl",
        "orders.jsonl",
        "events.jsonl",
        "monitoring.jsonl",
        "truth.json",
        "truth_pairs.jsonl",
    }
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name
    other = write_history(
        generate(n_cards=120, n_orders=30, seed=4, start=START, months=8), tmp_path / "c"
    )
    assert other["events.jsonl"].read_bytes() != a["events.jsonl"].read_bytes()


def test_documents_validate_and_events_decode(tmp_path: Path, small: SyntheticHistory) -> None:
    paths = write_history(small, tmp_path)
    cards = paths["cards.jsonl"].read_text(encoding="utf-8").splitlines()
    orders = paths["orders.jsonl"].read_text(encoding="utf-8").splitlines()
    assert len(cards) == 120 and len(orders) == 30
    for line in cards:
        CompetenceCard.model_validate_json(line)
    for line in orders:
        JobOrder.model_validate_json(line)
    lines = paths["events.jsonl"].read_bytes().splitlines()
    assert len(lines) == len(small.events)
    previous = None
    for raw, event in zip(lines, small.events, strict=True):
        decoded = REGISTRY.decode(raw)
        assert decoded == event
        assert decoded.occurred_at.tzinfo is not None
        assert decoded.occurred_at.utcoffset() == dt.timedelta(0)
        assert previous is None or previous <= decoded.occurred_at
        previous = decoded.occurred_at
    assert len({e.event_id for e in small.events}) == len(small.events)
    truth = json.loads(paths["truth.json"].read_text(encoding="utf-8"))
    assert truth["note"].startswith("SYNTHETIC DATA: not real citizens or employers")
    assert truth["seed"] == 3 and truth["counts"]["cards"] == 120


def test_every_card_and_order_is_registered_once(small: SyntheticHistory) -> None:
    cards = [e.payload for e in small.events if isinstance(e.payload, CompetenceCardRegistered)]
    orders = [e.payload for e in small.events if isinstance(e.payload, JobOrderPosted)]
    assert [c.card for c in sorted(cards, key=lambda c: c.citizen_id)] == small.cards
    assert [o.order for o in sorted(orders, key=lambda o: o.job_order_id)] == small.orders
    employers = {o.employer.cvr for o in small.orders}
    registered = [e for e in small.events if e.event_type == "EmployerRegistered"]
    assert {e.aggregate_id for e in registered} == employers
    assert len(registered) == len(employers)
    for cvr in employers:
        weighted = sum(int(d) * w for d, w in zip(cvr, (2, 7, 6, 5, 4, 3, 2, 1), strict=True))
        assert weighted % 11 == 0


def test_cvr_generator_passes_modulus_11() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        cvr = cvr_from(rng)
        assert len(cvr) == 8 and cvr[0] != "0"
        assert sum(int(d) * w for d, w in zip(cvr, (2, 7, 6, 5, 4, 3, 2, 1), strict=True)) % 11 == 0


def test_no_cpr_shaped_ids(tmp_path: Path, small: SyntheticHistory) -> None:
    paths = write_history(small, tmp_path)
    for name in ("cards.jsonl", "monitoring.jsonl"):
        # ESCO URIs are UUIDs, whose hex may hold digit runs; everything else may not.
        text = ESCO_URI.sub("", paths[name].read_text(encoding="utf-8"))
        assert not re.search(r"\d{10}", text), name
        assert not _CPR_SHAPE.search(text), name
    for card in small.cards:
        assert re.fullmatch(r"cit-syn-\d{6}", card.citizen_id)
    for event in small.events:
        payload = event.payload.model_dump()
        for key in ("citizen_id", "job_order_id", "placement_id"):
            if key in payload:
                assert not _CPR_SHAPE.search(payload[key])
                assert not re.search(r"\d{10}", payload[key])
        assert not _CPR_SHAPE.search(event.aggregate_id)


def test_protected_attributes_stay_out_of_cards_and_events(
    tmp_path: Path, small: SyntheticHistory
) -> None:
    paths = write_history(small, tmp_path)
    for name in ("cards.jsonl", "orders.jsonl", "events.jsonl"):
        assert not PROTECTED.search(paths[name].read_text(encoding="utf-8")), name
    rows = [json.loads(x) for x in paths["monitoring.jsonl"].read_text().splitlines()]
    assert [r["citizen_id"] for r in rows] == [c.citizen_id for c in small.cards]
    for row in rows:
        assert set(row) == {"citizen_id", "gender", "origin_group", "consented"}
        assert row["gender"] in ("female", "male", "other", None)
        if not row["consented"]:
            assert row["gender"] is None and row["origin_group"] is None


def test_cards_look_like_the_caseload(history: SyntheticHistory) -> None:
    ref = load_reference()
    target = {uri for occs in ref.family_occupations for uri in occs}
    target_uris = {ref.occupations[k].uri for k in target}
    known_uris = {o.uri for o in ref.occupations}
    cefr: list[str | None] = []
    for card in history.cards:
        assert card.location.postal_code in {
            p.postal_code for p in ref.places[card.municipality_code]
        }
        assert 15 <= card.availability.hours_per_week <= 37
        assert 5 <= card.location.max_commute_km <= 50
        assert card.programme.birth_year is not None
        assert 1970 <= card.programme.birth_year <= 2006
        for item in card.experience:
            assert item.esco_occupation_uri is None or item.esco_occupation_uri in known_uris
        cefr.append(card.danish.cefr)
        if card.danish.course:
            assert card.danish.course in ("DU1", "DU2", "DU3")
    ages = [START.year - c.programme.birth_year for c in history.cards if c.programme.birth_year]
    assert min(ages) < 25 and max(ages) > 50  # the IGU gate (18-50) is exercised both ways
    assert any(o.esco_occupation_uri in target_uris for o in history.orders)
    munis = {c.municipality_code for c in history.cards}
    assert "0101" in munis and len(munis) > 30
    copenhagen = sum(c.municipality_code == "0101" for c in history.cards) / len(history.cards)
    assert 0.08 < copenhagen < 0.25
    programmes = {o.programme for o in history.orders}
    assert {"IGU", "virksomhedspraktik", "ordinary"} <= programmes


def test_eligibility_matrix_matches_the_rule(small: SyntheticHistory) -> None:
    matrix = eligible_matrix(small.cards, small.orders)
    for i, card in enumerate(small.cards):
        for j, order in enumerate(small.orders):
            rule = eligibility.check(card, order.programme, order.start_date).eligible
            assert matrix[i, j] == rule, (card.citizen_id, order.job_order_id)


def test_hard_requirements_are_never_violated_by_a_placement(history: SyntheticHistory) -> None:
    cards, orders = _by_id(history)
    linker = _NoLinker()
    started = [e.payload for e in history.events if isinstance(e.payload, PlacementStarted)]
    assert len(started) > 20
    index = {c.citizen_id: i for i, c in enumerate(history.cards)}
    order_index = {o.job_order_id: j for j, o in enumerate(history.orders)}
    for p in started:
        card, order = cards[p.citizen_id], orders[p.job_order_id]
        assert hard_reasons(card, order) == []
        assert hard_filter(card_profile(card, linker), order_profile(order, linker)) == []
        assert eligibility.check(card, order.programme, order.start_date).eligible
        assert history.possible[index[p.citizen_id], order_index[p.job_order_id]]
    # Impossible pairs exist and have no chance in the hidden model.
    assert (~history.possible).any()
    assert (history.p_good[~history.possible] == 0).all()


def test_good_fit_is_hired_more_often_and_ends_better(history: SyntheticHistory) -> None:
    pairs = [p for p in history.pairs if p["possible"]]
    p_good = np.array([p["p_good"] for p in pairs])
    hired = np.array([p["hired"] for p in pairs])
    high, low = p_good >= np.quantile(p_good, 2 / 3), p_good <= np.quantile(p_good, 1 / 3)
    assert hired[high].mean() > 1.5 * hired[low].mean()
    assert p_good[hired].mean() > p_good[~hired].mean() + 0.1
    placed = [p for p in history.pairs if p["hired"] and "good" in p]
    good = np.array([p["good"] for p in placed])
    pg = np.array([p["p_good"] for p in placed])
    assert pg[good].mean() > pg[~good].mean()
    ended = [p for p in placed if p["outcome"]]
    negative = [p["p_good"] for p in ended if p["outcome"] == "negative_drop_out"]
    positive = [p["p_good"] for p in ended if p["outcome"] != "negative_drop_out"]
    assert negative and positive
    assert np.mean(positive) > np.mean(negative)


def test_rejection_reasons_follow_their_causes(history: SyntheticHistory) -> None:
    by_sid = {p["suggestion_id"]: p for p in history.pairs}
    rejected = [e.payload for e in history.events if isinstance(e.payload, SuggestionRejected)]
    codes = {r.reason_code for r in rejected}
    assert {"danish_level", "transport", "citizen_declines"} <= codes
    for r in rejected:
        pair = by_sid[r.suggestion_id]
        short = any(h.startswith("danish_min") for h in pair["hard"])
        assert (r.reason_code == "danish_level") == short
        if r.reason_code == "transport":
            assert pair["features"]["commute"] < 0  # beyond the citizen's commute limit


def test_each_suggestion_lifecycle_is_in_time_order(history: SyntheticHistory) -> None:
    stage = {
        PlacementSuggested: 0,
        SuggestionAccepted: 1,
        SuggestionRejected: 1,
        SuggestionRetracted: 1,
        CandidatePresented: 2,
        EmployerDecisionRecorded: 3,
        PlacementStarted: 4,
        FollowUpRecorded: 5,
        PlacementEnded: 6,
    }
    registered: dict[str, dt.datetime] = {}
    by_sid: dict[str, list[Event]] = defaultdict(list)
    placement_sid: dict[str, str] = {}
    seen: dict[object, dt.datetime] = {}
    for event in history.events:
        p = event.payload
        seen[event.event_id] = event.occurred_at
        if event.causation_id is not None:
            assert seen[event.causation_id] <= event.occurred_at
        if isinstance(p, CompetenceCardRegistered):
            registered[p.citizen_id] = event.occurred_at
        elif isinstance(p, JobOrderPosted):
            registered[p.job_order_id] = event.occurred_at
        elif isinstance(p, PlacementSuggested):
            assert p.model_version == MODEL_VERSION
            assert p.suggestion_id == suggestion_id(p.job_order_id, p.citizen_id)
            assert registered[p.citizen_id] < event.occurred_at
            assert registered[p.job_order_id] < event.occurred_at
            by_sid[p.suggestion_id].append(event)
        elif isinstance(p, PlacementStarted):
            assert p.suggestion_id is not None
            placement_sid[p.placement_id] = p.suggestion_id
            by_sid[p.suggestion_id].append(event)
        elif isinstance(p, FollowUpRecorded | PlacementEnded):
            by_sid[placement_sid[p.placement_id]].append(event)
        elif hasattr(p, "suggestion_id"):
            by_sid[p.suggestion_id].append(event)
    assert by_sid
    for sid, events in by_sid.items():
        stages = [stage[type(e.payload)] for e in events]
        assert stages == sorted(stages), sid
        assert stages[0] == 0
        times = [e.occurred_at for e in events]
        assert times == sorted(times), sid
        decisions = [
            e.payload.decision for e in events if isinstance(e.payload, EmployerDecisionRecorded)
        ]
        assert decisions in ([], ["declined"], ["interview", "declined"], ["interview", "hired"])
        has_start = any(isinstance(e.payload, PlacementStarted) for e in events)
        assert has_start <= (decisions == ["interview", "hired"])


def test_placements_carry_programme_hours(history: SyntheticHistory) -> None:
    _, orders = _by_id(history)
    started = [e.payload for e in history.events if isinstance(e.payload, PlacementStarted)]
    for p in started:
        order = orders[p.job_order_id]
        if order.programme == "IGU":
            assert (p.placement_type, p.weekly_hours_work, p.weekly_hours_school) == (
                "IGU",
                29.0,
                8.0,
            )
        if order.programme == "jobpakke":
            assert p.placement_type == "virksomhedspraktik"
        assert order.start_date is not None and p.start_date >= order.start_date


@pytest.mark.parametrize("months", [1, 3])
def test_short_windows_still_work(months: int) -> None:
    h = generate(n_cards=40, n_orders=8, seed=1, start=dt.date(2026, 11, 30), months=months)
    assert h.end > h.start
    assert all(e.occurred_at.date() < h.end for e in h.events)


def test_orders_close_after_their_reviews(history: SyntheticHistory) -> None:
    closed: dict[str, dt.datetime] = {}
    reviews: dict[str, list[dt.datetime]] = defaultdict(list)
    for event in history.events:
        p = event.payload
        if event.event_type == "JobOrderClosed":
            closed[event.aggregate_id] = event.occurred_at
        elif isinstance(p, SuggestionAccepted | SuggestionRejected | EmployerDecisionRecorded):
            reviews[p.job_order_id].append(event.occurred_at)
        elif isinstance(p, SuggestionRetracted):
            assert p.reason == "order_closed"
            assert closed[p.job_order_id] <= event.occurred_at
    assert closed
    for order_id, times in reviews.items():
        if order_id in closed:
            assert max(times) <= closed[order_id], order_id
