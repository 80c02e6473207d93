from __future__ import annotations

import pytest

from services.reference.geo import (
    Geo,
    Municipality,
    PostalCode,
    haversine_km,
    load_geo,
    normalise_code,
)


@pytest.fixture(scope="module")
def geo() -> Geo:
    return load_geo()


def test_load_geo_is_cached(geo: Geo) -> None:
    assert load_geo() is geo


def test_98_municipalities_with_four_digit_codes(geo: Geo) -> None:
    assert len(geo.municipality_codes) == 98
    assert isinstance(geo.municipality_codes, frozenset)
    assert all(len(code) == 4 and code.isdigit() for code in geo.municipality_codes)
    assert "0751" in geo.municipality_codes
    assert "0101" in geo.municipality_codes


def test_municipality_name(geo: Geo) -> None:
    assert geo.municipality_name("0751") == "Aarhus"
    assert geo.municipality_name("751") == "Aarhus"
    assert geo.municipality_name("0101") == "København"
    assert geo.municipality_name("9999") is None
    assert geo.municipality_name("abc") is None
    muni = geo.municipality("0751")
    assert isinstance(muni, Municipality)
    assert muni.region == "Region Midtjylland"


def test_postal_lookup(geo: Geo) -> None:
    pc = geo.postal("8000")
    assert isinstance(pc, PostalCode)
    assert pc.town == "Aarhus C"
    assert pc.municipality_code == "0751"
    assert pc.has_point
    assert pc.lat == pytest.approx(56.15, abs=0.05)
    assert pc.lon == pytest.approx(10.2, abs=0.05)
    assert geo.postal(8000) == pc
    assert geo.postal(" 8000 ") == pc


@pytest.mark.parametrize("code", ["9999", "0000", "abc", "", "80000", "12a4"])
def test_unknown_postal_code_is_none(geo: Geo, code: str) -> None:
    assert geo.postal(code) is None


def test_postal_codes_counts_and_consistency(geo: Geo) -> None:
    codes = geo.postal_codes.values()
    assert len(geo.postal_codes) == 1124
    assert sum(pc.has_point for pc in codes) == 1089
    assert all(pc.municipality_code in geo.municipality_codes for pc in codes)
    assert all(pc.municipality_code in pc.all_municipality_codes for pc in codes)
    # 0411 is Christiansø (3760 Gudhjem): state-run, not one of the 98 municipalities.
    extra = {c for pc in codes for c in pc.all_municipality_codes} - geo.municipality_codes
    assert extra == {"0411"}


def test_points_lie_in_denmark(geo: Geo) -> None:
    for pc in geo.postal_codes.values():
        if pc.lat is not None and pc.lon is not None:
            assert 54.5 < pc.lat < 57.8, pc
            assert 8.0 < pc.lon < 15.3, pc


def test_distance_within_aarhus_is_a_few_km(geo: Geo) -> None:
    d = geo.distance_km("8000", "8200")
    assert d is not None
    assert 2 < d < 10
    assert geo.distance_km("8200", "8000") == pytest.approx(d)
    assert geo.distance_km("8000", "8000") == 0.0


def test_distance_aarhus_copenhagen_is_about_150_km(geo: Geo) -> None:
    # 1000 København K is a non-geographic (company) code without a point; 1050 is central.
    d = geo.distance_km("8000", "1050")
    assert d is not None
    assert 140 < d < 170


def test_distance_is_none_without_a_point(geo: Geo) -> None:
    assert geo.postal("1000") is not None
    assert not geo.postal("1000").has_point  # type: ignore[union-attr]
    assert geo.distance_km("8000", "1000") is None
    assert geo.distance_km("1000", "8000") is None
    assert geo.distance_km("8000", "9999") is None


def test_haversine() -> None:
    # One degree of latitude is ~111.2 km on the mean-radius sphere.
    assert haversine_km(56.0, 10.0, 57.0, 10.0) == pytest.approx(111.2, abs=0.1)
    assert haversine_km(55.0, 12.0, 55.0, 12.0) == 0.0


def test_normalise_code() -> None:
    assert normalise_code("800") == "0800"
    assert normalise_code(751) == "0751"
    assert normalise_code("8000") == "8000"
    assert normalise_code("8000x") is None
    assert normalise_code("12345") is None
