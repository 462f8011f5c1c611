"""Published flows: events counted by period × event × sex × age group × citizenship group, with
their margins, primary and secondary suppression, and optional rounding (docs/flows.md).

Each period × event is one table: every combination of the categories of sex, age group and
citizenship group, each extended by ``total``, so every sub-total along every dimension is a row.
Categories are the standard ones (``f``/``m``, the configured age groups, ``national``/``foreign``)
plus ``unknown`` in a dimension where some event has it. Zeros are published as 0. ``lower`` and
``upper`` (the uncertainty interval) stay NULL here.
"""

from __future__ import annotations

from typing import Any


from linkage._sql import columns_of, materialise, quote_ident
from rules.early_leavers import EARLY_LEAVER_WEIGHTS
from spine.config import JobConfig
from spine.disclosure import SuppressionResult, apply_secondary_suppression, cube_sql
from spine.engine import Engine
from spine.groups import age_group_labels, age_group_sql, citizenship_group_sql, sex_group_sql

DIMENSIONS = ("sex", "age_group", "citizenship_group")
#: The keys of a flow cell: its table (period, event) and its dimensions.
CELL_KEYS = ("period", "event", *DIMENSIONS)
STANDARD = {"sex": ["f", "m"], "citizenship_group": ["national", "foreign"]}


def cell_keys_sql(job: JobConfig, *, sex: str, dob: str, nationality: str, date: str) -> str:
    """The flow cell of an event (all but ``event``): ``period, sex, age_group, citizenship_group``
    from a person's sex, date of birth and nationality and the event's date (SQL expressions)."""
    fmt = "'%Y'" if job.flows.period == "year" else "'%Y-%m'"
    return (f"strftime({date}, {fmt}) AS period, {sex_group_sql(sex)} AS sex, "
            f"{age_group_sql(dob, date, job.flows.age_groups)} AS age_group, "
            f"{citizenship_group_sql(nationality, job.home_country)} AS citizenship_group")


def margin_labels_sql(keys: tuple[str, ...] = CELL_KEYS) -> str:
    """SELECT list for a GROUPING SETS / CUBE over ``keys``: each key, or ``total`` where the row
    sums over it (the label the published flows give margins)."""
    return ", ".join(f"CASE WHEN grouping({k}) = 1 THEN 'total' ELSE {k} END AS {k}" for k in keys)


def event_counts_sql(job: JobConfig, weights: str | None = None) -> str:
    """Events per period × event × sex × age group × citizenship group (non-zero cells only).

    ``weights`` (``person_id, date, weight``: rules.early_leavers): a provisional immigration counts
    its weight (the share of it expected to stay), rounded per cell; every other event counts 1.
    Grain: one row per combination with at least one event. Columns: period, event, sex,
    age_group, citizenship_group, n.
    """
    keys = cell_keys_sql(job, sex="p.sex", dob="p.dob", nationality="p.nationality", date="e.date")
    if not weights:
        return f"""
        SELECT period, event, sex, age_group, citizenship_group, count(*) AS n
        FROM (SELECT e.event, {keys} FROM events AS e JOIN persons AS p USING (person_id))
        GROUP BY ALL"""
    return f"""
        SELECT period, event, sex, age_group, citizenship_group, CAST(round(sum(weight)) AS BIGINT) AS n
        FROM (SELECT e.event, {keys},
                     CASE WHEN e.event = 'immigration' AND e.derived_via = 'self' THEN coalesce(w.weight, 1) ELSE 1 END
                         AS weight
              FROM events AS e JOIN persons AS p USING (person_id)
              LEFT JOIN {quote_ident(weights)} AS w ON w.person_id = e.person_id AND w.date = e.date)
        GROUP BY ALL HAVING CAST(round(sum(weight)) AS BIGINT) > 0"""


def flow_categories(db: Engine, counts: str, job: JobConfig) -> dict[str, list[str]]:
    """The categories of each dimension in publication order: the standard ones, plus ``unknown``
    where some event has it."""
    standard = {**STANDARD, "age_group": age_group_labels(job.flows.age_groups)}
    seen = db.run(f"SELECT {', '.join(f'bool_or({d} = ?)' for d in DIMENSIONS)} FROM {counts}",
                  ["unknown"] * len(DIMENSIONS))[0]
    return {d: [*standard[d], *(["unknown"] if has_unknown else [])] for d, has_unknown in zip(DIMENSIONS, seen)}


def published_flows_sql(cube: str, rounding: int | None) -> str:
    """The published table: suppressed cells have count NULL; others are rounded to ``rounding``
    (nearest multiple, halves up) when it is set.

    Grain: one row per cell of ``cube``. Columns: the ``flows`` contract.
    """
    count = "n" if rounding is None else f"(n + {rounding // 2}) // {rounding} * {rounding}"
    return f"""
        SELECT period, event, sex, age_group, citizenship_group,
               CAST(CASE WHEN suppressed THEN NULL ELSE {count} END AS BIGINT) AS count,
               suppressed, CAST(NULL AS DOUBLE) AS lower, CAST(NULL AS DOUBLE) AS upper
        FROM {cube} ORDER BY tbl, cell"""


def build_flows(db: Engine, job: JobConfig, counts_sql: str | None = None) -> dict[str, Any]:
    """Materialise ``flows`` from ``events`` and ``persons`` (or from ``counts_sql``, cell counts in
    the shape of :func:`event_counts_sql`: calibrated ones); return what disclosure control did.

    Keeps ``flows__cells`` (every cell's true count and why it is suppressed) in the store.
    """
    weights = EARLY_LEAVER_WEIGHTS if columns_of(db, EARLY_LEAVER_WEIGHTS) else None
    counts = materialise(db, "flows__counts", counts_sql or event_counts_sql(job, weights))
    categories = flow_categories(db, counts, job)
    cube = materialise(db, "flows__cells", cube_sql(counts, ["period", "event"], categories,
                                                     job.flows.min_cell_count))
    result = apply_secondary_suppression(db, cube, categories)
    materialise(db, "flows", published_flows_sql(cube, job.flows.rounding))
    return disclosure_summary(db, cube, job, result)


def disclosure_summary(db: Engine, cube: str, job: JobConfig,
                       result: SuppressionResult) -> dict[str, Any]:
    """Figures for ``quality.json`` ``flows``."""
    tables, cells, margins, zeros, primary, secondary = db.run(f"""
        SELECT count(DISTINCT tbl), count(*), count(*) FILTER (WHERE n_totals > 0), count(*) FILTER (WHERE n = 0),
               count(*) FILTER (WHERE suppressed_by = 'primary'),
               count(*) FILTER (WHERE suppressed AND suppressed_by <> 'primary')
        FROM {cube}""")[0]
    return {
        "tables": tables, "cells": cells, "margin_cells": margins, "zero_cells": zeros,
        "min_cell_count": job.flows.min_cell_count, "rounding": job.flows.rounding,
        "suppressed": primary + secondary, "primary_suppressed": primary, "secondary_suppressed": secondary,
        "secondary_by_hypercube_rule": result.hypercube_added, "secondary_by_rank_check": result.rank_check_added,
        "rounds": result.rounds,
        "check": {"method": "rank: a suppressed cell is derivable iff its unit vector is in the row space "
                            "of the margin constraints restricted to the suppressed cells; per period × event",
                  "tables_checked": result.tables_checked,
                  "derivable_after_hypercube_rule": result.derivable_after_hypercube,
                  "derivable": result.derivable, "passed": result.derivable == 0},
    }
