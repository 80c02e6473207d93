"""ESCO occupations and skills, vendored, with a baseline text linker for Danish input.

Citizens and employers describe jobs and skills in free Danish text ("lagermedarbejder",
"truckkørsel"); matching needs ESCO URIs. ``load_taxonomy()`` reads the files in ``data/``
once and fits character n-gram TF-IDF indexes, so callers never touch the files directly.
"""

from __future__ import annotations

import csv
import gzip
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    # Imported lazily at run time: scikit-learn and SciPy take ~1 s to import, which callers
    # that only need the dataclasses should not pay.
    from scipy.sparse import csc_matrix
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

DATA_DIR = Path(__file__).resolve().parent / "data"

OCCUPATIONS_FILE = "occupations.csv.gz"
SKILLS_FILE = "skills.csv.gz"
ISCO_FILE = "isco_groups.csv.gz"
GLOSSARY_FILE = "skills_glossary_da.csv"

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

_NON_WORD = re.compile(r"[\W_]+")
# Same result as the regex for ASCII input, several times faster; the ~100k ESCO labels
# normalised at load time are nearly all ASCII, so this is what keeps loading fast.
_ASCII_NON_WORD = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalnum()})


def normalise(text: str) -> str:
    """Lowercase, drop punctuation and collapse spaces; æ, ø, å and accents are kept."""
    if text.isascii():
        return " ".join(text.lower().translate(_ASCII_NON_WORD).split())
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


@dataclass(frozen=True, slots=True)
class Occupation:
    uri: str
    isco: str
    label_da: str
    label_en: str
    alt_da: tuple[str, ...] = ()
    alt_en: tuple[str, ...] = ()

    def labels(self) -> tuple[str, ...]:
        """Preferred labels first, then alt labels; empty labels left out."""
        return tuple(
            label for label in (self.label_da, self.label_en, *self.alt_da, *self.alt_en) if label
        )


@dataclass(frozen=True, slots=True)
class Skill:
    uri: str
    skill_type: str
    label_en: str
    alt_en: tuple[str, ...] = ()

    def labels(self) -> tuple[str, ...]:
        return tuple(label for label in (self.label_en, *self.alt_en) if label)


@dataclass(frozen=True, slots=True)
class _Model:
    counter: CountVectorizer
    tfidf: TfidfTransformer
    matrix: csc_matrix


def _fit(label_words: list[list[str]], ngram_range: tuple[int, int]) -> _Model | None:
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    vocabulary: dict[str, int] = {}
    indices: list[int] = []
    indptr = [0]
    for words in label_words:
        for word in words:
            indices.append(vocabulary.setdefault(word, len(vocabulary)))
        indptr.append(len(indices))
    if not vocabulary:
        return None
    label_by_word = csr_matrix(
        (np.ones(len(indices), dtype=np.float32), indices, indptr),
        shape=(len(label_words), len(vocabulary)),
    )
    counter = CountVectorizer(
        analyzer="char_wb", ngram_range=ngram_range, lowercase=False, dtype=np.float32
    )
    word_by_gram = counter.fit_transform(list(vocabulary))
    tfidf = TfidfTransformer(sublinear_tf=True)
    matrix = tfidf.fit_transform(label_by_word @ word_by_gram)
    # Column-major, because a query touches a few dozen n-gram columns of ~100k rows.
    return _Model(counter=counter, tfidf=tfidf, matrix=matrix.tocsc())


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
        # Imported here: the linker module imports this one for the dataclasses.
        from services.reference.occupation_linker import OccupationLinker, target_job_priors

        self.occupation_linker = OccupationLinker(occupations.values(), target_job_priors())
        self._skill_index = _LabelIndex(
            ((s.uri, (*s.labels(), *phrases_by_skill.get(s.uri, ())), 1) for s in skills.values()),
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


def read_skills(path: Path) -> dict[str, Skill]:
    return {
        r["uri"]: Skill(
            uri=r["uri"],
            skill_type=r["skill_type"],
            label_en=r["label_en"],
            alt_en=_split(r["alt_en"]),
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
    for uri, score in taxonomy.link_occupation(q, top=limit):
        occ = taxonomy.occupations[uri]
        results.append(
            {
                "uri": uri,
                "label": occupation_label(occ, lang),
                "isco": occ.isco,
                "score": round(score, 4),
            }
        )
    return results
