"""The HTML report, built from ``quality.json`` alone (so it can hold no personal data), with its
charts inlined as SVG (nothing is fetched when it is viewed).

Sections follow what a methodology board asks: sources and link rates by group (linkage bias is
the main threat to migration estimates), how probabilistic links were decided, the review queue
and attribute conflicts, each rule with its ablation, events by year, demographic accounting,
changes since the previous run, and run metadata. ``render_comparison`` sets two runs side by side.
"""

from __future__ import annotations

import html
import math
from typing import Any
from urllib.parse import quote

from spine.charts import (COUNT, PERCENT, bar_chart, histogram_chart, interval_chart, is_finite_number, page_scripts,
                          waterfall_chart, weights_chart)
from spine.dashboards import VIEWER_SUFFIX
from spine.diagnostics import probabilistic_metrics

STATUS_COLUMNS = ["records", "linked", "unlinked", "review", "rejected", "link_rate"]
GROUPS = ("sex", "age_group", "citizenship_group")
STYLE = ("body{font-family:sans-serif;margin:1.5em 2em;max-width:80em}table{border-collapse:collapse;margin:.6em 0}"
         "td,th{border:1px solid #ccc;padding:.15em .5em;text-align:right}th{background:#eee}"
         "td:first-child,th:first-child{text-align:left}figure.chart{margin:.8em 0}"
         "nav{position:sticky;top:0;background:#fff;padding:.3em 0;border-bottom:1px solid #ddd;z-index:1}"
         "nav a{margin-right:1em}.note{color:#555;max-width:60em}h1{margin:.2em 0}"
         "details{margin:.5em 0}details>summary{cursor:pointer;padding:.2em 0}"
         "details.source{border:1px solid #ddd;border-radius:4px;padding:.2em .8em}"
         "#summary .grid{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:1.5em;align-items:start}"
         "#summary table{margin:0}.warnings{border-left:4px solid #c4a000;background:#fffbe6;padding:.3em .8em}"
         ".warnings ul{margin:.3em 0;padding-left:1.2em}.warnings a{color:inherit}.ok{color:#4e9a06}"
         ".warning{border-left:4px solid #a40000;background:#fdecea;padding:.1em .8em}.flag{color:#a40000}")


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.1%}" if 0 <= value <= 1 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def _percent(value: float) -> str:
    return f"{value:.1%}"


def _details(summary: str, parts: list[str]) -> list[str]:
    """A block the reader opens when they want it (the page stays short)."""
    return [f"<details><summary>{summary}</summary>", *parts, "</details>"]


def _reasons(reasons: dict[str, int] | None) -> str:
    """``no candidate 120, below threshold 30``: why records did not link, most frequent first."""
    ordered = sorted((reasons or {}).items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{str(reason).replace('_', ' ')} {n:,}" for reason, n in ordered)


def _section(anchor: str, title: str, parts: list[str]) -> list[str]:
    return [f'<section id="{anchor}"><h2>{html.escape(title)}</h2>', *parts, "</section>"]


def _sources_section(quality: dict[str, Any]) -> list[str]:
    sources = quality["sources"]
    parts = [_table(["source", *STATUS_COLUMNS, "why not linked", "invalid values (set empty)", "implausible values (kept)"],
                    [[n, *[m[c] for c in STATUS_COLUMNS], _reasons(m.get("reasons")),
                      _field_counts(m.get("invalid_values")), _field_counts(m.get("implausible_values"))]
                     for n, m in sources.items()]),
             bar_chart("Link rate by source", list(sources), {"link rate": [m["link_rate"] for m in sources.values()]},
                       number=PERCENT)]
    for group in GROUPS:
        categories = sorted({g for m in sources.values() for g in m["by"][group]})
        series = {n: [m["by"][group].get(g, {}).get("link_rate") for g in categories] for n, m in sources.items()}
        rows = [[n, g, *[v[c] for c in STATUS_COLUMNS]] for n, m in sources.items() for g, v in m["by"][group].items()]
        label = group.replace("_", " ")
        parts += _details(f"<h3>Link rate by {label}</h3>", [
            bar_chart(f"Link rate by {label}, per source", categories, series, number=PERCENT),
            _table(["source", label, *STATUS_COLUMNS], rows)])
    parts += _base_duplicates_parts(quality.get("linkage", {}).get("base_duplicates"))
    parts += _enlargement_parts(quality.get("linkage", {}).get("enlargement"))
    return _section("sources", "Sources and link rates", [
        '<p class="note">Linked, unlinked, review and rejected records of every source, overall and by the '
        "record's own sex, age group at the end of the data and citizenship group. Differences between "
        "groups are linkage bias: the events of a group that links less are undercounted.</p>", *parts])


def _weight(m: float | None, u: float | None) -> float | None:
    if not m or not u:
        return None
    return math.log2(m / u)


def _g(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _model_choice_parts(choice: dict[str, Any] | None, pairs_per_rule: list[dict[str, Any]] | None) -> list[str]:
    """Which fields the model compares, with each side's fill rate: why a field was left out; the
    blocking rules that ran, with the defaults tightened to fit the pair budget."""
    if not choice:
        return []
    rows = [[field, _percent(f["source_fill"]), _percent(f["base_fill"]), "yes" if f["compared"] else "no"]
            for field, f in choice["fields"].items()]
    ran = [r["rule"] for r in pairs_per_rule or [] if r.get("rule")] or choice["blocking_rules"]
    rules = "; ".join(r if isinstance(r, str) else " + ".join(r) for r in ran)
    training = "; ".join(" + ".join(r) for r in choice["training_rules"]) or "none (labels)"
    # a column rule tightened or dropped; a default Splink rule (SQL) only ever dropped
    changed = [(" + ".join(r["given"]), " + ".join(r["rule"]) if r["rule"] else None, r["pairs_given"], r["pairs"])
               for r in pairs_per_rule or [] if "given" in r and not isinstance(r["given"], str)]
    notes = "".join(f" The default rule on {html.escape(given)} ({before:,} pairs) was "
                    + (f"tightened to {html.escape(rule)} ({after:,} pairs)" if rule else "dropped: no field brought it "
                       "under max_comparisons") + "." for given, rule, before, after in changed)
    notes += "".join(f" The default rule {html.escape(r['given'])} (about {r['pairs_given']:,} pairs) was dropped: "
                     "over max_comparisons." for r in pairs_per_rule or [] if isinstance(r.get("given"), str))
    return [_table(["field", "filled in the source", "filled in the base register", "compared"], rows),
            f"<p>Candidate pairs from records agreeing on any of: {html.escape(rules)}.{notes} "
            f"Training (EM) blocks on: {html.escape(training)}.</p>"]


def _base_duplicates_parts(duplicates: dict[str, Any] | None) -> list[str]:
    """People registered twice in the base register (spine.dedupe): found, merged, kept apart."""
    if not duplicates or not duplicates.get("pairs"):
        return []
    keys = ", ".join(f"{html.escape(k)}: {n:,}" for k, n in duplicates["pairs_per_key"].items())
    text = (f"<h3>People registered twice</h3><p>{duplicates['pairs']:,} pairs of base records each look like "
            f"one person registered twice ({keys}).")
    if "persons_merged" in duplicates:
        kept = sum((duplicates.get("pairs_not_merged") or {}).values())
        merged = duplicates["persons_merged"]
        text += f" {merged:,} record{'s were' if merged != 1 else ' was'} merged into the person of their pair"
        text += (f"; {kept:,} pair{'s' if kept != 1 else ''} found on the first initial alone or without a "
                 "postcode kept as two persons (twins, namesakes born the same day)." if kept else ".")
        carried = duplicates.get("pairs_from_the_previous_run") or 0
        if carried:
            text += (f" {carried:,} of the pairs (previous_run) are the previous run's merges that no key found "
                     "this time (a registration moved house): kept merged.")
    else:
        text += " They were kept as two persons (action: report)."
    return [text + "</p>"]


def _enlargement_parts(enlargement: dict[str, Any] | None) -> list[str]:
    """How the pool of unmatched records became persons (spine.enlarge, spine.pool_grouping)."""
    if not enlargement or not enlargement.get("sources"):
        return []
    grouping = enlargement.get("grouping") or {}
    model = grouping.get("probabilistic") or {}
    held = enlargement.get("held_back") or {}
    text = (f"<h3>Enlargement</h3><p>{enlargement['records']:,} unmatched records of "
            f"{html.escape(', '.join(enlargement['sources']))} became {enlargement['persons']:,} persons "
            f"(grouping: {html.escape(str(grouping.get('method', 'keys')))}); {held.get('groups', 0):,} groups "
            f"({held.get('records', 0):,} records) held back as possible register matches.")
    if model.get("used"):
        text += (f" The pool model compared {html.escape(', '.join(model['compared']))} on "
                 f"{model['profiles']:,} distinct profiles ({model['pairs_scored']:,} candidate pairs); "
                 f"{model['profile_pairs_joined']:,} pairs reached p ≥ {model['threshold']}.")
    elif model:
        text += f" The pool model was not used: {html.escape(str(model.get('why')))}."
    oversized = (grouping.get("keys") or {}).get("oversized_key_groups") or {}
    if oversized:
        text += (" Name-key groups too large to be one person joined nothing on that key: "
                 + "; ".join(f"{html.escape(k)}: {v['groups']:,} groups, {v['records']:,} records, largest {v['largest']:,}"
                             for k, v in oversized.items()) + ".")
    parts = [text + "</p>"]
    dates = grouping.get("dates_of_birth") or {}
    read = {name: found for name, found in dates.items()
            if any(found[k]["read_as_placeholder"] for k in ("january_first", "first_of_month"))}
    if read:
        groups = grouping.get("groups") or {}
        rows = [[name, f"{found['january_first']['share']:.1%} (calendar {found['january_first']['calendar_share']:.2%})",
                 f"{found['first_of_month']['share']:.1%} (calendar {found['first_of_month']['calendar_share']:.1%})",
                 ", ".join(label for key, label in (("january_first", "1 January: year only"),
                                                    ("first_of_month", "the 1st: month only"))
                           if found[key]["read_as_placeholder"])]
                for name, found in read.items()]
        parts += [f"<p>Dates of birth written with a placeholder day or month, read from each source's own "
                  f"dates: a record with such a date (or none) may join one person, never make two people one "
                  f"({groups.get('vague_units_joined_to_a_person', 0):,} such units joined a person, "
                  f"{groups.get('vague_units_grouped_among_themselves', 0):,} were grouped among themselves, "
                  f"{groups.get('vague_units_alone', 0):,} stayed alone).</p>",
                  _table(["source", "1 January", "the 1st of other months", "read as"], rows)]
    return parts


def _splink_warnings(quality: dict[str, Any]) -> list[str]:
    """What Splink warned of while the models trained (kept out of the console and the notebook)."""
    said = (quality.get("run") or {}).get("splink_warnings") or []
    if not said:
        return []
    rows = [[w["times"], w["message"]] for w in said]
    return [f"<details><summary>Splink's warnings while the models trained: {len(said)} distinct, "
            f"{sum(w['times'] for w in said):,} in all (mostly levels no training pair reached, whose m "
            "stays at its starting value)</summary>", _table(["times", "warning"], rows), "</details>"]


#: A level's m (share among true matches) or u (among non-matches) this close to zero was not seen
#: in training at all: EM or the random sample put it at the edge, and its weight is not a measurement.
DEGENERATE_M, DEGENERATE_U = 1e-6, 1e-9


def degenerate_levels(parameters: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Comparison levels whose m or u sits at the edge of what training can show (docs/report.md):
    a level with m near zero vetoes a link on its own, one with u near zero forces one."""
    found = []
    for comparison, levels in parameters.items():
        for level in levels:
            m, u = level.get("m"), level.get("u")
            why = ("m" if m is not None and m < DEGENERATE_M else None) or ("u" if u is not None and u < DEGENERATE_U else None)
            if why:
                found.append({"comparison": comparison, "level": level.get("level") or "", "m": m, "u": u,
                              "weight": _weight(m, u), "why": why})
    return found


def _degenerate_text(level: dict[str, Any]) -> str:
    weight = "" if level["weight"] is None else f", weight {level['weight']:+.1f}"
    side = ("true matches never showed it in training: it vetoes a link on its own" if level["why"] == "m"
            else "random pairs never showed it: it forces a link on its own")
    return (f"{level['comparison']} “{level['level']}”: m = {_g(level['m'], '.2g')}, u = {_g(level['u'], '.2g')}"
            f"{weight} ({side})")


def _blocking_parts(model: dict[str, Any]) -> list[str]:
    """Pairs each blocking rule brought (what the run scored) and each training rule (what EM saw),
    and how long each step took."""
    def rule(r: Any) -> str:
        return "" if r is None else r if isinstance(r, str) else " + ".join(r)

    blocks = [[rule(r.get("rule")) or f"(dropped: {rule(r.get('given'))})", r.get("pairs")]
              for r in model.get("pairs_per_blocking_rule") or []]
    training = [[rule(r.get("rule")), r.get("pairs"), r.get("sampled_to")] for r in model.get("pairs_per_training_rule") or []]
    seconds = model.get("seconds") or {}
    steps = [("prior", "prior (the chance two records match)"), ("u", "u (random pairs)"), ("m", "m (EM)"),
             ("predict", "scoring the candidate pairs"), ("assign", "assigning links")]
    parts = []
    if blocks:
        parts.append(_table(["blocking rule (in order; a pair counts for the first rule it meets)", "candidate pairs"],
                            blocks))
    if training:
        parts.append(_table(["training rule (EM)", "pairs", "sampled to"], training))
    if seconds:
        parts.append(_table(["step", "seconds"], [[label, f"{seconds[k]:.1f}"] for k, label in steps if k in seconds]
                            + ([["total", f"{seconds['total']:.1f}"]] if "total" in seconds else [])))
    return parts


def _probabilistic_source(name: str, metrics: dict[str, Any], model: dict[str, Any],
                          found: dict[str, Any] | None) -> list[str]:
    """One source's model, scores and examples, folded under a one-line summary."""
    parts: list[str] = []
    prior, threshold, band = (model.get("probability_two_random_records_match"), model.get("threshold"),
                              model.get("review_band"))
    if threshold is not None:
        parts.append(f"<p>Threshold {threshold} (match weight {math.log2(threshold / (1 - threshold)):+.2f}); "
                     f"review band {band or 'none'}; prior probability that two records match "
                     f"{_g(prior, '.3g') or 'unknown'}.</p>")
    parts += _model_choice_parts(model.get("model_choice"), model.get("pairs_per_blocking_rule"))
    parts += _blocking_parts(model)
    assessment = metrics.get("assessment_on_id_links")
    if isinstance(assessment, dict):
        parts.append("<p>The model judged against the identifier links (hybrid): "
                     + ", ".join(f"{html.escape(str(k).replace('_', ' '))} {_fmt(v)}" for k, v in assessment.items()
                                 if not isinstance(v, dict | list)) + ".</p>")
    degenerate = degenerate_levels(model["parameters"])
    flagged = {(d["comparison"], d["level"]) for d in degenerate}
    if degenerate:
        parts.append('<div class="warning"><p><strong>Parameters at the edge of what training can show</strong> '
                     f"(m below {DEGENERATE_M:g} or u below {DEGENERATE_U:g}): their weights are not measurements. "
                     "Look at the comparison's levels, the training rules, or train on labels.</p><ul>"
                     + "".join(f"<li>{html.escape(_degenerate_text(d))}</li>" for d in degenerate) + "</ul></div>")
    levels, rows = [], []
    for comparison, comparison_levels in model["parameters"].items():
        for level in comparison_levels:
            weight = _weight(level["m"], level["u"])
            label = level["level"] or ""
            levels.append({"comparison": comparison, "level": label, "weight": weight, "m": level["m"],
                           "u": level["u"], "flagged": (comparison, label) in flagged})
            rows.append([comparison, label, _g(level["m"], ".3g"), _g(level["u"], ".3g"), _g(weight, "+.2f"),
                         "at the edge" if (comparison, label) in flagged else ""])
    parts += [weights_chart(f"{name}: match weight of each comparison level (log2 m/u)", levels),
              *_details("Model parameters as numbers", [
                  _table(["comparison", "level", "m", "u", "weight log2(m/u)", ""], rows)])]
    if not found:
        return [*parts, "<p>No candidate pairs were scored for this source.</p>"]
    hist = found["histogram"]
    parts += [histogram_chart(f"{name}: match weights of the {found['pairs']:,} candidate pairs the model decided",
                              hist, cut=found.get("cut_weight"), cut_label=f"links at p ≥ {found['link_cut']}"),
              '<p class="note">Pairs of records an identifier linked first are left out, and so are pairs '
              "Splink scored below its keep level (they never reach review). Pairs on a log scale.</p>"]
    sens = found["sensitivity"]
    parts += [bar_chart(f"{name}: records whose best candidate reaches each threshold",
                        [str(r["threshold"]) for r in sens], {"records": [r["records_linked"] for r in sens]},
                        number=COUNT, height=160),
              _table(["threshold", "records whose best candidate reaches it",
                      f"links gained (+) or lost (−) against p ≥ {found['link_cut']}"],
                     [[str(r["threshold"]), r["records_linked"], f"{r['change']:+,}"] for r in sens])]
    examples = []
    for example in found["example_pairs"]:
        steps = list(example["weights"].items())
        examples.append(waterfall_chart(
            f"{name}: a pair {example['example']} (weight {example['match_weight']:.2f}, "
            f"probability {example['match_probability']:.3f})", steps,
            prior=example["match_weight"] - sum(v for _, v in steps), reference=found.get("cut_weight")))
    if examples:
        parts += _details("Example pairs: what each comparison added", examples)
    return parts


def _probabilistic_headline(name: str, quality: dict[str, Any], model: dict[str, Any]) -> str:
    """The line a closed source block shows: enough to know which one to open."""
    source = quality["sources"].get(name) or {}
    pairs = sum(r.get("pairs") or 0 for r in model.get("pairs_per_blocking_rule") or [] if r.get("rule"))
    flagged = len(degenerate_levels(model["parameters"]))
    seconds = (model.get("seconds") or {}).get("total")
    bits = [f"link rate {_percent(source['link_rate'])}" if is_finite_number(source.get("link_rate")) else "",
            f"{pairs:,} candidate pairs" if pairs else "",
            f"{source.get('review', 0):,} in review" if source.get("review") else "",
            f"trained and scored in {seconds:.0f} s" if seconds is not None else "",
            f'<span class="flag">{flagged} parameter{"s" if flagged > 1 else ""} at the edge</span>' if flagged else ""]
    return f"<strong>{html.escape(name)}</strong>: " + ", ".join(b for b in bits if b)


def _probabilistic_section(quality: dict[str, Any]) -> list[str]:
    diagnostics = quality.get("linkage_diagnostics") or {}
    parts: list[str] = []
    for name, metrics in quality.get("linkage", {}).items():
        model = probabilistic_metrics(metrics)
        if model is None:
            continue
        found = diagnostics.get(name)
        parts += [f'<details class="source" id="probabilistic-{html.escape(name)}"><summary>'
                  f"{_probabilistic_headline(name, quality, model)}</summary>",
                  *_probabilistic_source(name, metrics, model, found), "</details>"]
    if not parts:
        return _section("probabilistic", "Probabilistic linkage",
                        ["<p>No source was linked probabilistically in this job.</p>"])
    return _section("probabilistic", "Probabilistic linkage", [
        '<p class="note">One block per source (open it): the fields compared and the blocking rules with the '
        "pairs each brought, how long training took, model parameters (m: how often a level is seen among true "
        "matches, u: among non-matches), the match weights of candidate pairs, how many records a different "
        "threshold would link (before assignment constraints and review), and example pairs shown only by "
        "the weight each comparison added (grey: the prior; dashed: the threshold): no record, name or "
        "value appears.</p>", *parts])


def _review_and_conflicts_section(quality: dict[str, Any]) -> list[str]:
    review = {n: m["review"] for n, m in quality["sources"].items()}
    conflicts = quality.get("conflicts", {}).get("by_attribute", {})
    linkage = quality.get("linkage", {})
    return _section("review", "Clerical review and attribute conflicts", [
        f"<p>Records waiting for a clerk: {sum(review.values()):,} "
        f"(decisions read: {linkage.get('clerical_decisions', 0)}, applied this run: "
        f"{linkage.get('clerical_decisions_applied', 0)}, stale and skipped: {linkage.get('clerical_decisions_stale', 0)}).</p>",
        _table(["source", "records in review"], [[n, v] for n, v in review.items()]),
        _table(["attribute", "persons", "with conflicting values", "rate"],
               [[a, v["persons"], v["conflicting"], v["rate"]] for a, v in conflicts.items()]),
        bar_chart("Persons whose sources disagree, by attribute", list(conflicts),
                  {"rate": [v["rate"] for v in conflicts.values()]}, number=PERCENT) if conflicts else "",
        *_dashboards_parts(quality)])


def _dashboards_parts(quality: dict[str, Any]) -> list[str]:
    """Links to Splink's dashboards of the review bands, written with ``report.dashboards: true``."""
    written = quality.get("dashboards")
    if not written:
        return []
    rows = []
    for name, d in written.items():
        links = " ".join(f'<a href="{html.escape(quote(f))}">{"comparison viewer" if f.endswith(VIEWER_SUFFIX) else "cluster studio"}</a>'
                         for f in d.get("files") or [])
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{d['band'][0]}–{d['band'][1]}</td><td>{d['records']:,}</td>"
                    f"<td>{d['pairs']:,}</td><td>{links or html.escape(d.get('why', ''))}</td></tr>")
    return ['<h3 id="dashboards">Splink dashboards of the review bands</h3>',
            '<p class="warning">These files show records\' names, dates of birth and identifiers: <strong>personal '
            "data</strong>, unlike this report. Keep them where the store is kept; never publish them.</p>",
            '<p class="note">The pairs the run scored for the records whose best candidate fell in the band (a '
            f"sample of at most {max(d['records_in_band_sampled_to'] for d in written.values()):,} records), with the "
            "run's model: Splink's comparison viewer (pairs by comparison "
            "vector, with their waterfalls) and cluster studio (each record with the persons it met).</p>",
            "<table><thead><tr><th>source</th><th>band</th><th>records</th><th>pairs</th><th>dashboards</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>"]


def _visa_end_parts(ends: dict[str, Any]) -> list[str]:
    """What the data says about holders leaving at their visa's end (rules.visa_ends)."""
    if not ends.get("groups"):
        return []
    return ["<h3>Holders not recorded leaving at their visa's end</h3>",
            '<p class="note">Per type of the visa that ended and whether a sign of life began after it: '
            "holders recorded leaving, holders who were not, the unrecorded leavers the exit recording rate "
            f"({_fmt(ends.get('exit_recording'))}) implies, and the chance a holder not recorded leaving left. "
            "An exit is imputed where the chance reaches the level and most recorded leavers of the type left "
            "within a month of the same day of their visa (docs/rules.md).</p>",
            _table(["visa type", "seen after the end", "recorded leaving", "not recorded leaving",
                    "unrecorded leavers expected", "chance"],
                   [[g["visa_type"], "yes" if g["seen"] else "no", g["known_leavers"], g["candidates"],
                     None if g["expected_unrecorded"] is None else f"{g['expected_unrecorded']:,.1f}", g["probability"]]
                    for g in ends["groups"]])]


def _rules_section(quality: dict[str, Any]) -> list[str]:
    rules = quality["rules"]
    ablated = [name for name in ("itinerary_repair", "signs_of_life", "visas") if (rules.get(name) or {}).get("events_without")]
    ablation = [[name, *[(rules[name][side] or {}).get(event) for event in ("immigration", "emigration")
                         for side in ("events_with", "events_without")]] for name in ablated]
    life, visas, family = rules.get("signs_of_life") or {}, rules.get("visas") or {}, rules.get("family") or {}
    early = rules.get("early_leavers") or {}
    counts = [["departures imputed from " + str(k).replace("_", " "), v]
              for k, v in (life.get("imputed_departures") or {}).items()]
    counts += [["returns imputed from signs of life", life.get("imputed_returns")],
               ["people never active, not counted resident", life.get("never_active_not_resident")],
               ["visitors (visit visas only, no presence)", visas.get("visitors")],
               ["visas granted in the country", visas.get("in_country_grants")],
               ["stays started at a transition from a visit visa", visas.get("stays_started_at_transition")],
               ["arrivals imputed from visa starts", visas.get("imputed_arrivals")],
               ["exits imputed at a visa's end (holders of that type leave then, estimated)",
                (visas.get("departures_at_end") or {}).get("imputed")],
               ["days from a visa's end to its holders' recorded exits (usual; share within a month; by type)",
                ", ".join(f"{t} {o['days']} ({o['share_within_a_month']:.0%})"
                          for t, o in ((visas.get("departures_at_end") or {}).get("offsets") or {}).items()) or None],
               ["days from a visa's start to its holder's arrival (estimated; by type)",
                ", ".join(f"{t} {d}" for t, d in (visas.get("arrival_lag_days") or {}).items()) or None],
               ["dependants on claims", family.get("dependants")],
               ["days after their parent that dependants arrive (estimated from those whose arrival was recorded: the "
                "most common where it stands out, else the median)",
                (family.get("follow_lag") or {}).get("days")],
               ["share of provisional immigrations expected to leave within 12 months (early leavers)",
                early.get("level")],
               ["provisional immigrations, and the long-term ones expected of them",
                f"{early.get('provisional_immigrations')} / {early.get('expected_long_term')}"
                if early.get("estimated") else None],
               ["events derived through a parent (family)", family.get("events_added")]]
    parts = [_table(["itinerary measure", "count"], [[k, v] for k, v in rules["itinerary"].items()]),
             "<h3>Movements added by the rules (imputed), by the rule that added them</h3>",
             _table(["added by", "movements"], [[k, v] for k, v in rules.get("movements_imputed_by_source", {}).items()]),
             "<h3>What each rule did</h3>",
             _table(["measure", "count"], [[k, v] for k, v in counts if v is not None]),
             f"<p>Event definition: {html.escape(str(rules['events'].get('definition')))}; provisional events "
             f"(periods too recent to confirm): {_fmt(rules['events'].get('provisional'))}.</p>",
             *_estimates_parts(life.get("estimates") or {}),
             *_visa_end_parts(visas.get("departures_at_end") or {}),
             *_calibration_of_rules_parts(rules.get("calibration")),
             "<h3>Ablation: events with and without each rule</h3>",
             '<p class="note">Each person\'s own events (family-derived events come on top: '
             f"{_fmt(family.get('events_added') or 0)}), derived with every rule and again without one rule, "
             "in the same run.</p>",
             _table(["rule", "immigration with", "immigration without", "emigration with", "emigration without"], ablation)]
    if ablation:
        parts.append(bar_chart("Events with every rule and without each one",
                               ["all rules", *[f"without {n.replace('_', ' ')}" for n in ablated]],
                               {event: [(rules[ablated[0]]["events_with"] or {}).get(event),
                                        *[(rules[n]["events_without"] or {}).get(event) for n in ablated]]
                                for event in ("immigration", "emigration")}, number=COUNT))
    return _section("rules", "Rules", parts)


def _field_counts(counts: dict[str, int] | None) -> str:
    """``dob 3, first_name 1`` for the per-source table."""
    return ", ".join(f"{field} {n:,}" for field, n in (counts or {}).items())


def _plausibility_section(quality: dict[str, Any]) -> list[str]:
    everything = quality.get("plausibility") or {}
    if not everything:
        return []
    checks = {k: c for k, c in everything.items() if "." not in k}   # per source: <check>.<source>
    rows = [[name.replace("_", " "), c.get("value"), c.get("threshold"), "warning" if c.get("warn") else "",
             c.get("look_at"), c.get("meaning")] for name, c in checks.items()]
    groups = (checks.get("imputed_emigration_share") or {}).get("by_citizenship_group") or {}
    parts = [_table(["diagnostic", "value", "threshold", "", "look at", "past the threshold means"], rows)]
    if groups:
        parts.append(_table(["citizenship group", "emigrations", "of them imputed", "share"],
                            [[g, v["emigrations"], v["imputed"], v["share"]] for g, v in groups.items()]))
    by_source = [[k.split(".")[1], k.split(".")[0].replace("_", " "), c.get("value"), c.get("threshold"),
                  "warning" if c.get("warn") else "", c.get("look_at"), c.get("message") or c.get("meaning")]
                 for k, c in everything.items() if "." in k]
    if by_source:
        parts += ["<h3>By source</h3>",
                  '<p class="note">Sources that fail whole without an error: most records rejected, fewer links '
                  "than their national ids promise, many invalid (set empty) or implausible (kept) values, and "
                  "what reading the files warned of.</p>",
                  _table(["source", "diagnostic", "value", "threshold", "", "look at", "what it means"], by_source)]
    return _section("plausibility", "Plausibility", parts)


def _calibration_of_rules_parts(calibration: dict[str, Any] | None) -> list[str]:
    """The rule settings compared on the validation sample, the one chosen, and how it held out."""
    if not calibration:
        return []
    rows = [[", ".join(f"{k} = {v}" for k, v in c["settings"].items()), c["f1"], c["true_positives"],
             c["false_positives"], c["false_negatives"]] for c in calibration["combinations"]]
    chosen = ", ".join(f"{k} = {v}" for k, v in calibration["chosen"].items())
    return ["<h3>Rule settings chosen on the validation sample</h3>",
            f"<p>Chosen: <strong>{html.escape(chosen)}</strong> (F1 {_fmt(calibration['chosen_f1_on_the_sample'])} "
            f"over the {_fmt(calibration['people'])} sampled people). Chosen on {calibration['folds'] - 1} of "
            f"{calibration['folds']} folds and scored on the other, in turn: F1 "
            f"{_fmt(calibration['cross_validated_f1'])} (what the choice is expected to give on people it was not "
            "chosen on).</p>",
            _table(["settings", "F1", "true positives", "false positives", "false negatives"], rows)]


def _estimates_parts(estimates: dict[str, Any]) -> list[str]:
    """What the run's own data said about recording and silence, and what the rules did with it."""
    if not estimates.get("estimated"):
        return []
    returns = estimates.get("returns") or {}
    rates = [["exits recorded (re-entries with a recorded exit before them)", estimates.get("exit_recording"),
              f"{estimates.get('reentries_after_exit')} of {estimates.get('reentries')}"],
             ["entries recorded (re-exits with a recorded entry before them)", estimates.get("entry_recording"),
              f"{estimates.get('reexits_after_entry')} of {estimates.get('reexits')}"],
             ["registered leavers who deregistered", estimates.get("deregistration"),
              f"{estimates.get('of_whom_deregistered')} of {estimates.get('registered_exit_leavers')}"],
             ["chance that a silence ended by an entry was a long absence", estimates.get("gap_probability"),
              f"{estimates.get('recorded_long_absences')} recorded long absences, {estimates.get('gap_candidates')} such silences"],
             ["chance that a sign of life after a departure is a return", returns.get("return_probability"),
              f"{returns.get('return_candidates')} such signs of life"]]
    lag = estimates.get("registration_lag")
    if lag:
        rates.append(["usual days from a recorded first entry to the registration (the most common, give or "
                      "take a month, where it stands out; else the median)", lag.get("days"),
                      f"{lag.get('cases')} people with both (most common {lag.get('most_common_days')}, median "
                      f"{lag.get('median_days')}: the {'most common' if lag.get('most_common_stands_out') else 'median'}"
                      f" estimated {lag.get('estimated_days')}; used from {lag.get('min_cases')})"])
    offset = estimates.get("arrival_in_first_activity")
    if offset:
        rates.append(["usual days from the start of a first activity (a tax year) to the arrival, for late "
                      "registrations with no entry recorded (else the activity's middle)",
                      offset.get("days") if offset.get("days") is not None else "middle",
                      f"{offset.get('cases')} arrivals with a recorded entry (used from {offset.get('min_cases')})"])
    basis = [[b, v.get("candidates"), v.get("imputed")] for b, v in (estimates.get("candidates_by_basis") or {}).items()]
    groups = [[g["age_band"], g["citizenship_group"], g["profile"], g["silence_length"], g["silent"],
               (g["known_leavers_registered"] or 0) + (g["known_leavers_unregistered"] or 0),
               g["unrecorded_leavers_expected"], g["probability"], g["imputed"]]
              for g in (estimates.get("subgroups") or [])[:25]]
    trips = [[t["age_band"], t["citizenship_group"], t["profile"], t["after_exit"], t["exits_without_return"],
              t["recorded_trips"], t["missed_entries_expected"], t["probability"], t["imputed"]]
             for t in (estimates.get("trips_with_missed_entry") or [])[:25]]
    return ["<h3>What the data says about departures nobody recorded</h3>",
            '<p class="note">Estimated in this run from the people whose outcome the data shows '
            f"(docs/rules.md). A departure is imputed only where its chance is at least "
            f"{_fmt(estimates.get('min_departure_probability'))}.</p>",
            _table(["estimate", "value", "from"], rates),
            _table(["departures the evidence may give", "candidates", "imputed"], basis),
            *_details("Silent people by subgroup and silence length (the 25 largest)", [
                _table(["age", "citizenship", "activity", "silent for", "silent people", "known leavers",
                        "unrecorded leavers expected", "chance of a departure", "departures imputed"], groups)]),
            *_details("Exits with nothing after them, by subgroup and what followed the exit (the 25 largest)", [
                '<p class="note">A trip whose entry went unrecorded, or a departure: activity beginning after the '
                "exit (seen), none (silent), or under a year of data since (recent).</p>",
                _table(["age", "citizenship", "activity", "after the exit", "exits", "recorded trips",
                        "missed entries expected", "chance of a trip", "entries imputed"], trips)])]


def _events_section(quality: dict[str, Any]) -> list[str]:
    by_year = quality["rules"]["events"]["by_year"]
    years = sorted({r["year"] for r in by_year})
    counts = {(r["year"], r["event"]): r["n"] for r in by_year}
    flows = quality.get("flows", {})
    return _section("events", "Events and flows by year", [
        bar_chart("Migration events by year", [str(y) for y in years],
                  {e: [counts.get((y, e), 0) for y in years] for e in ("immigration", "emigration")}, number=COUNT),
        _table(["year", "immigration", "emigration"],
               [[str(y), counts.get((y, "immigration"), 0), counts.get((y, "emigration"), 0)] for y in years]),
        *_published_flows(flows)])


def _published_flows(flows: dict[str, Any]) -> list[str]:
    """The flows as published (after disclosure control): the grand total of each period and
    event, and what suppression did."""
    totals = flows.get("published_totals") or []
    periods = sorted({t["period"] for t in totals})
    shown = {(t["period"], t["event"]): t for t in totals}

    def cell(period: str, event: str) -> str:
        t = shown.get((period, event))
        if t is None:
            return ""
        if t["suppressed"]:
            return "suppressed"
        interval = (f" ({_fmt_count(t['lower'])}–{_fmt_count(t['upper'])})"
                    if t.get("lower") is not None and t.get("upper") is not None else "")
        return _fmt(t["count"]) + interval

    facts = ", ".join(f"{html.escape(k.replace('_', ' '))} {_fmt(v)}" for k, v in flows.items()
                      if not isinstance(v, dict | list))
    parts = [f"<h3>Published flows</h3><p>{facts}.</p>"]
    if periods:
        parts += [_table(["period", "immigration (published; interval)", "emigration (published; interval)"],
                         [[p, cell(p, "immigration"), cell(p, "emigration")] for p in periods]),
                  interval_chart("Published flows by period, with their intervals (suppressed totals left out)",
                                 _flow_rows(flows))]
    return parts


def _flow_rows(flows: dict[str, Any]) -> list[dict[str, Any]]:
    """Published totals that are not suppressed, in period order, for the interval chart."""
    order = {"immigration": 0, "emigration": 1}
    totals = sorted((t for t in flows.get("published_totals") or [] if not t["suppressed"]),
                    key=lambda t: (str(t["period"]), order.get(t["event"], 2), t["event"]))
    return [{"period": t["period"], "event": t["event"], "count": t["count"], "lower": t.get("lower"),
             "upper": t.get("upper")} for t in totals]


def _fmt_count(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _uncertainty_section(quality: dict[str, Any]) -> list[str]:
    found = quality.get("uncertainty")
    if not found:
        return []
    items = "".join(f"<li>{html.escape(str(x))}</li>" for x in found.get("covered") or [])
    missing = "".join(f"<li>{html.escape(str(x))}</li>" for x in found.get("not_covered") or [])
    width = found.get("width") or {}
    facts = (f"<p>{found['replicates']} replicates, seed {found['seed']}, {found['confidence']:.0%} intervals "
             f"(percentiles {found['percentiles']}); cells with an interval: {_fmt(found.get('cells_with_interval'))}; "
             f"median width {_fmt(width.get('median'))}, widest {_fmt(width.get('max'))}, wider than zero: "
             f"{_fmt(width.get('cells_wider_than_zero'))}. Suppressed cells: "
             f"{html.escape(str(found.get('suppressed_cells')))}.</p>") if found.get("enabled") else ""
    validation = found.get("validation")
    return _section("uncertainty", "Uncertainty of the flows", [
        facts, f"<h3>Covered</h3><ul>{items}</ul>" if items else "",
        f"<h3>Not covered</h3><ul>{missing}</ul>",
        *_calibration_part(found.get("calibration")),
        *(_validation_part(validation) if validation else [
            '<p class="note">Without a validation sample these intervals carry linkage uncertainty only. '
            "Measured on the synthetic universe (docs/uncertainty.md) they contain the true count in fewer "
            "cells than their nominal level says: most of the error of the flows is systematic rule error, "
            "which only a sample of people whose moves are known can measure "
            "(flows.uncertainty.validation).</p>"])])


def _calibration_part(calibration: dict[str, Any] | None) -> list[str]:
    """Which counts are published, and the derived ones beside the calibrated."""
    if not calibration:
        return ['<p class="note">Published counts: as derived (no calibration).</p>']
    rows = [[t["period"], t["event"], t["derived"], t["calibrated"]] for t in calibration.get("totals") or []]
    return ["<h3>Calibrated counts</h3>",
            "<p><strong>The published counts are calibrated</strong>: " + html.escape(calibration["method"]) +
            f" ({_fmt(calibration.get('cells_calibrated'))} of {_fmt(calibration.get('cells_with_events'))} cells "
            "changed). The derived counts stay in the store (" + html.escape(calibration["uncalibrated_table"]) +
            ").</p>",
            _table(["period", "event", "derived", "published (calibrated)"], rows)]


def _validation_part(validation: dict[str, Any]) -> list[str]:
    """What the validation sample measured: the bias of the flows (derived / true) and their error."""
    rows = []
    for level, label in (("by_period", "period and event"), ("by_cell", "every dimension")):
        for event, r in sorted((validation.get(level) or {}).items()):
            rows.append([event, label, r["true_positives"], r["false_positives"], r["false_negatives"],
                         r["precision"], r["sensitivity"], r["derived_over_true"]])
    first, last = validation.get("period") or ["", ""]
    return [
        "<h3>Validation sample</h3>",
        f"<p>{_fmt(validation['people'])} people whose moves are known ({html.escape(str(validation['file']))}, "
        f"moves {html.escape(str(first))} to {html.escape(str(last))}); the spine found "
        f"{_fmt(validation['people_found_in_spine'])} of them by the record that names them. Their derived "
        "events compared with their true ones, at the level of period and event, and cell by cell: a move "
        "in the wrong age or citizenship group is a false positive in one cell and a false negative in "
        "another. Derived / true below 1: the flows undercount.</p>",
        _table(["event", "level", "true positives", "false positives", "false negatives", "precision",
                "sensitivity", "derived / true"], rows),
        f"<p>Rates are estimated per {', '.join(html.escape(s) for s in validation['strata'])}, each shrunk "
        f"towards its event type's with the weight of {_fmt(validation['prior_events'])} events; "
        f"{_fmt(validation.get('cells_adjusted'))} published cells carry them. The intervals are for the true "
        "count: where the counts are not calibrated and the sample shows the flows undercount, they lie "
        "above the published count.</p>"]


def _accounting_section(quality: dict[str, Any]) -> list[str]:
    acc = quality["accounting"]
    parts = [f"<p>Records: {'passed' if acc['passed'] else 'FAILED'}: every input record appears once in links.</p>",
             _table(["source", "rows read", "links rows", "passed"],
                    [[n, v["rows_read"], v["links"], str(v["passed"])] for n, v in acc["by_source"].items()])]
    demo = quality.get("demographic_accounting") or []
    if not demo:
        parts.append("<h3>Demographic accounting</h3><p>Not computed: the run has no residence spells "
                     "(no signs-of-life sources and no events).</p>")
    else:
        parts += ['<h3>Demographic accounting</h3><p class="note">The change in the resident stock between two '
                  "1 Januarys against births − deaths + immigration − emigration in the year. The residual is what "
                  "neither explains: residence that starts or ends without an event (a first registration of "
                  "someone already here, an emigration of someone never seen resident).</p>",
                  _table(["year", "stock 1 Jan", "stock next 1 Jan", "change", "births", "deaths", "immigration",
                          "emigration", "residual", "residual / stock"],
                         [[str(r["year"]), r["stock_1_january"], r["stock_next_1_january"], r["change"], r["births"],
                           r["deaths"], r["immigration"], r["emigration"], r["residual"],
                           None if r["residual_share_of_stock"] is None else f"{r['residual_share_of_stock']:+.3%}"]
                          for r in demo]),
                  bar_chart("Stock change and its components by year", [str(r["year"]) for r in demo],
                            {"change": [r["change"] for r in demo],
                             "births − deaths": [r["births"] - r["deaths"] for r in demo],
                             "net migration": [r["immigration"] - r["emigration"] for r in demo],
                             "residual": [r["residual"] for r in demo]}, number=COUNT)]
    return _section("accounting", "Accounting", parts)


def _changes_section(changes: dict[str, Any] | None) -> list[str]:
    """What this run changed against the previous run in the same store (spine.history)."""
    if not changes:
        return []
    parts: list[str] = []
    if changes.get("previous_store_without_history"):
        parts.append("<p>The previous store was written without a link history (an earlier version): "
                     "person ids were not carried over; this run starts the history.</p>")
    elif changes["previous_run"] is None:
        parts.append(f"<p>Run {changes['run']}: the first run in this store; nothing to compare.</p>")
    elif changes["key_changed"]:
        parts.append(f"<p>Run {changes['run']}: the person key differs from run {changes['previous_run']}'s, "
                     "so person ids are not comparable and nothing was carried over.</p>")
    else:
        records = changes["records"] or {"unchanged": "every record"}
        parts += [f"<p>Run {changes['run']} against run {changes['previous_run']} ({changes['previous_started']}).</p>",
                  _table(["persons", "count"], [[k.replace("_", " "), v] for k, v in changes["persons"].items()]),
                  _table(["records", "count"], [[k.replace("_", " "), v] for k, v in records.items()])]
    return _section("changes", "Changes since the previous run", parts)


def _run_section(quality: dict[str, Any]) -> list[str]:
    run = quality["run"]
    return _section("run", "Run", [
        f"<p>Job {html.escape(quality['job'])}, started {html.escape(str(run['started']))}, "
        f"{run['seconds']:.1f} s; data end {html.escape(quality['data_end'])}.</p>",
        _table(["stage", "seconds"], [[k, f"{v:.2f}"] for k, v in run["stages"].items()]),
        _table(["input", "rows", "fingerprint"],
               [[n if "database" not in v else f"{n} ({v['database']})", v["rows"], v.get("sha256") or v.get("rows_sha256")]
                for n, v in quality["inputs"].items()]),
        _table(["package", "version"], [[k, v] for k, v in run["versions"].items()])])


#: Warnings shown in the summary before "and N more".
SUMMARY_WARNINGS = 6


def _outside_interval(quality: dict[str, Any]) -> list[str]:
    """Published totals their own interval does not contain, with the reason the validation sample gives."""
    validation = (quality.get("uncertainty") or {}).get("validation") or {}
    calibrated = bool((quality.get("uncertainty") or {}).get("calibration"))
    found = []
    for t in (quality.get("flows") or {}).get("published_totals") or []:
        low, high = t.get("lower"), t.get("upper")
        if t["suppressed"] or low is None or high is None or low <= t["count"] <= high:
            continue
        bias = ((validation.get("by_period") or {}).get(t["event"]) or {}).get("derived_over_true")
        why = (f"the validation sample found derived / true {bias:.2f} for {t['event']}, and the interval is for the "
               "true count" if bias is not None else "the interval is for the true count")
        why += "" if calibrated else "; the published counts are not calibrated (flows.uncertainty.validation)"
        found.append(f"{t['period']} {t['event']}: published {_fmt_count(t['count'])}, interval "
                     f"{_fmt_count(low)}–{_fmt_count(high)} ({why})")
    return found


def summary_warnings(quality: dict[str, Any]) -> list[tuple[str, str]]:
    """What to look at first, each with the section that explains it: failed accounting,
    plausibility checks past their threshold, degenerate model parameters, published counts outside
    their interval, and Splink's warnings."""
    found: list[tuple[str, str]] = []
    if not quality["accounting"]["passed"]:
        found.append(("Record accounting FAILED: some input record is missing from links or appears twice.",
                      "accounting"))
    for name, check in (quality.get("plausibility") or {}).items():
        if check.get("warn"):
            what = name.replace("_", " ") if "." not in name else f"{name.split('.')[1]}: {name.split('.')[0].replace('_', ' ')}"
            value = check.get("value")
            found.append((f"{what}: {_fmt(value) if not isinstance(value, dict | list) else ''} (threshold "
                          f"{_fmt(check.get('threshold'))}). {check.get('message') or check.get('meaning') or ''}".strip(),
                          "plausibility"))
    for name, metrics in (quality.get("linkage") or {}).items():
        model = probabilistic_metrics(metrics)
        levels = degenerate_levels(model["parameters"]) if model else []
        if levels:
            found.append((f"{name}: {len(levels)} model parameter{'s' if len(levels) > 1 else ''} at the edge of what "
                          f"training can show, e.g. {_degenerate_text(levels[0])}.", f"probabilistic-{name}"))
    found += [(f"Published count outside its interval: {text}.", "events") for text in _outside_interval(quality)]
    said = (quality.get("run") or {}).get("splink_warnings") or []
    if said:
        found.append((f"Splink warned {sum(w['times'] for w in said):,} times ({len(said)} distinct) while the models "
                      "trained.", "probabilistic"))
    return found


def _summary_section(quality: dict[str, Any]) -> list[str]:
    """One screen: what was linked, the events and the published flows with their intervals, and
    what to look at first."""
    sources = quality["sources"]
    counts = quality["rules"]["events"]["counts"]
    reporting = quality.get("reporting") or {}
    persons = (quality.get("persons") or {}).get("total")
    facts = [f"{persons:,} persons" if isinstance(persons, int) else "",
             f"events: {counts.get('immigration', 0):,} immigrations, {counts.get('emigration', 0):,} emigrations",
             f"reporting period {reporting['start']} to {reporting['end']}" if reporting.get("start") else "",
             f"data end {quality['data_end']}",
             "records: every input record accounted for" if quality["accounting"]["passed"] else "records: accounting FAILED"]
    table = _table(["source", "records", "link rate", "in review", "not linked"],
                   [[n, m["records"], m["link_rate"], m["review"], m["unlinked"]] for n, m in sources.items()])
    flows = _flow_rows(quality.get("flows") or {})
    chart = interval_chart("Published flows, with intervals", flows, width=400, height=150) if flows else ""
    warnings = summary_warnings(quality)
    items = [f'<li><a href="#{html.escape(anchor)}">{html.escape(text)}</a></li>' for text, anchor in warnings]
    shown = items[:SUMMARY_WARNINGS]
    if len(items) > SUMMARY_WARNINGS:
        shown.append(f"<li><details><summary>and {len(items) - SUMMARY_WARNINGS} more</summary><ul>"
                     + "".join(items[SUMMARY_WARNINGS:]) + "</ul></details></li>")
    listed = (f'<div class="warnings"><strong>Look at first ({len(items)})</strong><ul>{"".join(shown)}</ul></div>'
              if items else '<p class="ok">No warning: accounting passed, no plausibility check past its threshold, '
              "no degenerate model parameter.</p>")
    return _section("summary", "Summary", [
        f'<p>{html.escape(" · ".join(f for f in facts if f))}</p>',
        f'<div class="grid"><div>{table}</div><div>{chart}</div></div>', listed])


def _page(title: str, sections: list[tuple[str, str]], parts: list[str]) -> str:
    nav = "<nav>" + "".join(f'<a href="#{a}">{html.escape(t)}</a>' for a, t in sections) + "</nav>"
    body = "".join(parts)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{nav}{body}{page_scripts(body)}"
            "</body></html>")


def _demo_key_warning(quality: dict[str, Any]) -> list[str]:
    """First thing on the page: person ids keyed with the public demo key must never be published."""
    if not quality.get("run", {}).get("demo_key"):
        return []
    return ['<p id="demo-key-warning" role="alert" style="border:2px solid #b00;background:#fee;padding:.6em">'
            "<strong>Warning: demo key.</strong> This run has <code>demo: true</code> and no person key, so "
            "person ids are keyed with the public demo key: anyone with a national id can recompute a person's "
            "id. Never publish or share these outputs; set the job's <code>person_key_env</code> variable to a "
            "secret key and remove <code>demo: true</code>.</p>"]


def render_report(quality: dict[str, Any]) -> str:
    """Render the report page from the quality metrics."""
    sections = [("summary", "Summary"), ("sources", "Sources"), ("probabilistic", "Probabilistic linkage"), ("review", "Review and conflicts"),
                ("rules", "Rules"), ("plausibility", "Plausibility"), ("events", "Events"), ("uncertainty", "Uncertainty"), ("accounting", "Accounting"),
                ("changes", "Changes"), ("run", "Run")]
    parts = [*_demo_key_warning(quality), *_summary_section(quality),
             *_sources_section(quality), *_probabilistic_section(quality), *_splink_warnings(quality),
             *_review_and_conflicts_section(quality),
             *_rules_section(quality), *_plausibility_section(quality), *_events_section(quality),
             *_uncertainty_section(quality),
             *_accounting_section(quality),
             *_changes_section(quality.get("changes")), *_run_section(quality)]
    present = [(a, t) for a, t in sections if f'<section id="{a}">' in "".join(parts)]
    return _page(f"Linkage quality report: {quality['job']}", present, parts)


def render_comparison(first: dict[str, Any], second: dict[str, Any]) -> str:
    """Two runs side by side: link rates per source, events by year, flows and persons."""
    a, b = first["job"], second["job"]
    names = list(dict.fromkeys([*first["sources"], *second["sources"]]))

    def rate(q: dict[str, Any], n: str) -> float | None:
        return q["sources"].get(n, {}).get("link_rate")

    def events(q: dict[str, Any]) -> dict[tuple[int, str], int]:
        return {(r["year"], r["event"]): r["n"] for r in q["rules"]["events"]["by_year"]}

    ea, eb = events(first), events(second)
    years = sorted({y for y, _ in [*ea, *eb]})
    label_a, label_b = f"A: {a} ({first['run']['started']})", f"B: {b} ({second['run']['started']})"
    parts = [*_section("sources", "Link rates", [
                 bar_chart("Link rate by source", names, {label_a: [rate(first, n) for n in names],
                                                           label_b: [rate(second, n) for n in names]},
                           number=PERCENT),
                 _table(["source", label_a, label_b, "difference"],
                        [[n, rate(first, n), rate(second, n),
                          None if rate(first, n) is None or rate(second, n) is None
                          else f"{rate(second, n) - rate(first, n):+.2%}"] for n in names])]),
             *_section("events", "Events by year", [
                 *[bar_chart(f"{event.capitalize()} by year", [str(y) for y in years],
                             {label_a: [ea.get((y, event), 0) for y in years],
                              label_b: [eb.get((y, event), 0) for y in years]}, number=COUNT)
                   for event in ("immigration", "emigration")],
                 _table(["year", "event", label_a, label_b, "difference"],
                        [[str(y), e, ea.get((y, e), 0), eb.get((y, e), 0), eb.get((y, e), 0) - ea.get((y, e), 0)]
                         for y in years for e in ("immigration", "emigration")])]),
             *_section("flows", "Flows and persons", [
                 _table(["measure", label_a, label_b],
                        [*[[f"flows: {k.replace('_', ' ')}", first["flows"].get(k), second["flows"].get(k)]
                           for k in dict.fromkeys([*first["flows"], *second["flows"]])
                           if not isinstance(first["flows"].get(k, second["flows"].get(k)), dict | list)],
                         ["persons", first["persons"]["total"], second["persons"]["total"]]])])]
    return _page(f"Comparison: {label_a} and {label_b}",
                 [("sources", "Link rates"), ("events", "Events"), ("flows", "Flows")], parts)
