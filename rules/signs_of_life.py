"""Signs of life: presence from activity, and departures nobody recorded.

People rarely deregister and border systems miss exits, so emigration is undercounted from
movements alone. Following the RAPID principle (resident until there are reasonable grounds to
think otherwise) this rule adds a departure, flagged ``imputed``, where the evidence says someone
left without a recorded exit:

- a deregistration for emigration with no recorded exit in the 180 days before it: the
  departure is dated at the deregistration less the usual reporting lag, the median delay between
  a recorded exit and the deregistration among the people who have both (estimated in the run);
- activity that stops: a person with activity (tax, benefits, education, ...) whose last sign of
  life is more than ``window_days`` before the end of the data, who has no movement after it, did
  not die and was not deregistered: presumed gone at the last sign of life. Exceptions: a last
  sign of life from an exempt source (students stay resident, as in RAPID), and people who never
  had any activity (a registered baby is not evidence of departure by its silence). Near the end
  of the data a silence cannot be ``window_days`` long yet: with ``provisional_days``, a shorter
  silence gives a departure from source ``signs_of_life_provisional``, whose events are flagged
  provisional (without it, the last two years' emigration is undercounted).

Deaths end presence without a migration and stop the rule. The ``presence`` table has one row
per piece of evidence: ``person_id, kind ('registration' | 'activity'), start_date, end_date,
reason (deregistration reason, lower case), exempt (BOOLEAN)``.
"""

from __future__ import annotations

from datetime import date

from rules._sql import Connection, append, quote_ident, sql_literal

#: Source of a departure imputed from a silence not yet ``window_days`` long at the end of the data.
PROVISIONAL_SOURCE = "signs_of_life_provisional"
#: A recorded exit this close before a deregistration is the departure it records ...
DEREGISTRATION_MATCH_DAYS = 180
#: ... or this close after it (people deregister before they leave, too).
DEREGISTRATION_EARLY_DAYS = 30


def imputed_departures_sql(movements: str, presence: str, *, data_end: date, window_days: int = 730,
                           emigration_codes: tuple[str, ...] = ("emigration",),
                           death_codes: tuple[str, ...] = ("death",), provisional_days: int | None = None,
                           dependants: str | None = None) -> str:
    """Build the SELECT of imputed departures, in the shape of ``movements``.

    ``dependants`` (optional: ``child_person_id, parent_person_id``): a child's silence is no
    evidence while a parent still shows signs of life (RAPID: a child whose parent is resident is
    resident), so a child's last sign of life is its parents' when theirs is later.
    Grain: at most one row per person. Columns out: ``person_id, source, record_id, date,
    direction, flag, kept`` (source ``deregistration`` or ``signs_of_life``, record_id NULL,
    direction ``out``, flag ``imputed``, kept TRUE).
    """
    m, p = quote_ident(movements), quote_ident(presence)
    end = f"DATE {sql_literal(data_end.isoformat())}"
    emigration = ", ".join(sql_literal(c) for c in emigration_codes) or "NULL"
    death = ", ".join(sql_literal(c) for c in death_codes) or "NULL"
    own_evidence = f"""
    SELECT person_id,
           max(coalesce(end_date, start_date)) FILTER (WHERE kind = 'activity') AS last_activity,
           max(coalesce(end_date, start_date)) FILTER (WHERE kind = 'activity' AND NOT exempt) AS last_counted,
           min(end_date) FILTER (WHERE kind = 'registration' AND reason IN ({emigration})) AS deregistered,
           bool_or(kind = 'registration' AND reason IN ({death})) AS died
    FROM {p} GROUP BY person_id"""
    if dependants:
        # a parent's later sign of life extends the child's (greatest ignores NULLs); a child with
        # no counted sign of life of its own stays out of the silence rule, as before
        evidence = f"""
    SELECT o.person_id, greatest(o.last_activity, max(pe.last_counted)) AS last_activity,
           CASE WHEN o.last_counted IS NOT NULL THEN greatest(o.last_counted, max(pe.last_counted)) END
               AS last_counted,
           o.deregistered, o.died
    FROM own AS o
    LEFT JOIN {quote_ident(dependants)} AS d ON d.child_person_id = o.person_id
    LEFT JOIN own AS pe ON pe.person_id = d.parent_person_id
    GROUP BY o.person_id, o.last_activity, o.last_counted, o.deregistered, o.died"""
        head = f"WITH own AS ({own_evidence}),\nevidence AS ({evidence}),"
    else:
        head = f"WITH evidence AS ({own_evidence}),"
    return f"""
{head}
kept AS (SELECT person_id, date, direction FROM {m} WHERE kept),
reporting_lag AS (   -- how late deregistrations come, from the people whose exit was recorded too
    SELECT coalesce(CAST(median(datediff('day', k.date, e.deregistered)) AS INTEGER), 0) AS days
    FROM evidence AS e JOIN kept AS k ON k.person_id = e.person_id AND k.direction = 'out'
     AND k.date BETWEEN e.deregistered - INTERVAL {DEREGISTRATION_MATCH_DAYS} DAY
                    AND e.deregistered + INTERVAL {DEREGISTRATION_EARLY_DAYS} DAY
),
from_deregistration AS (
    SELECT e.person_id, 'deregistration' AS source,
           CAST(e.deregistered - to_days((SELECT days FROM reporting_lag)) AS DATE) AS date
    FROM evidence AS e
    WHERE e.deregistered IS NOT NULL AND e.deregistered <= {end} AND NOT EXISTS (
        SELECT 1 FROM kept AS k WHERE k.person_id = e.person_id AND k.direction = 'out'
          AND k.date BETWEEN e.deregistered - INTERVAL {DEREGISTRATION_MATCH_DAYS} DAY
                         AND e.deregistered + INTERVAL {DEREGISTRATION_EARLY_DAYS} DAY)
),
from_silence AS (
    SELECT e.person_id,
           CASE WHEN datediff('day', e.last_counted, {end}) > {int(window_days)} THEN 'signs_of_life'
                ELSE {sql_literal(PROVISIONAL_SOURCE)} END AS source,
           e.last_counted AS date
    FROM evidence AS e
    WHERE e.deregistered IS NULL AND NOT coalesce(e.died, FALSE)
      AND e.last_counted IS NOT NULL AND e.last_counted = e.last_activity   -- not an exempt source's
      AND datediff('day', e.last_counted, {end}) > {int(min(provisional_days or window_days, window_days))}
      AND NOT EXISTS (SELECT 1 FROM kept AS k WHERE k.person_id = e.person_id AND k.date > e.last_counted)
)
SELECT person_id, source, CAST(NULL AS VARCHAR) AS record_id, date, 'out' AS direction,
       'imputed' AS flag, TRUE AS kept
FROM (SELECT * FROM from_deregistration UNION ALL SELECT * FROM from_silence)
"""


def add_imputed_departures(con: Connection, movements: str, presence: str, *, data_end: date,
                           window_days: int = 730, emigration_codes: tuple[str, ...] = ("emigration",),
                           death_codes: tuple[str, ...] = ("death",), provisional_days: int | None = None,
                           dependants: str | None = None) -> int:
    """Insert :func:`imputed_departures_sql` rows into ``movements``; return how many."""
    return append(con, movements, imputed_departures_sql(
        movements, presence, data_end=data_end, window_days=window_days,
        emigration_codes=emigration_codes, death_codes=death_codes, provisional_days=provisional_days,
        dependants=dependants))


def imputed_returns_sql(movements: str, presence: str) -> str:
    """Build the SELECT of returns nobody recorded: a sign of life that begins after a departure,
    before any recorded entry, means the person came back by then (dated at its start).

    Only evidence that *starts* after the departure counts: a tax year that covers the day of
    departure says nothing about after it. Exempt evidence does not count either: a child benefit
    paid for a child who stayed says nothing of the parent. Grain: at most one row per departure.
    """
    m, p = quote_ident(movements), quote_ident(presence)
    return f"""
WITH ordered AS (
    SELECT person_id, date, direction,
           min(CASE WHEN direction = 'in' THEN date END) OVER (
               PARTITION BY person_id ORDER BY date, direction
               ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_in
    FROM {m} WHERE kept
),
departures AS (SELECT * FROM ordered WHERE direction = 'out')
SELECT d.person_id, 'signs_of_life' AS source, CAST(NULL AS VARCHAR) AS record_id,
       min(p.start_date) AS date, 'in' AS direction, 'imputed' AS flag, TRUE AS kept
FROM departures AS d JOIN {p} AS p ON p.person_id = d.person_id AND p.start_date > d.date AND NOT p.exempt
WHERE d.next_in IS NULL OR p.start_date < d.next_in
GROUP BY d.person_id, d.date
QUALIFY row_number() OVER (PARTITION BY d.person_id, min(p.start_date) ORDER BY d.date DESC) = 1
"""


def add_imputed_returns(con: Connection, movements: str, presence: str) -> int:
    """Insert :func:`imputed_returns_sql` rows into ``movements``; return how many."""
    return append(con, movements, imputed_returns_sql(movements, presence))


def never_active_sql(presence: str, movements: str, people: str, *, data_end: date, min_age: int = 16) -> str:
    """Build the SELECT of ``person_id`` of people on record who never showed activity: present
    only by registration (no activity in any source, no kept movement), aged at least ``min_age``
    at the end of the data (or of unknown age). As the US IDIM drops identifiers with no sign of
    life ever, they are not counted resident. ``people``: ``person_id, dob``. Grain: one row per
    person.
    """
    p, m, people_table = quote_ident(presence), quote_ident(movements), quote_ident(people)
    end = f"DATE {sql_literal(data_end.isoformat())}"
    return f"""
SELECT r.person_id
FROM {p} AS r LEFT JOIN {people_table} AS who ON who.person_id = r.person_id
WHERE r.person_id IS NOT NULL
GROUP BY r.person_id, who.dob
HAVING bool_and(r.kind = 'registration')
   AND r.person_id NOT IN (SELECT person_id FROM {m} WHERE kept AND person_id IS NOT NULL)
   AND (who.dob IS NULL OR who.dob <= {end} - INTERVAL {int(min_age)} YEAR)
"""
