"""The learned score: model file, registry, labels from the log, training, explanations."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from schemas.citizens import CompetenceCard, CompetenceCardRegistered
from schemas.envelope import Actor, Event, EventPayload
from schemas.jobs import JobOrder, JobOrderPosted
from schemas.placements import (
    EmployerDecisionRecorded,
    PlacementEnded,
    PlacementStarted,
    PlacementSuggested,
    SuggestionRejected,
)
from services.matching.domain.features import card_profile, order_profile
from services.matching.domain.learned import LearnedScorer
from services.matching.domain.pair_features import FEATURES
from services.matching.domain.scoring import Excluded, Scored
from services.matching.domain.state import suggestion_id
from services.matching.linking import TaxonomyLinker, distance_km, skills_of
from services.matching.model.dataset import from_events
from services.matching.model.linear import LinearModel
from services.matching.model.registry import Registry
from services.matching.model.training import Featurizer, train_and_evaluate

T0 = dt.datetime(2025, 1, 6, 9, tzinfo=dt.UTC)
ACTOR = Actor(role="consultant", id="k")
POSTALS = ["8000", "8200", "8210", "8220", "8240", "8260", "8300", "8370", "8450", "8600"]


def _model(version: str = "20260101T000000-logistic") -> LinearModel:
    n = len(FEATURES)
    coef = np.linspace(-1, 1, n)
    return LinearModel(version, FEATURES, np.full(n, 0.5), np.full(n, 0.25), coef, -0.3)


def test_model_file_round_trip_and_contributions(tmp_path: Path) -> None:
    model = _model()
    model.save(tmp_path / "m.json")
    loaded = LinearModel.load(tmp_path / "m.json")
    x = np.random.default_rng(1).random(len(FEATURES))
    assert loaded.predict_proba(x)[0] == pytest.approx(model.predict_proba(x)[0])
    # The contributions add up to the log-odds, less the intercept: the explanation is exact.
    assert loaded.contributions(x).sum() + loaded.intercept == pytest.approx(loaded.logits(x))
    bad = loaded.to_json() | {"coef": [1.0]}
    with pytest.raises(ValueError):
        LinearModel.from_json(bad)


def test_registry_serves_the_newest_approved(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    assert registry.newest_approved() is None
    registry.save(_model("20260101T000000-logistic"), {"approved": True})
    registry.save(_model("20260201T000000-logistic"), {"approved": False})
    assert registry.newest_approved().version == "20260101T000000-logistic"  # type: ignore[union-attr]
    registry.approve("20260201T000000-logistic")
    entry = registry.newest_approved()
    assert entry is not None and entry.version == "20260201T000000-logistic"
    assert entry.metadata["features"] == list(FEATURES)


def _ev(payload: EventPayload, at: dt.datetime) -> Event:
    return Event.new(payload, actor=ACTOR, occurred_at=at)


def _history(amina: dict[str, Any], lager: dict[str, Any], n: int) -> list[Event]:
    """Citizens close to the warehouse get hired, those far away are declined."""
    events = []
    order = JobOrder.model_validate(lager)
    events.append(_ev(JobOrderPosted(job_order_id=order.job_order_id, version=1, order=order), T0))
    rng = np.random.default_rng(5)
    for i in range(n):
        doc = copy.deepcopy(amina)
        doc["citizen_id"] = f"cit-m{i:04d}"
        postal = POSTALS[i % len(POSTALS)]
        doc["location"] = {"postal_code": postal, "max_commute_km": 30}
        card = CompetenceCard.model_validate(doc)
        at = T0 + dt.timedelta(days=i)
        events.append(
            _ev(CompetenceCardRegistered(citizen_id=card.citizen_id, version=1, card=card), at)
        )
        sid = suggestion_id(order.job_order_id, card.citizen_id)
        events.append(
            _ev(
                PlacementSuggested(
                    job_order_id=order.job_order_id,
                    citizen_id=card.citizen_id,
                    suggestion_id=sid,
                    score=0.5,
                    rank=1,
                    model_version="rules-1",
                    card_version="c",
                    order_version="o",
                ),
                at,
            )
        )
        near = (distance_km(postal, "8200") or 99) < 12
        hired = rng.random() < (0.85 if near else 0.15)
        later = at + dt.timedelta(days=3)
        if hired:
            events.append(
                _ev(
                    EmployerDecisionRecorded(
                        job_order_id=order.job_order_id,
                        citizen_id=card.citizen_id,
                        suggestion_id=sid,
                        decision="hired",
                    ),
                    later,
                )
            )
        else:
            events.append(
                _ev(
                    SuggestionRejected(
                        job_order_id=order.job_order_id,
                        citizen_id=card.citizen_id,
                        suggestion_id=sid,
                        reason_code="transport",
                    ),
                    later,
                )
            )
    return events


def test_labels_come_from_outcomes(amina: dict[str, Any], lager: dict[str, Any]) -> None:
    events = _history(amina, lager, 4)
    sid = suggestion_id("jo-4410-aarhus-lager", "cit-m0000")
    events.append(
        _ev(
            PlacementStarted(
                job_order_id="jo-4410-aarhus-lager",
                citizen_id="cit-m0000",
                suggestion_id=sid,
                placement_id="plc-1",
                placement_type="IGU",
                start_date=dt.date(2025, 2, 1),
                weekly_hours_work=29,
                weekly_hours_school=8,
            ),
            T0 + dt.timedelta(days=20),
        )
    )
    events.append(
        _ev(
            PlacementEnded(
                job_order_id="jo-4410-aarhus-lager",
                citizen_id="cit-m0000",
                placement_id="plc-1",
                end_date=dt.date(2025, 3, 1),
                outcome="negative_drop_out",
            ),
            T0 + dt.timedelta(days=50),
        )
    )
    labels = {e.citizen_id: e.label for e in from_events(events).examples}
    assert labels["cit-m0000"] == 0, "a negative drop-out is a poor placement"
    assert set(labels) == {"cit-m0000", "cit-m0001", "cit-m0002", "cit-m0003"}


def test_training_learns_the_outcomes_and_explains_them(
    linker: TaxonomyLinker, amina: dict[str, Any], lager: dict[str, Any]
) -> None:
    examples = from_events(_history(amina, lager, 240)).labelled
    featurizer = Featurizer(linker, skills_of, distance_km)
    model, report = train_and_evaluate(examples, featurizer, 0.25, T0)
    assert report["model"]["auc"] > 0.7
    assert report["model"]["auc"] > report["tfidf"]["auc"]
    assert model.coef[FEATURES.index("distance_ratio")] < 0, "far away was declined"

    scorer = LearnedScorer(model, skills_of, distance_km)
    near = card_profile(CompetenceCard.model_validate(amina), linker)
    order = order_profile(JobOrder.model_validate(lager), linker)
    far_doc = copy.deepcopy(amina)
    far_doc["location"] = {"postal_code": "8600", "max_commute_km": 30}
    far = card_profile(CompetenceCard.model_validate(far_doc), linker)
    a, b = scorer(near, order), scorer(far, order)
    assert isinstance(a, Scored) and isinstance(b, Scored) and a.score > b.score
    assert a.reasons and {r.code for r in a.reasons} <= set(FEATURES)
    texts = {r.code: r.text_en for r in a.reasons}
    if "distance_ratio" in texts:
        assert texts["distance_ratio"].endswith("km from home")
    # Hard requirements still filter.
    no_cert = copy.deepcopy(amina)
    no_cert["certificates"] = []
    assert isinstance(
        scorer(card_profile(CompetenceCard.model_validate(no_cert), linker), order), Excluded
    )


def test_a_suggestion_names_what_more_is_needed(
    linker: TaxonomyLinker, amina: dict[str, Any], lager: dict[str, Any]
) -> None:
    from services.matching.linking import skill_label

    newcomer = copy.deepcopy(amina)
    newcomer["experience"] = []
    card = card_profile(CompetenceCard.model_validate(newcomer), linker)
    order = order_profile(JobOrder.model_validate(lager), linker)
    result = LearnedScorer(_model(), skills_of, distance_km, skill_label=skill_label)(card, order)
    assert isinstance(result, Scored)
    gaps = [m.removeprefix("gap:") for m in result.missing if m.startswith("gap:")]
    assert 0 < len(gaps) <= 5
    # Machine-readable codes: an ESCO skill each, named by the reader in its language.
    from services.reference.labels import skill_name

    assert all(g.startswith("http://data.europa.eu/esco/skill/") for g in gaps)
    assert all(skill_name(g, "da") for g in gaps)
    seasoned = LearnedScorer(_model(), skills_of, distance_km)(
        card_profile(CompetenceCard.model_validate(amina), linker), order
    )
    assert isinstance(seasoned, Scored)
    assert len([m for m in seasoned.missing if m.startswith("gap:")]) < len(gaps)


def test_factor_texts_quote_the_facts(linker: TaxonomyLinker, amina: Any, lager: Any) -> None:
    from services.matching.domain.pair_features import describe, pair_facts

    card = card_profile(CompetenceCard.model_validate(amina), linker)
    order = order_profile(JobOrder.model_validate(lager), linker)
    facts = pair_facts(card, order, skills_of, distance_km)

    def text(name: str, of: Any) -> tuple[str, str]:
        described = describe(name, of)  # without a contribution: always a sentence
        assert described is not None
        return described

    assert text("wish_match", facts)[1] == "Matches the citizen's job wish"
    assert text("relevant_years", facts)[1] == "4 years in similar work"
    assert text("danish_margin", facts) == ("Dansk A2 opfylder A2", "Danish A2 meets A2")
    amina["job_wishes"] = [{"title": "frisør"}]
    amina["experience"] = []
    other = pair_facts(
        card_profile(CompetenceCard.model_validate(amina), linker), order, skills_of, distance_km
    )
    assert text("wish_match", other)[1] == "Outside the citizen's job wishes"
    assert text("relevant_years", other)[1] == "No experience in similar work"
