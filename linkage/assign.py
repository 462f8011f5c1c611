"""Best-match assignment of scored pairs, as rank-based SQL.

Splink scores every candidate pair; a decision needs a constraint. *Many-to-one*: each record goes
to its single best entity (an entity takes any number of records: a person's tax years).
*One-to-one*: a record and an entity link only when each is the other's best remaining choice
(mutual best), repeated in rounds so a record whose first choice went elsewhere can take its next.
Clusters are never built, so this stays linear in the number of pairs.

Decision on the best pair's probability p: with a clerical review band [low, high), p >= high links,
low <= p < high goes to ``review`` (a clerk decides), p < low stays unlinked. Without a band, p >=
threshold links. Two entities tied for a record's best are never picked between by chance: the
record goes to review (with a band) or stays unlinked with reason ``tied_candidates``.
"""

from __future__ import annotations

from linkage._sql import Engine, columns_of, materialise, quote_ident, sql_literal
from linkage.errors import LinkageError
from linkage.inputs import TableLike, as_table

CONSTRAINTS = ("many_to_one", "one_to_one")


def check_decision(threshold: float, review_band: tuple[float, float] | None) -> tuple[float, float]:
    """The (low, high) cut-offs; a clear error for a threshold outside (0, 1) or a band not containing it."""
    if not 0 < threshold < 1:
        raise LinkageError(f"threshold must be between 0 and 1 (exclusive), got {threshold}")
    if review_band is None:
        return threshold, threshold
    low, high = review_band
    if not 0 < low < high < 1:
        raise LinkageError(f"review band must be two probabilities low < high in (0, 1), got {list(review_band)}")
    if not low <= threshold <= high:
        raise LinkageError(f"review band {list(review_band)} must contain the threshold {threshold}")
    return low, high


def _best_per_pair(candidates: str) -> str:
    return f"""SELECT record_id, entity_id, max(match_probability) AS match_probability,
                      max(match_weight) AS match_weight
               FROM {quote_ident(candidates)} GROUP BY record_id, entity_id"""


def _many_to_one(candidates: str) -> str:
    """Per record: its best entity, whether another entity ties with it."""
    return f"""
        WITH pairs AS ({_best_per_pair(candidates)}),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY record_id ORDER BY match_weight DESC, entity_id) AS rank,
                      lead(match_weight) OVER (PARTITION BY record_id ORDER BY match_weight DESC, entity_id)
                          AS next_weight
            FROM pairs
        )
        SELECT record_id, entity_id, match_probability, match_weight,
               coalesce(next_weight = match_weight, FALSE) AS tied
        FROM ranked WHERE rank = 1"""


def _one_to_one(db: Engine, candidates: str, low: float, output: str) -> str:
    """Mutual best pairs above ``low``, in rounds; then each left-over record's best pair."""
    chosen, pairs, above = f"{output}__chosen", f"{output}__pairs", f"{output}__above"
    db.run(f"CREATE OR REPLACE TEMP TABLE {quote_ident(pairs)} AS {_best_per_pair(candidates)}")
    # the rounds read only the pairs that can link (most scored pairs are far below ``low``)
    db.run(f"CREATE OR REPLACE TEMP TABLE {quote_ident(above)} AS "
           f"SELECT * FROM {quote_ident(pairs)} WHERE match_probability >= {low}")
    db.run(f"CREATE OR REPLACE TEMP TABLE {quote_ident(chosen)} (record_id VARCHAR, entity_id VARCHAR, "
           "match_probability DOUBLE, match_weight DOUBLE, tied BOOLEAN)")
    p, c, a = quote_ident(pairs), quote_ident(chosen), quote_ident(above)
    # Each round links at least the heaviest open pair unless it is tied, so this ends; long chains
    # (each record's first choice taken by a better one) need as many rounds as links.
    while True:
        added = db.run(f"""
            INSERT INTO {c}
            WITH open AS (
                SELECT * FROM {a}
                WHERE record_id NOT IN (SELECT record_id FROM {c}) AND entity_id NOT IN (SELECT entity_id FROM {c})
            ),
            ranked AS (
                SELECT *,
                    rank() OVER (PARTITION BY record_id ORDER BY match_weight DESC) AS record_rank,
                    rank() OVER (PARTITION BY entity_id ORDER BY match_weight DESC) AS entity_rank,
                    count(*) OVER (PARTITION BY record_id, match_weight) AS record_ties,
                    count(*) OVER (PARTITION BY entity_id, match_weight) AS entity_ties
                FROM open
            )
            SELECT record_id, entity_id, match_probability, match_weight, FALSE
            FROM ranked WHERE record_rank = 1 AND entity_rank = 1 AND record_ties = 1 AND entity_ties = 1
        """)[0][0]
        if not added:
            break
    # Records left without a mutual best: report their best pair; tied when another entity ties with
    # it for this record, or another unchosen record ties with this record for the entity. A record
    # whose best entity a better match took is not tied, whoever else lost that entity with it: the
    # entity is no longer open to any of them (taken_by_better_match, unlinked, not a clerk's pair).
    return f"""
        SELECT * FROM {c}
        UNION ALL
        SELECT b.record_id, b.entity_id, b.match_probability, b.match_weight,
               b.entity_id NOT IN (SELECT entity_id FROM {c}) AND (
                   b.tied OR EXISTS (SELECT 1 FROM {p} AS o WHERE o.entity_id = b.entity_id
                                     AND o.match_weight = b.match_weight AND o.record_id <> b.record_id
                                     AND o.record_id NOT IN (SELECT record_id FROM {c}))) AS tied
        FROM ({_many_to_one(pairs)}) AS b
        WHERE b.record_id NOT IN (SELECT record_id FROM {c})"""


def _candidates(db: Engine, candidates: str, output: str) -> str:
    """The candidate pairs as ``record_id, entity_id, match_probability, match_weight``: a table
    with those columns as is, or :func:`linkage.probabilistic.score_pairs`' output read through a
    view (its ``left_id`` is the record to decide, ``right_id`` the entity)."""
    columns = set(columns_of(db, candidates))
    scores = {"match_probability", "match_weight"}
    if {"record_id", "entity_id"} | scores <= columns:
        return candidates
    if {"left_id", "right_id"} | scores <= columns:
        view = f"{output}__candidates"
        db.run(f"""CREATE OR REPLACE TEMP VIEW {quote_ident(view)} AS
                        SELECT left_id AS record_id, right_id AS entity_id, match_probability, match_weight
                        FROM {quote_ident(candidates)}""")
        return view
    has = f"it has {', '.join(sorted(columns))}" if columns else "no such table"
    raise LinkageError(f"{candidates}: candidate pairs need record_id, entity_id, match_probability and "
                       f"match_weight (or score_pairs' left_id and right_id); {has}")


def assign_links(db: Engine, candidates: TableLike, records: TableLike, output: str, *, threshold: float,
                 review_band: tuple[float, float] | None = None, constraint: str = "many_to_one",
                 on_tie: str = "flag") -> str:
    """Decide every record's link from scored candidate pairs; materialise ``output``.

    Grain: one row per row of ``records``.
    Columns: ``record_id``, ``entity_id`` (set for ``linked`` and ``review``), ``status``
    (``linked``, ``review``, ``unlinked``), ``match_probability`` and ``match_weight`` of the
    record's best pair, ``reason`` (``no_candidate``, ``below_threshold``, ``tied_candidates``,
    ``taken_by_better_match`` (one-to-one), ``review_band``).

    Args:
        candidates: ``(record_id, entity_id, match_probability, match_weight)``, or what
            :func:`linkage.probabilistic.score_pairs` returned or wrote, as is (``left_id`` the
            record, ``right_id`` the entity); an entity may appear several times for a record
            (several reference rows): its best pair counts. A table name, a pandas DataFrame, a
            pyarrow Table or a DuckDB relation.
        records: whose ``record_id`` column lists every record to decide (a table name, frame or
            relation).
        threshold: link probability without a review band.
        review_band: (low, high) containing ``threshold``: pairs in [low, high) go to review.
        constraint: ``many_to_one`` or ``one_to_one``.
        on_tie: ``flag`` (default: a tied record goes to review with a band, else stays unlinked
            with reason ``tied_candidates``) or ``first`` (many-to-one: take the tied entity with
            the smallest id; reproducible but arbitrary, as reference tools do; for benchmarks).
    """
    if on_tie not in ("flag", "first"):
        raise LinkageError(f"on_tie must be 'flag' or 'first', got {on_tie!r}")
    low, high = check_decision(threshold, review_band)
    if constraint not in CONSTRAINTS:
        raise LinkageError(f"constraint must be one of {', '.join(CONSTRAINTS)}, got {constraint!r}")
    banded = review_band is not None
    if hasattr(candidates, "pairs_per_rule"):   # a ScoreResult
        candidates = candidates.table
    candidates = _candidates(db, as_table(db, candidates, f"{output}__candidate_input"), output)
    records = as_table(db, records, f"{output}__record_input")
    if constraint == "many_to_one":
        best = _many_to_one(candidates)
        if on_tie == "first":
            best = f"SELECT * REPLACE (FALSE AS tied) FROM ({best})"
        lost = "FALSE"
    else:
        best = _one_to_one(db, candidates, low, output)
        lost = f"b.record_id NOT IN (SELECT record_id FROM {quote_ident(output + '__chosen')})"
    tie_status = "'review'" if banded else "'unlinked'"
    materialise(db, output, f"""
        WITH best AS ({best})
        SELECT r.record_id,
               CASE WHEN b.record_id IS NULL OR b.match_probability < {low} THEN NULL
                    WHEN b.tied THEN (CASE WHEN {sql_literal(banded)} THEN b.entity_id END)
                    WHEN {lost} THEN NULL
                    ELSE b.entity_id END AS entity_id,
               CASE WHEN b.record_id IS NULL OR b.match_probability < {low} THEN 'unlinked'
                    WHEN b.tied THEN {tie_status}
                    WHEN {lost} THEN 'unlinked'
                    WHEN b.match_probability >= {high} THEN 'linked'
                    ELSE 'review' END AS status,
               b.match_probability, b.match_weight,
               CASE WHEN b.record_id IS NULL THEN 'no_candidate'
                    WHEN b.match_probability < {low} THEN 'below_threshold'
                    WHEN b.tied THEN 'tied_candidates'
                    WHEN {lost} THEN 'taken_by_better_match'
                    WHEN b.match_probability >= {high} THEN NULL
                    ELSE 'review_band' END AS reason
        FROM (SELECT DISTINCT record_id FROM {quote_ident(records)}) AS r LEFT JOIN best AS b USING (record_id)""")
    if constraint == "one_to_one":
        for table in (output + "__chosen", output + "__pairs", output + "__above"):
            db.run(f"DROP TABLE IF EXISTS {quote_ident(table)}")
    return output
