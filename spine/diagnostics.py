"""Figures for the methodology board beyond counts: how probabilistic links were decided, and
whether stocks and flows agree (demographic accounting). Aggregates only, like quality.json:
example pairs are shown by their comparison weights, never by ids or values."""

from __future__ import annotations

import math
from datetime import date
from typing import Any


from linkage._sql import columns_of, quote_ident
from rules.residence import stock_on_1_january_sql
from spine.engine import Engine

#: Thresholds at which the links a source would get are counted (with the job's own cut added).
SENSITIVITY_THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.99, 0.999)
#: Width of a match-weight histogram bin.
WEIGHT_BIN = 2.0
#: A residence spell that begins by presence this close after the person's birth is a birth.
BIRTH_REGISTRATION_DAYS = 60


def probabilistic_metrics(metrics: Any) -> dict[str, Any] | None:
    """The probabilistic part of a source's linkage metrics (the source's own, or a hybrid's)."""
    if not isinstance(metrics, dict):
        return None
    model = metrics.get("probabilistic", metrics)
    return model if isinstance(model, dict) and "parameters" in model else None


def linkage_diagnostics(db: Engine, linkage_metrics: dict[str, Any]) -> dict[str, Any]:
    """:func:`probabilistic_diagnostics` for every probabilistic (or hybrid) source."""
    found = {}
    for name, metrics in linkage_metrics.items():
        model = probabilistic_metrics(metrics)
        if model and "threshold" in model:
            band = model.get("review_band")
            result = probabilistic_diagnostics(db, name, model["threshold"], model.get("comparisons", []),
                                               link_cut=band[1] if band else model["threshold"])
            if result:
                found[name] = result
    return found


def probabilistic_diagnostics(db: Engine, name: str, threshold: float,
                              comparisons: list[str], link_cut: float | None = None) -> dict[str, Any] | None:
    """Figures of the records the model decided (not those an identifier linked first):

    - a histogram of their candidate pairs' match weights (every bin between the lowest and the
      highest, empty ones included; pairs Splink did not keep are not there);
    - for each of several thresholds, and the job's own cut (``link_cut``: the review band's upper
      bound, else the threshold), how many records have a best candidate reaching it, and the
      change against the cut: the links a different threshold would gain or lose, before the
      one-to-one constraint and review;
    - three example pairs with the weight each comparison added (a waterfall): a typical clear
      link, the pair closest to the cut, a typical clear non-link.
    None when the source scored no pairs.
    """
    candidates = f"candidates__{name}"
    present = columns_of(db, candidates)
    if not present:
        return None
    cut = float(link_cut if link_cut is not None else threshold)
    decided = f"link__{name}__ids"
    model_pairs = (f"(SELECT * FROM {quote_ident(candidates)} WHERE record_id NOT IN (SELECT record_id FROM "
                   f"{quote_ident(decided)} WHERE status IN ('linked', 'review')))" if columns_of(db, decided)
                   else quote_ident(candidates))
    bins = dict(db.run(f"""
        SELECT CAST(floor(match_weight / {WEIGHT_BIN}) AS INTEGER), count(*) FROM {model_pairs}
        WHERE isfinite(match_weight) GROUP BY 1"""))
    if not bins:
        return None
    pairs = sum(bins.values())
    histogram = [{"from": b * WEIGHT_BIN, "to": (b + 1) * WEIGHT_BIN, "pairs": bins.get(b, 0)}
                 for b in range(min(bins), max(bins) + 1)]
    thresholds = sorted({*SENSITIVITY_THRESHOLDS, float(threshold), cut})
    best = f"(SELECT record_id, max(match_probability) AS p FROM {model_pairs} GROUP BY record_id)"
    reached = dict(db.run(f"""
        SELECT t, count(b.record_id) FROM (SELECT unnest(CAST({thresholds} AS DOUBLE[])) AS t) AS ts
        LEFT JOIN {best} AS b ON b.p >= ts.t GROUP BY t"""))
    sensitivity = [{"threshold": t, "records_linked": reached[t], "change": reached[t] - reached[cut]}
                   for t in thresholds]
    return {"pairs": pairs, "histogram": histogram, "threshold": threshold, "link_cut": cut,
            "cut_weight": math.log2(cut / (1 - cut)), "records_linked_at_cut": reached[cut],
            "sensitivity": sensitivity, "example_pairs": _example_pairs(db, model_pairs, [c for c in comparisons if f"mw_{c}" in present], cut)}


def _example_pairs(db: Engine, pairs: str, columns: list[str], cut: float) -> list[dict]:
    """A typical clear link (median weight of p >= 0.999), the pair nearest the cut, a typical
    clear non-link (median weight of p <= 0.01); each pair once, with the weight of each of
    ``columns`` (the comparisons whose ``mw_`` column the pairs have)."""
    if not columns:
        return []
    weights = ", ".join(f'"mw_{c}"' for c in columns)
    picks = {
        "clearly linked": "WHERE match_probability >= 0.999 QUALIFY row_number() OVER (ORDER BY match_weight, "
                          "record_id, entity_id) = (count(*) OVER () + 1) // 2",
        "at the threshold": f"ORDER BY abs(match_probability - {cut}), record_id, entity_id LIMIT 1",
        "clearly not": "WHERE match_probability <= 0.01 QUALIFY row_number() OVER (ORDER BY match_weight, "
                       "record_id, entity_id) = (count(*) OVER () + 1) // 2",
    }
    examples, seen = [], set()
    for label, rest in picks.items():
        row = db.run(f"SELECT record_id, entity_id, match_weight, match_probability, {weights} "
                     f"FROM {pairs} {rest}")
        if not row or row[0][:2] in seen:
            continue
        seen.add(row[0][:2])
        _, _, weight, probability, *parts = row[0]
        examples.append({"example": label, "match_weight": weight, "match_probability": probability,
                         "weights": dict(zip(columns, parts))})
    return examples


def demographic_accounting(db: Engine, first_year: int, end: date) -> list[dict[str, Any]]:
    """Per year: stock(1 Jan next year) − stock(1 Jan) against births − deaths + immigration −
    emigration, with the residual. The stock on a day counts spells begun on or before it and not
    ended on or before it, so the year's components are those dated after 1 January up to and
    including the next 1 January. Births are residence spells that begin by presence within
    ``BIRTH_REGISTRATION_DAYS`` of the person's birth; deaths, spells ended by a death; immigration
    and emigration, all events (own and family-derived). Every other start or end of residence
    (a first registration of someone already here, an emigration of someone never seen resident)
    is in the residual. Empty when there are no residence spells."""
    if not columns_of(db, "residence_spells") or not db.run("SELECT count(*) FROM residence_spells")[0][0]:
        return []
    year_of = "year({} - INTERVAL 1 DAY)"   # (1 Jan Y, 1 Jan Y+1] belongs to year Y
    rows = db.run(f"""
        WITH years AS (SELECT CAST(y AS INTEGER) AS y FROM range({int(first_year)}, {end.year}) AS r(y)),
        stock AS ({stock_on_1_january_sql("residence_spells", first_year, end.year)}),
        births AS (
            SELECT {year_of.format('s.start_date')} AS y, count(*) AS n
            FROM residence_spells AS s JOIN persons AS p USING (person_id)
            WHERE s.start_basis = 'presence'
              AND p.dob BETWEEN s.start_date - INTERVAL {BIRTH_REGISTRATION_DAYS} DAY AND s.start_date
            GROUP BY 1),
        deaths AS (SELECT {year_of.format('end_date')} AS y, count(*) AS n FROM residence_spells
                   WHERE end_basis = 'death' GROUP BY 1),
        flows AS (SELECT {year_of.format('date')} AS y, count(*) FILTER (WHERE event = 'immigration') AS imm,
                         count(*) FILTER (WHERE event = 'emigration') AS emi FROM events GROUP BY 1)
        SELECT y.y, s0.n, s1.n, coalesce(b.n, 0), coalesce(d.n, 0), coalesce(f.imm, 0), coalesce(f.emi, 0)
        FROM years AS y JOIN stock AS s0 ON s0.y = y.y JOIN stock AS s1 ON s1.y = y.y + 1
        LEFT JOIN births AS b ON b.y = y.y LEFT JOIN deaths AS d ON d.y = y.y LEFT JOIN flows AS f ON f.y = y.y
        ORDER BY y.y""")
    out = []
    for year, stock, next_stock, births, deaths, imm, emi in rows:
        change, components = next_stock - stock, births - deaths + imm - emi
        out.append({"year": year, "stock_1_january": stock, "stock_next_1_january": next_stock,
                    "change": change, "births": births, "deaths": deaths, "immigration": imm, "emigration": emi,
                    "residual": change - components,
                    "residual_share_of_stock": round((change - components) / stock, 6) if stock else None})
    return out
