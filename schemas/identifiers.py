"""Direct identifiers that free text must not carry: CPR numbers, phone numbers, e-mail
addresses. Citizens are known to the system by pseudonymous ids; a CPR number typed into a
note would put it in the log, which keeps it for good.

The checks look for what a person would type: a CPR number as DDMMYY-XXXX or DDMMYYXXXX
with a real day and month (the modulus-11 check is not used: numbers issued since 2007 need
not pass it); a phone number as eight digits, in pairs or fours or unbroken, optionally
after +45 or 0045 (a dash between the groups reads as a range
of years, not a phone number), or an international number of 8-15 digits after +; an e-mail address.
A number after "CVR" or "P-nr" is an employer's number, not a phone or CPR number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

_CPR = re.compile(r"(?<![\d-])(\d{2})(\d{2})(\d{2})[- ]?(\d{4})(?![\d-])")
_PHONE_DK = re.compile(
    r"(?<![\w+-])(?:(?:\+|00)45[ -]?)?"
    r"(?:\d{2} \d{2} \d{2} \d{2}|\d{4} \d{4}|\d{8})(?![\d-])"
)
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d[\d -]{6,18}\d(?![\d-])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_EMPLOYER_NUMBER = re.compile(r"(?:cvr|p-?nr|p-nummer)\.?(?:[- ]?(?:nr|nummer)\.?)?[: ]*$", re.I)


@dataclass(frozen=True)
class Found:
    kind: str  # "cpr" | "phone" | "email"
    start: int
    end: int


# Danish first; the API's English messages are in the same place as its other messages.
REASONS_DA = {
    "cpr": "må ikke indeholde et CPR-nummer",
    "phone": "må ikke indeholde et telefonnummer",
    "email": "må ikke indeholde en e-mailadresse",
}
REASONS_EN = {
    "cpr": "must not contain a CPR number",
    "phone": "must not contain a phone number",
    "email": "must not contain an e-mail address",
}


def _real_date(day: str, month: str) -> bool:
    return 1 <= int(day) <= 31 and 1 <= int(month) <= 12


def _employer_number(text: str, start: int) -> bool:
    return bool(_EMPLOYER_NUMBER.search(text[max(0, start - 16) : start]))


def find_identifiers(text: str) -> list[Found]:
    """Every direct identifier in `text`, in order of position."""
    found: list[Found] = []
    taken: list[tuple[int, int]] = []

    def add(kind: str, start: int, end: int) -> None:
        if any(start < e and s < end for s, e in taken):
            return
        taken.append((start, end))
        found.append(Found(kind, start, end))

    for m in _EMAIL.finditer(text):
        add("email", m.start(), m.end())
    for m in _CPR.finditer(text):
        day, month = m.group(1), m.group(2)
        separated = m.end(3) != m.start(4)
        # Ten unbroken digits are a CPR number only with a real date; so is DDMMYY-XXXX.
        if _employer_number(text, m.start()):
            continue
        if _real_date(day, month) and (separated or len(m.group(0)) == 10):
            add("cpr", m.start(), m.end())
    for pattern in (_PHONE_INTL, _PHONE_DK):
        for m in pattern.finditer(text):
            if not _employer_number(text, m.start()):
                add("phone", m.start(), m.end())
    return sorted(found, key=lambda f: f.start)


def refuse_identifiers(text: str) -> str:
    """`text` as it is, or ValueError with the (Danish) reason of the first identifier."""
    found = find_identifiers(text)
    if found:
        raise ValueError(REASONS_DA[found[0].kind])
    return text


# Keys of document fields that hold ids, codes, URIs and dates (checked by their own rules,
# and shaped so that digits could read as a phone number: a CVR number has eight).
# The employer's own identity (a company's name may carry its CVR number): not a citizen's.
_NOT_ABOUT = frozenset({"employer"})
_NOT_TEXT_SUFFIXES = ("_id", "uri", "cvr", "code", "country", "date", "_at", "level", "version")


def identifiers_in(
    doc: object, path: tuple[str | int, ...] = ()
) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, Danish reason) of every free-text value in a JSON-like document that holds a
    direct identifier (`doc`: e.g. a competence card or job order as `model_dump(mode="json")`)."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if isinstance(key, str) and (key.endswith(_NOT_TEXT_SUFFIXES) or key in _NOT_ABOUT):
                continue
            out += identifiers_in(value, (*path, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out += identifiers_in(value, (*path, index))
    elif isinstance(doc, str):
        found = find_identifiers(doc)
        if found:
            out.append((path, REASONS_DA[found[0].kind]))
    return out


# A free-text field of a request: refuses direct identifiers (422 naming the field).
FreeText = Annotated[str, AfterValidator(refuse_identifiers)]
