"""Free text refuses what identifies a person directly, and lets ordinary text through."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas.identifiers import find_identifiers, identifiers_in, refuse_identifiers
from services.demo import example_documents
from services.demo.synthetic import generate


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


def test_a_document_names_each_free_text_with_an_identifier_and_skips_ids_and_codes() -> None:
    order = {
        "job_order_id": "jo-0101-12345678",
        # The employer's own data: a company's name may carry its CVR number.
        "employer": {"cvr": "12345678", "name": "Lager 12345678 ApS"},
        "contact": "ring 87 65 43 21",
        "worksite": {"postal_code": "8200", "municipality_code": "0751"},
        "requirements": [{"label": "truckcertifikat"}, {"label": "mail: a@b.dk"}],
        "esco_occupation_uri": "http://data.europa.eu/esco/occupation/12345678-0000",
    }
    assert identifiers_in(order) == [
        (("contact",), "må ikke indeholde et telefonnummer"),
        (("requirements", 1, "label"), "må ikke indeholde en e-mailadresse"),
    ]


def test_generated_cards_and_orders_hold_no_identifier() -> None:
    """The demo and synthetic generators' texts pass the intake check."""
    cards, orders = example_documents()
    history = generate(300, 60, seed=3, start=dt.date(2026, 1, 1), months=6)
    synthetic = [d.model_dump(mode="json") for d in [*history.cards, *history.orders]]
    for doc in [*cards, *orders, *synthetic]:
        assert identifiers_in(doc) == [], doc
