"""Scoring a finished run against a synthetic universe's truth (used by the benchmarks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb


def _truth(path: Path) -> str:
    return f"read_csv('{path}', all_varchar = true)"


def attach_truth(con: duckdb.DuckDBPyConnection, truth_dir: Path) -> None:
    """Map every spine person to a true person (table ``spine_truth``): the true person behind its
    base record, or for a person without one (enlarged) the true person of most of its records."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE spine_truth AS
        WITH votes AS (
            SELECT l.person_id, t.person_key, max(CASE WHEN l.method = 'base' THEN 1 ELSE 0 END) AS is_base,
                   count(*) AS n
            FROM links AS l
            JOIN {_truth(truth_dir / 'records.csv')} AS t ON t.source = l.source AND t.record_id = l.record_id
            WHERE l.status = 'linked' GROUP BY ALL)
        SELECT person_id, person_key FROM (
            SELECT *, row_number() OVER (PARTITION BY person_id ORDER BY is_base DESC, n DESC, person_key) AS r
            FROM votes) WHERE r = 1""")


def link_precision(con: duckdb.DuckDBPyConnection, truth_dir: Path) -> dict[str, Any]:
    """Per source: share of linked (non-base) records whose true person is the spine person's."""
    rows = con.execute(f"""
        SELECT l.source, count(*) FILTER (WHERE t.person_key = s.person_key) AS correct, count(*) AS linked
        FROM links AS l
        JOIN {_truth(truth_dir / 'records.csv')} AS t ON t.source = l.source AND t.record_id = l.record_id
        JOIN spine_truth AS s ON s.person_id = l.person_id
        WHERE l.status = 'linked' AND l.method <> 'base' GROUP BY 1 ORDER BY 1""").fetchall()
    return {source: round(correct / linked, 5) for source, correct, linked in rows}


def _matches(con: duckdb.DuckDBPyConnection, predicted: str, truth: str, window_days: int) -> tuple[int, ...]:
    """Predicted events with a true one of the person and type within ``window_days``, how many
    predicted; true events with a predicted one so near, how many true (SELECTs of ``person_key,
    event, date``). One equality join on person and type (a correlated EXISTS per event did not
    finish in 15 minutes at a million persons)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE score__predicted AS SELECT row_number() OVER () AS i, person_key, "
                f"event, CAST(date AS DATE) AS date FROM ({predicted})")
    con.execute(f"CREATE OR REPLACE TEMP TABLE score__true AS SELECT row_number() OVER () AS i, person_key, "
                f"event, CAST(date AS DATE) AS date FROM ({truth})")
    try:
        return con.execute(f"""
            WITH near AS (
                SELECT p.i AS p_i, x.i AS x_i FROM score__predicted AS p
                JOIN score__true AS x ON x.person_key = p.person_key AND x.event = p.event
                WHERE abs(datediff('day', x.date, p.date)) <= {int(window_days)})
            SELECT (SELECT count(DISTINCT p_i) FROM near), (SELECT count(*) FROM score__predicted),
                   (SELECT count(DISTINCT x_i) FROM near), (SELECT count(*) FROM score__true)""").fetchone()
    finally:
        con.execute("DROP TABLE IF EXISTS score__predicted")
        con.execute("DROP TABLE IF EXISTS score__true")


def event_scores(con: duckdb.DuckDBPyConnection, truth_dir: Path, *, window_days: int = 31,
                 events: str = "events", derived_via: str | None = None,
                 period: tuple[str, str] | None = None) -> dict[str, Any]:
    """Person-level event precision, recall and F1 (same type, within ``window_days``), and counts per year.

    ``events`` is the table of derived events scored; ``derived_via`` restricts both sides to
    ``self`` or ``family`` events; ``period`` (first and last day, ISO) to the events dated in it
    (the run's reporting period: it publishes no event outside it).
    """
    conditions = ([f"derived_via = '{derived_via}'"] if derived_via else []) + \
        ([f"CAST(date AS DATE) BETWEEN DATE '{period[0]}' AND DATE '{period[1]}'"] if period else [])
    only = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    truth = f"(SELECT * FROM {_truth(truth_dir / 'events.csv')} {only})"
    predicted = f"""SELECT s.person_key, e.event, e.date FROM (SELECT * FROM {events} {only}) AS e
                    JOIN spine_truth AS s USING (person_id)"""
    tp_pred, n_pred, tp_true, n_true = _matches(con, predicted, f"SELECT person_key, event, date FROM {truth}",
                                                window_days)
    precision = tp_pred / n_pred if n_pred else 0.0
    recall = tp_true / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    by_year = con.execute(f"""
        WITH t AS (SELECT year(CAST(date AS DATE)) AS y, event, count(*) AS truth FROM {truth} GROUP BY ALL),
             p AS (SELECT year(date) AS y, event, count(*) AS derived FROM (SELECT * FROM {events} {only}) GROUP BY ALL)
        SELECT y, event, coalesce(truth, 0), coalesce(derived, 0) FROM t FULL JOIN p USING (y, event)
        ORDER BY 1, 2""").fetchall()
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "predicted": n_pred, "true": n_true,
            "by_year": [{"year": y, "event": e, "truth": t, "derived": d,
                         "error": round(d / t - 1, 4) if t else None} for y, e, t, d in by_year]}


def family_event_scores(con: duckdb.DuckDBPyConnection, truth_dir: Path, *, window_days: int = 31,
                        period: tuple[str, str] | None = None) -> dict[str, Any]:
    """Events of dependants: precision of the family-derived events against each person's true events
    (however the truth says they are known), recall of the true family events against every derived
    event of the person. A child with records of its own whose event the rules still take from a
    parent is right, not a false positive."""
    within = f"WHERE CAST(date AS DATE) BETWEEN DATE '{period[0]}' AND DATE '{period[1]}'" if period else ""
    truth = (f"(SELECT person_key, event, CAST(date AS DATE) AS date, derived_via FROM {_truth(truth_dir / 'events.csv')} "
             f"{within})")
    predicted = f"""(SELECT s.person_key, e.event, e.date, e.derived_via FROM (SELECT * FROM events {within}) AS e
                     JOIN spine_truth AS s USING (person_id))"""
    tp_pred, n_pred, _, _ = _matches(con, f"SELECT * FROM {predicted} WHERE derived_via = 'family'",
                                     f"SELECT * FROM {truth}", window_days)
    _, _, tp_true, n_true = _matches(con, f"SELECT * FROM {predicted}",
                                     f"SELECT * FROM {truth} WHERE derived_via = 'family'", window_days)
    precision = tp_pred / n_pred if n_pred else 0.0
    recall = tp_true / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "predicted": n_pred, "true": n_true}
