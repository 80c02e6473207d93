from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from services.reference import esco
from services.reference.esco import Occupation, Skill, Taxonomy, load_taxonomy, normalise

OCC = "http://data.europa.eu/esco/occupation/"
SKILL = "http://data.europa.eu/esco/skill/"

WAREHOUSE_WORKER = OCC + "bea705fe-06ac-4147-b8e0-6e8ac1208d8f"
ORDER_PICKER = OCC + "cd94def5-3442-4c2e-ae3d-0761a3008bcb"
COOK = OCC + "90f75f67-495d-49fa-ab57-2f320e251d7e"
KITCHEN_ASSISTANT = OCC + "e1cf6897-158d-4b48-a39e-2a3a8cac216c"
KITCHEN_PORTER = OCC + "f756fdab-7726-4c48-bfcc-94ff8810fc08"
BUILDING_CLEANER = OCC + "303a1e34-cb16-4054-b323-81e5eec17397"
CARE_AT_HOME_WORKER = OCC + "f4525ed8-54eb-4a3b-90db-55cc01b0d9fd"
HOME_CARE_AIDE = OCC + "1391bdf9-bd61-4fb5-91ca-c29036ab2b60"
WIND_TURBINE_TECHNICIAN_DA_ONLY = OCC + "98562ce3-9632-4226-b129-c67eb9c54f0f"

FORKLIFT = SKILL + "28cb374e-6261-4133-8371-f9a5470145da"
PACK_GOODS = SKILL + "667cbbaf-f377-46d8-8f2d-1f6d8a55d74a"
GOODS_LABELLING = SKILL + "6fcf2fc7-7b74-42e5-845f-f5854fd44f37"
PICK_ORDERS = SKILL + "ee5e2297-39cc-4ed6-89e5-d58016118a7f"
RECEIVE_GOODS = SKILL + "2cae39d6-78c2-4ce3-bee8-628504371463"
WASH_DISHES = SKILL + "c662be22-f17a-4ba0-894f-d720b20c44cf"
COOKING = SKILL + "f3934441-4bff-4076-9945-e6c51a01c467"
CLEANING = SKILL + "4f1b6304-f54a-42f0-9604-5427a28d240f"
PERSONAL_CARE = SKILL + "1e0ed685-0696-405d-bfa3-dd6ab3751baf"
FOOD_HYGIENE = SKILL + "0ff99f51-40d9-42f1-a1ec-377b2bb5e15f"
PERSONAL_HYGIENE = SKILL + "0e21e183-e787-4f23-a240-93b416c088c2"


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


def _top1(results: list[tuple[str, float]]) -> str:
    assert results, "no link found"
    return results[0][0]


def test_normalise_keeps_danish_letters_and_drops_punctuation() -> None:
    assert normalise("  Social- og Sundhedshjælper! ") == "social og sundhedshjælper"
    assert normalise("Kørsel/TRUCK (A-certifikat)") == "kørsel truck a certifikat"
    assert normalise("ÆBLE–GRØD_på Ø") == "æble grød på ø"
    assert normalise("...") == ""


def test_importing_loads_nothing() -> None:
    code = (
        "import sys\n"
        "import services.reference.esco as e\n"
        "assert e.load_taxonomy.cache_info().currsize == 0\n"
        "assert 'sklearn' not in sys.modules\n"
    )
    root = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)


def test_load_taxonomy_is_cached(taxonomy: Taxonomy) -> None:
    assert load_taxonomy() is taxonomy


def test_vendored_sizes(taxonomy: Taxonomy) -> None:
    # ESCO v1.1.1 has 3,007 occupations; 3 more exist only in the Danish v1.0.8 export.
    assert len(taxonomy.occupations) == 3010
    assert len(taxonomy.skills) == 13896
    assert len(taxonomy.isco_groups) == 619


def test_occupation_merges_danish_and_english(taxonomy: Taxonomy) -> None:
    occ = taxonomy.occupation(WAREHOUSE_WORKER)
    assert isinstance(occ, Occupation)
    assert occ.isco == "9333"
    assert occ.label_da == "lagerarbejder"
    assert occ.label_en == "warehouse worker"
    assert "lagermedarbejder" in occ.alt_da
    assert occ.alt_en and occ.label_en not in occ.alt_en


def test_occupation_only_in_danish_is_kept(taxonomy: Taxonomy) -> None:
    occ = taxonomy.occupation(WIND_TURBINE_TECHNICIAN_DA_ONLY)
    assert occ is not None
    assert occ.label_da == "vindmølletekniker"
    assert occ.label_en == ""


def test_occupation_only_in_english_is_kept(taxonomy: Taxonomy) -> None:
    english_only = [o for o in taxonomy.occupations.values() if not o.label_da]
    assert len(english_only) == 68
    assert all(o.label_en for o in english_only)


def test_unknown_uris_return_none(taxonomy: Taxonomy) -> None:
    assert taxonomy.occupation(OCC + "nope") is None
    assert taxonomy.skill(SKILL + "nope") is None


def test_skill_lookup(taxonomy: Taxonomy) -> None:
    skill = taxonomy.skill(FORKLIFT)
    assert isinstance(skill, Skill)
    assert skill.label_en == "operate forklift"
    assert skill.skill_type == "skill/competence"
    assert {s.skill_type for s in taxonomy.skills.values()} <= {"skill/competence", "knowledge", ""}


def test_isco_groups(taxonomy: Taxonomy) -> None:
    assert taxonomy.isco_groups["9333"][1] == "Freight handlers"
    assert taxonomy.isco_label("9333", "en") == "Freight handlers"
    assert taxonomy.isco_label("9333") == taxonomy.isco_groups["9333"][0]
    assert taxonomy.isco_label("x") is None
    # Every occupation's 4-digit ISCO code has a group label.
    assert all(o.isco in taxonomy.isco_groups for o in taxonomy.occupations.values())


def test_example_card_and_order_uris_are_vendored(taxonomy: Taxonomy) -> None:
    # The URIs used in shared/examples (competence card cit-7f3a9c2e, job order jo-4410).
    assert taxonomy.occupation(ORDER_PICKER) is not None
    assert taxonomy.occupation(WAREHOUSE_WORKER) is not None
    assert taxonomy.skill(FORKLIFT) is not None


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("lagerarbejder", WAREHOUSE_WORKER),
        ("lagermedarbejder", WAREHOUSE_WORKER),
        ("Lagermedarbejder", WAREHOUSE_WORKER),
        ("kok", COOK),
        ("køkkenmedhjælper", KITCHEN_ASSISTANT),
        ("rengøringsassistent", BUILDING_CLEANER),
        ("hjemmehjælper", CARE_AT_HOME_WORKER),
        ("social- og sundhedshjælper", HOME_CARE_AIDE),
        ("sosu-hjælper", HOME_CARE_AIDE),
        ("warehouse worker", WAREHOUSE_WORKER),
    ],
)
def test_link_occupation_top1(taxonomy: Taxonomy, title: str, expected: str) -> None:
    results = taxonomy.link_occupation(title)
    assert _top1(results) == expected
    assert results[0][1] >= 0.99


def test_link_occupation_close_alternatives(taxonomy: Taxonomy) -> None:
    # "plukker" is in no ESCO label on its own; the order picker ("ordreplukker") must show.
    assert ORDER_PICKER in [uri for uri, _ in taxonomy.link_occupation("plukker", top=3)]
    assert {KITCHEN_ASSISTANT, KITCHEN_PORTER} == {
        uri for uri, _ in taxonomy.link_occupation("køkkenmedhjælper", top=2)
    }


@pytest.mark.parametrize(
    "text", ["serviceassistent", "kantinemedarbejder", "Køkkenmedhjælper i kantine", "x"]
)
def test_link_results_are_well_formed(taxonomy: Taxonomy, text: str) -> None:
    for results in (taxonomy.link_occupation(text, top=7), taxonomy.link_skill(text, top=7)):
        assert len(results) <= 7
        assert len({uri for uri, _ in results}) == len(results)
        scores = [score for _, score in results]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)
    assert all(uri in taxonomy.occupations for uri, _ in taxonomy.link_occupation(text))
    assert all(uri in taxonomy.skills for uri, _ in taxonomy.link_skill(text))


@pytest.mark.parametrize("text", ["", "   ", "?!", "—"])
def test_link_empty_text(taxonomy: Taxonomy, text: str) -> None:
    assert taxonomy.link_occupation(text) == []
    assert taxonomy.link_skill(text) == []


def test_link_top_zero(taxonomy: Taxonomy) -> None:
    assert taxonomy.link_occupation("kok", top=0) == []
    assert taxonomy.link_skill("opvask", top=0) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("truckkørsel", FORKLIFT),
        ("Truckkørsel", FORKLIFT),
        ("truck", FORKLIFT),
        ("gaffeltruck", FORKLIFT),
        ("truckcertifikat", FORKLIFT),
        ("kørsel med truck", FORKLIFT),
        ("pakning af varer", PACK_GOODS),
        ("etikettering", GOODS_LABELLING),
        ("ordreplukning", PICK_ORDERS),
        ("plukning", PICK_ORDERS),
        ("varemodtagelse", RECEIVE_GOODS),
        ("opvask", WASH_DISHES),
        ("madlavning", COOKING),
        ("rengøring", CLEANING),
        ("personlig pleje", PERSONAL_CARE),
        ("hygiejne", PERSONAL_HYGIENE),
        ("hygiejnebevis", FOOD_HYGIENE),
        ("operate forklift", FORKLIFT),
    ],
)
def test_link_skill_top1(taxonomy: Taxonomy, text: str, expected: str) -> None:
    results = taxonomy.link_skill(text)
    assert _top1(results) == expected
    assert results[0][1] >= 0.85


def test_truckkorsel_is_forklift_with_high_score(taxonomy: Taxonomy) -> None:
    uri, score = taxonomy.link_skill("truckkørsel")[0]
    assert uri == FORKLIFT
    assert score >= 0.9


def test_inflected_compound_still_links(taxonomy: Taxonomy) -> None:
    # No exact glossary phrase, the TF-IDF part must carry it.
    assert _top1(taxonomy.link_skill("truckkørsler")) == FORKLIFT


def test_link_skill_finds_every_phrase_in_a_sentence(taxonomy: Taxonomy) -> None:
    card = taxonomy.link_skill("pakning og etikettering af varer", top=2)
    assert {uri for uri, _ in card} == {PACK_GOODS, GOODS_LABELLING}

    order = (
        "Plukning og pakning af ordrer, truckkørsel og varemodtagelse på vores lager i Aarhus N."
    )
    found = {uri for uri, _ in taxonomy.link_skill(order, top=5)}
    assert {PICK_ORDERS, PACK_GOODS, FORKLIFT, RECEIVE_GOODS} <= found

    kitchen = {uri for uri, _ in taxonomy.link_skill("opvask og rengøring af køkken", top=3)}
    assert WASH_DISHES in kitchen


class TestGlossaryFile:
    path = esco.DATA_DIR / esco.GLOSSARY_FILE

    def rows(self) -> list[dict[str, str]]:
        with self.path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            assert reader.fieldnames == ["phrase_da", "esco_skill_uri"]
            return list(reader)

    def test_size(self) -> None:
        assert 80 <= len(self.rows()) <= 200

    def test_every_uri_is_a_vendored_skill(self, taxonomy: Taxonomy) -> None:
        unknown = [r for r in self.rows() if r["esco_skill_uri"] not in taxonomy.skills]
        assert unknown == []

    def test_phrases_are_unique_after_normalising(self) -> None:
        phrases = [normalise(r["phrase_da"]) for r in self.rows()]
        assert all(phrases)
        assert len(phrases) == len(set(phrases))

    def test_required_phrases(self) -> None:
        mapping = {r["phrase_da"]: r["esco_skill_uri"] for r in self.rows()}
        for phrase in ("truckkørsel", "truck", "gaffeltruck", "truckcertifikat"):
            assert mapping[phrase] == FORKLIFT
        for phrase in (
            "pakning",
            "pakning af varer",
            "etikettering",
            "plukning",
            "ordreplukning",
            "varemodtagelse",
            "opvask",
            "madlavning",
            "rengøring",
            "personlig pleje",
            "hygiejne",
        ):
            assert phrase in mapping


def _tiny_taxonomy() -> Taxonomy:
    occupations = {
        "o:a": Occupation("o:a", "1111", "hjemmehjælper", "care at home worker", ("sosu",), ()),
        "o:b": Occupation("o:b", "1111", "social- og sundhedshjælper", "", ("hjemmehjælper",), ()),
        "o:c": Occupation("o:c", "2222", "", "cook", (), ("chef",)),
    }
    skills = {
        "s:fork": Skill("s:fork", "skill/competence", "operate forklift", ("drive forklift",)),
        "s:sell": Skill("s:sell", "skill/competence", "carry out active selling"),
        "s:wash": Skill("s:wash", "skill/competence", "wash the dishes"),
    }
    glossary = [
        ("truckcertifikat", "s:fork"),
        ("salg", "s:sell"),
        ("opvask", "s:wash"),
        ("ukendt", "s:missing"),
    ]
    return Taxonomy(occupations, skills, {"1111": ("a", "b")}, glossary)


def test_shared_label_goes_to_the_preferred_owner() -> None:
    tiny = _tiny_taxonomy()
    results = tiny.link_occupation("hjemmehjælper", top=3)
    assert [uri for uri, _ in results[:2]] == ["o:a", "o:b"]
    assert results[0][1] == pytest.approx(results[1][1])
    assert _top1(tiny.link_occupation("Cook")) == "o:c"


def test_glossary_scoring_levels() -> None:
    tiny = _tiny_taxonomy()
    assert tiny.link_skill("truckcertifikat")[0] == ("s:fork", 1.0)
    in_words = dict(tiny.link_skill("har truckcertifikat"))["s:fork"]
    in_compound = dict(tiny.link_skill("har truckcertifikatet"))["s:fork"]
    assert esco.GLOSSARY_WORDS < in_words < esco.GLOSSARY_EXACT
    assert esco.GLOSSARY_COMPOUND < in_compound < esco.GLOSSARY_WORDS + esco.GLOSSARY_COVERAGE_BONUS
    assert in_compound < in_words
    # Short phrases count as whole words only: "salg" must not fire inside "salgschef".
    assert dict(tiny.glossary_hits("salg og service"))["s:sell"] > esco.GLOSSARY_WORDS
    assert "s:sell" not in dict(tiny.glossary_hits("salgschef"))
    # Glossary rows pointing at unknown skills are ignored.
    assert "ukendt" not in tiny.glossary


def test_empty_taxonomy_links_nothing() -> None:
    empty = Taxonomy({}, {}, {})
    assert empty.link_occupation("kok") == []
    assert empty.link_skill("opvask") == []


def test_data_folder_is_small_and_attributed() -> None:
    files = [p for p in esco.DATA_DIR.iterdir() if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 3_000_000
    attribution = (esco.DATA_DIR / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "This service uses the ESCO classification of the European Commission." in attribution
    for needle in ("DAWA", "PostNord", "GeoNames", "CC-BY 4.0", "ODbL"):
        assert needle in attribution


def test_word_composed_counts_equal_sklearn_char_wb() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    labels = [
        "operate forklift",
        "clean clean floors",
        "social og sundhedshjælper",
        "kok",
        "pack goods by hand",
        "a",
    ]
    model = esco._fit([label.split() for label in labels], (2, 4))
    assert model is not None
    reference = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    expected = reference.fit_transform(labels)
    ours = model.matrix.tocsr()
    # Column order differs; the label-by-label cosine similarities must not.
    assert (ours @ ours.T).toarray() == pytest.approx((expected @ expected.T).toarray(), abs=1e-5)
