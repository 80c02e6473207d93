"""Adapter from the vendored ESCO taxonomy to the domain's `Linker` protocol."""

from __future__ import annotations

from functools import lru_cache

from services.reference.esco import Taxonomy, load_taxonomy
from services.reference.geo import load_geo
from services.reference.relations import load_relations


class TaxonomyLinker:
    """Links are cached per text: cards repeat the same titles and skill phrases, and a
    TF-IDF search costs milliseconds where a dictionary hit costs nothing."""

    def __init__(self, taxonomy: Taxonomy, cache_size: int = 65536) -> None:
        self._taxonomy = taxonomy
        self._occupation = lru_cache(maxsize=cache_size)(self._link_occupation)
        self._skill = lru_cache(maxsize=cache_size)(self._link_skill)

    def _link_occupation(self, text: str, top: int) -> tuple[tuple[str, float], ...]:
        return tuple(self._taxonomy.link_occupation(text, top=top))

    def _link_skill(self, text: str, top: int) -> tuple[tuple[str, float], ...]:
        return tuple(self._taxonomy.link_skill(text, top=top))

    def link_occupation(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        return list(self._occupation(text, top))

    def link_skill(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        return list(self._skill(text, top))

    def isco_of(self, occupation_uri: str) -> str | None:
        occupation = self._taxonomy.occupation(occupation_uri)
        return occupation.isco if occupation else None


def default_linker() -> TaxonomyLinker:
    return TaxonomyLinker(load_taxonomy())


def distance_km(postal_a: str, postal_b: str) -> float | None:
    return load_geo().distance_km(postal_a, postal_b)


def skills_of(occupation_uri: str) -> tuple[frozenset[str], frozenset[str]] | None:
    profile = load_relations().get(occupation_uri)
    return (profile.essential, profile.optional) if profile else None


def skill_label(skill_uri: str) -> str | None:
    skill = load_taxonomy().skill(skill_uri)
    return skill.label_en if skill else None
