"""Names of ESCO concepts for people: light look-ups without the fitted linkers.

The matching worker's explanations and the web application's pages need a skill's or an
occupation's name, in Danish where we have one, without paying for the taxonomy's text
indexes. Each table is read from ``data/`` on first use and then cached; the answers depend
on the vendored files alone, so every process and every replay names a concept alike.
"""

from __future__ import annotations

from functools import cache

from services.reference.concepts import DATA_DIR, best_label, normalise
from services.reference.esco import (
    OCCUPATIONS_FILE,
    SKILL_LABELS_DA_FILE,
    SKILLS_FILE,
    read_occupations,
    read_skill_labels_da,
    read_skills,
)
from services.reference.occupation_linker import curated_titles


@cache
def _occupation_labels() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """uri -> (Danish labels: preferred, alt, curated titles; English: preferred, alt)."""
    titles: dict[str, list[str]] = {}
    for title, uri in curated_titles():
        titles.setdefault(uri, []).append(title)
    out: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for uri, occ in read_occupations(DATA_DIR / OCCUPATIONS_FILE).items():
        danish = tuple(x for x in (occ.label_da, *occ.alt_da, *titles.get(uri, ())) if x)
        english = tuple(x for x in (occ.label_en, *occ.alt_en) if x)
        out[uri] = (danish, english)
    return out


def occupation_name(uri: str, words: str | None = None, lang: str = "da") -> str | None:
    """An occupation's name in ``lang`` ("da" falls back to English where ESCO has no Danish
    label): the label closest to the person's ``words`` when they share something with one
    (so "lastbilchauffør", not ESCO's preferred "bagagevognschauffør", for someone who wrote
    "lastbilchauffør"), else the preferred label; None for an unknown URI."""
    labels = _occupation_labels().get(uri)
    if labels is None:
        return None
    danish, english = labels
    ordered = (danish or english) if lang == "da" else (english or danish)
    if not ordered:
        return None
    if words:
        found = best_label(words, ordered)
        if found:
            return found
    return ordered[0]


@cache
def _skill_names() -> tuple[dict[str, str], dict[str, str]]:
    """(uri -> Danish name, uri -> English label)."""
    danish = read_skill_labels_da(DATA_DIR / SKILL_LABELS_DA_FILE)
    english = {uri: s.label_en for uri, s in read_skills(DATA_DIR / SKILLS_FILE, {}).items()}
    return danish, english


@cache
def _skill_by_english_label() -> dict[str, str]:
    return {normalise(label): uri for uri, label in _skill_names()[1].items()}


def skill_name(uri: str, lang: str = "da") -> str | None:
    """A skill's name: our Danish label for ``lang`` "da" where there is one, else ESCO's
    English label; None for an unknown URI."""
    danish, english = _skill_names()
    if lang == "da" and uri in danish:
        return danish[uri]
    return english.get(uri)


def skill_uri_of_label(label: str) -> str | None:
    """The skill whose English ESCO label this is (suggestions recorded before gaps were
    given by URI named them so)."""
    return _skill_by_english_label().get(normalise(label))
