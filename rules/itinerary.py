"""Illogical itineraries: two movements in the same direction in a row (Moldova's check)."""

from __future__ import annotations

from rules._sql import Connection, materialise, quote_ident


def flag_itineraries_sql(movements: str, *, enabled: bool = True) -> str:
    """Flag same-day duplicates (collapsed: not kept) and same-direction pairs (kept, flagged).

    Grain: one row per input movement.
    Columns in: ``person_id, source, record_id, date, direction``.
    Columns out: the same plus ``flag`` (NULL or ``illogical_itinerary``) and ``kept``.
    """
    m = quote_ident(movements)
    if not enabled:
        return (f"SELECT person_id, source, record_id, date, direction, "
                f"CAST(NULL AS VARCHAR) AS flag, TRUE AS kept FROM {m}")
    return f"""
WITH ranked AS (
    SELECT person_id, source, record_id, date, direction,
           row_number() OVER (PARTITION BY person_id, date, direction ORDER BY source, record_id)
               AS same_day_rank
    FROM {m}
),
sequenced AS (
    SELECT *, lag(direction) OVER (PARTITION BY person_id ORDER BY date, source, record_id)
               AS previous_direction
    FROM ranked WHERE same_day_rank = 1
)
SELECT r.person_id, r.source, r.record_id, r.date, r.direction,
       CASE WHEN r.same_day_rank > 1 OR s.previous_direction = r.direction
            THEN 'illogical_itinerary' END AS flag,
       r.same_day_rank = 1 AS kept
FROM ranked AS r
LEFT JOIN sequenced AS s
  ON s.person_id = r.person_id AND s.source = r.source AND s.record_id = r.record_id
"""


def flag_itineraries(con: Connection, movements: str, output: str, *, enabled: bool = True) -> str:
    """Materialise :func:`flag_itineraries_sql` as ``output``."""
    return materialise(con, output, flag_itineraries_sql(movements, enabled=enabled))
