"""Charts for the HTML report as inline SVG: no script, no network, nothing to load at view time.

Each chart is an ``<svg class="chart">`` with a title and ``rect.bar`` marks, so a test can check
that every chart rendered (tests/spine/test_report_browser.py).
"""

from __future__ import annotations

import html
from typing import Callable, Sequence

PALETTE = ("#3465a4", "#cc7a00", "#4e9a06", "#a40000", "#75507b")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 260, 60, 48, 28


def _number(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _frame(title: str, body: list[str], height: int = HEIGHT) -> str:
    t = html.escape(title)
    return (f'<svg class="chart" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg" '
            f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}">'
            f'<title>{t}</title><text x="{WIDTH / 2}" y="16" text-anchor="middle" font-size="13">{t}</text>'
            + "".join(body) + "</svg>")


def bar_chart(title: str, categories: Sequence[str], series: dict[str, Sequence[float | None]],
              fmt: Callable[[float], str] = _number, reference: float | None = None) -> str:
    """Grouped vertical bars: one group per category, one bar per series (missing values left out).
    ``reference`` draws a dashed horizontal line (a threshold, zero)."""
    values = [v for vs in series.values() for v in vs if v is not None]
    low, high = min([0.0, *values, *([reference] if reference is not None else [])]), \
        max([0.0, *values, *([reference] if reference is not None else [])])
    span = (high - low) or 1.0
    plot_h, plot_w = HEIGHT - TOP - BOTTOM, WIDTH - LEFT - 10

    def y(v: float) -> float:
        return TOP + (high - v) / span * plot_h

    group_w = plot_w / max(len(categories), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    body = [f'<line x1="{LEFT}" x2="{WIDTH - 10}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#888"/>',
            f'<text x="{LEFT - 4}" y="{y(high) + 4:.1f}" text-anchor="end" font-size="10">{html.escape(fmt(high))}</text>',
            f'<text x="{LEFT - 4}" y="{y(low) + 4:.1f}" text-anchor="end" font-size="10">{html.escape(fmt(low))}</text>']
    for i, category in enumerate(categories):
        x0 = LEFT + i * group_w + group_w * 0.1
        for j, (name, vs) in enumerate(series.items()):
            v = vs[i]
            if v is None:
                continue
            top, bottom = sorted((y(v), y(0)))
            label = html.escape(f"{name}, {category}: {fmt(v)}")
            body.append(f'<rect class="bar" x="{x0 + j * bar_w:.1f}" y="{top:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                        f'height="{max(bottom - top, 0.5):.1f}" fill="{PALETTE[j % len(PALETTE)]}"><title>{label}</title></rect>')
        if len(categories) <= 24 or i % max(len(categories) // 12, 1) == 0:
            body.append(f'<text x="{x0 + group_w * 0.4:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" '
                        f'font-size="10">{html.escape(str(category))}</text>')
    if reference is not None:
        body.append(f'<line x1="{LEFT}" x2="{WIDTH - 10}" y1="{y(reference):.1f}" y2="{y(reference):.1f}" '
                    'stroke="#a40000" stroke-dasharray="4 3"/>')
    if len(series) > 1:
        for j, name in enumerate(series):
            x = LEFT + j * 130
            body.append(f'<rect x="{x}" y="{HEIGHT - 16}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
                        f'<text x="{x + 14}" y="{HEIGHT - 7}" font-size="10">{html.escape(name)}</text>')
    return _frame(title, body)


def waterfall_chart(title: str, steps: Sequence[tuple[str, float]], prior: float = 0.0) -> str:
    """Each comparison's weight added to the prior, left to right, ending at the match weight."""
    running, spans = prior, []
    for label, value in steps:
        spans.append((label, running, running + value, value))
        running += value
    spans.append(("match weight", 0.0, running, running))
    low = min([0.0, prior, *[min(a, b) for _, a, b, _ in spans]])
    high = max([0.0, prior, *[max(a, b) for _, a, b, _ in spans]])
    span = (high - low) or 1.0
    plot_h, plot_w = HEIGHT - TOP - BOTTOM, WIDTH - LEFT - 10

    def y(v: float) -> float:
        return TOP + (high - v) / span * plot_h

    w = plot_w / len(spans)
    body = [f'<line x1="{LEFT}" x2="{WIDTH - 10}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#888"/>']
    for i, (label, a, b, value) in enumerate(spans):
        top, bottom = sorted((y(a), y(b)))
        colour = PALETTE[0] if i == len(spans) - 1 else (PALETTE[2] if value >= 0 else PALETTE[3])
        body.append(f'<rect class="bar" x="{LEFT + i * w + 4:.1f}" y="{top:.1f}" width="{w - 8:.1f}" '
                    f'height="{max(bottom - top, 0.5):.1f}" fill="{colour}"><title>{html.escape(f"{label}: {value:+.2f}")}</title></rect>'
                    f'<text x="{LEFT + i * w + w / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" '
                    f'font-size="10">{html.escape(label)}</text>')
    return _frame(title, body)
