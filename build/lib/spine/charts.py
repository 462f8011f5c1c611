"""Charts for the HTML report as inline SVG: no script, no network, nothing to load at view time.

Each chart is an ``<svg class="chart">`` with a title and ``rect.bar`` marks, so a test can check
that every chart rendered (tests/e2e/test_report.py). Values that are missing or not finite are
left out; a chart with nothing to draw is a line of text saying so.
"""

from __future__ import annotations

import html
import math
from typing import Callable, Sequence

PALETTE = ("#3465a4", "#cc7a00", "#4e9a06", "#a40000", "#75507b", "#06989a", "#c4a000", "#555753",
           "#ad7fa8", "#729fcf")
PRIOR_COLOUR = "#888a85"
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 260, 60, 40, 28
LEGEND_COLUMNS, LEGEND_ROW = 3, 16


def _number(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _usable(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _frame(title: str, body: list[str], height: int) -> str:
    t = html.escape(title)
    return (f'<svg class="chart" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg" '
            f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}">'
            f'<title>{t}</title><text x="{WIDTH / 2}" y="16" text-anchor="middle" font-size="13">{t}</text>'
            + "".join(body) + "</svg>")


def no_data(title: str) -> str:
    """What stands in for a chart with nothing to draw."""
    return f'<p class="nodata">{html.escape(title)}: no data.</p>'


def _scale(values: list[float]) -> tuple[float, float, Callable[[float], float]]:
    low, high = min([0.0, *values]), max([0.0, *values])
    if low == high:
        high = low + 1.0
    plot_h = HEIGHT - TOP - BOTTOM
    return low, high, lambda v: TOP + (high - v) / (high - low) * plot_h


def _legend(names: Sequence[str]) -> tuple[list[str], int]:
    """Legend entries in rows of three under the plot; returns the marks and the height added."""
    if len(names) < 2:
        return [], 0
    marks = []
    for j, name in enumerate(names):
        row, col = divmod(j, LEGEND_COLUMNS)
        x, y = LEFT + col * 190, HEIGHT + row * LEGEND_ROW
        label = name if len(name) <= 28 else name[:27] + "…"
        marks.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
                     f'<text x="{x + 14}" y="{y}" font-size="10">{html.escape(label)}</text>')
    rows = (len(names) + LEGEND_COLUMNS - 1) // LEGEND_COLUMNS
    return marks, rows * LEGEND_ROW + 4


def bar_chart(title: str, categories: Sequence[str], series: dict[str, Sequence[float | None]],
              fmt: Callable[[float], str] = _number, reference: float | None = None,
              marker: tuple[float, str] | None = None) -> str:
    """Grouped vertical bars: one group per category, one bar per series. ``reference`` draws a
    dashed horizontal line at that value; ``marker`` a dashed vertical line at a (fractional)
    category position, labelled (a threshold on a histogram)."""
    values = [v for vs in series.values() for v in vs if _usable(v)]
    if not categories or not values:
        return no_data(title)
    low, high, y = _scale(values + ([reference] if _usable(reference) else []))
    plot_w = WIDTH - LEFT - 10
    group_w = plot_w / len(categories)
    bar_w = group_w * 0.8 / len(series)
    body = [f'<line x1="{LEFT}" x2="{WIDTH - 10}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#888"/>',
            f'<text x="{LEFT - 4}" y="{y(high) + 4:.1f}" text-anchor="end" font-size="10">{html.escape(fmt(high))}</text>',
            f'<text x="{LEFT - 4}" y="{y(low) + 4:.1f}" text-anchor="end" font-size="10">{html.escape(fmt(low))}</text>']
    every = max(len(categories) // 12, 1)
    for i, category in enumerate(categories):
        x0 = LEFT + i * group_w + group_w * 0.1
        for j, (name, vs) in enumerate(series.items()):
            v = vs[i]
            if not _usable(v):
                continue
            top, bottom = sorted((y(v), y(0)))
            label = html.escape(f"{name}, {category}: {fmt(v)}")
            body.append(f'<rect class="bar" x="{x0 + j * bar_w:.1f}" y="{top:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                        f'height="{max(bottom - top, 0.5):.1f}" fill="{PALETTE[j % len(PALETTE)]}"><title>{label}</title></rect>')
        if i % every == 0:
            text = str(category) if len(str(category)) <= 14 else str(category)[:13] + "…"
            body.append(f'<text x="{x0 + group_w * 0.4:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" '
                        f'font-size="10">{html.escape(text)}</text>')
    if _usable(reference):
        body.append(f'<line x1="{LEFT}" x2="{WIDTH - 10}" y1="{y(reference):.1f}" y2="{y(reference):.1f}" '
                    'stroke="#a40000" stroke-dasharray="4 3"/>')
    if marker is not None and _usable(marker[0]):
        x = LEFT + max(0.0, min(marker[0], len(categories))) * group_w
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" stroke="#a40000" '
                    f'stroke-dasharray="4 3"/><text x="{x + 3:.1f}" y="{TOP + 10}" font-size="10" fill="#a40000">'
                    f'{html.escape(marker[1])}</text>')
    legend, extra = _legend(list(series))
    return _frame(title, body + legend, HEIGHT + extra)


def waterfall_chart(title: str, steps: Sequence[tuple[str, float]], prior: float,
                    reference: float | None = None) -> str:
    """The prior (log2 odds that two records match) and each comparison's weight added to it, left
    to right, ending at the pair's match weight; ``reference``: the threshold's weight, dashed."""
    steps = [(label, value) for label, value in steps if _usable(value)]
    if not _usable(prior):
        return no_data(title)
    running, spans = 0.0, []
    for label, value in [("prior", prior), *steps]:
        spans.append((label, running, running + value, value))
        running += value
    spans.append(("match weight", 0.0, running, running))
    low, high, y = _scale([v for _, a, b, _ in spans for v in (a, b)] + ([reference] if _usable(reference) else []))
    w = (WIDTH - LEFT - 10) / len(spans)
    body = [f'<line x1="{LEFT}" x2="{WIDTH - 10}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#888"/>',
            f'<text x="{LEFT - 4}" y="{y(high) + 4:.1f}" text-anchor="end" font-size="10">{high:.1f}</text>',
            f'<text x="{LEFT - 4}" y="{y(low) + 4:.1f}" text-anchor="end" font-size="10">{low:.1f}</text>']
    for i, (label, a, b, value) in enumerate(spans):
        top, bottom = sorted((y(a), y(b)))
        colour = (PRIOR_COLOUR if i == 0 else PALETTE[0] if i == len(spans) - 1
                  else PALETTE[2] if value >= 0 else PALETTE[3])
        body.append(f'<rect class="bar" x="{LEFT + i * w + 4:.1f}" y="{top:.1f}" width="{w - 8:.1f}" '
                    f'height="{max(bottom - top, 0.5):.1f}" fill="{colour}"><title>{html.escape(f"{label}: {value:+.2f}")}'
                    f'</title></rect><text x="{LEFT + i * w + w / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" '
                    f'text-anchor="middle" font-size="10">{html.escape(label[:14])}</text>')
    if _usable(reference):
        body.append(f'<line x1="{LEFT}" x2="{WIDTH - 10}" y1="{y(reference):.1f}" y2="{y(reference):.1f}" '
                    'stroke="#a40000" stroke-dasharray="4 3"/>')
    return _frame(title, body, HEIGHT)
