"""The KPI page's charts and their tables, from the profiles service's monthly figures (pure).

Each chart comes with the table of the very numbers it draws: a person who cannot see the
chart, or wants the figures, reads the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from services.ui import present
from services.ui.charts import Series, bar_chart
from services.ui.i18n import code, translate

PROGRAMME_ORDER = ("IGU", "IO-stilling", "virksomhedspraktik", "løntilskud", "jobpakke", "ordinary")
OUTCOME_ORDER = ("ordinary_job", "education", "positive_drop_out", "negative_drop_out")


@dataclass(frozen=True)
class Table:
    caption: str
    columns: Sequence[str]  # the first names the row headers
    rows: Sequence[tuple[str, Sequence[str]]]  # (row header, cells)


@dataclass(frozen=True)
class KpiChart:
    chart_id: str
    title: str
    svg: Markup
    table: Table
    empty: bool


def _axis(months: Sequence[dict[str, Any]], lang: str) -> list[str]:
    """Month labels for a chart's axis: the month, and the year under it."""
    return [present.month(m["month"], lang).replace(" ", "\n", 1) for m in months]


def _wrap(label: str, width: int = 14) -> str:
    """A long axis label on two lines, broken at the space nearest the middle."""
    if len(label) <= width or " " not in label:
        return label
    middle = len(label) // 2
    cut = min((i for i, ch in enumerate(label) if ch == " "), key=lambda i: abs(i - middle))
    return label[:cut] + "\n" + label[cut + 1 :]


def _n(value: Any, lang: str) -> str:
    return present.number(value, lang) if value is not None else "–"


def orders_chart(months: Sequence[dict[str, Any]], lang: str) -> KpiChart:
    t = lambda key, **kw: translate(lang, key, **kw)  # noqa: E731
    labels = [present.month(m["month"], lang) for m in months]
    keys = (
        ("created", "kpis.created"),
        ("with_suggestions", "kpis.with_suggestions"),
        ("with_presented_candidates", "kpis.with_presented"),
        ("hired_within_3_months", "kpis.hired"),
    )
    series = [
        Series(t(label), [float(m["job_orders"].get(key) or 0) for m in months])
        for key, label in keys
    ]
    rows = []
    for label, m in zip(labels, months, strict=True):
        o = m["job_orders"]
        cells = [_n(o.get("created"), lang)]
        for key, share in (
            ("with_suggestions", "share_with_suggestions"),
            ("with_presented_candidates", "share_with_presented_candidates"),
            ("hired_within_3_months", "share_hired_within_3_months"),
        ):
            text = _n(o.get(key), lang)
            if o.get(share) is not None:
                text += f" ({present.percent(o[share], lang)})"
            cells.append(text)
        if not o.get("hire_window_closed", True):
            cells[-1] += f" – {t('kpis.window_open')}"
        rows.append((label, cells))
    title = t("kpis.orders")
    return KpiChart(
        "kpi-orders",
        title,
        bar_chart(
            "kpi-orders-svg", t("kpis.chart_label", title=title), _axis(months, lang), series, lang
        ),
        Table(t("kpis.orders_caption"), [t("common.month"), *[t(k) for _, k in keys]], rows),
        not any(m["job_orders"].get("created") for m in months),
    )


def placements_chart(months: Sequence[dict[str, Any]], lang: str) -> KpiChart:
    t = lambda key, **kw: translate(lang, key, **kw)  # noqa: E731
    labels = [present.month(m["month"], lang) for m in months]
    seen = {p for m in months for p in m["placements"].get("by_order_programme", {})}
    programmes = [p for p in PROGRAMME_ORDER if p in seen] + sorted(seen - set(PROGRAMME_ORDER))
    series = [
        Series(
            code(lang, "programme", p),
            [float(m["placements"]["by_order_programme"].get(p, 0)) for m in months],
        )
        for p in programmes
    ]
    rows = [
        (
            label,
            [_n(m["placements"].get("started"), lang)]
            + [_n(m["placements"]["by_order_programme"].get(p, 0), lang) for p in programmes],
        )
        for label, m in zip(labels, months, strict=True)
    ]
    title = t("kpis.placements")
    columns = [
        t("common.month"),
        t("kpis.total"),
        *[code(lang, "programme", p) for p in programmes],
    ]
    return KpiChart(
        "kpi-placements",
        title,
        bar_chart(
            "kpi-placements-svg",
            t("kpis.chart_label", title=title),
            _axis(months, lang),
            series,
            lang,
        ),
        Table(t("kpis.placements_caption"), columns, rows),
        not any(m["placements"].get("started") for m in months),
    )


def outcomes_chart(months: Sequence[dict[str, Any]], lang: str) -> KpiChart:
    t = lambda key, **kw: translate(lang, key, **kw)  # noqa: E731
    totals: dict[str, int] = {}
    for m in months:
        for outcome, count in m.get("outcomes", {}).items():
            totals[outcome] = totals.get(outcome, 0) + int(count)
    outcomes = [o for o in OUTCOME_ORDER if o in totals] + sorted(set(totals) - set(OUTCOME_ORDER))
    shown = outcomes or list(OUTCOME_ORDER)
    labels = [_wrap(code(lang, "outcome", o)) for o in shown]
    series = [Series(t("common.count"), [float(totals.get(o, 0)) for o in shown])]
    rows = [(code(lang, "outcome", o), [_n(totals.get(o, 0), lang)]) for o in shown]
    title = t("kpis.outcomes")
    return KpiChart(
        "kpi-outcomes",
        title,
        bar_chart("kpi-outcomes-svg", t("kpis.chart_label", title=title), labels, series, lang),
        Table(t("kpis.outcomes_caption"), [t("placement.outcome"), t("common.count")], rows),
        not totals,
    )


def days_chart(months: Sequence[dict[str, Any]], lang: str) -> KpiChart:
    t = lambda key, **kw: translate(lang, key, **kw)  # noqa: E731
    labels = [present.month(m["month"], lang) for m in months]

    def value(m: dict[str, Any], key: str) -> float | None:
        v = m.get("time_to_placement_days", {}).get(key)
        return None if v is None else max(0.0, float(v))

    series = [
        Series(t("kpis.median"), [value(m, "median") for m in months]),
        Series(t("kpis.mean"), [value(m, "mean") for m in months]),
    ]
    rows = []
    for label, m in zip(labels, months, strict=True):
        d = m.get("time_to_placement_days", {})
        rows.append(
            (
                label,
                [
                    _n(d.get("placements"), lang),
                    _n(d.get("median"), lang),
                    present.number(d.get("mean"), lang, 1) if d.get("mean") is not None else "–",
                ],
            )
        )
    title = t("kpis.days")
    columns = [t("common.month"), t("kpis.placements_n"), t("kpis.median"), t("kpis.mean")]
    return KpiChart(
        "kpi-days",
        title,
        bar_chart(
            "kpi-days-svg", t("kpis.chart_label", title=title), _axis(months, lang), series, lang
        ),
        Table(t("kpis.days_caption"), columns, rows),
        not any(m.get("time_to_placement_days", {}).get("placements") for m in months),
    )


def charts_of(months: Sequence[dict[str, Any]], lang: str) -> list[KpiChart]:
    return [
        orders_chart(months, lang),
        placements_chart(months, lang),
        outcomes_chart(months, lang),
        days_chart(months, lang),
    ]
