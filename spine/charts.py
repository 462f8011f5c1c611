"""Charts for the HTML report: Vega-Lite specs built with Altair and drawn in the browser by the Vega
JavaScript that :func:`page_scripts` inlines once per page, so the file works with no network.

Each chart is a ``<figure class="chart">`` holding its spec as JSON and a ``div.plot`` the page's
script draws it into (as SVG: a test counts its marks). Every mark has a tooltip; counts that span
orders of magnitude are drawn on a symmetric log scale. Values that are missing or not finite are
left out; a chart with nothing to draw is a line of text saying so.
"""

from __future__ import annotations

import functools
import html
import json
import math
from typing import Any, Sequence

import altair as alt

PERCENT, COUNT, NUMBER, WEIGHT = ".1%", ",.0f", ",.3~g", "+.2f"
PALETTE = ["#3465a4", "#cc7a00", "#4e9a06", "#a40000", "#75507b", "#06989a", "#c4a000", "#555753",
           "#ad7fa8", "#729fcf"]
WIDTH, HEIGHT, ROW = 560, 220, 16
#: Mark colours of the waterfall and the weights chart: the prior, weight for, weight against, the total.
PRIOR, FOR, AGAINST, TOTAL = "#888a85", "#4e9a06", "#a40000", "#3465a4"
#: How vega-embed draws: SVG (its marks can be counted), no link to the online editor.
EMBED_OPTIONS = {"renderer": "svg", "actions": {"export": True, "source": False, "compiled": False, "editor": False}}


def is_finite_number(value: Any) -> bool:
    """A number that can be drawn (not a bool, not NaN or infinite)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """A data row with non-finite numbers as None (JSON has no NaN; Vega reads null as missing)."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}


def no_data(title: str) -> str:
    """What stands in for a chart with nothing to draw."""
    return f'<p class="nodata">{html.escape(title)}: no data.</p>'


def _figure(title: str, chart: alt.TopLevelMixin) -> str:
    spec = chart.properties(title=title).configure_axis(grid=True, labelLimit=220).configure_view(stroke=None).to_dict()
    # "<" escaped in the JSON (it stays "<" once parsed): no value can close or reopen the script.
    text = json.dumps(spec, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    return (f'<figure class="chart" data-title="{html.escape(title)}"><div class="plot"></div>'
            f'<script type="application/json" class="chart-spec">{text}</script></figure>')


def bar_chart(title: str, categories: Sequence[str], series: dict[str, Sequence[float | None]],
              number: str = NUMBER, height: int = HEIGHT) -> str:
    """Grouped vertical bars: one group per category (in the order given), one bar per series.
    ``number``: a d3 format for axis and tooltip (``PERCENT``, ``COUNT``)."""
    rows = [{"category": str(c), "series": name, "value": values[i]}
            for name, values in series.items() for i, c in enumerate(categories) if is_finite_number(values[i])]
    if not rows:
        return no_data(title)
    several = len(series) > 1
    encoding: dict[str, Any] = {
        "x": alt.X("category:N", sort=[str(c) for c in categories], title=None,
                   axis=alt.Axis(labelAngle=-30 if len(categories) > 6 else 0, labelLimit=140)),
        "y": alt.Y("value:Q", title=None, axis=alt.Axis(format=number), scale=alt.Scale(zero=True)),
        "color": alt.Color("series:N", sort=list(series), scale=alt.Scale(range=PALETTE),
                           legend=alt.Legend(orient="bottom", title=None, columns=3) if several else None),
        "tooltip": [alt.Tooltip("series:N", title="series"), alt.Tooltip("category:N", title="of"),
                    alt.Tooltip("value:Q", title="value", format=number)]}
    if several:
        encoding["xOffset"] = alt.XOffset("series:N", sort=list(series))
    width = max(WIDTH, min(len(categories) * max(len(series), 1) * 9, 1100))
    chart = alt.Chart(alt.Data(values=rows)).mark_bar().encode(**encoding).properties(width=width, height=height)
    return _figure(title, chart)


def _powers_of_ten(top: float) -> list[float]:
    """Ticks of a symmetric log axis up to ``top``: 0, 1, 10, 100, ... (Vega's own are sparse)."""
    return [0, *[10.0 ** k for k in range(0, max(int(math.log10(max(top, 1))) + 1, 1))]]


def histogram_chart(title: str, bins: Sequence[dict[str, float]], cut: float | None = None,
                    cut_label: str = "") -> str:
    """Pairs per match-weight bin (``from``, ``to``, ``pairs``) on a symmetric log scale (one full
    bin must not flatten the rest), with the linking threshold as a dashed line."""
    rows = [_clean(b) for b in bins if all(is_finite_number(b.get(key)) for key in ("from", "to", "pairs"))]
    if not rows:
        return no_data(title)
    bars = alt.Chart(alt.Data(values=rows)).mark_bar(color=PALETTE[0], stroke="white", strokeWidth=0.5).encode(
        x=alt.X("from:Q", title="match weight (log2 of the odds that the pair is a match)"),
        x2="to:Q",
        y=alt.Y("pairs:Q", title="pairs (log scale)", scale=alt.Scale(type="symlog"),
                axis=alt.Axis(format=COUNT, values=_powers_of_ten(max(b["pairs"] for b in rows)))),
        y2=alt.datum(0),
        tooltip=[alt.Tooltip("from:Q", title="weight from"), alt.Tooltip("to:Q", title="to"),
                 alt.Tooltip("pairs:Q", title="pairs", format=COUNT)])
    layers: list[Any] = [bars]
    if is_finite_number(cut):
        marks = alt.Chart(alt.Data(values=[{"cut": cut, "label": cut_label}]))
        layers += [marks.mark_rule(color="#a40000", strokeDash=[4, 3]).encode(x="cut:Q"),
                   marks.mark_text(color="#a40000", align="left", dx=4, baseline="top", y=0).encode(
                       x="cut:Q", text="label:N")]
    return _figure(title, alt.layer(*layers).properties(width=WIDTH, height=HEIGHT))


def weights_chart(title: str, levels: Sequence[dict[str, Any]]) -> str:
    """Every comparison level's match weight, one labelled row each (as Splink's match weights
    chart): ``comparison``, ``level``, ``weight``, ``m``, ``u``, and ``flagged`` (a degenerate
    parameter, in grey). The axis spans the other levels: a flagged level's bar is cut at its edge
    (its tooltip has the value), so that one runaway weight does not flatten the rest."""
    rows = [{**_clean(level), "row": f"{level['comparison']}: {level['level']}",
             "kind": "flagged" if level.get("flagged") else "for" if level["weight"] >= 0 else "against"}
            for level in levels if is_finite_number(level.get("weight"))]
    if not rows:
        return no_data(title)
    sound = [r["weight"] for r in rows if r["kind"] != "flagged"]
    scale = (alt.Scale(domain=[min([*sound, 0.0]) - 2, max([*sound, 0.0]) + 2])
             if len(sound) < len(rows) else alt.Scale())
    chart = alt.Chart(alt.Data(values=rows)).mark_bar(clip=True).encode(
        y=alt.Y("row:N", sort=[r["row"] for r in rows], title=None, axis=alt.Axis(labelLimit=360)),
        x=alt.X("weight:Q", title="match weight, log2(m/u)", scale=scale),
        color=alt.Color("kind:N", scale=alt.Scale(domain=["for", "against", "flagged"], range=[FOR, AGAINST, PRIOR]),
                        legend=alt.Legend(orient="bottom", title=None)),
        tooltip=[alt.Tooltip("comparison:N"), alt.Tooltip("level:N"), alt.Tooltip("m:Q", format=".3g"),
                 alt.Tooltip("u:Q", format=".3g"), alt.Tooltip("weight:Q", format=WEIGHT)])
    return _figure(title, chart.properties(width=WIDTH - 160, height=ROW * len(rows)))


def interval_chart(title: str, rows: Sequence[dict[str, Any]], width: int = WIDTH, height: int = HEIGHT) -> str:
    """Counts by ``period`` and ``event`` as grouped bars, each with its interval (``lower`` to
    ``upper``) as a black whisker where there is one."""
    shown = [r for r in rows if is_finite_number(r.get("count"))]
    if not shown:
        return no_data(title)
    periods = list(dict.fromkeys(str(r["period"]) for r in shown))
    events = list(dict.fromkeys(r["event"] for r in shown))
    data = alt.Data(values=[{**_clean(r), "period": str(r["period"])} for r in shown])
    x = alt.X("period:N", sort=periods, title=None, axis=alt.Axis(labelAngle=0))
    offset = alt.XOffset("event:N", sort=events)
    tooltip = [alt.Tooltip("event:N"), alt.Tooltip("period:N"), alt.Tooltip("count:Q", format=COUNT),
               alt.Tooltip("lower:Q", format=COUNT, title="interval from"), alt.Tooltip("upper:Q", format=COUNT, title="to")]
    bars = alt.Chart(data).mark_bar().encode(
        x=x, xOffset=offset, y=alt.Y("count:Q", title=None, axis=alt.Axis(format="~s")),
        color=alt.Color("event:N", sort=events, scale=alt.Scale(range=PALETTE), legend=alt.Legend(orient="bottom", title=None)),
        tooltip=tooltip)
    whiskers = alt.Chart(data).transform_filter("isValid(datum.lower) && isValid(datum.upper)").mark_rule(
        color="black", strokeWidth=1.5).encode(x=x, xOffset=offset, y="lower:Q", y2="upper:Q", tooltip=tooltip)
    return _figure(title, alt.layer(bars, whiskers).properties(width=width, height=height))


def waterfall_chart(title: str, steps: Sequence[tuple[str, float]], prior: float,
                    reference: float | None = None) -> str:
    """The prior (log2 odds that two records match) and each comparison's weight added to it, left
    to right, ending at the pair's match weight; ``reference``: the threshold's weight, dashed."""
    steps = [(label, value) for label, value in steps if is_finite_number(value)]
    if not is_finite_number(prior):
        return no_data(title)
    running, rows = 0.0, []
    for i, (label, value) in enumerate([("prior", prior), *steps]):
        rows.append({"step": label, "start": running, "end": running + value, "weight": value,
                     "kind": "prior" if i == 0 else "for" if value >= 0 else "against"})
        running += value
    rows.append({"step": "match weight", "start": 0.0, "end": running, "weight": running, "kind": "total"})
    bars = alt.Chart(alt.Data(values=rows)).mark_bar().encode(
        x=alt.X("step:N", sort=[r["step"] for r in rows], title=None, axis=alt.Axis(labelAngle=-30)),
        y=alt.Y("start:Q", title="log2 odds"), y2="end:Q",
        color=alt.Color("kind:N", scale=alt.Scale(domain=["prior", "for", "against", "total"],
                                                  range=[PRIOR, FOR, AGAINST, TOTAL]), legend=None),
        tooltip=[alt.Tooltip("step:N"), alt.Tooltip("weight:Q", format=WEIGHT), alt.Tooltip("end:Q", format=WEIGHT,
                                                                                        title="running total")])
    layers: list[Any] = [bars]
    if is_finite_number(reference):
        layers.append(alt.Chart(alt.Data(values=[{"threshold": reference}])).mark_rule(
            color="#a40000", strokeDash=[4, 3]).encode(y="threshold:Q", tooltip=alt.Tooltip("threshold:Q", format=WEIGHT)))
    return _figure(title, alt.layer(*layers).properties(width=WIDTH, height=HEIGHT))


@functools.lru_cache(maxsize=1)
def vega_javascript() -> str:
    """Vega, Vega-Lite and vega-embed in one script, for the Vega-Lite version Altair writes (from
    vl-convert, as Altair's own offline HTML does)."""
    import vl_convert

    return vl_convert.javascript_bundle(vl_version=alt.SCHEMA_VERSION.lstrip("v").rsplit(".", 1)[0])


#: Draws every figure.chart of the page; sets ``data-charts-drawn`` on <body> when all are drawn
#: (or ``failed``), so a browser test knows when to look.
DRAW_SCRIPT = """
(function () {
  const figures = Array.from(document.querySelectorAll("figure.chart"));
  Promise.all(figures.map(function (figure) {
    const spec = JSON.parse(figure.querySelector("script.chart-spec").textContent);
    return vegaEmbed(figure.querySelector("div.plot"), spec, %s);
  })).then(function () { document.body.dataset.chartsDrawn = String(figures.length); },
           function (error) { document.body.dataset.chartsDrawn = "failed"; console.error(error); });
})();
""" % json.dumps(EMBED_OPTIONS)


def page_scripts(page: str) -> str:
    """The scripts to put at the end of a page's <body>: the Vega library once, then the drawing."""
    if 'class="chart"' not in page:
        return ""
    return f'<script id="vega-library">{vega_javascript()}</script><script>{DRAW_SCRIPT}</script>'
