"""Regenerate the vendored reference files in ``services/reference/data`` from ``shared/``.

Run from the repo root::

    python -m services.reference.build_data --shared ../shared

The shared folder is not present at runtime or in a fresh clone, so the product ships the
compact files this script writes. ``skills_glossary_da.csv`` and ``ATTRIBUTION.md`` are
hand-written and are not touched; the glossary is only checked against the skills written.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"

OCCUPATIONS_FILE = "occupations.csv.gz"
SKILLS_FILE = "skills.csv.gz"
ISCO_FILE = "isco_groups.csv.gz"
POSTAL_FILE = "postal_codes.csv"
MUNICIPALITIES_FILE = "municipalities.csv"
GLOSSARY_FILE = "skills_glossary_da.csv"

LIST_SEP = "|"

_SPACES = re.compile(r"\s+")


def _clean(label: str) -> str:
    # ESCO exports contain double spaces where commas were dropped and trailing blanks.
    return _SPACES.sub(" ", label).strip()


def _labels(preferred: str, alt: str) -> tuple[str, list[str]]:
    pref = _clean(preferred)
    seen = {pref.casefold()}
    alts: list[str] = []
    for raw in alt.split(LIST_SEP):
        label = _clean(raw)
        key = label.casefold()
        # ESCO often repeats the preferred label among the alt labels; drop such repeats.
        if label and key not in seen:
            seen.add(key)
            alts.append(label)
    return pref, alts


def _read_csv(path: Path) -> Iterator[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


def _write_csv(path: Path, header: list[str], rows: Iterable[list[str]]) -> None:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = buf.getvalue().encode("utf-8")
    if path.suffix == ".gz":
        # mtime=0 keeps the output byte-identical between runs, so a rebuild shows no diff.
        with (
            path.open("wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
        ):
            gz.write(data)
    else:
        path.write_bytes(data)


def build_occupations(esco: Path, out: Path) -> int:
    en = {r["uri"]: r for r in _read_csv(esco / "occupations_en.csv.gz")}
    da = {r["uri"]: r for r in _read_csv(esco / "occupations_da.csv.gz")}
    rows: list[list[str]] = []
    for uri in sorted(en.keys() | da.keys()):
        e, d = en.get(uri), da.get(uri)
        # v1.1.1 (English) is newer than the Danish v1.0.8 export, so its ISCO code wins.
        isco = (e or d or {}).get("isco", "")
        label_da, alt_da = _labels(d["preferredLabel"], d["altLabels"]) if d else ("", [])
        label_en, alt_en = _labels(e["preferredLabel"], e["altLabels"]) if e else ("", [])
        rows.append([uri, isco, label_da, LIST_SEP.join(alt_da), label_en, LIST_SEP.join(alt_en)])
    _write_csv(
        out / OCCUPATIONS_FILE,
        ["uri", "isco", "label_da", "alt_da", "label_en", "alt_en"],
        rows,
    )
    return len(rows)


def build_skills(esco: Path, out: Path) -> set[str]:
    rows: list[list[str]] = []
    for r in sorted(_read_csv(esco / "skills_en.csv.gz"), key=lambda r: r["uri"]):
        label, alt = _labels(r["preferredLabel"], r["altLabels"])
        rows.append([r["uri"], r["skillType"].strip(), label, LIST_SEP.join(alt)])
    _write_csv(out / SKILLS_FILE, ["uri", "skill_type", "label_en", "alt_en"], rows)
    return {row[0] for row in rows}


def build_isco(esco: Path, out: Path) -> int:
    rows = [
        [r["code"], _clean(r["label_da"]), _clean(r["label_en"])]
        for r in _read_csv(esco / "isco08_groups.csv.gz")
    ]
    rows.sort(key=lambda row: row[0])
    _write_csv(out / ISCO_FILE, ["code", "label_da", "label_en"], rows)
    return len(rows)


def build_geo(geo: Path, out: Path) -> tuple[int, int]:
    postal = [
        [
            r["postal_code"],
            _clean(r["town"]),
            r["lat"],
            r["lon"],
            r["municipality_code"],
            r["all_municipality_codes"],
        ]
        for r in _read_csv(geo / "dk_postal_codes.csv")
    ]
    postal.sort(key=lambda row: row[0])
    _write_csv(
        out / POSTAL_FILE,
        ["postal_code", "town", "lat", "lon", "municipality_code", "all_municipality_codes"],
        postal,
    )
    municipalities = [
        [r["code"], _clean(r["name"]), _clean(r["region"]), r["region_code"]]
        for r in _read_csv(geo / "dk_municipalities.csv")
    ]
    municipalities.sort(key=lambda row: row[0])
    _write_csv(out / MUNICIPALITIES_FILE, ["code", "name", "region", "region_code"], municipalities)
    return len(postal), len(municipalities)


def check_glossary(out: Path, skill_uris: set[str]) -> list[str]:
    path = out / GLOSSARY_FILE
    if not path.exists():
        return [f"{path} is missing"]
    return [
        f"{GLOSSARY_FILE}: {r['phrase_da']!r} -> unknown skill {r['esco_skill_uri']}"
        for r in _read_csv(path)
        if r["esco_skill_uri"] not in skill_uris
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--shared", type=Path, default=Path("../shared"), help="shared/ folder")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder")
    args = parser.parse_args(argv)

    shared: Path = args.shared
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    n_occ = build_occupations(shared / "esco", out)
    skill_uris = build_skills(shared / "esco", out)
    n_isco = build_isco(shared / "esco", out)
    n_postal, n_muni = build_geo(shared / "geo", out)
    print(
        f"occupations={n_occ} skills={len(skill_uris)} isco_groups={n_isco} "
        f"postal_codes={n_postal} municipalities={n_muni} -> {out}"
    )
    problems = check_glossary(out, skill_uris)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
