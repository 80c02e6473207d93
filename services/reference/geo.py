"""Danish postal codes and municipalities, vendored, for commute distances and lookups.

Postal codes carry one WGS84 point each (DAWA's visual centre), so distances are
postal-code-centre to postal-code-centre: good to a few km, which is what commute limits
on competence cards ("max_commute_km") need.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"

POSTAL_FILE = "postal_codes.csv"
MUNICIPALITIES_FILE = "municipalities.csv"

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius


@dataclass(frozen=True, slots=True)
class PostalCode:
    postal_code: str
    town: str
    lat: float | None
    lon: float | None
    municipality_code: str
    # A postal area can span municipalities (238 do); municipality_code is the main one.
    all_municipality_codes: tuple[str, ...] = ()

    @property
    def has_point(self) -> bool:
        return self.lat is not None and self.lon is not None


@dataclass(frozen=True, slots=True)
class Municipality:
    code: str
    name: str
    region: str
    region_code: str


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def normalise_code(code: str | int, width: int = 4) -> str | None:
    """``"800"``, ``800`` and ``" 0800 "`` all mean 0800; anything non-numeric is no code."""
    text = str(code).strip()
    if not text.isdigit() or len(text) > width:
        return None
    return text.zfill(width)


class Geo:
    def __init__(
        self, postal_codes: dict[str, PostalCode], municipalities: dict[str, Municipality]
    ) -> None:
        self.postal_codes = postal_codes
        self.municipalities = municipalities
        self.municipality_codes: frozenset[str] = frozenset(municipalities)

    def postal(self, code: str | int) -> PostalCode | None:
        key = normalise_code(code)
        return self.postal_codes.get(key) if key else None

    def distance_km(self, code_a: str | int, code_b: str | int) -> float | None:
        """Great-circle km between two postal-code centres; None if either has no point."""
        a, b = self.postal(code_a), self.postal(code_b)
        if a is None or b is None or a.lat is None or a.lon is None:
            return None
        if b.lat is None or b.lon is None:
            return None
        return haversine_km(a.lat, a.lon, b.lat, b.lon)

    def municipality(self, code: str | int) -> Municipality | None:
        key = normalise_code(code)
        return self.municipalities.get(key) if key else None

    def municipality_name(self, code: str | int) -> str | None:
        municipality = self.municipality(code)
        return municipality.name if municipality else None


def _read_rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


def _float_or_none(value: str) -> float | None:
    return float(value) if value.strip() else None


def read_postal_codes(path: Path) -> dict[str, PostalCode]:
    return {
        r["postal_code"]: PostalCode(
            postal_code=r["postal_code"],
            town=r["town"],
            lat=_float_or_none(r["lat"]),
            lon=_float_or_none(r["lon"]),
            municipality_code=r["municipality_code"],
            all_municipality_codes=tuple(c for c in r["all_municipality_codes"].split("|") if c),
        )
        for r in _read_rows(path)
    }


def read_municipalities(path: Path) -> dict[str, Municipality]:
    return {
        r["code"]: Municipality(
            code=r["code"], name=r["name"], region=r["region"], region_code=r["region_code"]
        )
        for r in _read_rows(path)
    }


def load_geo_from(data_dir: Path) -> Geo:
    return Geo(
        postal_codes=read_postal_codes(data_dir / POSTAL_FILE),
        municipalities=read_municipalities(data_dir / MUNICIPALITIES_FILE),
    )


@cache
def load_geo() -> Geo:
    """The shared postal-code and municipality tables, read on first call and cached."""
    return load_geo_from(DATA_DIR)
