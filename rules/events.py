"""Long-term migration events from stays and absences (UN 12-month definition).

Trips abroad and visits home shorter than ``tolerance_days`` do not interrupt a stay or an
absence: they are taken out first, the shortest first (:func:`remove_short_interruptions`).
Consecutive remaining movements in the same direction form one period, starting at the first. A period of at least ``min_days`` changes the person's residence
state: resident after a long stay, non-resident after a long absence. Before the first long
period the state is presumed from the first movement: someone whose first recorded movement is a
departure was living here. An event is a change of state, dated at the arrival or departure that
began the period. A period still open at the end of the data that has not lasted ``min_days``
yet gives a provisional event: it may still prove short.
"""

from __future__ import annotations

import logging
from datetime import date

from rules._sql import Connection, materialise, quote_ident, sql_literal

logger = logging.getLogger(__name__)

#: Presence this many days before the first movement makes the person resident before it.
PRIOR_PRESENCE_DAYS = 30


def derive_long_term_events_sql(sequence: str, *, data_end: date, min_days: int = 365,
                                rule: str = "un_12_months", presence: str | None = None,
                                provisional_source: str | None = None) -> str:
    """Build the SELECT of immigration and emigration events from a movement sequence.

    Grain: one row per event. ``sequence`` is the output of :func:`remove_short_interruptions`
    (short trips and visits already out, visitors already left out): ``person_id, date,
    direction, source, first_date, first_direction``. ``presence`` (optional): ``person_id,
    kind, start_date, end_date`` of registrations and activity (see rules.signs_of_life). Someone
    registered, or whose activity period ended, more than ``PRIOR_PRESENCE_DAYS`` before their
    first movement (``first_date``, before short trips were taken out) was living here: an entry
    is then a return, not an arrival, even when the exit before it was never recorded.
    A stay or absence still open at the end of the data that has not lasted ``min_days`` yet gives a
    *provisional* event (``provisional`` true): it is confirmed, or not, by later data. So does a
    period begun by a movement from ``provisional_source`` (a departure imputed from a silence
    not yet long enough to be sure, see rules.signs_of_life).
    Columns out: ``person_id, event, date, rule, derived_via, parent_person_id, provisional``.
    """
    # a registration is dated; other evidence (a tax year) shows presence at some time in its period
    first_presence = (f"(SELECT person_id, min(CASE WHEN kind = 'registration' THEN start_date "
                      f"ELSE coalesce(end_date, start_date) END) AS first_presence FROM {quote_ident(presence)} "
                      "GROUP BY person_id)" if presence else
                      "(SELECT CAST(NULL AS VARCHAR) AS person_id, CAST(NULL AS DATE) AS first_presence)")
    end = f"DATE {sql_literal(data_end.isoformat())}"
    order = "PARTITION BY person_id ORDER BY date, direction"
    return f"""
WITH period_starts AS (   -- consecutive movements in one direction are one period, from the first
    SELECT * FROM (
        SELECT *, lag(direction) OVER ({order}) AS previous_direction FROM {quote_ident(sequence)})
    WHERE previous_direction IS NULL OR previous_direction <> direction
),
periods AS (
    SELECT *, datediff('day', date, coalesce(lead(date) OVER ({order}), {end})) >= {int(min_days)} AS is_long,
           lead(date) OVER ({order}) IS NULL AS is_open
    FROM period_starts
),
states AS (
    SELECT *, coalesce(
               last_value(CASE WHEN is_long THEN direction END IGNORE NULLS)
                   OVER ({order} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
               CASE WHEN first_direction = 'out'
                      OR fp.first_presence < first_date - INTERVAL {PRIOR_PRESENCE_DAYS} DAY THEN 'in'
                    ELSE 'out' END) AS prior_state
    FROM periods LEFT JOIN {first_presence} AS fp USING (person_id)
)
SELECT person_id,
       CASE direction WHEN 'in' THEN 'immigration' ELSE 'emigration' END AS event,
       date, {sql_literal(rule)} AS rule, 'self' AS derived_via,
       CAST(NULL AS VARCHAR) AS parent_person_id,
       NOT is_long OR coalesce(source = {sql_literal(provisional_source)}, FALSE) AS provisional
FROM states
WHERE (is_long OR is_open) AND direction <> prior_state
"""


def remove_short_interruptions(con: Connection, movements: str, output: str, *, data_end: date,
                               tolerance_days: int = 90, visitors: str | None = None,
                               provisional_source: str | None = None, max_rounds: int = 200) -> str:
    """Materialise the movements that matter for residence: short trips and visits taken out.

    A trip abroad (an exit, then an entry within ``tolerance_days``) does not interrupt a stay,
    and a visit (an entry, then an exit within it) does not interrupt an absence. Each round takes
    out, per person, the pairs whose interruption is shorter than the ones beside it (the
    shortest first), until none is left: an immigrant who takes a four-day trip five weeks after
    arriving keeps the arrival (the trip goes), where judging each movement by the time to the
    next one alone would have dated the immigration at the return from the trip.
    Columns out: ``person_id, date, direction, source, kept`` (kept always true), and the person's
    ``first_date`` and ``first_direction`` before anything was taken out.
    """
    m = quote_ident(movements)
    end = f"DATE {sql_literal(data_end.isoformat())}"
    source = "source" if provisional_source else "CAST(NULL AS VARCHAR)"
    not_visitor = f" AND person_id NOT IN (SELECT person_id FROM {quote_ident(visitors)})" if visitors else ""
    out = quote_ident(output)
    materialise(con, output, f"""
        SELECT person_id, date, direction, {source} AS source, TRUE AS kept,
               row_number() OVER (PARTITION BY person_id ORDER BY date, direction, {source}) AS rn,
               min(date) OVER (PARTITION BY person_id) AS first_date,
               first_value(direction) OVER (PARTITION BY person_id ORDER BY date, direction, {source})
                   AS first_direction
        FROM {m} WHERE kept AND date <= {end}{not_visitor}""")
    window = "PARTITION BY person_id ORDER BY rn"
    for _ in range(max_rounds):
        removed = con.execute(f"""
            DELETE FROM {out} AS t USING (
                WITH o AS (
                    SELECT person_id, rn, lead(rn) OVER ({window}) AS next_rn,
                           CASE WHEN lead(direction) OVER ({window}) <> direction
                                 AND datediff('day', date, lead(date) OVER ({window})) < {int(tolerance_days)}
                                THEN datediff('day', date, lead(date) OVER ({window})) END AS gap
                    FROM {out}),
                g AS (SELECT *, lag(gap) OVER ({window}) AS prev_gap, lead(gap) OVER ({window}) AS next_gap FROM o)
                SELECT person_id, rn, next_rn FROM g
                WHERE gap IS NOT NULL AND (prev_gap IS NULL OR gap < prev_gap) AND (next_gap IS NULL OR gap <= next_gap)
            ) AS s
            WHERE t.person_id = s.person_id AND t.rn IN (s.rn, s.next_rn)""").fetchall()[0][0]
        if not removed:
            break
    else:
        logger.warning("%s: short trips still left after %d rounds (equal gaps in a long series)", output, max_rounds)
    return output


def derive_long_term_events(con: Connection, movements: str, output: str, *, data_end: date,
                            min_days: int = 365, tolerance_days: int = 90, presence: str | None = None,
                            visitors: str | None = None, provisional_source: str | None = None) -> str:
    """Materialise the events: short interruptions taken out first (see
    :func:`remove_short_interruptions`), then :func:`derive_long_term_events_sql` over the rest."""
    sequence = remove_short_interruptions(con, movements, f"{output}__sequence", data_end=data_end,
                                          tolerance_days=tolerance_days, visitors=visitors,
                                          provisional_source=provisional_source)
    return materialise(con, output, derive_long_term_events_sql(
        sequence, data_end=data_end, min_days=min_days, presence=presence, provisional_source=provisional_source))
