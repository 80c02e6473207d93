"""What a suggestion lacks, as sentences in Danish and English (pure).

Matching records a suggestion's gaps as codes ("danish_min:B1", "skill:truckkørsel",
"gap:<ESCO skill URI>", "commute:45>30km"): the log stays free of wording that may change.
The read side and the web application name them with this one function, so an API reader
and a consultant read the same sentence, and no code's prefix reaches either.
"""

from __future__ import annotations

import re

from services.reference.labels import skill_name, skill_uri_of_label

_ESCO_SKILL = "http://data.europa.eu/esco/skill/"
_CODE = re.compile(r"^(?P<kind>[a-z_]+):(?P<value>.*)$")
_COMMUTE = re.compile(r"^(?P<km>[0-9.]+)>(?P<max>[0-9.]+)km$")

TEXTS: dict[str, dict[str, str]] = {
    "da": {
        "certificate": "Certifikat: {value}",
        "driving_licence": "Kørekort, kategori {value}",
        "danish_min": "Dansk på mindst niveau {value}",
        "skill": "Kompetence: {value}",
        "gap": "Væsentlig kompetence for jobbet: {value}",
        "commute": "Pendling {km} km; borgeren kan højst {max} km",
        "other": "Andet krav: {value}",
    },
    "en": {
        "certificate": "Certificate: {value}",
        "driving_licence": "Driving licence, category {value}",
        "danish_min": "Danish at level {value} at least",
        "skill": "Skill: {value}",
        "gap": "Essential skill for the job: {value}",
        "commute": "Commute {km} km; the citizen travels at most {max} km",
        "other": "Other requirement: {value}",
    },
}


def skill(value: str, lang: str) -> str:
    """An ESCO skill by its URI, in Danish where we have a name; suggestions recorded before
    gaps were given by URI carry ESCO's English label, which is looked up the same way."""
    uri = value if value.startswith(_ESCO_SKILL) else skill_uri_of_label(value)
    return (skill_name(uri, lang) if uri else None) or value


def describe(item: str, lang: str) -> str:
    """One missing item as a sentence in `lang` ("da" or "en")."""
    texts = TEXTS["en" if lang == "en" else "da"]
    found = _CODE.match(item) if not item.startswith("http") else None
    if not found:
        return texts["other"].format(value=item)
    kind, value = found["kind"], found["value"]
    if kind == "commute":
        commute = _COMMUTE.match(value)
        if commute:
            return texts["commute"].format(km=commute["km"], max=commute["max"])
        return texts["other"].format(value=value)
    if kind == "gap":
        return texts["gap"].format(value=skill(value, lang))
    return texts.get(kind, texts["other"]).format(value=value)


def explained(missing: list[str]) -> list[dict[str, str]]:
    """The items with their sentences, as the read side's answers carry them."""
    return [
        {"code": item, "text_da": describe(item, "da"), "text_en": describe(item, "en")}
        for item in missing
    ]
