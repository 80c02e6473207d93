from __future__ import annotations

import pytest

from services.reference.esco import (
    Occupation,
    Taxonomy,
    load_taxonomy,
    normalise,
    search_occupations,
)
from services.reference.evaluation import BaselineLinker, Query, evaluate, holdout, read_titles
from services.reference.occupation_linker import CompoundSplitter, OccupationLinker, stem

OCC = "http://data.europa.eu/esco/occupation/"
WAREHOUSE_WORKER = OCC + "bea705fe-06ac-4147-b8e0-6e8ac1208d8f"
FORKLIFT_OPERATOR = OCC + "eeac6251-1974-42f5-91ed-513c6c883755"
KITCHEN_ASSISTANT = OCC + "e1cf6897-158d-4b48-a39e-2a3a8cac216c"
BUS_DRIVER = OCC + "4de32e8a-9e18-4ca9-8a3c-8c15e0a0e6e2"


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


def test_compound_splitting_finds_modifier_and_head(taxonomy: Taxonomy) -> None:
    splitter = taxonomy.occupation_linker.splitter
    assert splitter.split("lagermedarbejder") == ("lager", "medarbejder")
    assert splitter.split("rengøringsassistent") == ("rengøring", "assistent")
    assert splitter.split("pædagogmedhjælper") == ("pædagog", "medhjælper")
    assert splitter.split("tømrer") == ("tømrer",)


def test_splitter_learns_modifiers_from_compounds() -> None:
    splitter = CompoundSplitter(["arbejder", "lagerarbejder", "lagerekspedient", "ekspedient"])
    assert "lager" in splitter.vocabulary
    assert splitter.split("lagermedarbejder")[-1] == "medarbejder"


def test_stem_strips_danish_endings() -> None:
    assert stem("arbejdere") == stem("arbejder") == "arbejd"
    assert stem("lageret") == "lager"
    assert stem("kok") == "kok"


def test_learnt_head_rewrites(taxonomy: Taxonomy) -> None:
    rewrites = taxonomy.occupation_linker.rewrites("butiksbestyrer")
    assert "butikschef" in rewrites
    assert "lagerarbejder" in taxonomy.occupation_linker.rewrites("lagermedarbejder")


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("lagermedarbejder", WAREHOUSE_WORKER),
        ("Lagermedarbejdere", WAREHOUSE_WORKER),
        ("truckfører", FORKLIFT_OPERATOR),
        ("køkkenmedarbejder", KITCHEN_ASSISTANT),
    ],
)
def test_job_ad_titles_top1(taxonomy: Taxonomy, title: str, expected: str) -> None:
    assert taxonomy.link_occupation(title, top=3)[0][0] == expected


def test_buschauffor_top3(taxonomy: Taxonomy) -> None:
    uris = [uri for uri, _ in taxonomy.link_occupation("buschauffør", top=3)]
    labels = [taxonomy.occupations[u].label_en for u in uris]
    assert "bus driver" in labels


def test_scores_are_bounded_and_sorted(taxonomy: Taxonomy) -> None:
    for text in ("lagermedarbejder", "ejendomsservicetekniker", "warehouse worker", "xyz"):
        scores = [s for _, s in taxonomy.link_occupation(text, top=10)]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)


def test_search_occupations_shape(taxonomy: Taxonomy) -> None:
    rows = search_occupations("lagermedarbejder", lang="da", limit=3)
    assert len(rows) == 3
    assert set(rows[0]) == {"uri", "label", "isco", "score"}
    assert rows[0]["uri"] == WAREHOUSE_WORKER
    # The label that matched the words, not ESCO's preferred "lagerarbejder".
    assert rows[0]["label"] == "lagermedarbejder"
    assert rows[0]["isco"] == "9333"
    assert search_occupations("lagermedarbejder", lang="en", limit=1)[0]["label"] == (
        "warehouse worker"
    )
    assert search_occupations("", lang="da", limit=3) == []


def _occupations() -> dict[str, Occupation]:
    return {
        "o:a": Occupation("o:a", "1", "lagerarbejder", "", ("lagermedarbejder", "pakker"), ()),
        "o:b": Occupation("o:b", "1", "kok", "", ("køkkenchef", "kantinekok"), ()),
        "o:c": Occupation("o:c", "2", "tømrer", "", ("snedker",), ()),
    }


def test_holdout_removes_the_held_out_labels_from_both_indexes(taxonomy: Taxonomy) -> None:
    train, queries = holdout(taxonomy.occupations, seed=3, fraction=0.2)
    assert 300 < len(queries) < 600
    held = {normalise(q.text) for q in queries}
    remaining = {
        normalise(label) for occ in train.values() for label in (occ.label_da, *occ.alt_da)
    }
    assert not held & remaining
    baseline = BaselineLinker(train.values(), (2, 4))
    assert not held & {normalise(label) for label in baseline.labels}
    # Same seed, same split.
    assert holdout(taxonomy.occupations, seed=3, fraction=0.2)[1] == queries
    assert holdout(taxonomy.occupations, seed=4, fraction=0.2)[1] != queries


def test_holdout_only_takes_alt_labels_unique_to_their_occupation() -> None:
    occs = _occupations()
    occs["o:d"] = Occupation("o:d", "2", "snedker", "", ("tømrer",), ())
    _, queries = holdout(occs, seed=0, fraction=0.99)
    texts = {q.text for q in queries}
    assert texts <= {"lagermedarbejder", "pakker", "køkkenchef", "kantinekok"}
    assert all(len(q.accepted) == 1 for q in queries)


def test_evaluate_metrics() -> None:
    linker = OccupationLinker(_occupations().values())
    queries = [Query("lagermedarbejder", frozenset({"o:a"})), Query("xyz", frozenset({"o:c"}))]
    metrics = evaluate(linker.search, queries)
    assert metrics.n == 2
    assert metrics.hit1 == pytest.approx(0.5)
    assert metrics.mrr == pytest.approx(0.5)


def test_titles_file_uris_exist(taxonomy: Taxonomy) -> None:
    titles = read_titles()
    assert 60 <= len(titles) <= 120
    assert all(q.accepted and q.accepted <= taxonomy.occupations.keys() for q in titles)
