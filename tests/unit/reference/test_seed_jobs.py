"""Every job in the seeds links top-1 to the right ESCO occupation (issue 14).

The seeds' jobs are listed in ``bench/data/seed_jobs.csv`` with the occupations accepted as
right: the 12 VIP2 jobpakker by the names VIP2 gives them, the IGU jobs in care, cleaning,
kitchen, warehouse, transport, agriculture and childcare, and the titles of the demo's
example cards and orders. ``bench/linking.py`` reports the same set.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from services.reference.esco import Taxonomy, load_taxonomy, normalise
from services.reference.evaluation import read_titles

ROOT = Path(__file__).resolve().parents[3]
SEED_JOBS = ROOT / "bench" / "data" / "seed_jobs.csv"
EXAMPLES = ROOT / "services" / "demo" / "examples"
OCC = "http://data.europa.eu/esco/occupation/"
BUILDING_CLEANER = OCC + "303a1e34-cb16-4054-b323-81e5eec17397"
PARKING_VALET = OCC + "880a6cd1-2356-4994-8983-ac364763beaf"
KITCHEN_ASSISTANT = OCC + "e1cf6897-158d-4b48-a39e-2a3a8cac216c"
CARGO_VEHICLE_DRIVER = OCC + "45037d43-a8f5-4f46-b332-b2935bc305f4"
JOBPAKKER = 12


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


def _rows() -> list[dict[str, str]]:
    with SEED_JOBS.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_list_covers_the_seeds() -> None:
    rows = _rows()
    assert sum(r["source"].startswith("VIP2 jobpakke") for r in rows) == JOBPAKKER
    areas = " ".join(r["source"] for r in rows)
    for area in (
        "care",
        "cleaning",
        "kitchen",
        "warehouse",
        "transport",
        "agriculture",
        "childcare",
    ):
        assert f"IGU {area}" in areas, area
    # The demo's example cards and orders: every title they carry is in the list.
    listed = {normalise(r["title"]) for r in rows}
    import json

    for path in EXAMPLES.glob("*.json"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        titles = [doc["title"]] if "title" in doc else []
        titles += [e["title"] for e in doc.get("experience", [])]
        titles += [w["title"] for w in doc.get("job_wishes", [])]
        assert {normalise(t) for t in titles} <= listed, path.name


@pytest.mark.parametrize("query", read_titles(SEED_JOBS), ids=lambda q: q.text)
def test_seed_job_links_top1_to_the_right_occupation(taxonomy: Taxonomy, query: object) -> None:
    from services.reference.evaluation import Query

    assert isinstance(query, Query)
    found = taxonomy.link_occupation(query.text, top=1)
    assert found, "unlinked"
    uri, score = found[0]
    names = {u: taxonomy.occupations[u].label_en for u in query.accepted}
    assert uri in query.accepted, (taxonomy.occupations[uri].label_en, names)
    assert score >= 0.5, "below the services' linking threshold"


def test_serviceassistent_is_a_cleaning_job_not_parking(taxonomy: Taxonomy) -> None:
    ranked = [uri for uri, _ in taxonomy.link_occupation("serviceassistent", top=3)]
    assert ranked[0] == BUILDING_CLEANER
    assert PARKING_VALET not in ranked[:1]


def test_product_copy_of_target_jobs_carries_the_correction() -> None:
    path = ROOT / "services" / "reference" / "data" / "target_jobs.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["job"] == "Serviceassistent"]
    assert [(r["rank"], r["en_pref"]) for r in rows] == [
        ("1", "building cleaner"),
        ("2", "hospital porter"),
    ]


@pytest.mark.parametrize(
    ("words", "uri", "label"),
    [
        ("Lastbilchauffør", CARGO_VEHICLE_DRIVER, "lastbilchauffør"),
        ("kantinemedarbejder", KITCHEN_ASSISTANT, "kantinemedarbejder"),
        ("Serviceassistent i staten", BUILDING_CLEANER, "Serviceassistent i staten"),
    ],
)
def test_the_linker_says_which_label_matched(
    taxonomy: Taxonomy, words: str, uri: str, label: str
) -> None:
    best = taxonomy.link_occupation_labelled(words, top=1)[0]
    assert (best.uri, best.label) == (uri, label)
    # ESCO's preferred label is not what the person wrote.
    assert normalise(taxonomy.occupations[uri].label_da) != normalise(label)


def test_esco_and_the_linker_import_without_a_circle() -> None:
    code = (
        "import sys\n"
        "import services.reference.occupation_linker\n"
        "assert 'services.reference.esco' not in sys.modules, 'the linker imports esco'\n"
        "import services.reference.esco\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
