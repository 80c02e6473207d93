"""Names of ESCO concepts for people: the matched label, Danish skill names."""

from __future__ import annotations

import csv
from pathlib import Path

from services.reference.concepts import best_label
from services.reference.esco import DATA_DIR, SKILL_LABELS_DA_FILE, read_skills
from services.reference.labels import occupation_name, skill_name, skill_uri_of_label
from services.reference.relations import load_relations

OCC = "http://data.europa.eu/esco/occupation/"
SKILL = "http://data.europa.eu/esco/skill/"
CARGO_VEHICLE_DRIVER = OCC + "45037d43-a8f5-4f46-b332-b2935bc305f4"
BUILDING_CLEANER = OCC + "303a1e34-cb16-4054-b323-81e5eec17397"
CLEAN_FLOORS = SKILL + "a2cd3b30-2d6c-473e-a5d4-4e7cb576babe"


def test_best_label_prefers_an_exact_match_then_shared_trigrams() -> None:
    labels = ("bagagevognschauffør", "pakkekurér", "lastbilchauffør")
    assert best_label("Lastbilchauffør", labels) == "lastbilchauffør"
    assert best_label("chauffør lastbil C/E", labels) == "lastbilchauffør"
    assert best_label("xyz", labels) is None
    assert best_label("", labels) is None


def test_occupation_name_quotes_the_persons_words() -> None:
    assert occupation_name(CARGO_VEHICLE_DRIVER, "lastbilchauffør") == "lastbilchauffør"
    # Without words, or with words sharing nothing, the preferred Danish label.
    assert occupation_name(CARGO_VEHICLE_DRIVER) == "bagagevognschauffør"
    assert occupation_name(CARGO_VEHICLE_DRIVER, "qqq") == "bagagevognschauffør"
    # Our curated titles count as Danish labels of their occupation.
    assert occupation_name(BUILDING_CLEANER, "serviceassistent") == "Serviceassistent"
    assert occupation_name(CARGO_VEHICLE_DRIVER, "truck driver", "en") == "truck driver"
    assert occupation_name(OCC + "unknown", "x") is None


def _target_essential_skills() -> set[str]:
    with (DATA_DIR / "target_jobs.csv").open(encoding="utf-8", newline="") as fh:
        uris = {row["esco_uri"] for row in csv.DictReader(fh)}
    relations = load_relations()
    return {skill for uri in uris for skill in relations[uri].essential}


def test_every_essential_skill_of_the_target_jobs_has_a_danish_name() -> None:
    essential = _target_essential_skills()
    assert len(essential) == 579
    skills = read_skills(DATA_DIR / "skills.csv.gz")
    missing = sorted(skills[u].label_en for u in essential if not skills[u].label_da)
    assert not missing
    assert skills[CLEAN_FLOORS].label("da") == "rengøre gulve"
    assert skills[CLEAN_FLOORS].label("en") == "clean building floors"


def test_danish_skill_file_is_well_formed() -> None:
    path: Path = DATA_DIR / SKILL_LABELS_DA_FILE
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    skills = read_skills(DATA_DIR / "skills.csv.gz", {})
    assert len({r["uri"] for r in rows}) == len(rows)
    for row in rows:
        assert row["uri"] in skills, row
        # The English column is ESCO's label, kept for review; the Danish one is ours.
        assert row["label_en"] == skills[row["uri"]].label_en
        assert row["label_da"] and row["label_da"] != row["label_en"]
        assert row["source"] == "curated"


def test_skill_names_in_either_language_and_from_old_english_labels() -> None:
    assert skill_name(CLEAN_FLOORS) == "rengøre gulve"
    assert skill_name(CLEAN_FLOORS, "en") == "clean building floors"
    assert skill_uri_of_label("Clean building floors") == CLEAN_FLOORS
    assert skill_name(SKILL + "unknown") is None
