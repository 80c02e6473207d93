"""Property tests of the shared validators and pure rules (no broker, no I/O)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from schemas.citizens import CompetenceCard, DanishLevel
from schemas.common import (
    CEFR_LEVELS,
    EARLIEST_DATE,
    LATEST_DATE,
    MUNICIPALITY_CODES,
    Cvr,
    MunicipalityCode,
    SaneDate,
    cefr_rank,
)
from services.reference.geo import load_geo
from services.rules.danish import effective_cefr, rank
from services.rules.eligibility import IGU_LAST_START, check

CVR = TypeAdapter(Cvr)
MUNICIPALITY = TypeAdapter(MunicipalityCode)
SANE_DATE = TypeAdapter(SaneDate)
WEIGHTS = (2, 7, 6, 5, 4, 3, 2, 1)
ASCII_DIGITS = "0123456789"
COURSES = ("DU1", "DU2", "DU3")


def accepts(adapter: TypeAdapter[Any], value: Any) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


# -- CVR -----------------------------------------------------------------------------------------


def cvr_oracle(value: str) -> bool:
    """A CVR number is 8 ASCII digits whose weighted digit sum is divisible by 11."""
    if len(value) != 8 or any(ch not in ASCII_DIGITS for ch in value):
        return False
    return sum(int(d) * w for d, w in zip(value, WEIGHTS, strict=True)) % 11 == 0


@given(st.text(alphabet=ASCII_DIGITS, min_size=8, max_size=8))
def test_cvr_accepts_exactly_the_modulus_11_numbers(value: str) -> None:
    assert accepts(CVR, value) == cvr_oracle(value)


@given(st.integers(0, 9_999_999))
def test_every_seven_digit_prefix_has_at_most_one_check_digit(prefix: int) -> None:
    body = f"{prefix:07d}"
    valid = [d for d in ASCII_DIGITS if accepts(CVR, body + d)]
    expected = (-sum(int(d) * w for d, w in zip(body, WEIGHTS[:7], strict=True))) % 11
    assert valid == ([] if expected == 10 else [str(expected)])


@given(st.text(alphabet=ASCII_DIGITS, max_size=12).filter(lambda s: len(s) != 8))
def test_cvr_of_another_length_is_refused(value: str) -> None:
    assert not accepts(CVR, value)


def test_known_cvrs() -> None:
    assert accepts(CVR, "12345607") and accepts(CVR, "87654303")
    assert not accepts(CVR, "12345678")
    assert not accepts(CVR, "1234560")


@given(st.text(alphabet=st.characters(categories=["Nd"]), min_size=8, max_size=8))
def test_cvr_accepts_only_ascii_digits(value: str) -> None:
    assert accepts(CVR, value) == cvr_oracle(value)


# -- municipality codes --------------------------------------------------------------------------


def test_all_98_municipality_codes_are_accepted() -> None:
    assert len(MUNICIPALITY_CODES) == 98
    assert load_geo().municipality_codes == MUNICIPALITY_CODES  # same as the reference data
    for code in MUNICIPALITY_CODES:
        assert MUNICIPALITY.validate_python(code) == code


@given(st.text(alphabet=ASCII_DIGITS, min_size=4, max_size=4))
def test_four_digit_code_outside_the_98_is_refused(code: str) -> None:
    assert accepts(MUNICIPALITY, code) == (code in MUNICIPALITY_CODES)


@given(st.sampled_from(sorted(MUNICIPALITY_CODES)), st.sampled_from([" ", "0", "a"]))
def test_municipality_code_must_be_exactly_the_code(code: str, extra: str) -> None:
    assert not accepts(MUNICIPALITY, code + extra)
    assert not accepts(MUNICIPALITY, code[1:])
    assert not accepts(MUNICIPALITY, int(code))


@given(st.text(alphabet=st.characters(categories=["Nd"]), min_size=4, max_size=4))
def test_municipality_code_with_any_digits_outside_the_98_is_refused(code: str) -> None:
    assert accepts(MUNICIPALITY, code) == (code in MUNICIPALITY_CODES)


# -- Danish level: course, module, CEFR ----------------------------------------------------------

courses = st.one_of(st.none(), st.sampled_from(COURSES))
modules = st.one_of(st.none(), st.integers(1, 6))
cefrs = st.one_of(st.none(), st.sampled_from(CEFR_LEVELS))


@given(course=courses, module=modules, cefr=cefrs)
def test_valid_danish_combinations_pass(
    course: str | None, module: int | None, cefr: str | None
) -> None:
    level = DanishLevel.model_validate({"course": course, "module": module, "cefr": cefr})
    assert (level.course, level.module, level.cefr) == (course, module, cefr)


@given(
    course=st.one_of(courses, st.sampled_from(["DU0", "DU4", "du1", "D1", ""])),
    module=st.one_of(modules, st.integers(-5, 0), st.integers(7, 20)),
    cefr=st.one_of(cefrs, st.sampled_from(["A0", "C3", "D1", "a1", "B", "native"])),
)
def test_invalid_danish_combinations_are_refused_naming_the_fields(
    course: str | None, module: int | None, cefr: str | None
) -> None:
    bad = set()
    if course is not None and course not in COURSES:
        bad.add("course")
    if module is not None and not 1 <= module <= 6:
        bad.add("module")
    if cefr is not None and cefr not in CEFR_LEVELS:
        bad.add("cefr")
    doc = {"course": course, "module": module, "cefr": cefr}
    if not bad:
        DanishLevel.model_validate(doc)
        return
    with pytest.raises(ValidationError) as err:
        DanishLevel.model_validate(doc)
    assert {e["loc"][0] for e in err.value.errors()} == bad


@given(course=st.sampled_from(COURSES), low=st.integers(1, 6), high=st.integers(1, 6))
def test_effective_cefr_is_monotonic_in_module(course: str, low: int, high: int) -> None:
    low, high = min(low, high), max(low, high)
    a = DanishLevel(course=course, module=low)  # type: ignore[arg-type]
    b = DanishLevel(course=course, module=high)  # type: ignore[arg-type]
    assert effective_cefr(a) in CEFR_LEVELS and effective_cefr(b) in CEFR_LEVELS
    assert rank(a) <= rank(b)
    assert cefr_rank(effective_cefr(a)) <= cefr_rank(effective_cefr(b))


@given(course=courses, module=modules, cefr=st.sampled_from(CEFR_LEVELS))
def test_stated_cefr_wins(course: str | None, module: int | None, cefr: str) -> None:
    level = DanishLevel.model_validate({"course": course, "module": module, "cefr": cefr})
    assert effective_cefr(level) == cefr


def test_course_ends_at_its_level() -> None:
    ends = {c: effective_cefr(DanishLevel(course=c, module=6)) for c in COURSES}  # type: ignore[arg-type]
    assert ends == {"DU1": "A2", "DU2": "B1", "DU3": "B2"}
    assert effective_cefr(DanishLevel()) is None
    assert effective_cefr(DanishLevel(course="DU2")) is None


# -- SaneDate -------------------------------------------------------------------------------------


@given(st.dates())
def test_sane_date_bounds(day: dt.date) -> None:
    assert accepts(SANE_DATE, day) == (EARLIEST_DATE <= day <= LATEST_DATE)


def test_sane_date_edges() -> None:
    assert dt.date(1950, 1, 1) == EARLIEST_DATE and dt.date(2100, 12, 31) == LATEST_DATE
    assert accepts(SANE_DATE, EARLIEST_DATE) and accepts(SANE_DATE, LATEST_DATE)
    assert not accepts(SANE_DATE, EARLIEST_DATE - dt.timedelta(days=1))
    assert not accepts(SANE_DATE, LATEST_DATE + dt.timedelta(days=1))
    assert accepts(SANE_DATE, "2026-12-01") and not accepts(SANE_DATE, "1900-06-01")


# -- IGU eligibility ------------------------------------------------------------------------------


def card(residence: str | None, birth_year: int | None, arrival: dt.date | None) -> CompetenceCard:
    return CompetenceCard.model_validate(
        {
            "citizen_id": "cit-prop",
            "municipality_code": "0751",
            "programme": {
                "residence_basis": residence,
                "birth_year": birth_year,
                "arrival_date": arrival.isoformat() if arrival else None,
            },
            "availability": {"hours_per_week": 37},
            "location": {"postal_code": "8000"},
        }
    )


residences = st.sampled_from(["refugee", "family_reunified", "eu", "work", "danish", "other", None])


@st.composite
def citizens(draw: st.DrawFn) -> CompetenceCard:
    birth_year = draw(st.integers(1940, 2015))
    arrival = draw(
        st.one_of(st.none(), st.dates(dt.date(max(birth_year, 1950), 1, 1), LATEST_DATE))
    )
    return card(draw(residences), birth_year, arrival)


@given(
    citizens(),
    st.dates(IGU_LAST_START + dt.timedelta(days=1), dt.date(2100, 12, 31)),
)
def test_igu_is_closed_for_any_start_after_2027(citizen: CompetenceCard, start: dt.date) -> None:
    result = check(citizen, "IGU", start)
    assert not result.eligible
    assert "igu_scheme_ends_2027_12_31" in result.reasons


@given(
    st.dates(dt.date(2020, 1, 1), IGU_LAST_START),
    st.data(),
    st.sampled_from(["refugee", "family_reunified"]),
)
def test_igu_is_closed_outside_ages_18_to_50(
    start: dt.date, data: st.DataObject, residence: str
) -> None:
    age = data.draw(
        st.one_of(st.integers(start.year - 2015, 17), st.integers(51, start.year - 1940))
    )
    birth_year = start.year - age
    arrival = dt.date(max(birth_year, start.year - 5), 1, 1)
    result = check(card(residence, birth_year, arrival), "IGU", start)
    assert not result.eligible
    assert result.reasons == ("igu_age_outside_18_50",)


@given(
    st.dates(dt.date(2026, 1, 1), IGU_LAST_START),
    st.integers(18, 50),
    st.data(),
    st.sampled_from(["refugee", "family_reunified"]),
)
def test_igu_is_open_to_refugees_aged_18_to_50_arrived_within_20_years(
    start: dt.date, age: int, data: st.DataObject, residence: str
) -> None:
    birth_year = start.year - age
    twenty_years_before = start.replace(year=start.year - 20)
    earliest = max(twenty_years_before, dt.date(birth_year, 1, 1))
    arrival = data.draw(st.dates(earliest, start))
    result = check(card(residence, birth_year, arrival), "IGU", start)
    assert result.eligible, result.reasons
    assert result.reasons == ("igu_eligible",)


@given(st.dates(dt.date(2026, 1, 1), IGU_LAST_START), st.integers(18, 50), st.integers(1, 3000))
def test_igu_is_closed_to_arrivals_over_20_years_ago(start: dt.date, age: int, days: int) -> None:
    birth_year = start.year - age
    arrival = start.replace(year=start.year - 20) - dt.timedelta(days=days)
    if arrival.year < birth_year:
        arrival = dt.date(birth_year, 1, 1)
        if arrival >= start.replace(year=start.year - 20):
            return  # too young to have arrived that long ago
    result = check(card("refugee", birth_year, arrival), "IGU", start)
    assert not result.eligible
    assert result.reasons == ("igu_arrived_over_20_years_ago",)
