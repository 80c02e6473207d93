"""Pure projections of a card or an order onto what the score compares.

Linking free text to ESCO happens once per card / order version, here, so scoring a pair is
cheap set arithmetic. The linker is passed in (a Protocol) to keep this module free of I/O.
Beside the links, the profiles carry the texts themselves as character n-gram vectors
(`text_vectors`), when the linker also encodes text: a title the linker misses, or links
below `OCCUPATION_LINK_MIN`, is still compared as text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel

from schemas.citizens import CompetenceCard
from schemas.common import cefr_rank
from schemas.jobs import JobOrder
from services.matching.domain.text import terms
from services.matching.domain.text_vectors import EMPTY, TextEncoder, TextVector
from services.rules import danish

OCCUPATION_LINK_MIN = 0.5
SKILL_LINK_MIN = 0.8


class Linker(Protocol):
    def link_occupation(self, text: str, top: int = 5) -> list[tuple[str, float]]: ...

    def link_skill(self, text: str, top: int = 5) -> list[tuple[str, float]]: ...

    def isco_of(self, occupation_uri: str) -> str | None: ...


def content_version(doc: BaseModel) -> str:
    """A short hash of the document: equal documents give equal versions, on any replay."""
    return hashlib.sha256(doc.model_dump_json().encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Occupation:
    uri: str | None
    isco: str | None


@dataclass(frozen=True, slots=True)
class Experience:
    occupation: Occupation
    years: float


@dataclass(frozen=True, slots=True)
class RequiredSkill:
    label: str
    uris: frozenset[str]
    terms: frozenset[str]
    must: bool


@dataclass(frozen=True, slots=True)
class CardProfile:
    citizen_id: str
    version: str
    municipality_code: str
    # The card, or its JSON (a profile loaded from the worker's snapshot): parsed when first
    # read (`card`). Only the programme gates read it; the rest of the profile is what the
    # score compares. `version` stands for its content in comparisons.
    source: CompetenceCard | bytes = field(compare=False)
    skill_uris: frozenset[str]
    skill_terms: tuple[frozenset[str], ...]
    experience: tuple[Experience, ...]
    wishes: tuple[Occupation, ...]
    certificates: frozenset[str]
    licences: frozenset[str]
    danish_rank: int
    postal_code: str
    max_commute_km: float
    hours_per_week: float
    available_from: dt.date | None
    # The texts as vectors: experience titles and job wishes (aligned with `experience` and
    # `wishes`), and the skill labels and certificates.
    experience_text: tuple[TextVector, ...] = ()
    wish_text: tuple[TextVector, ...] = ()
    skill_text: tuple[TextVector, ...] = ()

    @property
    def card(self) -> CompetenceCard:
        source = self.source
        if isinstance(source, CompetenceCard):
            return source
        card = CompetenceCard.model_validate_json(source)
        object.__setattr__(self, "source", card)
        return card


@dataclass(frozen=True, slots=True)
class OrderProfile:
    job_order_id: str
    version: str
    order: JobOrder
    occupation: Occupation
    skills: tuple[RequiredSkill, ...]
    certificates: frozenset[str]
    licences: frozenset[str]
    danish_min_rank: int
    postal_code: str
    hours_per_week: float
    start_date: dt.date | None
    # The title, and the whole order as one text (title, description, requested skills).
    title_text: TextVector = EMPTY
    body_text: TextVector = EMPTY


def _occupation(linker: Linker, uri: str | None, title: str) -> Occupation:
    if uri is None:
        links = linker.link_occupation(title, top=1)
        if links and links[0][1] >= OCCUPATION_LINK_MIN:
            uri = links[0][0]
    return Occupation(uri, linker.isco_of(uri) if uri else None)


def _skill_uris(linker: Linker, text: str) -> frozenset[str]:
    return frozenset(
        uri for uri, score in linker.link_skill(text, top=3) if score >= SKILL_LINK_MIN
    )


def _key(text: str) -> str:
    return text.casefold().strip()


def _encoder(linker: Linker) -> Callable[[str], TextVector]:
    """The linker's text encoder; a linker without one gives empty vectors (no text)."""
    if isinstance(linker, TextEncoder):
        return linker.text_vector
    return lambda _: EMPTY


def card_profile(card: CompetenceCard, linker: Linker) -> CardProfile:
    uris: set[str] = set()
    phrases: list[frozenset[str]] = []
    for skill in card.skills:
        uris |= {skill.esco_skill_uri} if skill.esco_skill_uri else _skill_uris(linker, skill.label)
        phrases.append(terms(skill.label))
    for cert in card.certificates:
        # A certificate such as 'truckcertifikat' implies the skill it certifies.
        uris |= _skill_uris(linker, cert)
        phrases.append(terms(cert))
    encode = _encoder(linker)
    skill_texts = [s.label for s in card.skills] + list(card.certificates)
    experience = []
    for item in card.experience:
        phrases.append(terms(item.title))
        experience.append(
            Experience(_occupation(linker, item.esco_occupation_uri, item.title), item.years)
        )
    return CardProfile(
        citizen_id=card.citizen_id,
        version=content_version(card),
        municipality_code=card.municipality_code,
        source=card,
        skill_uris=frozenset(uris),
        skill_terms=tuple(phrases),
        experience=tuple(experience),
        wishes=tuple(_occupation(linker, w.esco_occupation_uri, w.title) for w in card.job_wishes),
        certificates=frozenset(_key(c) for c in card.certificates),
        licences=frozenset(_key(c) for c in card.driving_licences),
        danish_rank=danish.rank(card.danish),
        postal_code=card.location.postal_code,
        max_commute_km=card.location.max_commute_km,
        hours_per_week=card.availability.hours_per_week,
        available_from=card.availability.available_from,
        experience_text=tuple(encode(item.title) for item in card.experience),
        wish_text=tuple(encode(w.title) for w in card.job_wishes),
        skill_text=tuple(
            dict.fromkeys(v for v in map(encode, skill_texts) if v)  # distinct, in order
        ),
    )


def order_profile(order: JobOrder, linker: Linker) -> OrderProfile:
    req = order.requirements
    encode = _encoder(linker)
    body = [order.title, order.description or "", *(s.label for s in req.skills)]
    body += req.certificates
    skills = tuple(
        RequiredSkill(
            label=s.label,
            uris=frozenset({s.esco_skill_uri})
            if s.esco_skill_uri
            else _skill_uris(linker, s.label),
            terms=terms(s.label),
            must=s.must,
        )
        for s in req.skills
    )
    return OrderProfile(
        job_order_id=order.job_order_id,
        version=content_version(order),
        order=order,
        occupation=_occupation(linker, order.esco_occupation_uri, order.title),
        skills=skills,
        certificates=frozenset(_key(c) for c in req.certificates),
        licences=frozenset(_key(c) for c in req.driving_licences),
        danish_min_rank=cefr_rank(req.danish_min_cefr),
        postal_code=order.worksite.postal_code,
        hours_per_week=order.hours_per_week,
        start_date=order.start_date,
        title_text=encode(order.title),
        body_text=encode(" ".join(body)),
    )
