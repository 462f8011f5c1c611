"""A first, static HTML report built from ``quality.json`` alone (so it can hold no personal data).

Issue 6 replaces it with charts, flows and demographic accounting; this one shows the numbers a
methodology board asks for first: link rates per source and group, rule counts, accounting.
"""

from __future__ import annotations

import html
import json
from typing import Any


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1%}" if value <= 1 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def _changes_section(changes: dict[str, Any] | None) -> list[str]:
    """What this run changed against the previous run in the same store (spine.history)."""
    if not changes:
        return []
    parts = ["<h2>Changes since the previous run</h2>"]
    if changes.get("previous_store_without_history"):
        return parts + ["<p>The previous store was written without a link history (an earlier version): "
                        "person ids were not carried over; this run starts the history.</p>"]
    if changes["previous_run"] is None:
        return parts + [f"<p>Run {changes['run']}: the first run in this store; nothing to compare.</p>"]
    if changes["key_changed"]:
        return parts + [f"<p>Run {changes['run']}: the person key differs from run {changes['previous_run']}'s, "
                        "so person ids are not comparable and nothing was carried over.</p>"]
    parts.append(f"<p>Run {changes['run']} against run {changes['previous_run']} ({changes['previous_started']}).</p>")
    parts.append(_table(["persons", "count"], [[k.replace("_", " "), v] for k, v in changes["persons"].items()]))
    records = changes["records"] or {"unchanged": "every record"}
    return parts + [_table(["records", "count"], [[k.replace("_", " "), v] for k, v in records.items()])]


def render_report(quality: dict[str, Any]) -> str:
    """Render the report page from the quality metrics."""
    cols = ["records", "linked", "unlinked", "review", "rejected", "link_rate"]
    sources = quality["sources"]
    parts = [f"<h1>Linkage quality report: {html.escape(quality['job'])}</h1>",
             "<h2>Sources</h2>",
             _table(["source", *cols, "reasons"],
                    [[n, *[m[c] for c in cols], json.dumps(m["reasons"])] for n, m in sources.items()])]
    for group in ("sex", "age_group", "citizenship_group"):
        rows = [[n, g, *[v[c] for c in cols]] for n, m in sources.items() for g, v in m["by"][group].items()]
        parts += [f"<h3>Link rate by {group.replace('_', ' ')}</h3>", _table(["source", group, *cols], rows)]
    acc = quality["accounting"]
    parts += ["<h2>Accounting identity</h2>",
              f"<p>{'passed' if acc['passed'] else 'FAILED'}: every input record appears once in links.</p>",
              _table(["source", "rows read", "links rows", "passed"],
                     [[n, v["rows_read"], v["links"], str(v["passed"])] for n, v in acc["by_source"].items()])]
    rules = quality["rules"]
    parts += ["<h2>Rules</h2>", _table(["itinerary measure", "count"], [[k, v] for k, v in rules["itinerary"].items()]),
              "<h3>Movements added by the rules (imputed), by the rule that added them</h3>",
              _table(["added by", "movements"], [[k, v] for k, v in rules.get("movements_imputed_by_source", {}).items()]),
              f"<p>Event definition: {html.escape(str(rules['events'].get('definition')))}; "
              f"provisional events (open periods near the data end): {rules['events'].get('provisional')}.</p>",
              "<h3>Ablation: events with and without each rule</h3>",
              _table(["rule", "immigration with", "immigration without", "emigration with", "emigration without"],
                     [[name, *[(rules[name][side] or {}).get(event) for event in ("immigration", "emigration")
                               for side in ("events_with", "events_without")]]
                      for name in ("itinerary_repair", "signs_of_life", "visas") if rules.get(name)]),
              "<h3>Events by year</h3>",
              _table(["year", "event", "events"], [[str(r["year"]), r["event"], r["n"]] for r in rules["events"]["by_year"]])]
    parts += _changes_section(quality.get("changes"))
    run = quality["run"]
    parts += ["<h2>Run</h2>", _table(["stage", "seconds"], [[k, f"{v:.2f}"] for k, v in run["stages"].items()]),
              _table(["input", "rows", "sha256"], [[n, v["rows"], v["sha256"]] for n, v in quality["inputs"].items()]),
              _table(["package", "version"], [[k, v] for k, v in run["versions"].items()])]
    style = ("body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}th{background:#eee}")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(quality['job'])}"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>")
