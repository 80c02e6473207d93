"""Checks of a document against the reference data, and its links to ESCO concepts.

Pure given the reference objects: the routes turn problems into 422 answers, and the links
go into the event so every consumer sees the same interpretation of the free text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from schemas.citizens import CompetenceCard
from schemas.common import ConceptLink
from schemas.jobs import JobOrder
from services.reference.esco import Taxonomy, matched_label
from services.reference.geo import Geo

OCCUPATION_MIN = 0.5
SKILL_MIN = 0.6
Problem = tuple[str, str]


def _postal(geo: Geo, code: str, path: str) -> list[Problem]:
    return [] if geo.postal(code) else [(path, f"{code} is not a Danish postal code")]


def _occupation_uri(taxonomy: Taxonomy, uri: str | None, path: str) -> list[Problem]:
    if uri is None or taxonomy.occupation(uri):
        return []
    return [(path, f"unknown ESCO occupation {uri}")]


def _skill_uri(taxonomy: Taxonomy, uri: str | None, path: str) -> list[Problem]:
    if uri is None or taxonomy.skill(uri):
        return []
    return [(path, f"unknown ESCO skill {uri}")]


def card_problems(card: CompetenceCard, taxonomy: Taxonomy, geo: Geo) -> list[Problem]:
    out = _postal(geo, card.location.postal_code, "location.postal_code")
    for i, exp in enumerate(card.experience):
        out += _occupation_uri(
            taxonomy, exp.esco_occupation_uri, f"experience.{i}.esco_occupation_uri"
        )
    for i, wish in enumerate(card.job_wishes):
        out += _occupation_uri(
            taxonomy, wish.esco_occupation_uri, f"job_wishes.{i}.esco_occupation_uri"
        )
    for i, skill in enumerate(card.skills):
        out += _skill_uri(taxonomy, skill.esco_skill_uri, f"skills.{i}.esco_skill_uri")
    return out


def order_problems(order: JobOrder, taxonomy: Taxonomy, geo: Geo) -> list[Problem]:
    out = _postal(geo, order.worksite.postal_code, "worksite.postal_code")
    out += _occupation_uri(taxonomy, order.esco_occupation_uri, "esco_occupation_uri")
    for i, skill in enumerate(order.requirements.skills):
        out += _skill_uri(taxonomy, skill.esco_skill_uri, f"requirements.skills.{i}.esco_skill_uri")
    return out


def _link(
    path: str,
    text: str,
    uri: str | None,
    minimum: float,
    find: Callable[[str, int], list[tuple[str, float]]],
    label_of: Callable[[str], str | None],
) -> ConceptLink:
    if uri:
        return ConceptLink(
            path=path, text=text, uri=uri, label=label_of(uri), confidence=1.0, source="given"
        )
    found = find(text, 1)
    if found and found[0][1] >= minimum:
        best, score = found[0]
        return ConceptLink(
            path=path,
            text=text,
            uri=best,
            label=label_of(best),
            confidence=round(score, 4),
            source="linked",
        )
    confidence = round(found[0][1], 4) if found else 0.0
    return ConceptLink(path=path, text=text, confidence=confidence, source="unlinked")


def _occupation_link(taxonomy: Taxonomy, path: str, text: str, uri: str | None) -> ConceptLink:
    # The label that matched the person's words ("lastbilchauffør"), not ESCO's preferred
    # one, which can be odd ("bagagevognschauffør" for cargo vehicle driver).
    matched: dict[str, str | None] = {}

    def find(t: str, n: int) -> list[tuple[str, float]]:
        found = taxonomy.link_occupation_labelled(t, top=n)
        matched.update({f.uri: f.label for f in found})
        return [(f.uri, f.score) for f in found]

    def label(u: str) -> str | None:
        occ = taxonomy.occupation(u)
        return matched_label(occ, matched.get(u), "da") if occ else None

    return _link(path, text, uri, OCCUPATION_MIN, find, label)


def _skill_link(taxonomy: Taxonomy, path: str, text: str, uri: str | None) -> ConceptLink:
    def label(u: str) -> str | None:
        skill = taxonomy.skill(u)
        return skill.label_en if skill else None

    return _link(path, text, uri, SKILL_MIN, lambda t, n: taxonomy.link_skill(t, top=n), label)


def card_links(card: CompetenceCard, taxonomy: Taxonomy) -> list[ConceptLink]:
    links: list[ConceptLink] = []
    for i, exp in enumerate(card.experience):
        links.append(
            _occupation_link(taxonomy, f"experience.{i}", exp.title, exp.esco_occupation_uri)
        )
    for i, wish in enumerate(card.job_wishes):
        links.append(
            _occupation_link(taxonomy, f"job_wishes.{i}", wish.title, wish.esco_occupation_uri)
        )
    for i, skill in enumerate(card.skills):
        links.append(_skill_link(taxonomy, f"skills.{i}", skill.label, skill.esco_skill_uri))
    return links


def order_links(order: JobOrder, taxonomy: Taxonomy) -> list[ConceptLink]:
    links = [_occupation_link(taxonomy, "title", order.title, order.esco_occupation_uri)]
    skills: Iterable[tuple[int, str, str | None]] = (
        (i, s.label, s.esco_skill_uri) for i, s in enumerate(order.requirements.skills)
    )
    links += [
        _skill_link(taxonomy, f"requirements.skills.{i}", label, uri) for i, label, uri in skills
    ]
    return links
