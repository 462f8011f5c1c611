"""Figures for the methodology board beyond counts: how probabilistic links were decided, and
whether stocks and flows agree (demographic accounting). Aggregates only, like quality.json:
example pairs are shown by their comparison weights, never by ids or values."""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb

from linkage._sql import quote_ident

#: Thresholds at which the links a source would get are counted (sensitivity to the threshold).
SENSITIVITY_THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.99, 0.999)
#: Width of a match-weight histogram bin.
WEIGHT_BIN = 2.0


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]).fetchall()[0][0])


def probabilistic_diagnostics(con: duckdb.DuckDBPyConnection, name: str, threshold: float,
                              comparisons: list[str]) -> dict[str, Any] | None:
    """Histogram of candidate match weights; records whose best candidate reaches each of several
    thresholds (before assignment constraints and the review band: how many links a threshold
    gains or loses); three example pairs with the weight each comparison added (a waterfall): one
    clearly linked, one at the threshold, one clearly not. None when the source scored no pairs."""
    candidates = f"candidates__{name}"
    if not _exists(con, candidates) or not con.execute(f"SELECT count(*) FROM {quote_ident(candidates)}").fetchall()[0][0]:
        return None
    c = quote_ident(candidates)
    histogram = [{"from": lo, "to": lo + WEIGHT_BIN, "pairs": n} for lo, n in con.execute(f"""
        SELECT floor(match_weight / {WEIGHT_BIN}) * {WEIGHT_BIN} AS lo, count(*) FROM {c}
        WHERE isfinite(match_weight) GROUP BY 1 ORDER BY 1""").fetchall()]
    best = f"(SELECT record_id, max(match_probability) AS p FROM {c} GROUP BY record_id)"
    sensitivity = [{"threshold": t, "records_linked": n} for t, n in con.execute(f"""
        SELECT t, count(b.record_id) FROM (SELECT unnest(CAST({list(SENSITIVITY_THRESHOLDS)} AS DOUBLE[])) AS t) AS ts
        LEFT JOIN {best} AS b ON b.p >= ts.t GROUP BY t ORDER BY t""").fetchall()]
    at_threshold = [r for r in sensitivity if r["threshold"] == threshold]
    columns = [f'"mw_{col}"' for col in comparisons
               if con.execute(f"SELECT count(*) FROM (DESCRIBE {c}) WHERE column_name = ?", [f"mw_{col}"]).fetchall()[0][0]]
    examples = []
    if columns:
        picks = {"clearly linked": "match_probability >= 0.999 ORDER BY match_weight, record_id",
                 "at the threshold": f"TRUE ORDER BY abs(match_probability - {float(threshold)}), record_id",
                 "clearly not": "match_probability <= 0.01 ORDER BY match_weight DESC, record_id"}
        for label, where in picks.items():
            row = con.execute(f"SELECT match_weight, match_probability, {', '.join(columns)} FROM {c} "
                              f"WHERE {where} LIMIT 1").fetchall()
            if row:
                weight, probability, *parts = row[0]
                examples.append({"example": label, "match_weight": weight, "match_probability": probability,
                                 "weights": {col.strip('"')[3:]: v for col, v in zip(columns, parts)}})
    return {"histogram": histogram, "threshold": threshold,
            "records_linked_at_threshold": at_threshold[0]["records_linked"] if at_threshold else None,
            "sensitivity": sensitivity, "example_pairs": examples}


def demographic_accounting(con: duckdb.DuckDBPyConnection, first_year: int, end: date) -> list[dict[str, Any]]:
    """Per year: stock(1 Jan next year) − stock(1 Jan) against births − deaths + immigration −
    emigration, with the residual. Births are residence spells that begin by presence within 60
    days of the person's birth; deaths, spells ended by a death; immigration and emigration, all
    events (own and family-derived). Every other start or end of residence (a first registration
    of someone already here, an emigration of someone never seen) is in the residual."""
    if not _exists(con, "residence_spells"):
        return []
    rows = con.execute(f"""
        WITH years AS (SELECT CAST(y AS INTEGER) AS y FROM range({int(first_year)}, {end.year}) AS r(y)),
        stock AS (
            SELECT y, (SELECT count(*) FROM residence_spells AS s WHERE s.start_date <= make_date(y, 1, 1)
                       AND (s.end_date IS NULL OR s.end_date > make_date(y, 1, 1))) AS n
            FROM (SELECT y FROM years UNION SELECT max(y) + 1 FROM years)),
        births AS (
            SELECT year(s.start_date) AS y, count(*) AS n FROM residence_spells AS s JOIN persons AS p USING (person_id)
            WHERE s.start_basis = 'presence' AND p.dob BETWEEN s.start_date - INTERVAL 60 DAY AND s.start_date
            GROUP BY 1),
        deaths AS (SELECT year(end_date) AS y, count(*) AS n FROM residence_spells WHERE end_basis = 'death' GROUP BY 1),
        flows AS (SELECT year(date) AS y, count(*) FILTER (WHERE event = 'immigration') AS imm,
                         count(*) FILTER (WHERE event = 'emigration') AS emi FROM events GROUP BY 1)
        SELECT y.y, s0.n, s1.n, coalesce(b.n, 0), coalesce(d.n, 0), coalesce(f.imm, 0), coalesce(f.emi, 0)
        FROM years AS y JOIN stock AS s0 ON s0.y = y.y JOIN stock AS s1 ON s1.y = y.y + 1
        LEFT JOIN births AS b ON b.y = y.y LEFT JOIN deaths AS d ON d.y = y.y LEFT JOIN flows AS f ON f.y = y.y
        ORDER BY y.y""").fetchall()
    out = []
    for year, stock, next_stock, births, deaths, imm, emi in rows:
        change, components = next_stock - stock, births - deaths + imm - emi
        out.append({"year": year, "stock_1_january": stock, "stock_next_1_january": next_stock,
                    "change": change, "births": births, "deaths": deaths, "immigration": imm, "emigration": emi,
                    "residual": change - components,
                    "residual_share_of_stock": round((change - components) / stock, 6) if stock else None})
    return out
