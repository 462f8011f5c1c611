"""Departures at a visa's end: a holder who entered on a visa and was not recorded leaving
probably left when the visa ran out, where the run's own data says holders do.

A seasonal worker whose exit the border missed otherwise stays on until the next recorded
movement: with next season's entry missed as well, two seasons and the winter between become one
stay of more than a year, an immigration and an emigration nobody made. The visa says when the
right to stay ended; whether holders leave then is estimated, not assumed:

- A visa *cover* is a person's visas joined where one starts within ``min_gap_days`` of the end of
  those before it (a renewal is not an end). A cover ends at its last visa's end, with enough of
  the data left after it to see the holder leave.
- Its holder entered on it (a kept entry from ``ARRIVAL_BEFORE_VISA_DAYS`` before its start to its
  end). The first movement after the last such entry is a recorded exit before the next cover
  starts and no later than ``FOLLOW_DAYS`` after the end: a *known leaver*. Otherwise (nothing, an
  entry, or an exit only later) a *candidate*.
- With exits recorded at rate ``r`` (rules.silence's estimate), each known leaver stands for about
  ``(1 − r)/r`` leavers whose exit went unrecorded, all among the candidates. Their ratio, per type
  of the ending visa and by whether a sign of life began after the end (*seen*: a naturalised
  holder works on, as a seasonal worker is taxed next year; *silent*), shrunk towards the split's
  pooled ratio, is the chance that a candidate left. Where exits are always recorded no candidate
  left; where ``r`` cannot be estimated nothing is imputed.
- A candidate of a subgroup whose chance reaches the level gets an exit (source ``visa_end``) dated
  at the visa's end plus the usual offset of the type's known leavers' exits from it (most common,
  give or take a month: seasonal workers leave a month before their visa runs out), before the
  next movement; only where most of them left within a month of that day, after the holder's
  entry and a month before the data end. Someone recorded leaving only later, with no new visa
  before, stayed on: not a candidate.

Tables: ``visas`` (``person_id, visa_type, start_date, end_date``), ``movements`` and ``presence``
as in rules.signs_of_life. Estimates left in ``VISA_END_ESTIMATES``, offsets in ``VISA_END_OFFSETS``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from rules._sql import (Engine, MONTH_DAYS, append, estimate, materialise, quote_ident, sql_in_list, sql_literal,
                        usual_lag_sql)
from rules.silence import PRIOR_STRENGTH   # the weight of the split's pooled ratio, as for silences

#: Source of the exits this rule imputes.
VISA_END_SOURCE = "visa_end"
#: An entry this close before a cover's start was made on it.
ARRIVAL_BEFORE_VISA_DAYS = 30
#: A recorded exit up to this long after a visa's end is its holder leaving at the end.
FOLLOW_DAYS = 365
#: Known leavers a visa type needs for its offset to date anything (a type with fewer gets no exit).
MIN_OFFSET_CASES = 30
#: Share of a type's known leavers that must have left within a month of its usual offset.
MIN_SHARE_NEAR = 0.5
#: Every ended cover with its outcome (:func:`ended_covers_sql`).
ENDED_COVERS = "rules__ended_visa_covers"
#: The chance a candidate left, per visa type and split.
VISA_END_ESTIMATES = "rules__visa_end_estimates"
#: The usual offset of known leavers' exits from the visa's end, per type.
VISA_END_OFFSETS = "rules__visa_end_offsets"


def ended_covers_sql(visas: str, movements: str, presence: str, *, data_end: date, min_gap_days: int,
                     not_presence_types: tuple[str, ...] = ()) -> str:
    """Build the SELECT of ended visa covers whose holder entered on them, with what followed.

    Grain: one row per such cover. Columns: ``person_id, visa_type`` (of the visa that ends it),
    ``cover_start, cover_end, next_start`` (of the person's next cover, else NULL), ``entered`` (the
    last entry on it), ``next_move, next_direction`` (the first kept movement after that entry),
    ``known_leaver``, ``candidate`` (neither a known leaver nor recorded leaving only later with no
    new visa before), ``seen`` (a sign of life, not of ``not_presence_types``, began
    after the end and before the next cover or ``FOLLOW_DAYS``), ``days`` (a known leaver's exit
    less the end)."""
    v, m, p = quote_ident(visas), quote_ident(movements), quote_ident(presence)
    end = f"DATE {sql_literal(data_end.isoformat())}"
    return f"""
WITH v AS (
    SELECT person_id, visa_type, start_date, end_date FROM {v}
    WHERE person_id IS NOT NULL AND start_date IS NOT NULL
),
marked AS (
    SELECT *, CASE WHEN start_date > max(coalesce(end_date, DATE '9999-12-31')) OVER w
                                     + INTERVAL {int(min_gap_days)} DAY THEN 1 ELSE 0 END AS new_cover
    FROM v WINDOW w AS (PARTITION BY person_id ORDER BY start_date, end_date, visa_type
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
numbered AS (
    SELECT *, sum(new_cover) OVER (PARTITION BY person_id ORDER BY start_date, end_date, visa_type
                                   ROWS UNBOUNDED PRECEDING) AS cover
    FROM marked
),
covers AS (
    SELECT person_id, cover, min(start_date) AS cover_start,
           CASE WHEN bool_and(end_date IS NOT NULL) THEN max(end_date) END AS cover_end,
           arg_max(visa_type, strftime(end_date, '%Y%m%d') || coalesce(visa_type, '')) AS visa_type
    FROM numbered GROUP BY person_id, cover
),
ended AS (
    SELECT *, lead(cover_start) OVER (PARTITION BY person_id ORDER BY cover) AS next_start FROM covers
),
last_entry AS (   -- per ended cover, the last entry on it (a join, not a correlated subquery: Spark
                 -- decorrelates that into every cover period against every movement)
    SELECT e.person_id, e.cover, max(k.date) AS entered
    FROM ended AS e JOIN {m} AS k ON k.person_id = e.person_id AND k.kept AND k.direction = 'in'
     AND k.date BETWEEN e.cover_start - INTERVAL {ARRIVAL_BEFORE_VISA_DAYS} DAY AND e.cover_end
    GROUP BY e.person_id, e.cover
),
entered AS (
    SELECT e.*, l.entered,
           least(coalesce(e.next_start, {end}), {end}, e.cover_end + INTERVAL {FOLLOW_DAYS} DAY) AS horizon
    FROM ended AS e LEFT JOIN last_entry AS l ON l.person_id = e.person_id AND l.cover = e.cover
    WHERE e.cover_end IS NOT NULL AND e.cover_end + INTERVAL {int(min_gap_days)} DAY <= {end}
),
after_entry AS (   -- per cover, the first kept movement after its last entry (a join ranked, not a lateral
                  -- subquery: Spark planned that as every cover against every movement, 32 GB at 100k persons)
    SELECT person_id, cover, date, direction, record_id FROM (
        SELECT e.person_id, e.cover, k.date, k.direction, k.record_id,
               row_number() OVER (PARTITION BY e.person_id, e.cover
                                  ORDER BY k.date, k.direction, k.record_id NULLS LAST) AS rank
        FROM entered AS e JOIN {m} AS k ON k.person_id = e.person_id AND k.kept AND k.date > e.entered) AS ranked
    WHERE rank = 1
),
followed AS (
    SELECT e.*, n.date AS next_move, n.direction AS next_direction, n.record_id IS NOT NULL AS next_recorded
    FROM entered AS e LEFT JOIN after_entry AS n ON n.person_id = e.person_id AND n.cover = e.cover
    WHERE e.entered IS NOT NULL
)
SELECT person_id, visa_type, cover_start, cover_end, next_start, entered, next_move, next_direction,
       known_leaver,
       -- someone recorded leaving only later, with no new visa before, stayed on (for them to have
       -- left at the end, that exit and a return would both have gone unrecorded)
       NOT known_leaver AND NOT coalesce(next_direction = 'out' AND next_recorded
                                         AND (next_start IS NULL OR next_move < next_start), FALSE) AS candidate,
       EXISTS (SELECT 1 FROM {p} AS s
               WHERE s.person_id = f.person_id AND s.start_date > f.cover_end AND s.start_date <= f.horizon
                 AND NOT coalesce(s.reason IN ({sql_in_list(not_presence_types)}), FALSE)) AS seen,
       CASE WHEN known_leaver THEN datediff('day', cover_end, next_move) END AS days
FROM (SELECT *, coalesce(next_direction = 'out' AND next_recorded AND next_move <= horizon, FALSE) AS known_leaver
      FROM followed) AS f"""


def visa_end_estimates_sql(covers: str, *, exit_recording: float | None, min_probability: float) -> str:
    """Build the SELECT of the chance that a candidate left at its visa's end, per ending visa type
    and split (``seen``): the known leavers' expected unrecorded twins, ``known (1 − r)/r``, against
    the candidates, shrunk towards the split's pooled ratio. Columns: ``visa_type, seen, known_leavers,
    candidates, expected_unrecorded, probability, min_probability``; ``probability`` is 0 where the
    exit recording rate is unknown (nothing is imputed on no evidence)."""
    c = quote_ident(covers)
    r = "NULL" if exit_recording is None else repr(float(exit_recording))
    k = PRIOR_STRENGTH
    return f"""
WITH g AS (
    SELECT visa_type, seen, count(*) FILTER (WHERE known_leaver) AS known_leavers,
           count(*) FILTER (WHERE candidate) AS candidates,
           count(*) FILTER (WHERE known_leaver) * (1 - CAST({r} AS DOUBLE)) / nullif(CAST({r} AS DOUBLE), 0)
               AS expected_unrecorded
    FROM {c} GROUP BY ALL
),
o AS (SELECT seen, least(1.0, sum(expected_unrecorded) / nullif(sum(candidates), 0)) AS ratio FROM g GROUP BY seen)
SELECT g.*, round(CASE WHEN CAST({r} AS DOUBLE) > 0
                       THEN least(1.0, (g.expected_unrecorded + {k} * coalesce(o.ratio, 0.0)) / (g.candidates + {k}))
                       ELSE 0.0 END, 4) AS probability,
       {float(min_probability)!r} AS min_probability
FROM g LEFT JOIN o USING (seen)"""


def imputed_visa_end_exits_sql(covers: str, estimates: str, offsets: str, *, data_end: date) -> str:
    """Build the SELECT of the exits imputed at visa ends, in the shape of ``movements``: for each
    candidate of a subgroup whose chance reaches its level, the end plus the usual offset of the
    type's known leavers (``MIN_OFFSET_CASES`` at least), before the next movement and the next
    cover. Only where most of them left within a month of that day (``MIN_SHARE_NEAR``: holders of
    a type who leave at any time of a long visa do not leave *at its end*, and no day would date
    their departure), where that day comes after the holder's entry (an entry later than it was
    on a renewal missing from the data) and a month before the data end (else the data could not
    show the exit yet)."""
    c, est, off = quote_ident(covers), quote_ident(estimates), quote_ident(offsets)
    end = f"DATE {sql_literal(data_end.isoformat())}"
    usual_day = "c.cover_end + to_days(CAST(o.days AS INTEGER))"
    return f"""
WITH usable AS (SELECT visa_type, days, share_near FROM {off}
                WHERE cases >= {MIN_OFFSET_CASES} AND share_near >= {MIN_SHARE_NEAR}),
dated AS (
    SELECT c.person_id, c.entered,
           CAST(least({usual_day}, coalesce(c.next_move, DATE '9999-12-31') - INTERVAL 1 DAY,
                      coalesce(c.next_start, DATE '9999-12-31') - INTERVAL 1 DAY) AS DATE) AS date
    FROM {c} AS c
    JOIN {est} AS e ON e.visa_type IS NOT DISTINCT FROM c.visa_type AND e.seen = c.seen
    JOIN usable AS o ON o.visa_type = c.visa_type
    WHERE c.candidate AND e.probability >= e.min_probability
      AND {usual_day} + INTERVAL {MONTH_DAYS} DAY <= {end}
)
SELECT person_id, {sql_literal(VISA_END_SOURCE)} AS source, CAST(NULL AS VARCHAR) AS record_id, date,
       'out' AS direction, 'imputed' AS flag, TRUE AS kept
FROM dated WHERE date > entered"""


def visa_end_offsets_sql(covers: str) -> str:
    """Build the SELECT of the usual offset of known leavers' exits from their visa's end
    (rules._sql.usual_lag_sql) per ending visa type, with the share of them within a month of it.
    Columns: ``visa_type, days, cases, share_near``."""
    c = quote_ident(covers)
    lags = f"SELECT visa_type, days FROM {c} WHERE known_leaver AND visa_type IS NOT NULL"
    return f"""
SELECT u.visa_type, u.days, u.cases,
       (SELECT count(*) FROM {c} AS k WHERE k.known_leaver AND k.visa_type = u.visa_type
                                          AND abs(k.days - u.days) <= {MONTH_DAYS}) / u.cases AS share_near
FROM ({usual_lag_sql(lags, ("visa_type",))}) AS u"""


def add_visa_end_exits(db: Engine, visas: str, movements: str, presence: str, *, data_end: date,
                       exit_recording: float | None, min_gap_days: int, min_probability: float,
                       not_presence_types: tuple[str, ...] = ()) -> dict[str, Any]:
    """Impute the exits of holders who most likely left at their visa's end (module docstring);
    return what was estimated and how many exits were imputed."""
    materialise(db, ENDED_COVERS, ended_covers_sql(visas, movements, presence, data_end=data_end,
                                                    min_gap_days=min_gap_days, not_presence_types=not_presence_types))
    estimate(db, VISA_END_ESTIMATES, visa_end_estimates_sql(ENDED_COVERS, exit_recording=exit_recording,
                                                                min_probability=min_probability))
    estimate(db, VISA_END_OFFSETS, visa_end_offsets_sql(ENDED_COVERS))
    imputed = append(db, movements, imputed_visa_end_exits_sql(ENDED_COVERS, VISA_END_ESTIMATES, VISA_END_OFFSETS,
                                                                data_end=data_end))
    groups = db.run(f"""
        SELECT visa_type, seen, known_leavers, candidates, round(expected_unrecorded, 1), probability
        FROM {VISA_END_ESTIMATES} ORDER BY visa_type NULLS LAST, seen""")
    offsets = db.run(f"SELECT visa_type, days, cases, share_near FROM {VISA_END_OFFSETS} "
                     f"WHERE cases >= {MIN_OFFSET_CASES} ORDER BY visa_type")
    return {"exit_recording": None if exit_recording is None else round(exit_recording, 4),
            "imputed": imputed,
            "groups": [{"visa_type": t, "seen": s, "known_leavers": k, "candidates": n, "expected_unrecorded": x,
                        "probability": p} for t, s, k, n, x, p in groups],
            "offsets": {t: {"days": d, "known_leavers": n, "share_within_a_month": round(share, 4)}
                        for t, d, n, share in offsets}}
