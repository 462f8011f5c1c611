"""Score predicted links against known true pairs, in the engine.

Why this module exists: every linkage method (ours, bare Splink, recordlinkage) must be scored the
same way, or the benchmark compares conventions instead of methods. So pairs are scored here, in
SQL, by one set of functions: duplicates count once, dedupe pairs are unordered, and precision,
recall and F1 follow recordlinkage's ``measures.py`` definitions (None where undefined, rather than
a silent 0). Only the handful of result numbers ever leave the database.

Every function takes anything with ``execute(sql)`` and table names; nothing is written except
where a function says so (``pairs_from_clusters``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from linkage._sql import Engine, columns_of, quote_ident, sql_literal
from linkage.errors import LinkageError

PAIR_COLUMNS = ("left_id", "right_id")


def _require_columns(db: Engine, table: str, needed: Sequence[str], role: str) -> None:
    """Raise LinkageError naming the table, the missing columns and the columns it has."""
    present = columns_of(db, table)
    if not present:
        raise LinkageError(f"{role} table {table!r} does not exist (or has no columns)")
    missing = [c for c in needed if c not in present]
    if missing:
        raise LinkageError(
            f"{role} table {table!r} lacks column(s) {', '.join(missing)}; "
            f"it has {', '.join(present)}"
        )


def _valid_pair(dedupe: bool) -> str:
    """A pair names two records (no NULL id; in a dedupe, not a record with itself)."""
    self_pair = " AND left_id <> right_id" if dedupe else ""
    return f"left_id IS NOT NULL AND right_id IS NOT NULL{self_pair}"


def _distinct_pairs_sql(table: str, *, dedupe: bool, where: str = "") -> str:
    """Distinct valid (left_id, right_id) of ``table`` as VARCHAR; (least, greatest) for dedupe."""
    left, right = "CAST(left_id AS VARCHAR)", "CAST(right_id AS VARCHAR)"
    if dedupe:
        left, right = f"least({left}, {right})", f"greatest({left}, {right})"
    condition = f"({where.removeprefix('WHERE').strip()}) AND {_valid_pair(dedupe)}" if where else _valid_pair(dedupe)
    return (
        f"SELECT DISTINCT {left} AS left_id, {right} AS right_id FROM {quote_ident(table)} WHERE {condition}"
    )


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _scores(tp: int, n_predicted: int, n_true: int) -> dict[str, Any]:
    precision = _ratio(tp, n_predicted)
    recall = _ratio(tp, n_true)
    if precision is None or recall is None:
        f1 = None
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "true_positives": tp,
        "false_positives": n_predicted - tp,
        "false_negatives": n_true - tp,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def pairwise_scores(
    db: Engine, predicted: str, truth: str, *, dedupe: bool = False
) -> dict[str, Any]:
    """Count true/false positives and false negatives of predicted pairs; derive the ratios.

    Grain: one pair per distinct (left_id, right_id) in each table (duplicates count once).

    Args:
        db: the engine holding both tables.
        predicted: table with columns ``left_id``, ``right_id`` (compared as VARCHAR).
        truth: table with the true pairs, same columns.
        dedupe: pairs are unordered (a, b) == (b, a); both sides come from one table.

    Returns:
        ``true_positives``, ``false_positives``, ``false_negatives`` (ints) and ``precision``,
        ``recall``, ``f1`` (floats, None when undefined: nothing predicted, no true pairs).

    Raises:
        LinkageError: a table lacks ``left_id`` or ``right_id``.
    """
    _require_columns(db, predicted, PAIR_COLUMNS, "predicted")
    _require_columns(db, truth, PAIR_COLUMNS, "truth")
    tp, n_predicted, n_true = db.run(f"""
        WITH p AS ({_distinct_pairs_sql(predicted, dedupe=dedupe)}),
             t AS ({_distinct_pairs_sql(truth, dedupe=dedupe)})
        SELECT (SELECT count(*) FROM p JOIN t USING (left_id, right_id)),
               (SELECT count(*) FROM p),
               (SELECT count(*) FROM t)""")[0]
    return _scores(tp, n_predicted, n_true)


def cluster_pairwise_scores(db: Engine, records: str) -> dict[str, Any]:
    """Pairwise precision, recall and F1 of predicted clusters against true clusters.

    ``records`` (a table or a parenthesised SELECT) has one row per record with ``predicted``
    (cluster id, NULL for a record in no cluster: a cluster of one) and ``truth`` (true cluster
    id). Pairs are counted from cluster sizes, n(n-1)/2, so none is enumerated: this scores
    millions of records in seconds.
    """
    tp, predicted, true = db.run(f"""
        WITH r AS (SELECT * FROM {records}),
        both_ AS (SELECT count(*) AS n FROM r WHERE predicted IS NOT NULL GROUP BY predicted, truth),
        pred AS (SELECT count(*) AS n FROM r WHERE predicted IS NOT NULL GROUP BY predicted),
        tru AS (SELECT count(*) AS n FROM r GROUP BY truth)
        SELECT (SELECT sum(n * (n - 1) / 2) FROM both_), (SELECT sum(n * (n - 1) / 2) FROM pred),
               (SELECT sum(n * (n - 1) / 2) FROM tru)""")[0]
    return _scores(int(tp or 0), int(predicted or 0), int(true or 0))


def pairs_from_clusters(db: Engine, clusters: str, output: str) -> str:
    """Write every unordered within-cluster pair of records as table ``output``.

    Grain: in, one row per record; out, one row per pair of distinct records sharing a cluster
    (``left_id`` < ``right_id``), so a cluster of n records gives n(n-1)/2 pairs.
    Columns: ``left_id``, ``right_id`` (VARCHAR), ``cluster_id``.

    Args:
        db: the engine.
        clusters: table with ``record_id`` and ``cluster_id``.
        output: name of the table to create (replaced if it exists).

    Returns:
        ``output``.

    Raises:
        LinkageError: ``clusters`` lacks ``record_id`` or ``cluster_id``.
    """
    _require_columns(db, clusters, ("record_id", "cluster_id"), "clusters")
    src = quote_ident(clusters)
    db.run(f"""
        CREATE OR REPLACE TABLE {quote_ident(output)} AS
        WITH c AS (SELECT DISTINCT CAST(record_id AS VARCHAR) AS record_id, cluster_id FROM {src}
                   WHERE record_id IS NOT NULL AND cluster_id IS NOT NULL)
        SELECT a.record_id AS left_id, b.record_id AS right_id, a.cluster_id
        FROM c AS a JOIN c AS b
          ON a.cluster_id = b.cluster_id AND a.record_id < b.record_id""")
    return output


def threshold_sweep(
    db: Engine,
    scored: str,
    truth: str,
    thresholds: Sequence[float],
    *,
    dedupe: bool = False,
) -> list[dict[str, Any]]:
    """Score the pairs at or above each threshold, in one query.

    Grain: one result per threshold, in the order given. A pair scored twice keeps its highest
    probability.

    Args:
        db: the engine.
        scored: table with ``left_id``, ``right_id``, ``match_probability``.
        truth: table with the true pairs (``left_id``, ``right_id``).
        thresholds: match probabilities; a pair is predicted when its probability >= threshold.
        dedupe: pairs are unordered.

    Returns:
        One dict per threshold: ``threshold`` plus the keys of ``pairwise_scores``.

    Raises:
        LinkageError: a table lacks a needed column.
    """
    _require_columns(db, scored, (*PAIR_COLUMNS, "match_probability"), "scored")
    _require_columns(db, truth, PAIR_COLUMNS, "truth")
    if not thresholds:
        return []
    values = ", ".join(
        f"({i}, CAST({sql_literal(float(t))} AS DOUBLE))" for i, t in enumerate(thresholds)
    )
    left, right = "CAST(left_id AS VARCHAR)", "CAST(right_id AS VARCHAR)"
    if dedupe:
        left, right = f"least({left}, {right})", f"greatest({left}, {right})"
    rows = db.run(f"""
        WITH t AS ({_distinct_pairs_sql(truth, dedupe=dedupe)}),
             s AS (SELECT {left} AS left_id, {right} AS right_id, max(match_probability) AS p
                   FROM {quote_ident(scored)} WHERE {_valid_pair(dedupe)} GROUP BY ALL),
             st AS (SELECT s.p, t.left_id IS NOT NULL AS is_true
                    FROM s LEFT JOIN t USING (left_id, right_id)),
             th(i, threshold) AS (VALUES {values})
        SELECT th.i, count(st.p), count(st.p) FILTER (WHERE st.is_true), (SELECT count(*) FROM t)
        FROM th LEFT JOIN st ON st.p >= th.threshold
        GROUP BY th.i ORDER BY th.i""")
    return [
        {"threshold": float(thresholds[i]), **_scores(tp, n_pred, n_true)}
        for i, n_pred, tp, n_true in rows
    ]


def records_linked_more_than_once(db: Engine, links: str, id_column: str = "left_id") -> int:
    """Count distinct ids in ``id_column`` that appear in more than one distinct pair of ``links``.

    A many-to-one link job should give 0 for its left side; a positive count means a record was
    linked to several entities.

    Args:
        db: the engine.
        links: table with ``left_id``, ``right_id``.
        id_column: ``left_id`` or ``right_id``.

    Returns:
        The number of such ids.

    Raises:
        LinkageError: ``links`` lacks a pair column, or ``id_column`` is not one of them.
    """
    if id_column not in PAIR_COLUMNS:
        raise LinkageError(f"id_column must be one of {', '.join(PAIR_COLUMNS)}, got {id_column!r}")
    _require_columns(db, links, PAIR_COLUMNS, "links")
    col = quote_ident(id_column)
    return db.run(f"""
        SELECT count(*) FROM (
            SELECT {col} FROM (SELECT DISTINCT left_id, right_id FROM {quote_ident(links)})
            WHERE {col} IS NOT NULL GROUP BY {col} HAVING count(*) > 1)""")[0][0]
