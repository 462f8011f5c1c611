"""Published flows: events counted by period, sex, age group and citizenship, with primary suppression.

In this first cut: cells with fewer than ``min_cell_count`` events are suppressed (count NULL);
secondary suppression, rounding and the uncertainty interval (``lower``/``upper``, NULL for now)
come with issue 6.
"""

from __future__ import annotations

import duckdb

from linkage._sql import materialise
from spine.config import JobConfig
from spine.groups import age_group_sql, citizenship_group_sql, sex_group_sql


def build_flows(con: duckdb.DuckDBPyConnection, job: JobConfig) -> str:
    """Materialise ``flows`` from ``events`` and ``persons``."""
    fmt = "'%Y'" if job.flows.period == "year" else "'%Y-%m'"
    threshold = job.flows.min_cell_count
    return materialise(con, "flows", f"""
        WITH cells AS (
            SELECT strftime(e.date, {fmt}) AS period, e.event,
                   {sex_group_sql('p.sex')} AS sex,
                   {age_group_sql('p.dob', 'e.date', job.flows.age_groups)} AS age_group,
                   {citizenship_group_sql('p.nationality', job.home_country)} AS citizenship_group,
                   count(*) AS n
            FROM events AS e JOIN persons AS p USING (person_id)
            GROUP BY ALL
        )
        SELECT period, event, sex, age_group, citizenship_group,
               CAST(CASE WHEN n < {threshold} THEN NULL ELSE n END AS BIGINT) AS count,
               n < {threshold} AS suppressed,
               CAST(NULL AS DOUBLE) AS lower, CAST(NULL AS DOUBLE) AS upper
        FROM cells ORDER BY period, event, sex, age_group, citizenship_group""")
