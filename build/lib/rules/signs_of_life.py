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
  provisional (without it, the last two years' emigration is undercounted). A silence counts
  only for a person with at least ``MIN_EVIDENCE`` pieces of evidence, and the activity of a
  probable duplicate registration of the person (``duplicates``, from spine.dedupe) is the
  person's own: split persons were most of the false silences (at 100k persons, 53 of 92 were one
  half of a duplicate registration whose tax years went to the other half, 43 a single tax record
  with a typo that made a person of its own), and they pile up in the last years the window
  allows (when each tax year goes to either half at random, one half is last seen in 2022 with
  chance 1/8, in 2021 with 1/16, ...): 2022 emigration +4.6% before, +1.2% after.
- a silence ended by a recorded entry: an entry with no recorded exit before it, whose person
  shows no counted activity for ``gap_days`` (the 12 months of a long-term absence) before it:
  gone at the last sign of life before the silence (a resident whose exit went unrecorded and
  who came back through the border; without it neither the emigration nor the return is seen,
  as presence before the entry makes it a return to a stay that never ended). Activity that
  begins before the entry and ends after it (the tax year of the return) says nothing about
  the months before the entry, as a tax year covering a departure says nothing about after it.
  At 100k persons: 30 departures, 28 of them true.

Deaths end presence without a migration and stop the rule. The ``presence`` table has one row
per piece of evidence: ``person_id, source, kind ('registration' | 'activity' | 'visa_grant'),
start_date, end_date, reason (deregistration reason or record type, lower case), exempt
(BOOLEAN)``; ``source`` is read only for grace periods by source.
"""

from __future__ import annotations

from datetime import date

from rules._sql import Connection, append, quote_ident, sql_in_list, sql_literal

#: Source of a departure imputed from a silence not yet ``window_days`` long at the end of the data.
PROVISIONAL_SOURCE = "signs_of_life_provisional"
#: Pieces of evidence (presence rows and recorded movements) a person needs before their silence
#: counts: a person known from a single record is as likely a fragment of someone linked elsewhere
#: (a tax record with a typo made a person of its own) as a leaver.
MIN_EVIDENCE = 2
#: A recorded exit this close before a deregistration is the departure it records ...
DEREGISTRATION_MATCH_DAYS = 180
#: ... or this close after it (people deregister before they leave, too).
DEREGISTRATION_EARLY_DAYS = 30


def imputed_departures_sql(movements: str, presence: str, *, data_end: date, window_days: int = 730,
                           emigration_codes: tuple[str, ...] = ("emigration",),
                           death_codes: tuple[str, ...] = ("death",), provisional_days: int | None = None,
                           dependants: str | None = None, child_age_limit: int = 18,
                           grace_by_source: dict[str, int] | None = None,
                           grace_by_type: dict[str, int] | None = None,
                           duplicates: str | None = None, gap_days: int = 365) -> str:
    """Build the SELECT of imputed departures, in the shape of ``movements``.

    ``duplicates`` (optional): ``person_id, other_id``, both ways, pairs of persons who are
    probably one person registered twice: the other's activity is the person's own. A silence
    counts only for a person with ``MIN_EVIDENCE`` pieces of evidence or more. ``gap_days``: a
    silence at least this long ended by a recorded entry with no recorded exit before it is a
    departure at the last sign of life before it.

    A silence is judged from the last counted sign of life plus its grace period (``grace_by_source``
    / ``grace_by_type``: RAPID's child-benefit grace), and the departure dated at the sign of life
    itself. A visa granted in the country (presence of kind ``visa_grant``) is a later sign of
    life for someone with counted activity, never the start of a silence for someone without.
    ``dependants`` (optional: ``child_person_id, parent_person_id, child_dob``): a child's silence
    is no evidence while a parent still shows signs of life (RAPID: a child whose parent is
    resident is resident), up to the child's ``child_age_limit``-th birthday (unknown age: no
    exception). Grain: at most one row per person and departure. Columns out: ``person_id, source, record_id,
    date, direction, flag, kept`` (source ``deregistration`` or ``signs_of_life``, record_id NULL,
    direction ``out``, flag ``imputed``, kept TRUE).
    """
    m, p = quote_ident(movements), quote_ident(presence)
    end = f"DATE {sql_literal(data_end.isoformat())}"
    emigration = sql_in_list(emigration_codes)
    death = sql_in_list(death_codes)
    grace = _grace_sql(grace_by_source or {}, grace_by_type or {})
    pairs = (f"SELECT person_id, other_id FROM {quote_ident(duplicates)}" if duplicates else
             "SELECT CAST(NULL AS VARCHAR) AS person_id, CAST(NULL AS VARCHAR) AS other_id WHERE FALSE")
    if dependants:
        cap = f"d.child_dob + INTERVAL {int(child_age_limit)} YEAR"
        parents = f"""
    SELECT d.child_person_id AS person_id, CAST(max(least(pe.last_counted, {cap})) AS DATE) AS parent_last,
           CAST(max(least(pe.counted_until, {cap})) AS DATE) AS parent_until
    FROM {quote_ident(dependants)} AS d JOIN own AS pe ON pe.person_id = d.parent_person_id
    WHERE d.child_dob IS NOT NULL GROUP BY 1"""
    else:
        parents = ("SELECT CAST(NULL AS VARCHAR) AS person_id, CAST(NULL AS DATE) AS parent_last, "
                   "CAST(NULL AS DATE) AS parent_until WHERE FALSE")
    return f"""
WITH own AS (
    SELECT person_id,
           max(coalesce(end_date, start_date)) FILTER (WHERE kind = 'activity') AS last_activity,
           max(coalesce(end_date, start_date)) FILTER (WHERE kind = 'activity' AND NOT exempt) AS last_counted,
           CAST(max(coalesce(end_date, start_date) + to_days({grace}))
               FILTER (WHERE kind = 'activity' AND NOT exempt) AS DATE) AS counted_until,
           max(start_date) FILTER (WHERE kind = 'visa_grant') AS last_grant,
           min(end_date) FILTER (WHERE kind = 'registration' AND reason IN ({emigration})) AS deregistered,
           bool_or(kind = 'registration' AND reason IN ({death})) AS died,
           count(*) AS pieces
    FROM {p} GROUP BY person_id
),
kept AS (SELECT person_id, date, direction FROM {m} WHERE kept),
parents AS ({parents}),
duplicate AS (   -- a probable duplicate registration's activity is the same person's
    SELECT d.person_id, max(o.last_counted) AS last_counted, max(o.counted_until) AS counted_until
    FROM ({pairs}) AS d JOIN own AS o ON o.person_id = d.other_id GROUP BY d.person_id
),
evidence AS (   -- later signs of life (a duplicate's, a visa grant, a parent's) extend a person's own,
                -- never start one
    SELECT o.person_id, o.deregistered, o.died, o.pieces + coalesce(km.moves, 0) AS pieces,
           greatest(o.last_activity, du.last_counted, o.last_grant, pa.parent_last) AS last_activity,
           CASE WHEN o.last_counted IS NOT NULL
                THEN greatest(o.last_counted, du.last_counted, o.last_grant, pa.parent_last) END AS last_counted,
           CASE WHEN o.last_counted IS NOT NULL
                THEN greatest(o.counted_until, du.counted_until, o.last_grant, pa.parent_until) END AS counted_until
    FROM own AS o LEFT JOIN parents AS pa USING (person_id) LEFT JOIN duplicate AS du USING (person_id)
    LEFT JOIN (SELECT person_id, count(*) AS moves FROM kept GROUP BY person_id) AS km USING (person_id)
),
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
           CASE WHEN datediff('day', e.counted_until, {end}) > {int(window_days)} THEN 'signs_of_life'
                ELSE {sql_literal(PROVISIONAL_SOURCE)} END AS source,
           e.last_counted AS date
    FROM evidence AS e
    WHERE e.deregistered IS NULL AND NOT coalesce(e.died, FALSE)
      AND e.last_counted IS NOT NULL AND e.last_counted = e.last_activity   -- not an exempt source's
      AND e.pieces >= {MIN_EVIDENCE}
      AND datediff('day', e.counted_until, {end}) > {int(min(provisional_days or window_days, window_days))}
      AND NOT EXISTS (SELECT 1 FROM kept AS k WHERE k.person_id = e.person_id AND k.date > e.last_counted)
),
activity AS (   -- counted activity (and in-country grants) of the person and of a probable duplicate
    SELECT person_id, coalesce(end_date, start_date) AS seen,
           CAST(coalesce(end_date, start_date) + to_days(CASE WHEN kind = 'activity' THEN {grace} ELSE 0 END)
                AS DATE) AS seen_until
    FROM {p} WHERE (kind = 'activity' AND NOT exempt) OR kind = 'visa_grant'
),
activity_with_duplicates AS (
    SELECT * FROM activity
    UNION ALL
    SELECT d.person_id, a.seen, a.seen_until FROM ({pairs}) AS d JOIN activity AS a ON a.person_id = d.other_id
),
entries AS (   -- recorded entries not preceded by a recorded exit
    SELECT person_id, date,
           lag(direction) OVER (PARTITION BY person_id ORDER BY date, direction) AS previous_direction,
           lag(date) OVER (PARTITION BY person_id ORDER BY date, direction) AS previous_date
    FROM kept QUALIFY direction = 'in' AND coalesce(previous_direction, 'in') = 'in'
),
gaps AS (
    SELECT n.person_id, n.date AS entry, n.previous_date, max(a.seen) AS last_seen,
           max(a.seen_until) AS seen_until
    FROM entries AS n JOIN activity_with_duplicates AS a ON a.person_id = n.person_id AND a.seen < n.date
    GROUP BY ALL
),
from_gap AS (   -- a silence ended by a recorded entry: the exit before it went unrecorded
    SELECT g.person_id, 'signs_of_life' AS source, g.last_seen AS date
    FROM gaps AS g LEFT JOIN evidence AS e USING (person_id)
    WHERE datediff('day', g.seen_until, g.entry) >= {int(gap_days)}
      AND (g.previous_date IS NULL OR g.previous_date < g.last_seen)
      AND NOT coalesce(e.deregistered BETWEEN g.last_seen AND g.entry, FALSE)
)
SELECT person_id, source, CAST(NULL AS VARCHAR) AS record_id, date, 'out' AS direction,
       'imputed' AS flag, TRUE AS kept
FROM (SELECT * FROM from_deregistration UNION ALL SELECT * FROM from_silence UNION ALL SELECT * FROM from_gap)
"""


def _grace_sql(by_source: dict[str, int], by_type: dict[str, int]) -> str:
    """Days of grace of a presence row: by its source, else by its record type (``reason``)."""
    cases = [f"WHEN source = {sql_literal(k)} THEN {int(v)}" for k, v in by_source.items()]
    cases += [f"WHEN reason = {sql_literal(k)} THEN {int(v)}" for k, v in by_type.items()]
    return f"CASE {' '.join(cases)} ELSE 0 END" if cases else "0"


def add_imputed_departures(con: Connection, movements: str, presence: str, *, data_end: date,
                           window_days: int = 730, emigration_codes: tuple[str, ...] = ("emigration",),
                           death_codes: tuple[str, ...] = ("death",), provisional_days: int | None = None,
                           dependants: str | None = None, child_age_limit: int = 18,
                           grace_by_source: dict[str, int] | None = None,
                           grace_by_type: dict[str, int] | None = None,
                           duplicates: str | None = None, gap_days: int = 365) -> int:
    """Insert :func:`imputed_departures_sql` rows into ``movements``; return how many."""
    return append(con, movements, imputed_departures_sql(
        movements, presence, data_end=data_end, window_days=window_days,
        emigration_codes=emigration_codes, death_codes=death_codes, provisional_days=provisional_days,
        dependants=dependants, child_age_limit=child_age_limit, grace_by_source=grace_by_source,
        grace_by_type=grace_by_type, duplicates=duplicates, gap_days=gap_days))


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
