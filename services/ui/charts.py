"""Charts drawn on the server as SVG (pure): no script, no inline style, colours by class.

Each chart is an image with a text alternative; the page shows the table of its numbers
beside it, which is what screen readers and anyone who wants the figures read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 56


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]


def nice_step(value: float) -> int:
    """The smallest of 1, 2, 5 times a power of ten that is at least `value` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return int(step * power)
    return int(10 * power)


def ticks(top: float) -> list[int]:
    """Whole-number ticks from 0 to a round bound over `top`, at most about five: the
    charts count things (orders, placements, days), and "0,25 forløb" means nothing."""
    step = nice_step(top / 4)
    return [step * i for i in range(max(1, math.ceil(top / step)) + 1)]


def _fmt(value: int, lang: str) -> str:
    return f"{value:,}".replace(",", "." if lang == "da" else ",")


def bar_chart(
    chart_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    lang: str = "da",
) -> Markup:
    """Grouped bars: one group per category, one bar per series (class `series-N`), a
    y axis with whole-number ticks up to a round maximum, and a legend."""
    top = max([v for s in series for v in s.values if v is not None] + [0.0])
    marks = ticks(top)
    ymax = marks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(1, len(categories))
    group_w = plot_w / n
    bar_w = max(2.0, (group_w * 0.8) / max(1, len(series)))
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT + 24 * len(series)}" '
        f'role="img" aria-labelledby="{escape(chart_id)}-title" focusable="false">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
    ]
    for value in marks:
        y = TOP + plot_h - plot_h * value / ymax
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_fmt(value, lang))}</text>"
        )
    for c, label in enumerate(categories):
        x0 = LEFT + c * group_w + group_w * 0.1
        for s_index, s in enumerate(series):
            bar = s.values[c] if c < len(s.values) else None
            if bar is None:
                continue
            h = plot_h * (bar / ymax) if ymax else 0
            x = x0 + s_index * bar_w
            parts.append(
                f'<rect class="bar series-{s_index}" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" '
                f'width="{bar_w - 1:.1f}" height="{h:.1f}"/>'
            )
        # A label may hold two lines ("nov.\n2026"): one tspan each.
        cx = LEFT + c * group_w + group_w / 2
        lines = "".join(
            f'<tspan x="{cx:.1f}" dy="{0 if i == 0 else 14}">{escape(line)}</tspan>'
            for i, line in enumerate(label.split("\n"))
        )
        parts.append(
            f'<text class="label" x="{cx:.1f}" y="{TOP + plot_h + 16}" '
            f'text-anchor="middle">{lines}</text>'
        )
    for s_index, s in enumerate(series):
        y = HEIGHT + 24 * s_index - 8
        parts.append(
            f'<rect class="bar series-{s_index}" x="{LEFT}" y="{y - 10}" width="14" height="14"/>'
            f'<text class="legend" x="{LEFT + 20}" y="{y + 2}">{escape(s.name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def factor_bar(contribution: float, largest: float, label: str) -> Markup:
    """One signed factor: a bar to the right of the centre line for what pulls the score
    up, to the left for what pulls it down, as long as its share of the largest factor."""
    width, half = 200, 100
    share = 0.0 if largest <= 0 else min(1.0, abs(contribution) / largest)
    length = share * (half - 4)
    sign = "up" if contribution >= 0 else "down"
    x = half if contribution >= 0 else half - length
    return Markup(
        f'<svg class="factor" viewBox="0 0 {width} 16" width="{width}" height="16" '
        f'role="img" aria-label="{escape(label)}" focusable="false">'
        f'<rect class="factor-{sign}" x="{x:.1f}" y="2" width="{length:.1f}" height="12"/>'
        f'<line class="factor-axis" x1="{half}" x2="{half}" y1="0" y2="16"/></svg>'
    )
