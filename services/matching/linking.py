"""Adapter from the vendored ESCO taxonomy to the domain's `Linker` protocol."""

from __future__ import annotations

from services.reference.esco import Taxonomy, load_taxonomy
from services.reference.geo import load_geo


class TaxonomyLinker:
    def __init__(self, taxonomy: Taxonomy) -> None:
        self._taxonomy = taxonomy

    def link_occupation(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        return self._taxonomy.link_occupation(text, top=top)

    def link_skill(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        return self._taxonomy.link_skill(text, top=top)

    def isco_of(self, occupation_uri: str) -> str | None:
        occupation = self._taxonomy.occupation(occupation_uri)
        return occupation.isco if occupation else None


def default_linker() -> TaxonomyLinker:
    return TaxonomyLinker(load_taxonomy())


def distance_km(postal_a: str, postal_b: str) -> float | None:
    return load_geo().distance_km(postal_a, postal_b)
