"""ESCO occupations and skills, vendored, with a baseline text linker for Danish input.

Citizens and employers describe jobs and skills in free Danish text ("lagermedarbejder",
"truckkørsel"); matching needs ESCO URIs. ``load_taxonomy()`` reads the files in ``data/``
once and fits character n-gram TF-IDF indexes, so callers never touch the files directly.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from pathlib import Path

import numpy as np

from services.reference.concepts import (
    DATA_DIR,
    Occupation,
    Skill,
    _fit,
    _Model,
    best_label,
    normalise,
)
from services.reference.occupation_linker import (
    LinkedOccupation,
    OccupationLinker,
    curated_titles,
    target_job_priors,
)

__all__ = [
    "DATA_DIR",
    "LinkedOccupation",
    "Occupation",
    "Skill",
    "Taxonomy",
    "_Model",
    "_fit",
    "best_label",
    "load_taxonomy",
    "normalise",
]

OCCUPATIONS_FILE = "occupations.csv.gz"
SKILLS_FILE = "skills.csv.gz"
ISCO_FILE = "isco_groups.csv.gz"
GLOSSARY_FILE = "skills_glossary_da.csv"
SKILL_LABELS_DA_FILE = "skills_da.csv"

_LIST_SEP = "|"

# Glossary scores sit above typical TF-IDF similarities of loosely related labels, so a
# curated Danish phrase found in the text outranks n-gram look-alikes. Coverage (how much of
# the text the phrase explains) orders several hits in one sentence.
GLOSSARY_EXACT = 1.0
GLOSSARY_WORDS = 0.85
GLOSSARY_COMPOUND = 0.8
GLOSSARY_COVERAGE_BONUS = 0.1
# Danish glues words together ("truckcertifikatet", "rengøringsopgaver"); shorter phrases
# inside compounds are too often accidental ("salg" in "salgschef"), so they must stand alone.
MIN_COMPOUND_PHRASE_LEN = 6


class _LabelIndex:
    """Character n-gram TF-IDF over concept labels; a concept scores its best label.

    ``char_wb`` n-grams never cross a space, so the count vector of a label is the sum of
    those of its words. Counting each distinct word once and composing with a sparse
    label-by-word product gives exactly ``CountVectorizer(analyzer="char_wb")`` counts, several
    times faster on ESCO's ~100k skill labels, which keeps loading within budget.
    """

    def __init__(
        self, concepts: Iterable[tuple[str, Sequence[str], int]], ngram_range: tuple[int, int]
    ) -> None:
        uris: list[str] = []
        starts: list[int] = []
        label_words: list[list[str]] = []
        preferred: list[bool] = []
        for uri, labels, n_preferred in concepts:
            seen: set[str] = set()
            first = len(label_words)
            for i, label in enumerate(labels):
                norm = normalise(label)
                if norm and norm not in seen:
                    seen.add(norm)
                    label_words.append(norm.split())
                    preferred.append(i < n_preferred)
            if len(label_words) > first:
                uris.append(uri)
                starts.append(first)
        self._uris = uris
        self._starts = np.asarray(starts, dtype=np.intp)
        self._preferred = np.asarray(preferred, dtype=np.float32)
        self._model = _fit(label_words, ngram_range)

    def __len__(self) -> int:
        return len(self._uris)

    def search(self, text: str, top: int) -> list[tuple[str, float]]:
        norm = normalise(text)
        if self._model is None or not norm or top <= 0:
            return []
        model = self._model
        query = model.tfidf.transform(model.counter.transform([norm]))
        if query.nnz == 0:
            return []
        label_scores = np.asarray(model.matrix[:, query.indices] @ query.data).ravel()
        scores = np.maximum.reduceat(label_scores, self._starts)
        # Several concepts often share a label ("hjemmehjælper" is preferred for one
        # occupation and an alt label of another): the closer preferred label wins the tie.
        pref_scores = np.maximum.reduceat(label_scores * self._preferred, self._starts)
        candidates = np.flatnonzero(scores > 0)
        keep = max(top * 10, 50)
        if candidates.size > keep:
            part = np.argpartition(-scores[candidates], keep - 1)[:keep]
            candidates = candidates[part]
        rounded = np.round(scores[candidates], 6)
        order = np.lexsort((-pref_scores[candidates], -rounded))[:top]
        return [(self._uris[i], float(min(1.0, scores[i]))) for i in candidates[order]]


class Taxonomy:
    """The vendored ESCO subset plus fitted linkers; build it with ``load_taxonomy()``."""

    def __init__(
        self,
        occupations: dict[str, Occupation],
        skills: dict[str, Skill],
        isco_groups: dict[str, tuple[str, str]],
        glossary: Iterable[tuple[str, str]] = (),
        ngram_range: tuple[int, int] = (2, 4),
    ) -> None:
        self.occupations = occupations
        self.skills = skills
        self.isco_groups = isco_groups
        merged: dict[str, list[str]] = {}
        for phrase, uri in glossary:
            norm = normalise(phrase)
            if norm and uri in skills and uri not in merged.setdefault(norm, []):
                merged[norm].append(uri)
        self.glossary: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in merged.items()}

        phrases_by_skill: dict[str, list[str]] = {}
        for phrase, uris in self.glossary.items():
            for uri in uris:
                phrases_by_skill.setdefault(uri, []).append(phrase)
        self.occupation_linker = OccupationLinker(
            occupations.values(), target_job_priors(), titles=curated_titles()
        )
        self._skill_index = _LabelIndex(
            (
                (s.uri, (*s.labels(), *phrases_by_skill.get(s.uri, ()), s.label_da), 1)
                for s in skills.values()
            ),
            ngram_range,
        )

    def occupation(self, uri: str) -> Occupation | None:
        return self.occupations.get(uri)

    def skill(self, uri: str) -> Skill | None:
        return self.skills.get(uri)

    def isco_label(self, code: str, lang: str = "da") -> str | None:
        group = self.isco_groups.get(code)
        if group is None:
            return None
        return group[0] if lang == "da" else group[1]

    def link_occupation(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        """ESCO occupations for a free-text job title (Danish or English), best first, scores
        in 0..1 (1.0 for an exact label). See ``occupation_linker`` for how."""
        return self.occupation_linker.search(text, top)

    def link_occupation_labelled(self, text: str, top: int = 5) -> list[LinkedOccupation]:
        """As ``link_occupation``, each with the label that matched the words (a Danish or
        English ESCO label, or one of our curated Danish job titles)."""
        return self.occupation_linker.search_labelled(text, top)

    def skill_name(self, uri: str, lang: str = "da") -> str | None:
        """A skill's name to show a person: our Danish label where there is one (``lang``
        "da"), else ESCO's English label; None for an unknown URI."""
        skill = self.skills.get(uri)
        return skill.label(lang) if skill else None

    def link_skill(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        """ESCO skills for a free-text skill, task or certificate, best first, scores in 0..1.

        Curated Danish glossary phrases found in the text come first (1.0 when the whole
        text is the phrase); TF-IDF over the English labels and glossary phrases fills up.
        """
        if top <= 0:
            return []
        scores = dict(self.glossary_hits(text))
        for uri, score in self._skill_index.search(text, top):
            if score > scores.get(uri, 0.0):
                scores[uri] = score
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        return ranked[:top]

    def glossary_hits(self, text: str) -> Iterator[tuple[str, float]]:
        """(skill uri, score) for each curated Danish phrase found in the text."""
        norm = normalise(text)
        if not norm:
            return
        padded = f" {norm} "
        for phrase, uris in self.glossary.items():
            if phrase not in norm:
                continue
            coverage = len(phrase) / len(norm)
            if phrase == norm:
                score = GLOSSARY_EXACT
            elif f" {phrase} " in padded:
                score = GLOSSARY_WORDS + GLOSSARY_COVERAGE_BONUS * coverage
            elif len(phrase) >= MIN_COMPOUND_PHRASE_LEN:
                score = GLOSSARY_COMPOUND + GLOSSARY_COVERAGE_BONUS * coverage
            else:
                continue
            for uri in uris:
                yield uri, score


def _read_rows(path: Path) -> Iterator[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


def _split(value: str) -> tuple[str, ...]:
    return tuple(part for part in value.split(_LIST_SEP) if part)


def read_occupations(path: Path) -> dict[str, Occupation]:
    return {
        r["uri"]: Occupation(
            uri=r["uri"],
            isco=r["isco"],
            label_da=r["label_da"],
            label_en=r["label_en"],
            alt_da=_split(r["alt_da"]),
            alt_en=_split(r["alt_en"]),
        )
        for r in _read_rows(path)
    }


def read_skill_labels_da(path: Path) -> dict[str, str]:
    """Our Danish skill names (uri -> label); empty when the file is absent."""
    if not path.exists():
        return {}
    return {r["uri"]: r["label_da"] for r in _read_rows(path) if r["label_da"]}


def read_skills(path: Path, labels_da: dict[str, str] | None = None) -> dict[str, Skill]:
    """ESCO's skills; with the Danish names from ``skills_da.csv`` beside the file unless
    ``labels_da`` is given."""
    if labels_da is None:
        labels_da = read_skill_labels_da(path.with_name(SKILL_LABELS_DA_FILE))
    return {
        r["uri"]: Skill(
            uri=r["uri"],
            skill_type=r["skill_type"],
            label_en=r["label_en"],
            alt_en=_split(r["alt_en"]),
            label_da=labels_da.get(r["uri"], ""),
        )
        for r in _read_rows(path)
    }


def read_isco_groups(path: Path) -> dict[str, tuple[str, str]]:
    return {r["code"]: (r["label_da"], r["label_en"]) for r in _read_rows(path)}


def read_glossary(path: Path) -> list[tuple[str, str]]:
    return [(r["phrase_da"], r["esco_skill_uri"]) for r in _read_rows(path)]


def load_taxonomy_from(data_dir: Path) -> Taxonomy:
    return Taxonomy(
        occupations=read_occupations(data_dir / OCCUPATIONS_FILE),
        skills=read_skills(data_dir / SKILLS_FILE),
        isco_groups=read_isco_groups(data_dir / ISCO_FILE),
        glossary=read_glossary(data_dir / GLOSSARY_FILE),
    )


@cache
def load_taxonomy() -> Taxonomy:
    """The shared taxonomy, read and fitted on first call (about 1-2 s) and then cached."""
    return load_taxonomy_from(DATA_DIR)


def occupation_label(occupation: Occupation, lang: str) -> str:
    """The preferred label in ``lang`` ("da" or "en"); Danish falls back to English."""
    if lang == "da":
        return occupation.label_da or occupation.label_en
    return occupation.label_en or occupation.label_da


def search_occupations(q: str, lang: str = "da", limit: int = 10) -> list[dict[str, object]]:
    """Occupations for a free-text title, for the HTTP search endpoint: best first, each
    ``{"uri", "label", "isco", "score"}`` with the label in ``lang``."""
    taxonomy = load_taxonomy()
    results: list[dict[str, object]] = []
    for found in taxonomy.link_occupation_labelled(q, top=limit):
        occ = taxonomy.occupations[found.uri]
        results.append(
            {
                "uri": found.uri,
                "label": matched_label(occ, found.label, lang),
                "isco": occ.isco,
                "score": round(found.score, 4),
            }
        )
    return results


def matched_label(occupation: Occupation, matched: str | None, lang: str) -> str:
    """The label to show for a link: the one that matched the person's words when it is in
    ``lang`` (Danish: a Danish label or curated title; English: an English label), else the
    preferred label in ``lang``."""
    if matched:
        english = matched in (occupation.label_en, *occupation.alt_en)
        danish = not english or matched in (occupation.label_da, *occupation.alt_da)
        if (lang == "da" and danish) or (lang != "da" and english):
            return matched
    return occupation_label(occupation, lang)
