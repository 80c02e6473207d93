"""Free-text job titles (Danish or English) to ESCO occupations.

Plain character n-gram TF-IDF over ESCO's Danish labels (the issue's baseline) treats every
n-gram alike. Danish job titles are compounds whose last part names the job
("lager|medarbejder", "pædagog|medhjælper") and whose first part names the domain, and job ads
use heads ESCO uses less ("-medarbejder" where ESCO says "-arbejder"). The linker blends:

- character n-grams over Danish and English labels (robust to spelling and inflection);
- word-level TF-IDF over lightly stemmed words *and* their compound parts, split against a
  vocabulary learnt from the labels, with the compound head as a feature of its own, and head
  synonyms learnt from ESCO (heads that alternate within one occupation's labels);
- occupation-level aggregation (best label plus a share of the second best) and ISCO-group
  smoothing, so occupations whose several labels agree, or whose siblings match, rise.

Everything is fitted from the occupations passed in, so the held-out bench can leave labels
out and fit on the rest.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from services.reference.concepts import DATA_DIR, Occupation, _fit, _Model, best_label, normalise

if TYPE_CHECKING:
    from scipy.sparse import csc_matrix, csr_matrix


@dataclass(frozen=True, slots=True)
class LinkerParams:
    """Weights of the blend; chosen on a development split, never on the reported one."""

    char_weight: float = 1.0
    ngram_range: tuple[int, int] = (2, 4)
    part_weight: float = 0.5
    head_weight: float = 1.0
    head_chain_weight: float = 0.5
    synonym_weight: float = 0.4
    alt_weight: float = 0.98
    english_weight: float = 1.0
    second_label_weight: float = 0.1
    isco_weight: float = 0.05
    prior_weight: float = 0.03
    centroid_weight: float = 0.4
    char_split: bool = False
    rewrite_weight: float = 0.9
    rewrite_min_count: int = 3
    rewrite_max: int = 4
    word_centroid_weight: float = 0.0
    # Query variants: gender/definite forms ("servitrice", "chaufføren") and coordinated
    # compounds spelt out ("køkken- og kantinemedarbejder" -> "kantinemedarbejder").
    inflection_weight: float = 0.95
    ellipsis_weight: float = 0.8
    # Danish-only best-label similarity (the baseline's signal) blended in, for recall.
    danish_weight: float = 0.0
    # Reciprocal-rank fusion with the plain Danish character ranking, below the first
    # ``fusion_keep`` places (recall in the tail without touching the top).
    fusion_weight: float = 0.0
    fusion_k: float = 10.0
    fusion_keep: int = 3


MAX_VARIANTS = 10
# Plural endings tried against the curated titles ("serviceassistenter", "-medarbejdere").
_PLURAL_ENDINGS = ("erne", "ene", "er", "e")
TARGET_JOBS_FILE = DATA_DIR / "target_jobs.csv"
TITLES_FILE = DATA_DIR / "job_titles_da.csv"
# An exact hit on a curated title outranks an exact hit on an ESCO label (2 + preferred +
# half the preferred-label similarity, at most 3.5): the title list exists to settle the
# cases where ESCO's own labels point elsewhere ("serviceassistent", "produktionsmedarbejder").
CURATED_EXACT = 4.0


@dataclass(frozen=True, slots=True)
class LinkedOccupation:
    """One linking result: the occupation, the score (0..1) and the label that matched."""

    uri: str
    score: float
    label: str | None


@cache
def curated_titles(path: Path = TITLES_FILE) -> tuple[tuple[str, str], ...]:
    """Our Danish job titles from the seed programmes (title, ESCO occupation URI): the 12
    VIP2 jobpakker and the IGU jobs, with the variants job centres write. The linker treats
    each as a Danish label of its occupation, ahead of ESCO's labels on an exact hit."""
    if not path.exists():
        return ()
    with path.open(encoding="utf-8", newline="") as fh:
        return tuple((row["title"], row["esco_uri"]) for row in csv.DictReader(fh))


@cache
def target_job_priors(path: Path = TARGET_JOBS_FILE) -> dict[str, float]:
    """The seed programmes' target jobs (IGU/VIP2) as a prior: 1.0 for a job's first-ranked
    occupation, less for the alternatives listed after it."""
    priors: dict[str, float] = {}
    if not path.exists():
        return priors
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            value = max(0.4, 1.0 - 0.2 * (int(row["rank"]) - 1))
            uri = row["esco_uri"]
            priors[uri] = max(priors.get(uri, 0.0), value)
    return priors


# Function words carry no occupation; "inden for" alone occurs in a third of Danish labels.
STOP_WORDS = frozenset(
    [
        "og",
        "i",
        "inden",
        "for",
        "af",
        "til",
        "på",
        "en",
        "et",
        "med",
        "der",
        "ved",
        "som",
        "eller",
        "den",
        "det",
        "de",
        "om",
        "fra",
        "hos",
        "under",
        "the",
        "of",
        "and",
        "in",
        "a",
        "an",
        "to",
        "on",
        "with",
        "at",
        "by",
        "or",
        "from",
    ]
)
# Inflectional endings, longest first; stems must keep 3 letters. Labels and queries are
# stemmed alike, so an over-short stem costs little.
_SUFFIXES = ("erne", "ende", "ene", "ere", "er", "en", "et", "e")
MIN_PART = 3
# Common job-ad words that ESCO's Danish labels rarely use standalone.
EXTRA_VOCABULARY = frozenset(
    [
        "medarbejder",
        "medhjælper",
        "hjælper",
        "arbejder",
        "assistent",
        "fører",
        "chauffør",
        "elev",
        "mand",
        "kone",
        "dame",
        "ansat",
        "vikar",
        "leder",
        "chef",
        "tekniker",
        "montør",
        "operatør",
        "pakker",
        "plukker",
    ]
)
# Heads that job ads use interchangeably; grouped words are mutual synonyms.
HEAD_SYNONYMS: tuple[frozenset[str], ...] = (
    frozenset({"medarbejder", "arbejder", "medhjælper", "hjælper", "assistent", "ansat"}),
    frozenset({"chauffør", "fører"}),
    frozenset({"leder", "chef"}),
)
_ELLIPSIS = re.compile(r"(\w+)-\s+(og|eller)\s+(\w+)", re.UNICODE)


def stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_PART:
            return word[: -len(suffix)]
    return word


_PLURAL = re.compile(r"(\w{4,}er)(?:ne|e)\b")


def _singular(norm: str) -> str:
    return _PLURAL.sub(r"\1", norm)


class CompoundSplitter:
    """Splits Danish compounds into parts known from a vocabulary learnt from labels.

    The vocabulary is every label word plus modifiers seen before a known word in at least
    two compounds ("lager" from "lagerarbejder" and "lagerekspedient"), so "lagermedarbejder"
    splits into "lager" + "medarbejder" even though no label says so. The split with the
    fewest parts wins, then the longest head, since the head names the job.
    """

    def __init__(self, words: Iterable[str], extra: Iterable[str] = EXTRA_VOCABULARY) -> None:
        base = {w for w in words if len(w) >= MIN_PART and w.isalpha()} | set(extra)
        prefixes: Counter[str] = Counter()
        for word in base:
            for k in range(MIN_PART, len(word) - MIN_PART):
                if word[k:] in base and len(word) - k >= 4:
                    modifier = word[:k]
                    # "rengørings|assistent": the joining s is not part of the modifier.
                    if modifier.endswith("s") and len(modifier) > MIN_PART:
                        modifier = modifier[:-1]
                    prefixes[modifier] += 1
        self.vocabulary = frozenset(base | {p for p, n in prefixes.items() if n >= 2})
        self._cache: dict[str, tuple[str, ...]] = {}

    def _cover(self, word: str, budget: int) -> tuple[str, ...] | None:
        if word in self.vocabulary:
            return (word,)
        if budget <= 1:
            return None
        best: tuple[str, ...] | None = None
        for k in range(len(word) - MIN_PART, MIN_PART - 1, -1):
            head = word[k:]
            if head not in self.vocabulary:
                continue
            rest = word[:k]
            for modifier in (rest[:-1] if rest.endswith("s") else "", rest):
                if len(modifier) < MIN_PART:
                    continue
                covered = self._cover(modifier, budget - 1)
                if covered is not None and (best is None or len(covered) + 1 < len(best)):
                    best = (*covered, head)
        return best

    def split(self, word: str) -> tuple[str, ...]:
        """Parts of the word, head last; the word itself when it is no known compound."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        best: tuple[str, ...] = (word,)
        if word.isalpha() and len(word) >= 2 * MIN_PART:
            for k in range(MIN_PART, len(word) - MIN_PART + 1):
                head = word[k:]
                if head not in self.vocabulary:
                    continue
                rest = word[:k]
                for modifier in (rest[:-1] if rest.endswith("s") else "", rest):
                    if len(modifier) < MIN_PART:
                        continue
                    covered = self._cover(modifier, 2)
                    if covered is not None and (len(best) == 1 or len(covered) + 1 < len(best)):
                        best = (*covered, head)
            if len(best) == 1:
                # Unknown modifier ("folketings|assistent", "orgel|mager"): the head alone
                # is still the best evidence of the job; the longest known head wins.
                for k in range(2, len(word) - MIN_PART - 1):
                    if word[k:] in self.vocabulary and len(word) - k >= 5:
                        modifier = word[:k]
                        if modifier.endswith("s") and k > MIN_PART:
                            modifier = modifier[:-1]
                        best = (modifier, word[k:])
                        break
        self._cache[word] = best
        return best


# Feminine and definite forms job ads use; labels are (mostly) the indefinite base form.
_INFLECTIONS: tuple[tuple[str, str], ...] = (
    ("rice", "ør"),  # servitrice -> servitør
    ("inde", ""),  # lærerinde -> lærer
    ("erske", "er"),  # husholderske -> husholder
    ("ersken", "er"),
    ("eren", "er"),  # chaufføren, lageren
    ("øren", "ør"),
    ("ten", "t"),  # assistenten
    ("gen", "g"),
)
_COORDINATION = re.compile(r"(\w+)-\s+(?:og|eller|/)\s+(\w+)", re.UNICODE)


def _inflection_variants(norm: str) -> list[str]:
    words = norm.split()
    if not words:
        return []
    last = words[-1]
    out: list[str] = []
    for suffix, replacement in _INFLECTIONS:
        if last.endswith(suffix) and len(last) - len(suffix) >= 4:
            out.append(" ".join([*words[:-1], last[: -len(suffix)] + replacement]))
            break
    return out


def _expand_ellipsis(text: str) -> str:
    # "social- og sundhedshjælper" means "socialhjælper og sundhedshjælper"; the head is
    # glued on later, once the last word is split. Here the hyphen is only made explicit.
    return _ELLIPSIS.sub(lambda m: f"{m[1]}~ {m[2]} {m[3]}", text)


class OccupationLinker:
    """Ranks occupations for a job title; fit on any set of occupations."""

    def __init__(
        self,
        occupations: Iterable[Occupation],
        priors: Mapping[str, float] | None = None,
        params: LinkerParams | None = None,
        titles: Iterable[tuple[str, str]] = (),
    ) -> None:
        from scipy.sparse import csr_matrix

        self.params = p = params or LinkerParams()
        occs = list(occupations)
        self._uris = [o.uri for o in occs]
        self._index_of = {uri: i for i, uri in enumerate(self._uris)}
        # Curated Danish titles per occupation (unknown URIs are left out).
        self._titles: dict[int, list[str]] = {}
        for title, uri in titles:
            if uri in self._index_of and title.strip():
                self._titles.setdefault(self._index_of[uri], []).append(title.strip())
        self._curated: dict[str, int] = {}

        # Labels: Danish preferred, Danish alt, English (preferred and alt).
        texts: list[str] = []
        owners: list[int] = []
        weights: list[float] = []
        preferred: list[float] = []
        danish: list[bool] = []
        # Exact label matches: owner index -> whether the label is that owner's preferred one.
        self._exact: dict[str, dict[int, bool]] = {}
        for i, occ in enumerate(occs):
            seen: set[str] = set()
            # Curated titles are looked up, not indexed: as extra labels they pulled
            # unrelated queries towards them (held-out MRR 0.591 -> 0.587).
            for title in self._titles.get(i, ()):
                self._curated.setdefault(normalise(title), i)
            groups = (
                ((occ.label_da,), 1.0, True, True),
                (occ.alt_da, p.alt_weight, False, True),
                ((occ.label_en,), p.english_weight, True, False),
                (occ.alt_en, p.english_weight * p.alt_weight, False, False),
            )
            for labels, weight, is_pref, is_da in groups:
                for label in labels:
                    norm = normalise(label)
                    if not norm or norm in seen:
                        continue
                    seen.add(norm)
                    texts.append(label)
                    owners.append(i)
                    weights.append(weight)
                    preferred.append(float(is_pref))
                    danish.append(is_da)
                    bucket = self._exact.setdefault(norm, {})
                    bucket[i] = bucket.get(i, False) or is_pref
        self._occupations = occs
        self._owners = np.asarray(owners, dtype=np.intp)
        self._weights = np.asarray(weights, dtype=np.float64)
        self._preferred = np.asarray(preferred, dtype=np.float64)
        self._danish = np.asarray(danish, dtype=np.float64)
        self._n_labels = len(texts)

        word_counts: Counter[str] = Counter()
        for text, is_da in zip(texts, danish, strict=True):
            if is_da:
                word_counts.update(normalise(text).split())
        self.splitter = CompoundSplitter(word_counts)
        self._synonyms = self._head_synonyms()
        self._rewrites = self._learn_rewrites(occs)

        # Character n-grams over all labels.
        self._char: _Model | None = _fit([self._char_words(t) for t in texts], p.ngram_range)
        self._char_matrix: csc_matrix | None = self._char.matrix if self._char else None

        # Word/part/head features: only fitted when the blend uses them (by default it does
        # not: on the development split they added nothing over character n-grams).
        self._use_words = p.char_weight < 1.0 or p.word_centroid_weight > 0
        if not self._use_words:
            texts_for_words: list[str] = []
        else:
            texts_for_words = texts
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for row, text in enumerate(texts_for_words):
            for feature, value in self._features(text, query=False).items():
                rows.append(row)
                cols.append(vocab.setdefault(feature, len(vocab)))
                vals.append(value)
        self._vocab = vocab
        counts = csr_matrix(
            (np.asarray(vals, dtype=np.float64), (rows, cols)),
            shape=(self._n_labels, max(len(vocab), 1)),
        )
        df = np.bincount(np.asarray(cols, dtype=np.intp), minlength=max(len(vocab), 1))
        self._idf = np.log((1.0 + self._n_labels) / (1.0 + df)) + 1.0
        weighted = counts.multiply(self._idf[np.newaxis, :]).tocsr()
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        self._word_matrix: csc_matrix = csr_matrix(
            weighted.multiply(1.0 / norms[:, np.newaxis])
        ).tocsc()

        # Occupation centroids: the mean of an occupation's label vectors, so a query that
        # shares pieces with several of its labels gains over one matching a single label.
        owner_matrix = csr_matrix(
            (np.ones(self._n_labels), (self._owners, np.arange(self._n_labels))),
            shape=(len(occs), self._n_labels),
        )
        self._char_centroids: csc_matrix | None = None
        if self._char is not None:
            self._char_centroids = _row_normalised(owner_matrix @ self._char.matrix).tocsc()
        self._word_centroids = _row_normalised(owner_matrix @ self._word_matrix.tocsr()).tocsc()

        # Occupation-level structure.
        isco = [o.isco for o in occs]
        groups_of: dict[str, int] = {}
        self._group = np.asarray([groups_of.setdefault(g, len(groups_of)) for g in isco])
        self._n_groups = len(groups_of)
        self._prior = np.zeros(len(occs), dtype=np.float64)
        for uri, value in (priors or {}).items():
            if uri in self._index_of:
                self._prior[self._index_of[uri]] = value

    # -- text features -----------------------------------------------------------------

    def _learn_rewrites(self, occs: Sequence[Occupation]) -> dict[str, list[tuple[str, int]]]:
        """Head substitutions learnt from ESCO: heads that alternate after the same modifier
        within one occupation's Danish labels ("butiks|chef" / "butiks|bestyrer")."""
        p = self.params
        counts: Counter[tuple[str, str]] = Counter()
        for occ in occs:
            by_modifier: dict[str, set[str]] = {}
            for label in (occ.label_da, *occ.alt_da):
                for word in normalise(label).split():
                    parts = self.splitter.split(word)
                    if len(parts) > 1:
                        head = parts[-1]
                        by_modifier.setdefault(word[: -len(head)], set()).add(head)
            for heads in by_modifier.values():
                for a in heads:
                    for b in heads:
                        if a != b:
                            counts[a, b] += 1
        rules: dict[str, list[tuple[str, int]]] = {}
        for (a, b), n in counts.most_common():
            if n >= p.rewrite_min_count and len(rules.setdefault(a, [])) < p.rewrite_max:
                rules[a].append((b, n))
        for word, synonyms in self._head_synonyms_surface().items():
            known = {b for b, _ in rules.get(word, [])}
            rules.setdefault(word, []).extend(
                (b, p.rewrite_min_count) for b in sorted(synonyms - known)
            )
        return rules

    def _head_synonyms_surface(self) -> dict[str, set[str]]:
        synonyms: dict[str, set[str]] = {}
        for group in HEAD_SYNONYMS:
            for word in group:
                synonyms.setdefault(word, set()).update(group - {word})
        return synonyms

    def coordinations(self, text: str) -> list[str]:
        """ "køkken- og kantinemedarbejder": one variant per conjunct, each with the shared
        head ("køkkenmedarbejder", "kantinemedarbejder")."""
        match = _COORDINATION.search(text.lower())
        if not match:
            return []
        first, second = normalise(match[1]), normalise(match[2])
        if not first or not second or " " in first or " " in second:
            return []
        parts = self.splitter.split(second)
        if len(parts) < 2:
            return []
        head = parts[-1]
        rest = text.lower()[match.end() :]
        variants = [normalise(f"{first}{head}{rest}"), normalise(f"{second}{rest}")]
        return [v for v in variants if v]

    def variants(self, text: str) -> list[tuple[str, float]]:
        """Other spellings of the query with the weight their match counts for: singular,
        gender and definite forms, spelt-out coordinations, and learnt head rewrites."""
        p = self.params
        norm = normalise(text)
        forms: list[tuple[str, float]] = []
        singular = _singular(norm)
        if singular != norm:
            forms.append((singular, 1.0))
        for form in _inflection_variants(norm):
            forms.append((form, p.inflection_weight))
        for form in self.coordinations(text):
            forms.append((form, p.ellipsis_weight))
        out = list(forms)
        for form, weight in [(norm, 1.0), *forms]:
            out.extend((r, weight * p.rewrite_weight) for r in self.rewrites(form))
        best: dict[str, float] = {}
        for form, weight in out:
            if form != norm and weight > best.get(form, 0.0):
                best[form] = weight
        # At most MAX_VARIANTS, best first: each costs a sparse product (lookups < 20 ms).
        return sorted(best.items(), key=lambda item: -item[1])[:MAX_VARIANTS]

    def rewrites(self, text: str) -> list[str]:
        """Variants of the text with one compound head swapped for a learnt alternative."""
        words = normalise(text).split()
        variants: list[str] = []
        for i, word in enumerate(words):
            parts = self.splitter.split(word)
            if len(parts) < 2:
                continue
            head = parts[-1]
            for alternative, _ in self._rewrites.get(head, ()):
                swapped = word[: -len(head)] + alternative
                variants.append(" ".join([*words[:i], swapped, *words[i + 1 :]]))
        return variants

    def _head_synonyms(self) -> dict[str, set[str]]:
        synonyms: dict[str, set[str]] = {}
        for group in HEAD_SYNONYMS:
            for word in group:
                synonyms.setdefault(stem(word), set()).update(stem(w) for w in group if w != word)
        return synonyms

    def _char_words(self, text: str) -> list[str]:
        words = normalise(text).split()
        if not self.params.char_split:
            return words
        out = list(words)
        for word in words:
            parts = self.splitter.split(word)
            if len(parts) > 1:
                out.extend(parts)
        return out

    def _char_query(self, text: str) -> csr_matrix:
        assert self._char is not None
        return self._char.tfidf.transform(
            self._char.counter.transform([" ".join(self._char_words(text))])
        )

    def _words(self, text: str) -> tuple[list[list[str]], int]:
        """Content words of a text, each as its compound parts (head last), and the index
        of the head word: the last word before the first preposition, dash or comma
        ("tekniker inden for ...", "chauffør - flyttebil"), else the last word."""
        expanded = _expand_ellipsis(text.lower())
        words: list[list[str]] = []
        pending: list[int] = []
        head = -1
        for raw in expanded.split():
            elided = raw.endswith("~")
            tokens = normalise(raw).split()
            boundary = not tokens or tokens[0] in STOP_WORDS
            if boundary and head < 0 and words and not pending:
                head = len(words) - 1
            for word in tokens:
                if word in STOP_WORDS:
                    continue
                parts = list(self.splitter.split(word))
                if elided:
                    pending.append(len(words))
                elif pending and len(parts) > 1:
                    for j in pending:
                        words[j] = [*words[j], parts[-1]]
                    pending = []
                words.append(parts)
            if head < 0 and words and raw.endswith(","):
                head = len(words) - 1
        if head < 0:
            head = len(words) - 1
        return words, head

    def _features(self, text: str, query: bool) -> dict[str, float]:
        p = self.params
        features: dict[str, float] = {}

        def add(name: str, value: float) -> None:
            if value > features.get(name, 0.0):
                features[name] = value

        words, head_index = self._words(text)
        for index, parts in enumerate(words):
            whole = "".join(parts)
            add("w:" + stem(whole), 1.0)
            if len(parts) > 1:
                for part in parts:
                    if part not in STOP_WORDS:
                        add("w:" + stem(part), p.part_weight)
            if index != head_index:
                continue
            head = parts[-1]
            add("h:" + stem(head), p.head_weight)
            chain = self.splitter.split(head)
            if len(chain) > 1:
                add("h:" + stem(chain[-1]), p.head_chain_weight)
            if query:
                for candidate in (head, chain[-1]):
                    for synonym in self._synonyms.get(stem(candidate), ()):
                        add("h:" + synonym, p.synonym_weight)
        return features

    # -- search ------------------------------------------------------------------------

    def _label_scores(self, text: str) -> np.ndarray:
        scores, _ = self._label_scores_and_plain(text)
        return scores

    def _label_scores_and_plain(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Blended label scores, and the plain character similarity of the query as typed."""
        p = self.params
        scores = np.zeros(self._n_labels, dtype=np.float64)
        plain = np.zeros(self._n_labels, dtype=np.float64)
        if self._char is not None and self._char_matrix is not None and p.char_weight > 0:
            q = self._char_query(text)
            if q.nnz:
                plain = np.asarray(self._char_matrix[:, q.indices] @ q.data).ravel()
                scores += p.char_weight * plain
        if self._char is not None and self._char_matrix is not None:
            # Plural titles ("lagermedarbejdere") count as their singular (labels are
            # singular), other forms and learnt rewrites at a small discount.
            for variant, weight in self.variants(text):
                if weight <= 0:
                    continue
                q = self._char_query(variant)
                if q.nnz:
                    alt = np.asarray(self._char_matrix[:, q.indices] @ q.data).ravel()
                    np.maximum(scores, p.char_weight * weight * alt, out=scores)
        features = self._features(text, query=True) if self._use_words else {}
        cols = [self._vocab[f] for f in features if f in self._vocab]
        if cols and p.char_weight < 1:
            vals = np.asarray([features[f] for f in features if f in self._vocab])
            vals = vals * self._idf[cols]
            # Normalise by the full query, unknown features included: they are evidence
            # against every label.
            unknown = [v for f, v in features.items() if f not in self._vocab]
            top_idf = float(np.log(1.0 + self._n_labels) + 1.0)
            total = float(np.sqrt(np.sum(vals**2) + sum((v * top_idf) ** 2 for v in unknown)))
            if total > 0:
                scores += (1 - p.char_weight) * np.asarray(
                    self._word_matrix[:, cols] @ (vals / total)
                ).ravel()
        return scores * self._weights, plain

    def _centroid_scores(self, text: str) -> np.ndarray:
        p = self.params
        scores = np.zeros(len(self._uris))
        if p.centroid_weight > 0 and self._char is not None and self._char_centroids is not None:
            q = self._char_query(text)
            if q.nnz:
                scores += (
                    p.centroid_weight
                    * np.asarray(self._char_centroids[:, q.indices] @ q.data).ravel()
                )
        if p.word_centroid_weight > 0:
            features = self._features(text, query=True)
            known = [f for f in features if f in self._vocab]
            if known:
                cols = [self._vocab[f] for f in known]
                vals = np.asarray([features[f] for f in known]) * self._idf[cols]
                vals /= np.linalg.norm(vals)
                scores += (
                    p.word_centroid_weight
                    * np.asarray(self._word_centroids[:, cols] @ vals).ravel()
                )
        return scores

    def search(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        return [(self._uris[i], score) for i, score in self._rank(text, top)]

    def search_labelled(self, text: str, top: int = 5) -> list[LinkedOccupation]:
        """As ``search``, each with the label that matched the words best (see
        ``concepts.best_label``): the one to show the person."""
        return [
            LinkedOccupation(self._uris[i], score, self.matched_label(i, text))
            for i, score in self._rank(text, top)
        ]

    def labels_of(self, uri: str) -> tuple[str, ...]:
        """An occupation's labels in the order a tie goes: Danish preferred, Danish alt,
        curated titles, English preferred, English alt."""
        i = self._index_of.get(uri)
        return () if i is None else self._labels_of(i)

    def _labels_of(self, i: int) -> tuple[str, ...]:
        occ = self._occupations[i]
        labels = (occ.label_da, *occ.alt_da, *self._titles.get(i, ()), occ.label_en, *occ.alt_en)
        return tuple(label for label in labels if label)

    def matched_label(self, i: int, text: str) -> str | None:
        return best_label(text, self._labels_of(i))

    def _curated_hit(self, norm: str) -> int | None:
        """The occupation of a curated title the text is, in any of its forms (singular,
        plural "-er"/"-e"/"-erne", gender and definite forms)."""
        forms = [norm, _singular(norm), *_inflection_variants(norm)]
        forms += [norm[: -len(end)] for end in _PLURAL_ENDINGS if norm.endswith(end)]
        for form in forms:
            hit = self._curated.get(form)
            if hit is not None:
                return hit
        return None

    def _rank(self, text: str, top: int) -> list[tuple[int, float]]:
        norm = normalise(text)
        if not norm or top <= 0 or not self._uris:
            return []
        p = self.params
        label_scores, plain = self._label_scores_and_plain(text)
        n = len(self._uris)
        danish_best = np.zeros(n)
        if p.danish_weight > 0:
            np.maximum.at(danish_best, self._owners, plain * self._danish)
        best = np.zeros(n)
        np.maximum.at(best, self._owners, label_scores)
        pref = np.zeros(n)
        np.maximum.at(pref, self._owners, label_scores * self._preferred)

        candidates = np.flatnonzero(best > 0)
        if candidates.size == 0:
            return []
        # Second-best label of each candidate: several agreeing labels are more evidence.
        second = np.zeros(n)
        if p.second_label_weight > 0:
            is_best = np.isclose(label_scores, best[self._owners]) & (label_scores > 0)
            runner = np.where(is_best, 0.0, label_scores)
            np.maximum.at(second, self._owners, runner)
        # Sibling evidence: the best other occupation in the same ISCO group.
        sibling = np.zeros(n)
        if p.isco_weight > 0:
            top1 = np.zeros(self._n_groups)
            np.maximum.at(top1, self._group, best)
            winner = np.isclose(best, top1[self._group])
            top2 = np.zeros(self._n_groups)
            np.maximum.at(top2, self._group, np.where(winner, 0.0, best))
            sibling = np.where(winner, top2[self._group], top1[self._group])
        scores = (
            best
            + self._centroid_scores(text)
            + p.second_label_weight * second
            + p.isco_weight * sibling
            + p.prior_weight * self._prior * (best > 0)
            + p.danish_weight * danish_best
        )
        # Rank on the raw blend (clipping would tie the best candidates), report it scaled
        # back into 0..1 by its largest possible value; an exact label match is 1.0.
        scale = 1.0 + p.centroid_weight + p.word_centroid_weight + p.second_label_weight
        scale += p.isco_weight + p.prior_weight + p.danish_weight
        scores = scores / scale
        # Exact matches outrank everything; among them the label's preferred owner first
        # ("hjemmehjælper" is preferred for one occupation and an alt label of another),
        # then the owner whose preferred label is closest ("lagermedarbejder" is an alt label
        # of the general warehouse worker and of several specialised ones).
        exact = self._exact.get(norm) or self._exact.get(_singular(norm), {})
        if not exact:
            for form in _inflection_variants(norm):
                exact = self._exact.get(form, {})
                if exact:
                    break
        for i, is_pref in exact.items():
            scores[i] = 2.0 + float(is_pref) + 0.5 * pref[i]
        curated = self._curated_hit(norm)
        if curated is not None:
            scores[curated] = CURATED_EXACT
        candidates = np.flatnonzero(scores > 0)
        keep = max(top * 10, 50)
        if candidates.size > keep:
            part = np.argpartition(-scores[candidates], keep - 1)[:keep]
            candidates = candidates[part]
        rounded = np.round(scores[candidates], 6)
        order = np.lexsort((-pref[candidates], -rounded))
        ranked = candidates[order]
        if p.fusion_weight > 0 and top > p.fusion_keep:
            ranked = self._fuse(ranked, plain, top)
        out: list[tuple[int, float]] = []
        ceiling = 1.0
        for i in ranked[:top]:
            # Fused places keep their own score, capped so scores never rise down the list.
            ceiling = min(ceiling, float(scores[i]))
            out.append((int(i), max(0.0, ceiling)))
        return out

    def _fuse(self, ranked: np.ndarray, plain: np.ndarray, top: int) -> np.ndarray:
        p = self.params
        n = len(self._uris)
        danish_best = np.zeros(n)
        np.maximum.at(danish_best, self._owners, plain * self._danish)
        pool = max(top * 3, 30)
        other = np.argpartition(-danish_best, pool)[:pool] if n > pool else np.arange(n)
        other = other[np.argsort(-danish_best[other], kind="stable")]
        other = other[danish_best[other] > 0]
        fused: dict[int, float] = {}
        for rank, i in enumerate(ranked[:pool].tolist(), 1):
            fused[i] = 1.0 / (p.fusion_k + rank)
        for rank, i in enumerate(other.tolist(), 1):
            fused[i] = fused.get(i, 0.0) + p.fusion_weight / (p.fusion_k + rank)
        head = ranked[: p.fusion_keep].tolist()
        rest = sorted((i for i in fused if i not in set(head)), key=lambda i: -fused[i])
        return np.asarray(head + rest, dtype=np.intp)

    def explain(self, text: str) -> dict[str, float]:
        """The query's word-level features, for debugging links."""
        return self._features(text, query=True)


def _row_normalised(matrix: csr_matrix) -> csr_matrix:
    from scipy.sparse import csr_matrix as _csr

    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return _csr(matrix.multiply(1.0 / norms[:, np.newaxis]))
