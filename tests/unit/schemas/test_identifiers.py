"""Free text refuses what identifies a person directly, and lets ordinary text through."""

from __future__ import annotations

import pytest

from schemas.identifiers import find_identifiers, refuse_identifiers


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("CPR 010190-1234 fra sagen", "cpr"),
        ("cpr: 0101901234", "cpr"),
        ("født 311299 1234", "cpr"),
        ("ring på 12 34 56 78", "phone"),
        ("tlf. 1234 5678", "phone"),
        ("mobil +45 12345678", "phone"),
        ("0045 12 34 56 78", "phone"),
        ("telefon 12345678.", "phone"),
        ("+44 20 7946 0958", "phone"),
        ("skriv til amina.h@example.dk", "email"),
        ("mail: a_b+c@kommune-x.gov.dk", "email"),
    ],
)
def test_a_direct_identifier_is_found(text: str, kind: str) -> None:
    assert [f.kind for f in find_identifiers(text)] == [kind]
    with pytest.raises(ValueError, match="må ikke indeholde"):
        refuse_identifiers(text)


@pytest.mark.parametrize(
    "text",
    [
        "Fravær 3 dage; sprogtræning aftalt.",
        "IGU 29/8 timer, start 2026-09-01",
        "8 års erfaring med rengøring 2015-2023",
        "postnummer 2200 København N",
        "CVR 12345678 har ringet",
        "P-nr. 1012345678",
        "arbejder 37 timer, løn 145,50 kr/t",
        "ordre jo-0101-00012345",
        "dato 320190-1234 er ikke en dato",
        "",
    ],
)
def test_ordinary_text_passes(text: str) -> None:
    assert find_identifiers(text) == []
    assert refuse_identifiers(text) == text
