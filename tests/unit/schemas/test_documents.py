"""Validation of the API documents: the examples pass, bad fields are named."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.citizens import CompetenceCard
from schemas.jobs import JobOrder


def test_examples_are_accepted_unchanged(
    amina: dict[str, Any],
    yonas: dict[str, Any],
    fatima: dict[str, Any],
    lager: dict[str, Any],
    kantine: dict[str, Any],
) -> None:
    for doc in (amina, yonas, fatima):
        assert CompetenceCard.model_validate(doc).model_dump(mode="json", exclude_unset=True)
    for doc in (lager, kantine):
        assert JobOrder.model_validate(doc).job_order_id == doc["job_order_id"]


@given(
    day=st.integers(1, 31),
    month=st.integers(1, 12),
    year=st.integers(0, 99),
    serial=st.integers(0, 9999),
    dash=st.booleans(),
)
def test_cpr_shaped_citizen_ids_are_refused(
    day: int, month: int, year: int, serial: int, dash: bool
) -> None:
    cpr = f"{day:02d}{month:02d}{year:02d}{'-' if dash else ''}{serial:04d}"
    doc = {
        "citizen_id": cpr,
        "municipality_code": "0751",
        "availability": {"hours_per_week": 30},
        "location": {"postal_code": "8000"},
    }
    with pytest.raises(ValidationError) as err:
        CompetenceCard.model_validate(doc)
    assert err.value.errors()[0]["loc"] == ("citizen_id",)


@given(st.from_regex(r"cit-[0-9a-f]{8}", fullmatch=True))
def test_pseudonymous_ids_pass(cid: str) -> None:
    doc = {
        "citizen_id": cid,
        "municipality_code": "0751",
        "availability": {"hours_per_week": 30},
        "location": {"postal_code": "8000"},
    }
    assert CompetenceCard.model_validate(doc).citizen_id == cid


def test_each_bad_field_is_reported(amina: dict[str, Any]) -> None:
    amina["danish"]["cefr"] = "A9"
    amina["location"]["postal_code"] = "80000"
    amina["nonsense"] = 1
    with pytest.raises(ValidationError) as err:
        CompetenceCard.model_validate(amina)
    locs = {e["loc"] for e in err.value.errors()}
    assert {("danish", "cefr"), ("location", "postal_code"), ("nonsense",)} <= locs
