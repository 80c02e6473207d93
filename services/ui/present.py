"""How values from the APIs are shown to a person (pure but for the vendored ESCO names).

Dates in the Danish way (30.11.2026), scores as probabilities (39 %), codes as words via
the catalogue, ESCO skills by their Danish names where we have them
(`services.reference.labels`); nothing here returns markup, so the templates escape
everything.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.reference.missing import describe
from services.ui.i18n import code, translate

_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS_DA = ("jan.", "feb.", "mar.", "apr.", "maj", "jun.", "jul.", "aug.", "sep.", "okt.",
              "nov.", "dec.")  # fmt: skip
COPENHAGEN_OFFSET_H = 1  # CET; a month label needs no daylight-saving precision


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def _local(moment: dt.datetime) -> dt.datetime:
    """Danish time: CET, CEST from the last Sunday of March to the last Sunday of October."""
    utc = moment.astimezone(dt.UTC)
    year = utc.year

    def last_sunday(month: int) -> dt.datetime:
        day = dt.datetime(year, month + 1, 1, 1, tzinfo=dt.UTC) - dt.timedelta(days=1)
        return day - dt.timedelta(days=(day.weekday() + 1) % 7)

    summer = last_sunday(3) <= utc < last_sunday(10)
    return utc + dt.timedelta(hours=2 if summer else 1)


def date(value: str | dt.date | None, lang: str) -> str:
    if value is None or value == "":
        return translate(lang, "common.unknown")
    try:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    if lang == "da":
        return f"{day.day}.{day.month}.{day.year}"
    return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"


def moment(value: str | None, lang: str) -> str:
    """A time stamp from an event, in Danish time: 30.11.2026 kl. 16:15."""
    parsed = parse_time(value)
    if parsed is None:
        return translate(lang, "common.unknown")
    local = _local(parsed)
    if lang == "da":
        return f"{local.day}.{local.month}.{local.year} kl. {local:%H:%M}"
    return f"{local.day} {_MONTHS_EN[local.month - 1]} {local.year}, {local:%H:%M}"


def month(value: str, lang: str) -> str:
    """YYYY-MM as "nov. 2026" / "Nov 2026"."""
    try:
        year, number = (int(x) for x in value.split("-"))
    except ValueError:
        return value
    names = _MONTHS_DA if lang == "da" else _MONTHS_EN
    return f"{names[number - 1]} {year}"


def percent(value: float | None, lang: str) -> str:
    """A share 0..1 as a whole percentage ("39 %" in Danish, "39%" in English)."""
    if value is None:
        return "–"
    whole = round(float(value) * 100)
    return f"{whole} %" if lang == "da" else f"{whole}%"


def number(value: float | int | None, lang: str, digits: int = 0) -> str:
    if value is None:
        return "–"
    text = f"{float(value):,.{digits}f}" if digits else f"{round(float(value)):,d}"
    if lang == "da":
        text = text.replace(",", "\u00a0").replace(".", ",")
    return text


def hours(value: float | int | None, lang: str) -> str:
    if value is None:
        return "–"
    whole = float(value).is_integer()
    return number(value, lang, 0 if whole else 1)


def missing(item: str, lang: str) -> str:
    """What a suggestion lacks ("danish_min:B1", "skill:truckkørsel", "gap:<ESCO skill>") as a
    sentence; the code's prefix never reaches the reader."""
    return describe(item, lang)


# A factor smaller than this moves the score by nothing a reader can see.
MIN_FACTOR = 0.005


def signed(value: float, lang: str, digits: int = 2) -> str:
    """A contribution with its sign ("+0,12", "−0,12"); nought has none ("0,00")."""
    rounded = round(float(value), digits)
    if rounded == 0:
        return number(0.0, lang, digits)
    return ("+" if rounded > 0 else "\u2212") + number(abs(rounded), lang, digits)


def reasons(items: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """A suggestion's factors as shown: each once (factors recorded twice under one text, as
    older suggestions have them, are added up), largest first, none too small to matter.
    Each: ``code``, ``text`` (in ``lang``), ``contribution``, ``size`` and ``signed``."""
    merged: dict[str, dict[str, Any]] = {}
    for item in items:
        text_da = str(item.get("text_da") or "")
        text = text_da if lang == "da" else str(item.get("text_en") or text_da)
        if not text:
            continue
        entry = merged.setdefault(
            text_da or text, {"code": item.get("code"), "text": text, "contribution": 0.0}
        )
        entry["contribution"] += float(item.get("contribution") or 0.0)
    shown = [e for e in merged.values() if abs(e["contribution"]) >= MIN_FACTOR]
    shown.sort(key=lambda e: -abs(e["contribution"]))
    for entry in shown:
        entry["size"] = abs(entry["contribution"])
        entry["signed"] = signed(entry["contribution"], lang)
    return shown


def eligibility(reason: str, lang: str) -> str:
    return code(lang, "eligibility", reason)


def actor(doc: dict[str, Any] | None, lang: str) -> str:
    """Who did it, as recorded in the event: role, and tenant where there is one."""
    if not doc:
        return translate(lang, "common.unknown")
    role = doc.get("role")
    if role == "system" and doc.get("id") == "matching":
        return translate(lang, "actor.matching")
    label = code(lang, "role", role)
    ident = doc.get("id") or ""
    tenant = doc.get("municipality_code") or doc.get("cvr")
    parts = [label, ident] + ([f"({tenant})"] if tenant else [])
    return " ".join(p for p in parts if p)


def approver(label: str | None, lang: str) -> str:
    """Who approved a model, from the label the API recorded ("role:subject@tenant", or
    "cli:<user>" for `jobmatch model approve`)."""
    if not label or ":" not in label:
        return translate(lang, "common.unknown")
    role, _, rest = label.partition(":")
    subject, _, tenant = rest.partition("@")
    if role == "cli":
        return f"jobmatch model approve ({subject})"
    return actor({"role": role, "id": subject, "municipality_code": tenant or None}, lang)


def review_status(status: str | None, lang: str) -> str:
    return code(lang, "review", status or "awaiting")


def factor_width(contribution: float, largest: float, full: int = 100) -> int:
    """The length of a factor's bar, relative to the largest factor shown."""
    if largest <= 0:
        return 0
    return max(1, round(abs(contribution) / largest * full)) if contribution else 0
