"""Text features: what the words say counts even where ESCO linking finds nothing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from schemas.citizens import CompetenceCard
from schemas.jobs import JobOrder
from services.matching.domain.features import card_profile, order_profile
from services.matching.domain.learned import LearnedScorer
from services.matching.domain.pair_features import FEATURES, pair_facts
from services.matching.domain.ranking import top_k
from services.matching.domain.scoring import Scored
from services.matching.domain.text_features import TEXT_FEATURES, text_similarities
from services.matching.domain.text_vectors import CharNgramEncoder, TextVector, cosine
from services.matching.domain.vectorized import CardIndex, OrderIndex
from services.matching.model.linear import LinearModel

# A small fitting corpus, Danish and English, as ESCO's labels would give.
LABELS = [
    "rengøringsassistent",
    "rengøringsmedarbejder",
    "lagerarbejder",
    "lagermedarbejder",
    "kok",
    "køkkenassistent",
    "køkkenmedhjælper",
    "buschauffør",
    "cleaner",
    "office cleaner",
    "warehouse worker",
    "warehouse operative",
    "cook",
    "kitchen assistant",
    "bus driver",
    "gardener",
]


class UnlinkingLinker:
    """Links nothing (every title is a linking miss) but encodes text."""

    def __init__(self, encoder: CharNgramEncoder | None) -> None:
        self.encoder = encoder

    def link_occupation(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        return []

    def link_skill(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        return []

    def isco_of(self, occupation_uri: str) -> str | None:
        return None


class TextLinker(UnlinkingLinker):
    def text_vector(self, text: str) -> TextVector:
        assert self.encoder is not None
        return self.encoder.text_vector(text)


@pytest.fixture(scope="module")
def encoder() -> CharNgramEncoder:
    return CharNgramEncoder.fit(LABELS)


def _no_skills(uri: str) -> tuple[frozenset[str], frozenset[str]] | None:
    return None


def _distance(a: str, b: str) -> float | None:
    return 5.0


def _text_model() -> LinearModel:
    """Only the text features count (the other coefficients are 0)."""
    n = len(FEATURES)
    coef = np.array([1.0 if name in TEXT_FEATURES else 0.0 for name in FEATURES])
    return LinearModel("text-only", FEATURES, np.zeros(n), np.ones(n), coef, -1.0)


def _card(cid: str, titles: list[str], wishes: Sequence[str] = ()) -> CompetenceCard:
    return CompetenceCard.model_validate(
        {
            "citizen_id": cid,
            "municipality_code": "0751",
            "availability": {"hours_per_week": 37},
            "location": {"postal_code": "8000"},
            "experience": [{"title": t, "years": 3} for t in titles],
            "job_wishes": [{"title": w} for w in wishes],
        }
    )


def _order(oid: str, title: str) -> JobOrder:
    return JobOrder.model_validate(
        {
            "job_order_id": oid,
            "employer": {"cvr": "12345607", "name": "A/S"},
            "municipality_code": "0751",
            "title": title,
            "programme": "ordinary",
            "worksite": {"postal_code": "8000"},
            "hours_per_week": 37,
        }
    )


ORDERS = [
    ("jo-clean", "Rengøringsassistent søges"),
    ("jo-store", "Lagermedarbejder"),
    ("jo-cook", "Kok til kantine"),
    ("jo-bus", "Buschauffør"),
    ("jo-en-cleaner", "Office cleaner"),
    ("jo-en-warehouse", "Warehouse operative"),
    ("jo-en-cook", "Cook"),
]


def _best_order(card: CompetenceCard, linker: UnlinkingLinker) -> list[str]:
    scorer = LearnedScorer(_text_model(), _no_skills, _distance)
    profile = card_profile(card, linker)
    scored = []
    for oid, title in ORDERS:
        result = scorer(profile, order_profile(_order(oid, title), linker))
        assert isinstance(result, Scored)
        scored.append((-result.score, oid))
    return [oid for _, oid in sorted(scored)]


@pytest.mark.parametrize(
    ("titles", "wishes", "best"),
    [
        (["rengøringsasistent"], [], "jo-clean"),  # Danish, with a typo
        (["lagerarbejder i 5 år"], [], "jo-store"),  # Danish, extra words
        ([], ["buschauffør"], "jo-bus"),  # a job wish only
        (["cleaner"], [], "jo-en-cleaner"),  # English
        (["warehouse operator"], [], "jo-en-warehouse"),  # English, a variant
    ],
)
def test_a_linking_miss_still_ranks_the_textually_right_job_first(
    encoder: CharNgramEncoder, titles: list[str], wishes: list[str], best: str
) -> None:
    card = _card("cit-1", titles, wishes)
    assert _best_order(card, TextLinker(encoder))[0] == best
    # Without the text the miss leaves every order alike: ties are broken by order id.
    assert _best_order(card, UnlinkingLinker(None)) == sorted(oid for oid, _ in ORDERS)


def test_cosine_of_character_ngrams(encoder: CharNgramEncoder) -> None:
    v = encoder.text_vector
    assert cosine(v("Lagerarbejder"), v("lagerarbejder")) == pytest.approx(1.0)
    assert cosine(v("rengøringsasistent"), v("rengøringsassistent")) > 0.6
    assert cosine(v("rengøringsassistent"), v("buschauffør")) < 0.1
    # Words the fitting texts never had still match themselves (hashed n-grams).
    assert cosine(v("xylofonstemmer"), v("xylofonstemmer")) == pytest.approx(1.0)
    assert cosine(v(""), v("kok")) == 0.0
    assert not v("  ,. ")


def test_text_similarities_take_the_best_title_wish_and_skill(
    encoder: CharNgramEncoder,
) -> None:
    linker = TextLinker(encoder)
    card = _card("cit-2", ["gardener", "kok"], ["kokkeelev"]).model_copy(
        update={"certificates": ["hygiejnebevis"]}
    )
    order = _order("jo-k", "Kok").model_copy(update={"description": "hygiejnebevis er et krav"})
    title, wish, skill = text_similarities(card_profile(card, linker), order_profile(order, linker))
    assert title == pytest.approx(1.0)  # "kok" against "Kok"
    assert 0.0 < wish < 1.0
    assert skill > 0.3


def test_column_paths_equal_the_pair_code_on_a_linking_miss(encoder: CharNgramEncoder) -> None:
    linker = TextLinker(encoder)
    people = [
        (["rengøringsasistent"], ["kok"]),
        (["warehouse worker"], []),
        (["kok", "gardener"], ["køkkenmedhjælper"]),
        ([], ["bus driver"]),
    ]
    cards = [
        card_profile(_card(f"cit-{i}", titles, wishes), linker)
        for i, (titles, wishes) in enumerate(people)
    ]
    orders = [order_profile(_order(oid, title), linker) for oid, title in ORDERS]
    scorer = LearnedScorer(_text_model(), _no_skills, _distance)
    index = CardIndex.build(cards, _no_skills)
    for order in orders:
        want = [(c.citizen_id, c.scored.score) for c in top_k(order, cards, scorer, 4)]
        assert index.top_k_order(order, scorer, 4) == want
        _, met = index.admissible(order)
        rows = np.arange(index.n, dtype=np.int32)
        x = index.features(order, rows, met, _distance)
        for r, card in enumerate(cards):
            vector = pair_facts(card, order, _no_skills, _distance).vector
            np.testing.assert_allclose(x[r], vector, rtol=0, atol=1e-12)
    assert index.features(orders[0], rows, met, _distance)[:, -3:].any()
    by_orders = OrderIndex(orders, _no_skills)
    for card in cards:
        cols, probs = by_orders.score_card(card, scorer)
        for j, p in zip(cols.tolist(), probs.tolist(), strict=True):
            ref = scorer(card, orders[j])
            assert isinstance(ref, Scored)
            assert round(p, 4) == ref.score


def test_a_model_without_the_text_features_still_scores(encoder: CharNgramEncoder) -> None:
    """The first shipped model knows 14 features: each path gives it exactly those."""
    linker = TextLinker(encoder)
    names = tuple(n for n in FEATURES if n not in TEXT_FEATURES)
    n = len(names)
    old = LinearModel("old", names, np.zeros(n), np.ones(n), np.linspace(-1, 1, n), 0.0)
    scorer = LearnedScorer(old, _no_skills, _distance)
    card = card_profile(_card("cit-9", ["kok"]), linker)
    order = order_profile(_order("jo-k", "Kok"), linker)
    facts = pair_facts(card, order, _no_skills, _distance, names)
    assert len(facts.vector) == n
    result = scorer(card, order)
    assert isinstance(result, Scored)
    index = CardIndex.build([card], _no_skills)
    assert index.top_k_order(order, scorer, 1) == [("cit-9", result.score)]


def test_text_table_cosines_as_rows_arrive(encoder: CharNgramEncoder) -> None:
    """Built rows, rows added since, and the per-target cache all give the pair cosine."""
    from services.matching.domain.vectorized.texts import TextTable

    table = TextTable()
    texts = [f"{label} {i}" if i % 3 else label for i, label in enumerate(LABELS * 90)]
    targets = [encoder.text_vector(t) for t in ("Rengøringsassistent", "cook", "lagerarbejder")]
    for start in range(0, len(texts), 300):  # some batches stay unbuilt (scanned), some not
        for text in texts[start : start + 300]:
            table.add(encoder.text_vector(text))
        for target in targets:
            got = table.cosines(target)
            want = [cosine(v, target) for v in table.vectors]
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert len(table) == len(set(texts))
