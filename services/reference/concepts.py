"""The ESCO concepts and the text tools both the taxonomy and the occupation linker use.

`esco` (the taxonomy: files, skills, glossary) and `occupation_linker` (job titles to
occupations) both import from here and not from each other's internals, so neither imports
the other at module level in a circle: `esco` imports the linker, the linker imports this.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    # Imported lazily at run time: scikit-learn and SciPy take ~1 s to import, which callers
    # that only need the dataclasses should not pay.
    from scipy.sparse import csc_matrix
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

DATA_DIR = Path(__file__).resolve().parent / "data"

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
    # Our curated Danish name (ESCO has English skill labels only); "" where there is none.
    label_da: str = ""

    def labels(self) -> tuple[str, ...]:
        return tuple(label for label in (self.label_en, *self.alt_en) if label)

    def label(self, lang: str) -> str:
        """The name to show a person: Danish where we have one, else ESCO's English label."""
        return (self.label_da or self.label_en) if lang == "da" else self.label_en


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


def _trigrams(norm: str) -> set[str]:
    grams: set[str] = set()
    for word in norm.split():
        padded = f" {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


def best_label(text: str, labels: Iterable[str]) -> str | None:
    """Of a concept's labels, the one closest to the person's words: an exact match (after
    normalising), else the most character trigrams in common (Dice), earlier labels first
    on a tie; None when the text shares nothing with any label.

    Used to show "lastbilchauffør" to someone who wrote it, rather than ESCO's preferred
    "bagagevognschauffør" for the same occupation.
    """
    norm = normalise(text)
    if not norm:
        return None
    grams = _trigrams(norm)
    best: str | None = None
    best_score = 0.0
    for label in labels:
        other = normalise(label)
        if not other:
            continue
        if other == norm:
            return label
        theirs = _trigrams(other)
        score = 2 * len(grams & theirs) / (len(grams) + len(theirs))
        if score > best_score:
            best, best_score = label, score
    return best
