"""Illogical itineraries: two movements in the same direction in a row (Moldova's check)."""

from __future__ import annotations

from rules._sql import Engine, append, estimate, materialise, quote_ident, sql_in_list, sql_literal

#: Everyone's median recorded stay and absence (one row), for people with none of their own: at the
#: repair after the visa rules, and at the repair after the imputations.
TYPICAL_STAYS = "rules__typical_stays"
TYPICAL_STAYS_AFTER_IMPUTATION = "rules__typical_stays_after_imputation"


def _entries_from(source: str | None) -> str:
    """The pairs condition that keeps two entries in a row whose first comes from ``source``."""
    return f" AND direction = 'in' AND source = {sql_literal(source)}" if source else ""


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


def flag_itineraries(db: Engine, movements: str, output: str, *, enabled: bool = True) -> str:
    """Materialise :func:`flag_itineraries_sql` as ``output``."""
    return materialise(db, output, flag_itineraries_sql(movements, enabled=enabled))


def repair_itineraries_sql(movements: str, presence: str | None = None, *, midpoint: bool = False,
                           entries_from: str | None = None) -> str:
    """Build the SELECT of the movement missing between two in the same direction (``impute``).

    Two entries in a row mean an exit was missed: it is dated at the last day the person shows
    presence before the second entry (the day before it if present up to it). Two exits in a row
    mean an entry was missed: dated at the first day of presence after the first exit. Exempt
    presence does not count. Without presence between the two, the date is unknown: the pair is
    left as it is, unless ``midpoint`` dates it halfway (which turns every missed exit of a
    resident's short trip into a long absence: measured in docs/rules.md). ``entries_from``: only
    two entries in a row whose first comes from that source. Grain: one row per repaired pair;
    columns as ``movements`` (flag ``imputed``).
    """
    m = quote_ident(movements)
    p = (f"(SELECT * FROM {quote_ident(presence)} WHERE NOT exempt)" if presence else
         "(SELECT CAST(NULL AS VARCHAR) AS person_id, CAST(NULL AS DATE) AS start_date, "
         "CAST(NULL AS DATE) AS end_date WHERE FALSE)")
    return f"""
WITH ordered AS (
    SELECT person_id, date, direction, source,
           lead(date) OVER (PARTITION BY person_id ORDER BY date, source, record_id) AS next_date,
           lead(direction) OVER (PARTITION BY person_id ORDER BY date, source, record_id) AS next_direction
    FROM {m} WHERE kept
),
pairs AS (SELECT person_id, date AS t1, next_date AS t2, direction FROM ordered
          WHERE next_direction = direction AND next_date > date{_entries_from(entries_from)}),
dated AS (
    SELECT pr.person_id, pr.t1, pr.t2, pr.direction,
           max(least(coalesce(pe.end_date, pe.start_date), pr.t2 - 1))
               FILTER (WHERE pr.direction = 'in' AND pe.start_date < pr.t2
                       AND coalesce(pe.end_date, pe.start_date) > pr.t1) AS last_present,
           min(greatest(pe.start_date, pr.t1 + 1))
               FILTER (WHERE pr.direction = 'out' AND pe.start_date < pr.t2
                       AND coalesce(pe.end_date, pe.start_date) > pr.t1) AS first_present
    FROM pairs AS pr LEFT JOIN {p} AS pe ON pe.person_id = pr.person_id
    GROUP BY ALL
)
SELECT person_id, 'itinerary' AS source, CAST(NULL AS VARCHAR) AS record_id,
       CAST(coalesce(CASE direction WHEN 'in' THEN last_present ELSE first_present END,
                     t1 + CAST(datediff('day', t1, t2) // 2 AS INTEGER)) AS DATE) AS date,
       CASE direction WHEN 'in' THEN 'out' ELSE 'in' END AS direction,
       'imputed' AS flag, TRUE AS kept
FROM dated
WHERE {"TRUE" if midpoint else "(last_present IS NOT NULL OR first_present IS NOT NULL)"}
"""


def _recorded_periods_ctes(movements: str) -> str:
    """The CTEs ``ordered, periods``: each kept movement with the next, and the recorded stays ('in'
    then 'out') and absences ('out' then 'in') in days."""
    return f"""ordered AS (
    SELECT person_id, date, direction, record_id, source,
           lead(date) OVER (PARTITION BY person_id ORDER BY date, source, record_id) AS next_date,
           lead(direction) OVER (PARTITION BY person_id ORDER BY date, source, record_id) AS next_direction,
           lead(record_id) OVER (PARTITION BY person_id ORDER BY date, source, record_id) AS next_record_id
    FROM {quote_ident(movements)} WHERE kept
),
periods AS (   -- recorded stays ('in' then 'out') and absences ('out' then 'in')
    SELECT person_id, direction AS began_by, datediff('day', date, next_date) AS days FROM ordered
    WHERE next_direction <> direction AND next_date > date AND record_id IS NOT NULL AND next_record_id IS NOT NULL
)"""


def typical_stays_sql(movements: str) -> str:
    """Build the one-row SELECT of everyone's median recorded stay and absence (``stay, absence``)."""
    return f"""
WITH {_recorded_periods_ctes(movements)}
SELECT median(days) FILTER (WHERE began_by = 'in') AS stay, median(days) FILTER (WHERE began_by = 'out') AS absence
FROM periods"""


def estimated_repairs_sql(movements: str, presence: str | None = None, *, typical: str, gap_days: int = 365,
                          entries_from: str | None = None, not_presence_types: tuple[str, ...] = ()) -> str:
    """Build the SELECT of the movement missing between two in the same direction (``estimate``),
    dated by how long the person's own stays and absences last.

    Two entries in a row mean an exit was missed; two exits, an entry: a stay and an absence share
    the time between the two. The one of the kind that is *typically shorter for this person* gets
    its typical length (the median of the person's recorded stays, entry to exit, or absences, exit
    to entry; else everyone's median), the other takes the rest; always strictly between the two.
    (The citizenship group's median before everyone's was tried in 2026-12: event F1 fell in seven
    of the robustness benchmark's worlds, by 0.015 in `hard_country`, 0.011 in `random_2`.)
    A resident's absences are short trips, so a missed exit comes a trip's length before the next
    entry and the stay absorbs the rest; a seasonal worker's stays are short, so a missed exit comes a
    season after the entry and the absence absorbs the rest. The evidence of presence overrides the typical length where
    it shows a long absence: counted activity that stops ``gap_days`` or more before the second
    entry leaves the pair alone (the silence ended by an entry is judged by rules.signs_of_life);
    counted activity that starts ``gap_days`` or more after the first exit dates the missed entry at
    its start. Nor can a typical length contradict an enrolment that *begins* between the two (a
    record of rules.signs_of_life's exempt sources, not of ``not_presence_types``): the pupil was
    here when the school year began, so a missed exit comes after it and a missed entry by then.
    (Tax years and other records that begin on a calendar day, not on a day the person was seen,
    cannot bound it: with every counted record as a bound, a season's tax year kept seasonal
    workers here over the winter, and event F1 fell by 0.035 in the robustness benchmark's
    `random_2`.) Only recorded movements (``record_id`` not NULL) make typical lengths.
    ``entries_from``: only two entries in a row whose first comes from that source. Grain: one row
    per repaired pair; columns as ``movements`` (source ``itinerary``, flag ``imputed``).
    ``typical``: a table from :func:`typical_stays_sql`, for people with no stay or absence of their own.
    """
    nothing = ("(SELECT CAST(NULL AS VARCHAR) AS person_id, CAST(NULL AS DATE) AS start_date, "
               "CAST(NULL AS DATE) AS end_date WHERE FALSE)")
    p = (f"(SELECT person_id, start_date, end_date FROM {quote_ident(presence)} WHERE kind = 'activity' AND NOT exempt)"
         if presence else nothing)
    seen = (f"(SELECT person_id, start_date, end_date FROM {quote_ident(presence)} "
            f"WHERE kind = 'activity' AND exempt "
            f"AND NOT coalesce(reason IN ({sql_in_list(not_presence_types)}), FALSE))" if presence else nothing)
    return f"""
WITH {_recorded_periods_ctes(movements)},
own AS (
    SELECT person_id, median(days) FILTER (WHERE began_by = 'in') AS stay,
           median(days) FILTER (WHERE began_by = 'out') AS absence
    FROM periods GROUP BY person_id
),
everyone AS (SELECT stay, absence FROM {quote_ident(typical)}),
pairs AS (SELECT person_id, date AS t1, next_date AS t2, direction FROM ordered
          WHERE next_direction = direction AND next_date > date + 1{_entries_from(entries_from)}),
around AS (
    SELECT pr.person_id, pr.t1, pr.t2, pr.direction,
           max(coalesce(pe.end_date, pe.start_date)) FILTER (WHERE pe.start_date < pr.t2) AS last_seen_before,
           min(pe.start_date) FILTER (WHERE pe.start_date > pr.t1 AND pe.start_date < pr.t2) AS first_seen_after
    FROM pairs AS pr LEFT JOIN {p} AS pe ON pe.person_id = pr.person_id
    GROUP BY ALL
),
seen_between AS (   -- enrolments that begin strictly between the two: the person was here then
    SELECT pr.person_id, pr.t1, pr.t2, min(pe.start_date) AS first_begun, max(pe.start_date) AS last_begun
    FROM pairs AS pr JOIN {seen} AS pe ON pe.person_id = pr.person_id
     AND pe.start_date > pr.t1 AND pe.start_date < pr.t2
    GROUP BY ALL
),
typical AS (
    SELECT a.*, b.first_begun, b.last_begun, CAST(round(coalesce(o.stay, e.stay, 30)) AS INTEGER) AS stay,
           CAST(round(coalesce(o.absence, e.absence, 30)) AS INTEGER) AS absence
    FROM around AS a LEFT JOIN own AS o USING (person_id) LEFT JOIN seen_between AS b USING (person_id, t1, t2),
         everyone AS e
),
dated AS (   -- the period of the person's shorter typical kind gets its typical length; the other takes the rest
    SELECT *, CASE
        WHEN direction = 'out' AND coalesce(datediff('day', t1, first_seen_after) >= {int(gap_days)}, FALSE)
            THEN least(first_seen_after, coalesce(first_begun, t2))
        WHEN direction = 'in' AND absence <= stay THEN greatest(t2 - absence, coalesce(last_begun, t1))
        WHEN direction = 'in' THEN greatest(t1 + stay, coalesce(last_begun, t1))
        WHEN absence <= stay THEN least(t1 + absence, coalesce(first_begun, t2))
        ELSE least(t2 - stay, coalesce(first_begun, t2)) END AS day
    FROM typical
    WHERE NOT coalesce(direction = 'in' AND last_seen_before > t1
                       AND datediff('day', last_seen_before, t2) >= {int(gap_days)}, FALSE)
)
SELECT person_id, 'itinerary' AS source, CAST(NULL AS VARCHAR) AS record_id,
       CAST(least(greatest(day, t1 + 1), t2 - 1) AS DATE) AS date,
       CASE direction WHEN 'in' THEN 'out' ELSE 'in' END AS direction, 'imputed' AS flag, TRUE AS kept
FROM dated
"""


def repair_itineraries(db: Engine, movements: str, policy: str, presence: str | None = None, *,
                       midpoint: bool = False, gap_days: int = 365, entries_from: str | None = None,
                       not_presence_types: tuple[str, ...] = (), typical: str = TYPICAL_STAYS) -> int:
    """Apply a repair policy to ``movements`` in place; return the movements added or dropped.

    ``estimate`` inserts :func:`estimated_repairs_sql` rows; ``impute`` inserts
    :func:`repair_itineraries_sql` rows; ``drop`` stops keeping the second movement of each
    same-direction pair; ``none`` leaves the flags only. ``entries_from``: only two entries in a
    row whose first comes from that source (not with ``drop``, which changes nothing then).
    ``typical``: where ``estimate`` leaves everyone's typical stay and absence (one of rules._sql.ESTIMATES).
    """
    m = quote_ident(movements)
    if policy == "estimate":
        estimate(db, typical, typical_stays_sql(movements))
        return append(db, movements, estimated_repairs_sql(movements, presence, typical=typical, gap_days=gap_days,
                                                            entries_from=entries_from,
                                                            not_presence_types=not_presence_types))
    if policy == "impute":
        return append(db, movements, repair_itineraries_sql(movements, presence, midpoint=midpoint,
                                                             entries_from=entries_from))
    if policy == "drop" and entries_from is None:
        return db.run(f"""
            UPDATE {m} AS t SET kept = FALSE FROM (
                SELECT person_id, source, record_id, date, direction FROM (
                    SELECT *, lag(direction) OVER (PARTITION BY person_id ORDER BY date, source, record_id) AS prev
                    FROM {m} WHERE kept) WHERE prev = direction) AS d
            WHERE t.person_id = d.person_id AND t.source IS NOT DISTINCT FROM d.source
              AND t.record_id IS NOT DISTINCT FROM d.record_id AND t.date = d.date
              AND t.direction = d.direction""")[0][0]
    return 0
