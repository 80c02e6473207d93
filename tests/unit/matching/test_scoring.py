"""The rule score on the contract examples and on controlled variations of them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from schemas.citizens import CompetenceCard
from schemas.jobs import JobOrder
from services.matching.domain.features import card_profile, order_profile
from services.matching.domain.scoring import MIDDLE, Excluded, Scored, score
from services.matching.linking import TaxonomyLinker, distance_km


def _score(
    card: dict[str, Any], order: dict[str, Any], linker: TaxonomyLinker
) -> Scored | Excluded:
    return score(
        card_profile(CompetenceCard.model_validate(card), linker),
        order_profile(JobOrder.model_validate(order), linker),
        distance_km,
    )


def _scored(card: dict[str, Any], order: dict[str, Any], linker: TaxonomyLinker) -> Scored:
    result = _score(card, order, linker)
    assert isinstance(result, Scored), result
    return result


def test_warehouse_order_takes_amina_and_excludes_those_without_truck_licence(
    linker: TaxonomyLinker, amina: Any, yonas: Any, fatima: Any, lager: Any
) -> None:
    best = _scored(amina, lager, linker)
    assert best.score > 0.7
    assert best.eligibility.eligible and best.eligibility.programme == "IGU"
    for other in (yonas, fatima):
        result = _score(other, lager, linker)
        assert isinstance(result, Excluded)
        assert "certificate:truckcertifikat" in result.reasons


def test_kitchen_order_takes_yonas_and_excludes_amina(
    linker: TaxonomyLinker, amina: Any, yonas: Any, fatima: Any, kantine: Any
) -> None:
    assert _scored(yonas, kantine, linker).score > 0.5
    for other in (amina, fatima):
        result = _score(other, kantine, linker)
        assert isinstance(result, Excluded)
        assert "certificate:hygiejnebevis" in result.reasons


def test_reasons_explain_the_score(linker: TaxonomyLinker, amina: Any, lager: Any) -> None:
    result = _scored(amina, lager, linker)
    texts = {r.code: r.text_en for r in result.reasons}
    assert texts["danish"] == "Danish A2 meets A2"
    assert texts["skills"] == "2 of 2 requested skills"
    assert texts["distance"].endswith("km from home")
    # Each factor counts up or down from the middle (0.5) of its range.
    total = MIDDLE + sum(r.contribution for r in result.reasons)
    assert total == pytest.approx(result.score, abs=1e-3)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda c: c["location"].update(postal_code="8500"), "further from home"),
        (lambda c: c["availability"].update(hours_per_week=15), "fewer hours"),
        (lambda c: c.update(experience=[]), "no experience"),
        (lambda c: c.update(job_wishes=[{"title": "frisør"}]), "other wishes"),
        (lambda c: c["availability"].update(available_from="2027-02-20"), "starts late"),
    ],
)
def test_each_factor_moves_the_score(
    linker: TaxonomyLinker, amina: Any, lager: Any, change: Any, why: str
) -> None:
    base = _scored(amina, lager, linker).score
    worse = copy.deepcopy(amina)
    change(worse)
    assert _scored(worse, lager, linker).score < base, why


def test_hard_requirements_exclude(linker: TaxonomyLinker, amina: Any, lager: Any) -> None:
    low_danish = copy.deepcopy(amina)
    low_danish["danish"] = {"course": "DU1", "module": 1}
    result = _score(low_danish, lager, linker)
    assert isinstance(result, Excluded) and "danish_min:A2" in result.reasons

    needs_c = copy.deepcopy(lager)
    needs_c["requirements"]["driving_licences"] = ["C"]
    result = _score(amina, needs_c, linker)
    assert isinstance(result, Excluded) and "driving_licence:c" in result.reasons

    no_truck_skill = copy.deepcopy(amina)
    no_truck_skill["skills"] = [{"label": "pakning af varer"}]
    no_truck_skill["certificates"] = ["truckcertifikat"]
    # The certificate alone implies the forklift skill, so the card still qualifies.
    assert isinstance(_score(no_truck_skill, lager, linker), Scored)
    no_truck_skill["certificates"] = []
    result = _score(no_truck_skill, lager, linker)
    assert isinstance(result, Excluded)
    assert "skill:truckkørsel" in result.reasons


def test_igu_eligibility_gates(linker: TaxonomyLinker, amina: Any, lager: Any) -> None:
    late = copy.deepcopy(lager)
    late["start_date"] = "2028-01-03"
    result = _score(amina, late, linker)
    assert isinstance(result, Excluded)
    assert "eligibility:igu_scheme_ends_2027_12_31" in result.reasons

    older = copy.deepcopy(amina)
    older["programme"]["birth_year"] = 1970
    result = _score(older, lager, linker)
    assert isinstance(result, Excluded) and "eligibility:igu_age_outside_18_50" in result.reasons

    danish_citizen = copy.deepcopy(amina)
    danish_citizen["programme"]["residence_basis"] = "danish"
    assert isinstance(_score(danish_citizen, lager, linker), Excluded)

    # The same citizen qualifies for an open programme such as virksomhedspraktik.
    praktik = copy.deepcopy(lager)
    praktik["programme"] = "virksomhedspraktik"
    assert isinstance(_score(older, praktik, linker), Scored)
