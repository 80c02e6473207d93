"""Which skills each ESCO occupation needs (essential) or may use (optional).

The vendored file stores row numbers into `occupations.csv.gz` and `skills.csv.gz` instead of
URIs, which keeps 123,855 relations in about 0.4 MB; `build` regenerates it from ../shared
together with those two files.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
FILE = "occupation_skills.csv.gz"


@dataclass(frozen=True, slots=True)
class SkillProfile:
    essential: frozenset[str]
    optional: frozenset[str]


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle)


def _uris(path: Path) -> list[str]:
    return [row["uri"] for row in _rows(path)]


@cache
def load_relations(data_dir: Path = DATA) -> dict[str, SkillProfile]:
    occupations = _uris(data_dir / "occupations.csv.gz")
    skills = _uris(data_dir / "skills.csv.gz")
    essential: dict[str, set[str]] = {}
    optional: dict[str, set[str]] = {}
    for row in _rows(data_dir / FILE):
        target = essential if row["relation"] == "e" else optional
        target.setdefault(occupations[int(row["occupation"])], set()).add(skills[int(row["skill"])])
    return {
        uri: SkillProfile(frozenset(essential.get(uri, ())), frozenset(optional.get(uri, ())))
        for uri in set(essential) | set(optional)
    }


def build(shared: Path, data_dir: Path = DATA) -> int:
    """Write the relations file from ../shared/esco; returns the number of relations."""
    occ_index = {
        uri.rsplit("/", 1)[1]: i for i, uri in enumerate(_uris(data_dir / "occupations.csv.gz"))
    }
    skill_index = {
        uri.rsplit("/", 1)[1]: i for i, uri in enumerate(_uris(data_dir / "skills.csv.gz"))
    }
    rows = []
    for row in _rows(shared / "esco" / "occupation_skill_relations.csv.gz"):
        o, s = occ_index.get(row["occupation_uuid"]), skill_index.get(row["skill_uuid"])
        if o is not None and s is not None:
            rows.append((o, s, "e" if row["relationType"] == "essential" else "o"))
    rows.sort()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["occupation", "skill", "relation"])
    writer.writerows(rows)
    # mtime=0: the same input gives the same bytes.
    with gzip.GzipFile(data_dir / FILE, "wb", mtime=0) as out:
        out.write(buffer.getvalue().encode())
    return len(rows)
