"""Long-term migration events from stays and absences (UN 12-month definition).

Short trips do not interrupt a stay and short visits do not interrupt an absence. A *break* is a
movement whose own gap to the next movement (or to the end of the data) is at least ``min_days``,
or a person's last movement. A stay runs from an arrival to the next departure that is a break; an
absence from a departure to the next arrival that is a break. An arrival whose stay lasts
``min_days`` makes the person resident; a departure whose absence lasts ``min_days`` makes them
non-resident. Before the first such movement the state is presumed from the first movement: someone
whose first recorded movement is a departure was living here. An event is a change of state, dated
at the arrival or departure that began it. A stay or absence still open at the end of the data
counts only if it already lasts ``min_days`` (no provisional events in this first cut).
"""

from __future__ import annotations

from datetime import date

from rules._sql import Connection, materialise, quote_ident, sql_literal


def derive_long_term_events_sql(movements: str, *, data_end: date, min_days: int = 365,
                                rule: str = "un_12_months") -> str:
    """Build the SELECT of immigration and emigration events.

    Grain: one row per event. Uses only rows of ``movements`` with ``kept``.
    Columns out: ``person_id, event, date, rule, derived_via, parent_person_id``.
    """
    m = quote_ident(movements)
    end = f"DATE {sql_literal(data_end.isoformat())}"
    order = "PARTITION BY person_id ORDER BY date, direction"
    return f"""
WITH kept AS (SELECT person_id, date, direction FROM {m} WHERE kept),
gaps AS (
    SELECT person_id, date, direction,
           datediff('day', date, coalesce(lead(date) OVER ({order}), {end})) >= {int(min_days)}
               OR lead(date) OVER ({order}) IS NULL AS is_break,
           first_value(direction) OVER ({order} ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
               AS first_direction
    FROM kept
),
spans AS (
    SELECT *, datediff('day', date, coalesce(
               CASE direction
                   WHEN 'in' THEN first_value(CASE WHEN direction = 'out' AND is_break THEN date END IGNORE NULLS)
                                  OVER ({order} ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
                   ELSE first_value(CASE WHEN direction = 'in' AND is_break THEN date END IGNORE NULLS)
                                  OVER ({order} ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
               END, {end})) >= {int(min_days)} AS is_long
    FROM gaps
),
states AS (
    SELECT *, coalesce(
               last_value(CASE WHEN is_long THEN direction END IGNORE NULLS)
                   OVER ({order} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
               CASE first_direction WHEN 'out' THEN 'in' ELSE 'out' END) AS prior_state
    FROM spans
)
SELECT person_id,
       CASE direction WHEN 'in' THEN 'immigration' ELSE 'emigration' END AS event,
       date, {sql_literal(rule)} AS rule, 'self' AS derived_via,
       CAST(NULL AS VARCHAR) AS parent_person_id
FROM states
WHERE is_long AND direction <> prior_state AND date <= {end}
"""


def derive_long_term_events(con: Connection, movements: str, output: str, *, data_end: date,
                            min_days: int = 365) -> str:
    """Materialise :func:`derive_long_term_events_sql` as ``output``."""
    return materialise(con, output, derive_long_term_events_sql(movements, data_end=data_end,
                                                                 min_days=min_days))
