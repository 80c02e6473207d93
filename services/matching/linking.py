"""Adapter from the vendored ESCO taxonomy to the domain's `Linker` protocol.

Fitting the taxonomy's text indexes takes 5-10 s on a loaded machine; the worker needs them
only for cards and orders whose free text has no ESCO URI yet. So the linker loads the
taxonomy on first use, and a worker that names a cache folder (`use_taxonomy_cache`, done by
the composition root) loads a pickle of the fitted taxonomy from it (about 0.3 s), keyed by
a hash of the reference data, the linking code and the libraries that fit it; a missing,
stale or damaged cache is fitted again and rewritten (temporary file, fsync, rename).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import pickle
import sys
import threading
import time
from collections.abc import Callable
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from services.matching.domain.text_vectors import CharNgramEncoder, TextVector
from services.reference import esco
from services.reference.esco import DATA_DIR, Taxonomy, load_taxonomy
from services.reference.geo import load_geo
from services.reference.relations import load_relations

log = logging.getLogger(__name__)


class TaxonomyLinker:
    """Links are memoised per text: cards repeat the same titles and skill phrases, and a
    TF-IDF search costs milliseconds where a dictionary hit costs nothing. Built with a
    function instead of a taxonomy, it loads the taxonomy on first use. The memo can be
    saved and given back (`memo`, `prime`: the worker's snapshot carries it), so that a
    restarted worker links the texts it has seen before without the taxonomy."""

    def __init__(
        self, taxonomy: Taxonomy | Callable[[], Taxonomy], cache_size: int = 65536
    ) -> None:
        self._get: Callable[[], Taxonomy] = (
            taxonomy if not isinstance(taxonomy, Taxonomy) else (lambda: taxonomy)
        )
        self._size = cache_size
        self._occupations: dict[tuple[str, int], tuple[tuple[str, float], ...]] = {}
        self._skills: dict[tuple[str, int], tuple[tuple[str, float], ...]] = {}
        self._isco: dict[str, str | None] = {}
        self._texts: dict[str, TextVector] = {}

    @property
    def _taxonomy(self) -> Taxonomy:
        return self._get()

    def _remember(self, memo: dict[Any, Any], key: Any, value: Any) -> None:
        if len(memo) >= self._size:  # the oldest half goes
            for old in list(itertools.islice(memo, len(memo) // 2)):
                del memo[old]
        memo[key] = value

    def link_occupation(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        found = self._occupations.get((text, top))
        if found is None:
            found = tuple(self._taxonomy.link_occupation(text, top=top))
            self._remember(self._occupations, (text, top), found)
        return list(found)

    def link_skill(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        found = self._skills.get((text, top))
        if found is None:
            found = tuple(self._taxonomy.link_skill(text, top=top))
            self._remember(self._skills, (text, top), found)
        return list(found)

    def isco_of(self, occupation_uri: str) -> str | None:
        if occupation_uri in self._isco:
            return self._isco[occupation_uri]
        occupation = self._taxonomy.occupation(occupation_uri)
        isco = occupation.isco if occupation else None
        self._remember(self._isco, occupation_uri, isco)
        return isco

    def text_vector(self, text: str) -> TextVector:
        """The text as a character n-gram vector (`text_encoder`), memoised."""
        found = self._texts.get(text)
        if found is None:
            found = text_encoder().text_vector(text)
            self._remember(self._texts, text, found)
        return found

    def memo(self) -> dict[str, Any]:
        """What it has linked so far (valid for the same taxonomy only)."""
        return {
            "occupations": dict(self._occupations),
            "skills": dict(self._skills),
            "isco": dict(self._isco),
        }

    def prime(self, memo: dict[str, Any]) -> None:
        """Take in a memo saved by `memo` (from a worker on the same taxonomy)."""
        for key, value in memo.get("occupations", {}).items():
            self._occupations.setdefault(key, value)
        for key, value in memo.get("skills", {}).items():
            self._skills.setdefault(key, value)
        for key, value in memo.get("isco", {}).items():
            self._isco.setdefault(key, value)


# -- the process's taxonomy, shared by the linker and the reasons' skill labels -------------

_lock = threading.Lock()
_cache_dir: Path | None = None
_loaded: Taxonomy | None = None
# How the taxonomy was obtained and in how many seconds (the worker's start-up breakdown).
load_stats: dict[str, float | str] = {}


def taxonomy_loaded() -> bool:
    return _loaded is not None


def use_taxonomy_cache(directory: Path | None) -> None:
    """Load the taxonomy of this process from a pickle under `directory` (written there the
    first time). Takes effect if the taxonomy is not loaded yet."""
    global _cache_dir
    _cache_dir = directory


def taxonomy() -> Taxonomy:
    """The taxonomy, loaded once per process (from the cache folder when one is set)."""
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                started = time.monotonic()
                if _cache_dir is None:
                    _loaded, how = load_taxonomy(), "fitted"
                else:
                    _loaded, how = cached_taxonomy(_cache_dir)
                load_stats.update(how=how, seconds=round(time.monotonic() - started, 3))
                log.info("taxonomy loaded", extra=dict(load_stats))
    return _loaded


def taxonomy_key() -> str:
    """What a fitted taxonomy depends on: the reference data, the code that fits and
    searches it, and the versions of the libraries that do."""
    h = hashlib.sha256()
    code = sorted(Path(esco.__file__).parent.glob("*.py"))
    code.append(Path(__file__).parent / "domain" / "text_vectors.py")  # the text encoder
    for path in sorted(p for p in DATA_DIR.iterdir() if p.is_file()) + code:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for name in ("scikit-learn", "scipy", "numpy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            h.update(f"{name}={metadata.version(name)}\0".encode())
    h.update(f"python={sys.version_info[:2]}".encode())
    return h.hexdigest()[:24]


_CHECK = 32


def _read_cached(path: Path) -> object | None:
    """What a cache file holds, if it is there and whole (None: fit again)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cache unreadable", extra={"path": str(path), "error": str(exc)})
        return None
    body, check = data[:-_CHECK], data[-_CHECK:]
    if len(data) <= _CHECK or hashlib.sha256(body).digest() != check:
        log.warning("cache damaged: fitting again", extra={"path": str(path)})
        return None
    try:
        return pickle.loads(body)
    except Exception as exc:
        log.warning("cache not loaded", extra={"path": str(path)}, exc_info=exc)
        return None


def cached_taxonomy(directory: Path) -> tuple[Taxonomy, str]:
    """The fitted taxonomy from `directory`, or fitted now and written there; and which."""
    path = directory / f"taxonomy-{taxonomy_key()}.pickle"
    loaded = _read_cached(path)
    if isinstance(loaded, Taxonomy):
        return loaded, "cache"
    fitted = esco.load_taxonomy_from(DATA_DIR)
    try:
        _write_atomically(path, pickle.dumps(fitted, protocol=5))
    except OSError as exc:
        log.warning("taxonomy cache not written", extra={"path": str(path), "error": str(exc)})
    return fitted, "fitted"


def _write_atomically(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(body)
        fh.write(hashlib.sha256(body).digest())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    prefix = path.name[: path.name.rindex("-") + 1]  # "taxonomy-", "text-encoder-"
    for old in path.parent.glob(f"{prefix}*.pickle"):
        if old != path:
            with contextlib.suppress(OSError):
                old.unlink()


@cache
def text_encoder() -> CharNgramEncoder:
    """Character n-gram TF-IDF fitted on ESCO's occupation labels (Danish and English,
    preferred and alternative), its skill labels and the Danish skill glossary: reference
    data only, so every process and replay gets the same vectors. Fitting takes seconds: a
    worker with a cache folder (`use_taxonomy_cache`) reads it from there, as the taxonomy."""
    if _cache_dir is None:
        return _fit_text_encoder()
    path = _cache_dir / f"{ENCODER_PREFIX}{taxonomy_key()}.pickle"
    cached = _read_cached(path)
    if isinstance(cached, CharNgramEncoder):
        return cached
    encoder = _fit_text_encoder()
    try:
        _write_atomically(path, pickle.dumps(encoder, protocol=5))
    except OSError as exc:
        log.warning("text encoder cache not written", extra={"path": str(path), "error": str(exc)})
    return encoder


ENCODER_PREFIX = "text-encoder-"


def _fit_text_encoder() -> CharNgramEncoder:
    started = time.monotonic()
    texts: list[str] = []
    for occupation in esco.read_occupations(DATA_DIR / esco.OCCUPATIONS_FILE).values():
        texts += occupation.labels()
    texts += [s.label_en for s in esco.read_skills(DATA_DIR / esco.SKILLS_FILE).values()]
    texts += [phrase for phrase, _ in esco.read_glossary(DATA_DIR / esco.GLOSSARY_FILE)]
    encoder = CharNgramEncoder.fit(texts)
    log.info(
        "text encoder fitted",
        extra={"labels": len(texts), "seconds": round(time.monotonic() - started, 3)},
    )
    return encoder


def default_linker() -> TaxonomyLinker:
    """A linker on the process's taxonomy, loaded on first use."""
    return TaxonomyLinker(taxonomy)


def distance_km(postal_a: str, postal_b: str) -> float | None:
    return load_geo().distance_km(postal_a, postal_b)


def skills_of(occupation_uri: str) -> tuple[frozenset[str], frozenset[str]] | None:
    profile = load_relations().get(occupation_uri)
    return (profile.essential, profile.optional) if profile else None


@cache
def _skill_labels() -> dict[str, str]:
    """The English skill labels alone (0.5 s, no text indexes to fit or load)."""
    return {uri: s.label_en for uri, s in esco.read_skills(DATA_DIR / esco.SKILLS_FILE).items()}


def skill_label(skill_uri: str) -> str | None:
    if _loaded is not None:
        skill = _loaded.skill(skill_uri)
        return skill.label_en if skill else None
    return _skill_labels().get(skill_uri)


def occupation_name(occupation_uri: str, words: str) -> str | None:
    """The occupation's Danish label closest to the person's words (explanations quote it:
    "lastbilchauffør" rather than ESCO's preferred "bagagevognschauffør")."""
    from services.reference.labels import occupation_name as name

    return name(occupation_uri, words, "da")
