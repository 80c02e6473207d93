"""The links the events service adds to a card: ESCO concepts under the person's words."""

from __future__ import annotations

import copy

import pytest

from schemas.citizens import CompetenceCard
from services.events.enrich import card_links
from services.reference.esco import Taxonomy, load_taxonomy
from tests.conftest import load_example


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


def test_an_experience_links_under_the_label_that_matched_the_persons_words(
    taxonomy: Taxonomy,
) -> None:
    """ESCO's preferred Danish label of cargo vehicle driver is "bagagevognschauffør"; a
    citizen who wrote "lastbilchauffør" reads her own word back."""
    doc = copy.deepcopy(load_example("competence_card_amina.json"))
    doc["experience"] = [{**doc["experience"][0], "title": "Lastbilchauffør"}]
    doc["experience"][0].pop("esco_occupation_uri", None)
    card = CompetenceCard.model_validate(doc)
    link = next(x for x in card_links(card, taxonomy) if x.path == "experience.0")
    assert link.source == "linked" and link.uri is not None
    occupation = taxonomy.occupation(link.uri)
    assert occupation is not None and occupation.label_da == "bagagevognschauffør"
    assert link.label == "lastbilchauffør"
