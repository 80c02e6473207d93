"""Explanations a consultant can trust (issue 14): one rule, one test.

- every reason and gap in Danish, English a switch away;
- each factor once;
- no internal prefix ("gap:", "skill:") reaches a reader: the API's `missing` holds codes,
  the reader turns them into sentences;
- a contribution's sign agrees with its text;
- ESCO's skills by Danish names; occupations in the person's words.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from schemas.citizens import CompetenceCard
from schemas.jobs import JobOrder
from services.matching.domain import learned
from services.matching.domain.features import card_profile, order_profile
from services.matching.domain.learned import LearnedScorer
from services.matching.domain.pair_features import describe, pair_facts
from services.matching.domain.scoring import RuleScorer, Scored, Scorer
from services.matching.linking import TaxonomyLinker, distance_km, occupation_name, skills_of
from services.matching.model.registry import SHIPPED, Registry
from services.reference.labels import skill_name
from services.reference.relations import load_relations
from services.ui import present

WAREHOUSE_WORKER = "http://data.europa.eu/esco/occupation/bea705fe-06ac-4147-b8e0-6e8ac1208d8f"
NEGATIVE = (
    "Ingen ",
    "Kun ",
    "Lang vej",
    "uden for",
    "Uden for",
    "lige præcis",
    "Ledig ",
    "Ønsker ",
)
POSITIVE = ("opfylder", "Matcher", "til tiden", "over kravet", "Mentor på", "års erfaring som")


@pytest.fixture(autouse=True)
def _every_factor(monkeypatch: pytest.MonkeyPatch) -> None:
    # Show every factor, not the five largest, so each rule is checked on all of them.
    monkeypatch.setattr(learned, "TOP_FACTORS", 50)


def _learned() -> LearnedScorer:
    entry = Registry(SHIPPED).newest_approved()
    assert entry is not None
    return LearnedScorer(entry.model(), skills_of, distance_km, occupation_name=occupation_name)


SCORERS: dict[str, Callable[[], Scorer]] = {
    "rules": lambda: RuleScorer(distance_km, occupation_name=occupation_name),
    "learned": _learned,
}


def _scored(scorer: Scorer, card: dict[str, Any], order: dict[str, Any], linker: Any) -> Scored:
    result = scorer(
        card_profile(CompetenceCard.model_validate(card), linker),
        order_profile(JobOrder.model_validate(order), linker),
    )
    assert isinstance(result, Scored), result
    return result


def _service_order(lager: dict[str, Any]) -> dict[str, Any]:
    """A serviceassistent order (cleaning), no certificate or skill required."""
    order = copy.deepcopy(lager)
    order.pop("esco_occupation_uri")
    order.update(
        title="Serviceassistent", description="Rengøring på rådhuset", programme="ordinary"
    )
    order["requirements"].update(certificates=[], skills=[])
    return order


def _variants(card: dict[str, Any]) -> list[dict[str, Any]]:
    out = [copy.deepcopy(card)]
    for change in (
        lambda c: c.update(experience=[]),
        lambda c: c.update(job_wishes=[{"title": "frisør"}]),
        lambda c: c["location"].update(postal_code="8500", max_commute_km=60),
        lambda c: c["availability"].update(hours_per_week=15),
        lambda c: c["availability"].update(hours_per_week=45),
        lambda c: c["availability"].update(available_from="2027-02-20"),
        lambda c: c.update(danish={"course": "DU3", "module": 5, "cefr": "B2"}),
    ):
        varied = copy.deepcopy(card)
        change(varied)
        out.append(varied)
    return out


@pytest.mark.parametrize("kind", SCORERS)
def test_sign_of_each_contribution_agrees_with_its_text(
    linker: TaxonomyLinker, amina: Any, lager: Any, kind: str
) -> None:
    scorer = SCORERS[kind]()
    seen = 0
    for card in _variants(amina):
        for result in (_scored(scorer, card, lager, linker),):
            for r in result.reasons:
                seen += 1
                if any(m in r.text_da for m in NEGATIVE):
                    assert r.contribution < 0, (r.text_da, r.contribution)
                if any(m in r.text_da for m in POSITIVE):
                    assert r.contribution > 0, (r.text_da, r.contribution)
    assert seen > 20


@pytest.mark.parametrize("kind", SCORERS)
def test_each_factor_once_and_no_experience_counts_against(
    linker: TaxonomyLinker, amina: Any, lager: Any, kind: str
) -> None:
    newcomer = copy.deepcopy(amina)
    newcomer["experience"] = []
    result = _scored(SCORERS[kind](), newcomer, lager, linker)
    codes = [r.code for r in result.reasons]
    texts = [r.text_da for r in result.reasons]
    assert len(codes) == len(set(codes)) and len(texts) == len(set(texts))
    none = [r for r in result.reasons if r.text_da == "Ingen erfaring i lignende job"]
    assert len(none) == 1 and none[0].contribution < 0
    assert none[0].text_en == "No experience in similar work"


def test_meeting_the_danish_requirement_never_counts_negative(
    linker: TaxonomyLinker, amina: Any, lager: Any
) -> None:
    card = card_profile(CompetenceCard.model_validate(amina), linker)
    order = order_profile(JobOrder.model_validate(lager), linker)
    facts = pair_facts(card, order, skills_of, distance_km)
    assert facts.danish_have == facts.danish_need == "A2"
    against = describe("danish_margin", facts, -0.2)
    assert against is not None and "opfylder" not in against[0]
    assert against == ("Dansk A2: lige præcis kravet (A2)", "Danish A2: only just the required A2")
    assert describe("danish_margin", facts, 0.2) == (
        "Dansk A2 opfylder kravet (A2)",
        "Danish A2 meets the required A2",
    )
    for kind in SCORERS:
        for r in _scored(SCORERS[kind](), amina, lager, linker).reasons:
            if "opfylder" in r.text_da:
                assert r.contribution > 0, (kind, r)


def test_rule_factors_count_up_or_down_from_the_middle(
    linker: TaxonomyLinker, amina: Any, lager: Any
) -> None:
    scorer = SCORERS["rules"]()
    seasoned = {r.code: r for r in _scored(scorer, amina, lager, linker).reasons}
    assert seasoned["experience"].contribution > 0 and seasoned["danish"].contribution > 0
    far = copy.deepcopy(amina)
    far["location"].update(postal_code="8500", max_commute_km=60)
    reasons = {r.code: r for r in _scored(scorer, far, lager, linker).reasons}
    assert reasons["distance"].contribution < 0
    assert reasons["distance"].text_da.startswith("Lang vej: ")


@pytest.mark.parametrize("kind", SCORERS)
def test_experience_is_named_in_the_persons_words(
    linker: TaxonomyLinker, amina: Any, lager: Any, kind: str
) -> None:
    driver = copy.deepcopy(amina)
    driver["experience"] = [{"title": "Lastbilchauffør", "years": 4, "country": "DK"}]
    driver["job_wishes"] = [{"title": "lastbilchauffør"}]
    order = copy.deepcopy(lager)
    order.pop("esco_occupation_uri")
    order.update(title="Lastbilchauffør", description="Kørsel med varer")
    order["requirements"]["skills"] = []
    result = _scored(SCORERS[kind](), driver, order, linker)
    texts = " ".join(r.text_da for r in result.reasons)
    assert "års erfaring som lastbilchauffør" in texts
    assert "bagagevognschauffør" not in texts


def test_cleaning_experience_counts_for_a_serviceassistent(
    linker: TaxonomyLinker, fatima: Any, lager: Any
) -> None:
    result = _scored(SCORERS["learned"](), fatima, _service_order(lager), linker)
    texts = [r.text_da for r in result.reasons]
    assert "Ingen erfaring i lignende job" not in texts
    assert "2 års erfaring som rengøringsassistent" in texts


def test_gaps_are_codes_named_in_danish_without_prefixes(
    linker: TaxonomyLinker, amina: Any, lager: Any
) -> None:
    newcomer = copy.deepcopy(amina)
    newcomer["experience"] = []
    result = _scored(SCORERS["learned"](), newcomer, lager, linker)
    gaps = [m for m in result.missing if m.startswith("gap:")]
    assert gaps
    for code in result.missing:
        for lang in ("da", "en"):
            shown = present.missing(code, lang)
            assert not any(p in shown for p in ("gap:", "skill:", "http"))
    uri = gaps[0].removeprefix("gap:")
    danish, english = skill_name(uri, "da"), skill_name(uri, "en")
    assert danish and english and danish != english
    assert present.missing(gaps[0], "da") == f"Væsentlig kompetence for jobbet: {danish}"
    assert present.missing(gaps[0], "en") == f"Essential skill for the job: {english}"
    # Suggestions recorded before carry ESCO's English label; they read in Danish too.
    assert present.missing(f"gap:{english}", "da").endswith(danish)


def test_a_requested_skill_is_not_named_again_as_a_gap(
    linker: TaxonomyLinker, amina: Any, lager: Any
) -> None:
    essential = sorted(load_relations()[WAREHOUSE_WORKER].essential)
    newcomer = copy.deepcopy(amina)
    newcomer["experience"] = []
    order = copy.deepcopy(lager)
    order["requirements"]["skills"] = [
        {"label": "det vi beder om", "esco_skill_uri": essential[0], "must": False}
    ]
    result = _scored(SCORERS["learned"](), newcomer, order, linker)
    assert "skill:det vi beder om" in result.missing
    assert f"gap:{essential[0]}" not in result.missing


def test_the_page_shows_each_factor_once_with_an_honest_sign() -> None:
    recorded = [  # as suggestions made before these rules recorded them
        {"code": "isco_similarity", "text_da": "Ingen erfaring i lignende job",
         "text_en": "No experience in similar work", "contribution": -0.48},
        {"code": "shared_skill_overlap", "text_da": "Ingen erfaring i lignende job",
         "text_en": "No experience in similar work", "contribution": 0.22},
        {"code": "mentor", "text_da": "Mentor på arbejdspladsen",
         "text_en": "Mentor at the workplace", "contribution": 0.001},
    ]  # fmt: skip
    shown = present.reasons(recorded, "da")
    assert [(r["text"], r["signed"]) for r in shown] == [
        ("Ingen erfaring i lignende job", "\u22120,26")
    ]
    assert present.reasons(recorded, "en")[0]["text"] == "No experience in similar work"
    assert present.signed(0.0001, "da") == "0,00"
    assert present.signed(0.12, "en") == "+0.12"
