"""Signs of life: presence from activity, and departures nobody recorded.

People rarely deregister and border systems miss exits, so emigration is undercounted from
movements alone. Following the RAPID principle (resident until there are reasonable grounds to
think otherwise) this rule adds a departure, flagged ``imputed``, where the evidence says someone
left without a recorded exit:

- a deregistration for emigration that records no exit: the departure is dated at the
  deregistration less the usual reporting lag, the median delay between a recorded exit and the
  deregistration among the people who have both (estimated in the run). The exit a deregistration
  records is the last one before it (or up to 30 days after it) with no recorded entry and no
  activity beginning a year or more later in between, however long the registry took: a fixed
  window would miss late reports, impute a second departure and shorten the lag;
- activity that stops: a person with activity (tax, benefits, education, ...) whose last sign of
  life is more than ``window_days`` before the end of the data, who has no movement after it, did
  not die and was not deregistered, *and whose subgroup's silences of that length are departures
  often enough* (``min_departure_probability``, estimated from the run's own data: rules.silence):
  presumed gone at the last sign of life. Where exits are well recorded and residents are often
  quiet for years, a silence is weak evidence and imputes nothing. Exceptions: a last
  sign of life from an exempt source (students stay resident, as in RAPID), and people who never
  had any activity (a registered baby is not evidence of departure by its silence). Near the end
  of the data a silence cannot be ``window_days`` long yet: with ``provisional_days``, a shorter
  silence gives a departure from source ``signs_of_life_provisional``, whose events are flagged
  provisional (without it, the last two years' emigration is undercounted). A silence counts
  only for a person with at least ``rules.silence.MIN_EVIDENCE`` pieces of evidence, and the activity of a
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
  as presence before the entry makes it a return to a stay that never ended), if such silences
  are likely enough to be long absences: about ``(1 - r) / r`` unrecorded-exit absences for each
  recorded absence of ``gap_days`` or more, against the silences ended by an entry. Activity that
  begins before the entry and ends after it (the tax year of the return) says nothing about
  the months before the entry, as a tax year covering a departure says nothing about after it.
  At 100k persons: 30 departures, 28 of them true.

A sign of life after a departure with no recorded entry (:func:`add_imputed_returns`) is a return
only if entries go unrecorded often enough for it to be one (a pension or rent paid to someone
abroad is activity, not presence, where every entry is recorded).

Deaths end presence without a migration and stop the rule. The ``presence`` table has one row
per piece of evidence: ``person_id, source, kind ('registration' | 'activity' | 'visa_grant'),
start_date, end_date, reason (deregistration reason or record type, lower case), exempt
(BOOLEAN)``; ``source`` is read only for grace periods by source.
"""

from __future__ import annotations

from datetime import date

from rules._sql import Engine, append, estimate, materialise, quote_ident, sql_in_list, sql_literal, usual_lag_sql
from rules.silence import (PRIOR_STRENGTH, RECORDING_BY_GROUP, RECORDING_RATES_AT_RETURNS, SILENCE_ESTIMATES,
                           SILENCE_EVIDENCE, estimate_recording_rates, estimate_silence, people_sql, ratio_probability)

#: Source of a departure imputed from a silence not yet ``window_days`` long at the end of the data.
PROVISIONAL_SOURCE = "signs_of_life_provisional"
#: The source of the returns imputed from a sign of life after a departure (and of departures from silence).
IMPUTED_RETURN_SOURCE = "signs_of_life"
#: The departures the evidence may impute, with their chance (one row per candidate).
DEPARTURE_CANDIDATES = "rules__departure_candidates"
#: One row: the recording rates and the chances estimated for departures.
DEPARTURE_RATES = "rules__departure_rates"
RETURN_CANDIDATES = "rules__return_candidates"
UNRETURNED_EXITS = "rules__unreturned_exits"
LONG_ABSENCES = "rules__long_absences"
LONG_ABSENCE_ESTIMATES = "rules__long_absence_estimates"
TRIP_ESTIMATES = "rules__trip_estimates"
RETURN_RATES = "rules__return_rates"
#: The median days from a recorded exit to the deregistration that followed it (one row: ``days``).
DEREGISTRATION_LAG = "rules__deregistration_lag"
#: Recorded long absences and silences ended by an entry (one row), behind the chance of a gap departure.
GAP_COUNTS = "rules__gap_counts"
#: How many returns a sign of life may impute (one row), behind the chance that such a return is one.
RETURN_CANDIDATE_COUNT = "rules__return_candidate_count"
#: Recorded absences by length, with the short and long ones up to each length, and the typical trip.
RETURN_TRIP_LENGTHS = "rules__return_trip_lengths"
#: Everyone's median recorded trip (one row: ``days``), for people with none of their own.
TYPICAL_TRIP_AT_RETURNS = "rules__typical_trip_at_returns"
TYPICAL_TRIP_AT_LONG_ABSENCES = "rules__typical_trip_at_long_absences"
#: The usual days from an arrival to its registration (:func:`registration_lag_sql`).
REGISTRATION_LAG = "rules__registration_lag"
#: Where in their first activity (days from its start) arrivals fall (:func:`activity_arrival_offset_sql`).
ACTIVITY_ARRIVAL_OFFSET = "rules__activity_arrival_offset"
#: People showing the registration lag before it is used (else none).
MIN_LAG_CASES = 30
#: A sign of life beginning this soon after a recorded exit is what someone back from a trip shows
#: (their next tax year begins within a year); see unreturned_exits_sql.
SEEN_WITHIN_DAYS = 365
#: A deregistration records the last exit before it (see departure_candidates_sql), or one this
#: close after it (people deregister before they leave, too).
DEREGISTRATION_EARLY_DAYS = 30


def _recorded_departures_ctes(movements: str, evidence: str, presence: str, gap_days: int) -> str:
    """The CTEs ``kept, last_moves, last_started, recorded_departure``: per deregistered person, the
    exit the deregistration records (see departure_candidates_sql)."""
    m, p = quote_ident(movements), quote_ident(presence)
    e_table = quote_ident(evidence)
    return f"""
kept AS (SELECT person_id, date, direction FROM {m} WHERE kept),
last_moves AS (   -- per deregistered person, the last exit (up to 30 days after) and the last entry before it
    SELECT e.person_id, e.deregistered,
           max(k.date) FILTER (WHERE k.direction = 'out'
                               AND k.date <= e.deregistered + INTERVAL {DEREGISTRATION_EARLY_DAYS} DAY) AS exit_date,
           max(k.date) FILTER (WHERE k.direction = 'in' AND k.date <= e.deregistered) AS entry_date
    FROM {e_table} AS e JOIN kept AS k USING (person_id)
    WHERE e.deregistered IS NOT NULL GROUP BY ALL
),
last_started AS (   -- the latest counted activity to begin before the deregistration
    SELECT l.person_id, max(a.start_date) AS started
    FROM last_moves AS l JOIN {p} AS a ON a.person_id = l.person_id AND a.kind = 'activity' AND NOT a.exempt
     AND a.start_date <= l.deregistered
    GROUP BY l.person_id
),
recorded_departure AS (   -- the exit a deregistration records: the last before it, with no recorded entry
                          -- and no activity beginning a year or more later in between, however late reported
                          -- (an earlier exit would fail both tests too, so only the last is tried)
    SELECT l.person_id, l.deregistered, l.exit_date
    FROM last_moves AS l LEFT JOIN last_started AS a USING (person_id)
    WHERE l.exit_date IS NOT NULL AND (l.entry_date IS NULL OR l.entry_date <= l.exit_date)
      AND (a.started IS NULL OR a.started < l.exit_date + INTERVAL {int(gap_days)} DAY)
)"""


def deregistration_lag_sql(movements: str, evidence: str, presence: str, *, gap_days: int = 365) -> str:
    """Build the SELECT of how late deregistrations come, from the people whose exit was recorded
    too: the median days from the exit to the deregistration (one row: ``days``; 0 without any)."""
    return f"""
WITH {_recorded_departures_ctes(movements, evidence, presence, gap_days)}
SELECT coalesce(CAST(median(datediff('day', exit_date, deregistered)) AS INTEGER), 0) AS days
FROM recorded_departure"""


def departure_candidates_sql(movements: str, evidence: str, estimates: str, presence: str, *, data_end: date,
                             reporting_lag: str, window_days: int = 730, provisional_days: int | None = None,
                             grace: str = "0", duplicates: str | None = None, gap_days: int = 365) -> str:
    """Build the SELECT of the departures the evidence may impute, each with its chance of being one.

    ``evidence`` and ``estimates``: rules.silence's ``SILENCE_EVIDENCE`` and ``SILENCE_ESTIMATES``;
    ``reporting_lag``: a table from :func:`deregistration_lag_sql` (a departure imputed from a
    deregistration alone is dated that long before it).
    Grain: at most one row per person and departure. Columns: ``person_id, source, date, basis
    ('deregistration' | 'silence' | 'gap'), probability`` (1 for a deregistration; the subgroup's
    estimate for a silence; NULL for a gap, whose chance is estimated over all of them).
    """
    p = quote_ident(presence)
    e_table, s_table = quote_ident(evidence), quote_ident(estimates)
    end = f"DATE {sql_literal(data_end.isoformat())}"
    pairs = (f"SELECT person_id, other_id FROM {quote_ident(duplicates)}" if duplicates else
             "SELECT CAST(NULL AS VARCHAR) AS person_id, CAST(NULL AS VARCHAR) AS other_id WHERE FALSE")
    shortest = int(min(provisional_days or window_days, window_days))
    return f"""
WITH {_recorded_departures_ctes(movements, evidence, presence, gap_days)},
from_deregistration AS (
    SELECT e.person_id, 'deregistration' AS source,
           CAST(e.deregistered - to_days((SELECT days FROM {quote_ident(reporting_lag)})) AS DATE) AS date,
           'deregistration' AS basis, 1.0 AS probability
    FROM {e_table} AS e
    WHERE e.deregistered IS NOT NULL AND e.deregistered <= {end}
      AND e.person_id NOT IN (SELECT person_id FROM recorded_departure)
),
from_silence AS (
    SELECT e.person_id,
           CASE WHEN e.silence_days > {int(window_days)} THEN 'signs_of_life'
                ELSE {sql_literal(PROVISIONAL_SOURCE)} END AS source,
           e.last_counted AS date, 'silence' AS basis, s.probability
    FROM {e_table} AS e JOIN {s_table} AS s USING (age_band, citizenship_group, profile, silence_bin)
    WHERE e.class = 'silent' AND e.silence_days > {shortest}
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
    SELECT g.person_id, 'signs_of_life' AS source, g.last_seen AS date, 'gap' AS basis,
           CAST(NULL AS DOUBLE) AS probability
    FROM gaps AS g LEFT JOIN {e_table} AS e USING (person_id)
    WHERE datediff('day', g.seen_until, g.entry) >= {int(gap_days)}
      AND (g.previous_date IS NULL OR g.previous_date < g.last_seen)
      AND NOT coalesce(e.deregistered BETWEEN g.last_seen AND g.entry, FALSE)
)
SELECT * FROM from_deregistration UNION ALL SELECT * FROM from_silence UNION ALL SELECT * FROM from_gap
"""


def long_absences_sql(movements: str, gap_days: int) -> str:
    """Build the SELECT counting recorded absences of ``gap_days`` or more: a recorded exit, then a
    recorded entry (one row: ``n``). Their unrecorded-exit twins are what a silence ended by an
    entry may be."""
    return f"""
SELECT count(*) AS n FROM (
    SELECT direction, date, lag(direction) OVER (PARTITION BY person_id ORDER BY date, direction) AS previous,
           lag(date) OVER (PARTITION BY person_id ORDER BY date, direction) AS previous_date
    FROM {quote_ident(movements)} WHERE kept AND record_id IS NOT NULL)
WHERE direction = 'in' AND previous = 'out' AND datediff('day', previous_date, date) >= {int(gap_days)}"""


def _grace_sql(by_source: dict[str, int], by_type: dict[str, int]) -> str:
    """Days of grace of a presence row: by its source, else by its record type (``reason``)."""
    cases = [f"WHEN source = {sql_literal(k)} THEN {int(v)}" for k, v in by_source.items()]
    cases += [f"WHEN reason = {sql_literal(k)} THEN {int(v)}" for k, v in by_type.items()]
    return f"CASE {' '.join(cases)} ELSE 0 END" if cases else "0"


def add_imputed_departures(db: Engine, movements: str, presence: str, *, data_end: date,
                           window_days: int = 730, emigration_codes: tuple[str, ...] = ("emigration",),
                           death_codes: tuple[str, ...] = ("death",), provisional_days: int | None = None,
                           dependants: str | None = None, child_age_limit: int = 18,
                           grace_by_source: dict[str, int] | None = None,
                           grace_by_type: dict[str, int] | None = None,
                           duplicates: str | None = None, gap_days: int = 365, people: str | None = None,
                           min_departure_probability: float = 0.0) -> int:
    """Impute the departures the evidence gives (see the module docstring) into ``movements``; return
    how many.

    How well exits are recorded and how often a silence is a departure are estimated from the run's
    own data first (rules.silence); a departure from a silence, or from a silence ended by an entry,
    is imputed only where its estimated chance is at least ``min_departure_probability`` (0: every
    silence long enough, the RAPID principle alone). ``people``: ``person_id, dob,
    citizenship_group`` for the subgroups. What was estimated is left in ``DEPARTURE_RATES``,
    rules.silence's tables and the candidates (with their chance) in ``DEPARTURE_CANDIDATES``.
    """
    grace = _grace_sql(grace_by_source or {}, grace_by_type or {})
    shortest = int(min(provisional_days or window_days, window_days))
    rates = estimate_recording_rates(db, movements)
    silence = estimate_silence(db, movements, presence, data_end=data_end, rates=rates, people=people,
                               min_silence_days=shortest, emigration_codes=emigration_codes,
                               death_codes=death_codes, grace=grace, dependants=dependants,
                               child_age_limit=child_age_limit, duplicates=duplicates)
    estimate(db, DEREGISTRATION_LAG, deregistration_lag_sql(movements, SILENCE_EVIDENCE, presence, gap_days=gap_days))
    materialise(db, DEPARTURE_CANDIDATES, departure_candidates_sql(
        movements, SILENCE_EVIDENCE, SILENCE_ESTIMATES, presence, data_end=data_end, reporting_lag=DEREGISTRATION_LAG,
        window_days=window_days, provisional_days=provisional_days, grace=grace, duplicates=duplicates,
        gap_days=gap_days))
    estimate(db, GAP_COUNTS, f"""
        SELECT (SELECT n FROM ({long_absences_sql(movements, gap_days)})) AS long_absences,
               (SELECT count(*) FROM {DEPARTURE_CANDIDATES} WHERE basis = 'gap') AS gaps""")
    long_absences, gaps = db.run(f"SELECT long_absences, gaps FROM {GAP_COUNTS}")[0]
    r = rates["exit_recording"]
    gap_probability = ratio_probability(long_absences, (1 - r) / r if r else None, gaps)
    threshold = float(min_departure_probability)
    materialise(db, DEPARTURE_RATES, _one_row_sql({
        "exit_recording": r, "reentries": rates["reentries"], "reentries_after_exit": rates["reentries_after_exit"],
        "entry_recording": rates["entry_recording"], "reexits": rates["reexits"],
        "reexits_after_entry": rates["reexits_after_entry"], "deregistration": silence["deregistration"],
        "registered_exit_leavers": silence["registered_exit_leavers"],
        "of_whom_deregistered": silence["of_whom_deregistered"], "silence_estimated": silence["estimated"],
        "recorded_long_absences": long_absences, "gap_candidates": gaps, "gap_probability": gap_probability,
        "min_departure_probability": float(min_departure_probability)}))
    return append(db, movements, f"""
        SELECT person_id, source, CAST(NULL AS VARCHAR) AS record_id, date, 'out' AS direction,
               'imputed' AS flag, TRUE AS kept
        FROM {DEPARTURE_CANDIDATES}
        WHERE coalesce(probability, {gap_probability!r}) >= {threshold!r}""")


def _ordered_movements_cte(movements: str) -> str:
    """The CTE ``ordered``: each kept movement with the next one and the next entry."""
    return f"""ordered AS (
    SELECT person_id, date, direction, record_id,
           min(CASE WHEN direction = 'in' THEN date END) OVER (
               PARTITION BY person_id ORDER BY date, direction, record_id NULLS LAST
               ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_in,
           lead(date) OVER w AS next_date, lead(direction) OVER w AS next_direction,
           lead(record_id) OVER w AS next_record_id
    FROM {quote_ident(movements)} WHERE kept
    WINDOW w AS (PARTITION BY person_id ORDER BY date, direction, record_id NULLS LAST)
)"""


def return_trip_lengths_sql(movements: str, *, gap_days: int = 365) -> str:
    """Build the SELECT of the absences recorded at both ends, per length: how many no longer than
    it are short (under ``gap_days``) and how many long, and everyone's median short one
    (``typical_trip``, the same on every row). Columns: ``days, short, long, typical_trip``."""
    gap = int(gap_days)
    return f"""
WITH {_ordered_movements_cte(movements)},
recorded_absences AS (
    SELECT datediff('day', date, next_date) AS days FROM ordered
    WHERE direction = 'out' AND next_direction = 'in' AND record_id IS NOT NULL AND next_record_id IS NOT NULL
),
typical_trip AS (SELECT CAST(median(days) AS INTEGER) AS days FROM recorded_absences WHERE days < {gap}),
absence_counts AS (   -- per length, the recorded absences no longer than it, short and long
    SELECT days, sum(count(*) FILTER (WHERE days < {gap})) OVER (ORDER BY days) AS short,
           sum(count(*) FILTER (WHERE days >= {gap})) OVER (ORDER BY days) AS long
    FROM recorded_absences GROUP BY days
)
SELECT c.days, c.short, c.long, t.days AS typical_trip FROM absence_counts AS c CROSS JOIN typical_trip AS t"""


def imputed_returns_sql(movements: str, presence: str, *, trip_lengths: str,
                        not_presence_types: tuple[str, ...] = (),
                        gap_days: int = 365, emigration_codes: tuple[str, ...] = ("emigration",)) -> str:
    """Build the SELECT of returns nobody recorded: a sign of life after a departure, before any
    recorded entry, means the person came back by then.

    Only evidence that *starts* after the departure and *ends* before the next recorded entry counts:
    a tax year that covers the day of departure says nothing about after it, and one that covers the
    next recorded entry may show presence after that entry only. Records of ``not_presence_types``
    (a child benefit paid for a child who stayed says nothing of the parent) do not count; the
    records of exempt sources do (an enrolment shows the student here).

    When did they come back? Some time after the departure and by the sign of life. Among the
    absences recorded at both ends that are no longer than that time, if those of ``gap_days`` or
    more are the more common, the absence was long and the return is dated at the sign of life;
    otherwise it was a trip and the return is dated a typical trip after the departure (the median
    recorded absence under ``gap_days``). Where trips are common, a resident's trip whose entry went
    unrecorded is otherwise an emigration and an immigration whenever their next tax year starts a
    year after they left. A person who deregistered for emigration (``emigration_codes``) after the
    departure and before the sign of life left: the return is dated at the sign of life. A recorded
    exit that is the person's last movement (of someone not deregistered for emigration), followed
    by a sign of life within ``SEEN_WITHIN_DAYS``, is judged by :func:`add_returns_from_trips`
    instead, against the people whose last trip was recorded and who were seen after it as such a
    person is: counted against every recorded trip, the returns expected outnumbered all such exits
    wherever a few entries went unrecorded, and emigrants whose rent or pension fund was still taxed
    here got a return. A deregistration for emigration reports the last exit before it (no entry
    between, no counted activity beginning ``gap_days`` or more after the exit): from that exit the
    person is abroad until a new registration or a visa granted here, and activity in between
    (rent, wages or a pension paid to someone abroad) is no return. (Departures imputed from a
    deregistration, with no exit recorded, were tried the same way in 2026-12: event F1 −0.004 in
    the robustness benchmark's `random_2`, left out.) ``trip_lengths``: a table from
    :func:`return_trip_lengths_sql`. Grain: at most one row per departure.
    """
    p = quote_ident(presence)
    types = sql_in_list(not_presence_types)
    gap = int(gap_days)
    lengths = quote_ident(trip_lengths)
    return f"""
WITH {_ordered_movements_cte(movements)},
typical_trip AS (SELECT max(typical_trip) AS days FROM {lengths}),
deregistrations AS (
    SELECT person_id, end_date AS deregistered FROM {p}
    WHERE kind = 'registration' AND reason IN ({sql_in_list(emigration_codes)}) AND end_date IS NOT NULL
),
reports AS (   -- the deregistration that reports a recorded exit (as rules.signs_of_life's recorded
               -- departure: no entry between, no counted activity beginning a year or more after the exit);
               -- exits of a person on one day share their next entry, so (person, day, next entry) is the exit
    SELECT o.person_id, o.date, o.next_in, min(g.deregistered) AS reported_by
    FROM ordered AS o JOIN deregistrations AS g ON g.person_id = o.person_id
    WHERE o.direction = 'out' AND o.record_id IS NOT NULL
      AND g.deregistered >= o.date - INTERVAL {DEREGISTRATION_EARLY_DAYS} DAY
      AND (o.next_in IS NULL OR o.next_in > g.deregistered)
      AND NOT EXISTS (SELECT 1 FROM {p} AS a WHERE a.person_id = o.person_id AND a.kind = 'activity'
                      AND NOT a.exempt AND a.start_date >= o.date + INTERVAL {gap} DAY
                      AND a.start_date <= g.deregistered)
    GROUP BY o.person_id, o.date, o.next_in
),
departures AS (
    SELECT o.*, o.next_date IS NULL AND o.record_id IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM deregistrations AS g WHERE g.person_id = o.person_id) AS last_recorded_exit,
           r.reported_by
    FROM ordered AS o LEFT JOIN reports AS r ON o.record_id IS NOT NULL AND r.person_id = o.person_id
         AND r.date = o.date AND r.next_in IS NOT DISTINCT FROM o.next_in
    WHERE o.direction = 'out'
),
returns AS (
    SELECT d.person_id, d.date AS departed, min(p.start_date) AS seen, bool_or(d.last_recorded_exit) AS last_recorded_exit
    FROM departures AS d JOIN {p} AS p ON p.person_id = d.person_id AND p.start_date > d.date
     AND NOT coalesce(p.reason IN ({types}), FALSE)
     -- after an exit a deregistration reports, activity is from abroad (rent, a pension) until the
     -- person registers again (or is granted a visa in the country)
     AND (d.reported_by IS NULL OR (p.kind IN ('registration', 'visa_grant') AND p.start_date > d.reported_by))
    WHERE d.next_in IS NULL OR coalesce(p.end_date, p.start_date) < d.next_in
    GROUP BY d.person_id, d.date
    QUALIFY row_number() OVER (PARTITION BY d.person_id, min(p.start_date) ORDER BY d.date DESC) = 1
),
judged AS (
    SELECT r.*, datediff('day', r.departed, r.seen) AS most,
           EXISTS (SELECT 1 FROM deregistrations AS g WHERE g.person_id = r.person_id
                   AND g.deregistered > r.departed AND g.deregistered <= r.seen) AS deregistered_between
    FROM returns AS r
)
SELECT j.person_id, {sql_literal(IMPUTED_RETURN_SOURCE)} AS source, CAST(NULL AS VARCHAR) AS record_id,
       CASE WHEN j.deregistered_between OR coalesce(c.long > c.short, TRUE)
                 OR (SELECT days FROM typical_trip) IS NULL THEN j.seen
            ELSE CAST(least(j.seen, j.departed + to_days((SELECT days FROM typical_trip))) AS DATE) END AS date,
       'in' AS direction, 'imputed' AS flag, TRUE AS kept
FROM judged AS j ASOF LEFT JOIN {lengths} AS c ON j.most >= c.days
WHERE NOT (j.last_recorded_exit AND j.seen <= j.departed + INTERVAL {SEEN_WITHIN_DAYS} DAY)   -- add_returns_from_trips'
"""


def add_imputed_returns(db: Engine, movements: str, presence: str, *, not_presence_types: tuple[str, ...] = (),
                        min_return_probability: float = 0.0, gap_days: int = 365,
                        emigration_codes: tuple[str, ...] = ("emigration",)) -> int:
    """Insert :func:`imputed_returns_sql` rows into ``movements`` where it is likely enough that they
    are returns; return how many.

    A sign of life after a departure with no recorded entry is a return whose entry went unrecorded,
    or activity from abroad (a pension paid abroad, rent taxed here). If entries are recorded with
    chance ``e`` (rules.silence), about ``pairs (1 - e) / e`` returns went unrecorded for the
    ``pairs`` recorded exit-then-entry pairs; their ratio to the candidates is the chance that a
    candidate is a return, and the candidates are imputed only if it is at least
    ``min_return_probability``. Left in ``RETURN_RATES``.
    """
    rates = estimate_recording_rates(db, movements, RECORDING_RATES_AT_RETURNS)
    estimate(db, RETURN_TRIP_LENGTHS, return_trip_lengths_sql(movements, gap_days=gap_days))
    staged = materialise(db, RETURN_CANDIDATES, imputed_returns_sql(movements, presence,
                                                                     trip_lengths=RETURN_TRIP_LENGTHS,
                                                                     not_presence_types=not_presence_types,
                                                                     gap_days=gap_days,
                                                                     emigration_codes=emigration_codes))
    estimate(db, RETURN_CANDIDATE_COUNT, f"SELECT count(*) AS n FROM {staged}")
    candidates = db.run(f"SELECT n FROM {RETURN_CANDIDATE_COUNT}")[0][0]
    e = rates["entry_recording"]
    probability = ratio_probability(rates["exit_entry_pairs"], (1 - e) / e if e else None, candidates)
    threshold = float(min_return_probability)
    materialise(db, RETURN_RATES, _one_row_sql({
        "entry_recording": e, "recorded_exit_entry_pairs": rates["exit_entry_pairs"],
        "return_candidates": candidates, "return_probability": probability, "min_return_probability": threshold}))
    if probability < threshold:
        return 0
    return append(db, movements, f"SELECT * FROM {staged}")


def unreturned_exits_sql(movements: str, evidence: str, presence: str, *, people: str | None,
                         data_end: date, not_presence_types: tuple[str, ...] = ()) -> str:
    """Build the SELECT of each person's last movement if it is a recorded exit with no return, and of
    the people whose last movements are a recorded short trip, by subgroup and by what followed the
    exit.

    Grain: one row per person whose last kept movement is recorded. Columns: ``person_id, date,
    age_band, citizenship_group, profile, after, candidate`` (the last movement is an exit and the
    person was not deregistered), ``known_trip`` (a recorded exit, then a recorded entry under a
    year later, are the last two movements). ``after`` says what the evidence shows after the exit
    (the trip's exit for a known trip): ``seen`` (a sign of life begins within
    ``SEEN_WITHIN_DAYS`` after it, as the next tax year of someone back from a trip does; not
    records of ``not_presence_types``, as a pension paid abroad), ``late`` (the first begins
    later), ``recent`` (none, and under a year of data followed it) or ``silent``.
    """
    m, e, p = quote_ident(movements), quote_ident(evidence), quote_ident(presence)
    end = f"DATE {sql_literal(data_end.isoformat())}"
    return f"""
WITH ranked AS (
    SELECT person_id, date, direction, record_id,
           lead(direction) OVER w AS next_direction, lag(direction) OVER w AS previous_direction,
           lag(date) OVER w AS previous_date, lag(record_id) OVER w AS previous_record_id
    FROM {m} WHERE kept
    WINDOW w AS (PARTITION BY person_id ORDER BY date, direction, record_id NULLS LAST)
),
last_two AS (
    SELECT r.*, r.direction = 'out' AS is_exit,
           r.direction = 'in' AND r.previous_direction = 'out' AND r.previous_record_id IS NOT NULL
               AND datediff('day', r.previous_date, r.date) < 365 AS known_trip,
           CASE WHEN r.direction = 'out' THEN r.date ELSE r.previous_date END AS exit_date
    FROM ranked AS r WHERE r.next_direction IS NULL AND r.record_id IS NOT NULL
),
seen_after AS (   -- when a sign of life first began after the exit
    SELECT l.person_id, min(a.start_date) AS first_after
    FROM last_two AS l JOIN {p} AS a ON a.person_id = l.person_id AND a.start_date > l.exit_date
    WHERE NOT coalesce(a.reason IN ({sql_in_list(not_presence_types)}), FALSE)
    GROUP BY 1
)
SELECT l.person_id, l.date, coalesce(w.age_band, 'unknown') AS age_band,
       coalesce(w.citizenship_group, 'unknown') AS citizenship_group, coalesce(ev.profile, 'none') AS profile,
       CASE WHEN b.first_after <= l.exit_date + INTERVAL {SEEN_WITHIN_DAYS} DAY THEN 'seen'
            WHEN b.first_after IS NOT NULL THEN 'late'
            WHEN l.exit_date > {end} - INTERVAL {SEEN_WITHIN_DAYS} DAY THEN 'recent' ELSE 'silent' END AS after,
       l.is_exit AND ev.deregistered IS NULL AS candidate, l.known_trip
FROM last_two AS l LEFT JOIN {e} AS ev USING (person_id) LEFT JOIN seen_after AS b USING (person_id)
LEFT JOIN ({people_sql(people, data_end)}) AS w USING (person_id)"""


def _recorded_trips_ctes(movements: str) -> str:
    """The CTEs ``periods, trips``: each person's recorded trips (a recorded exit, then a recorded
    entry) shorter than a year, in days."""
    return f"""periods AS (
            SELECT person_id, datediff('day', lag(date) OVER w, date) AS days,
                   lag(direction) OVER w AS previous, direction
            FROM {quote_ident(movements)} WHERE kept AND record_id IS NOT NULL
            WINDOW w AS (PARTITION BY person_id ORDER BY date, direction)),
        trips AS (SELECT person_id, days FROM periods WHERE previous = 'out' AND direction = 'in' AND days < 365)"""


def typical_trip_sql(movements: str) -> str:
    """Build the one-row SELECT of everyone's median recorded trip shorter than a year (``days``; 30
    without any): a trip's length for people with none of their own."""
    return f"WITH {_recorded_trips_ctes(movements)} SELECT coalesce(median(days), 30) AS days FROM trips"


def add_returns_from_trips(db: Engine, movements: str, presence: str, *, data_end: date,
                           people: str | None = None, min_return_probability: float = 0.0,
                           not_presence_types: tuple[str, ...] = ()) -> int:
    """Close trips whose entry went unrecorded: a person whose last movement is a recorded exit (and
    who did not deregister) gets an entry a typical absence of theirs later, where that is likely
    enough; return how many.

    An exit with nothing after it is a departure, or a trip whose entry the border missed. If a
    subgroup's entries are recorded with chance ``e`` (rules.silence's rates by group: children's
    crossings may be recorded far less often), then for each person whose last two movements are a
    recorded short trip, about ``(1 - e) / e`` others made the same trip and their entry went
    unrecorded. The evidence after the exit tells them apart from people who left: someone back
    from a trip shows activity again as the person with a recorded trip does, someone who left
    mostly does not. So the people with a recorded trip are split as the candidates are, by what
    followed the exit (``after``: seen within a year, seen later, silent, or too recent to tell),
    and per subgroup and split
    their expected unrecorded entries against the people whose last movement is an exit, shrunk
    towards the split's overall ratio, is the chance that such an exit was a trip. The entry is
    dated at the exit plus the person's median recorded absence under a year (else everyone's),
    and no later than the end of the data. A subgroup whose entry recording rate cannot be estimated
    (too few recorded trips, or no entry ever recorded) takes its split's ratio over the subgroups
    that can; where none can, an exit followed by activity within a year is a trip (activity is
    presence, as :func:`add_imputed_returns` has it without an estimate) and any other stays a
    departure: an exit with silence after it is never closed by assumption. Run after
    :func:`add_imputed_departures` (it needs rules.silence's tables); left in ``TRIP_ESTIMATES``.
    """
    m = PRIOR_STRENGTH
    materialise(db, UNRETURNED_EXITS, unreturned_exits_sql(movements, SILENCE_EVIDENCE, presence, people=people,
                                                            data_end=data_end, not_presence_types=not_presence_types))
    estimate(db, TRIP_ESTIMATES, f"""
        WITH g AS (
            SELECT u.age_band, u.citizenship_group, u.profile, u.after,
                   count(*) FILTER (WHERE u.candidate) AS candidates,
                   count(*) FILTER (WHERE u.known_trip) AS trips, any_value(r.entry_recording) AS entry_recording,
                   count(*) FILTER (WHERE u.known_trip) * (1 - any_value(r.entry_recording))
                       / nullif(any_value(r.entry_recording), 0) AS missed_expected,
                   coalesce(any_value(r.entry_recording), 0) > 0 AS estimable
            FROM {UNRETURNED_EXITS} AS u LEFT JOIN {RECORDING_BY_GROUP} AS r USING (age_band, citizenship_group)
            GROUP BY ALL),
        o AS (SELECT after, least(1.0, sum(missed_expected) / nullif(sum(candidates), 0)) AS ratio
              FROM g WHERE estimable GROUP BY after)
        SELECT g.*, round(CASE WHEN g.estimable
                               THEN least(1.0, (g.missed_expected + {m} * coalesce(o.ratio, 1.0)) / (g.candidates + {m}))
                               WHEN o.ratio IS NOT NULL THEN o.ratio
                               WHEN g.after = 'seen' THEN 1.0 ELSE 0.0 END, 4) AS probability,
               {float(min_return_probability)!r} AS min_return_probability
        FROM g LEFT JOIN o USING (after)""")
    estimate(db, TYPICAL_TRIP_AT_RETURNS, typical_trip_sql(movements))
    end = f"DATE {sql_literal(data_end.isoformat())}"
    return append(db, movements, f"""
        WITH {_recorded_trips_ctes(movements)},
        own AS (SELECT person_id, median(days) AS days FROM trips GROUP BY 1),
        everyone AS (SELECT days FROM {TYPICAL_TRIP_AT_RETURNS})
        SELECT u.person_id, 'itinerary' AS source, CAST(NULL AS VARCHAR) AS record_id,
               CAST(least(u.date + CAST(round(coalesce(o.days, e.days)) AS INTEGER), {end}) AS DATE) AS date,
               'in' AS direction, 'imputed' AS flag, TRUE AS kept
        FROM {UNRETURNED_EXITS} AS u JOIN {TRIP_ESTIMATES} AS t USING (age_band, citizenship_group, profile, after)
        LEFT JOIN own AS o USING (person_id), everyone AS e
        WHERE u.candidate AND t.probability >= {float(min_return_probability)!r}""")


def long_absences_by_group_sql(movements: str, evidence: str, *, people: str | None, data_end: date) -> str:
    """Build the SELECT of consecutive movements around long absences, by subgroup: the recorded
    absences of a year or more (a recorded exit, then a recorded entry, nothing between) and the
    pairs of recorded short trips a year or more apart from the first exit to the second entry
    (exit, entry, exit, entry, all recorded), which a missed entry and a missed exit in the middle
    would turn into one such absence. Grain: one row per recorded long absence or trip pair.
    Columns: ``person_id, kind ('absence' | 'trip_pair'), left_on, back_on, age_band,
    citizenship_group, profile``."""
    m, e = quote_ident(movements), quote_ident(evidence)
    return f"""
WITH o AS (
    SELECT person_id, date, direction, record_id,
           lead(date, 1) OVER w AS d1, lead(direction, 1) OVER w AS dir1, lead(record_id, 1) OVER w AS r1,
           lead(date, 2) OVER w AS d2, lead(direction, 2) OVER w AS dir2, lead(record_id, 2) OVER w AS r2,
           lead(date, 3) OVER w AS d3, lead(direction, 3) OVER w AS dir3, lead(record_id, 3) OVER w AS r3
    FROM {m} WHERE kept
    WINDOW w AS (PARTITION BY person_id ORDER BY date, direction, record_id NULLS LAST)
),
found AS (
    SELECT person_id, 'absence' AS kind, date AS left_on, d1 AS back_on FROM o
    WHERE direction = 'out' AND dir1 = 'in' AND record_id IS NOT NULL AND r1 IS NOT NULL
      AND datediff('day', date, d1) >= 365
    UNION ALL
    SELECT person_id, 'trip_pair', date, d3 FROM o
    WHERE direction = 'out' AND dir1 = 'in' AND dir2 = 'out' AND dir3 = 'in'
      AND record_id IS NOT NULL AND r1 IS NOT NULL AND r2 IS NOT NULL AND r3 IS NOT NULL
      AND datediff('day', date, d1) < 365 AND datediff('day', d2, d3) < 365 AND datediff('day', date, d3) >= 365
)
SELECT f.person_id, f.kind, f.left_on, f.back_on, coalesce(w.age_band, 'unknown') AS age_band,
       coalesce(w.citizenship_group, 'unknown') AS citizenship_group, coalesce(ev.profile, 'none') AS profile
FROM found AS f LEFT JOIN {e} AS ev USING (person_id) LEFT JOIN ({people_sql(people, data_end)}) AS w USING (person_id)"""


def add_trips_from_long_absences(db: Engine, movements: str, *, data_end: date, people: str | None = None,
                                 min_return_probability: float = 0.0) -> int:
    """Split recorded long absences that are more likely two trips than one absence; return the
    movements added.

    A recorded exit and a recorded entry a year or more apart are a long absence, or two short trips
    whose middle entry and exit the border both missed. If a subgroup's exits are recorded with
    chance ``r`` and entries with ``e`` (rules.silence's rates by group), each pair of fully
    recorded trips a year or more apart stands for about ``(1 - e)(1 - r) / (e r)`` pairs seen as one
    absence; their ratio to the recorded long absences of the subgroup (shrunk towards the overall
    ratio) is the chance that such an absence was two trips. (Activity inside an absence already
    made it a return, :func:`add_imputed_returns`; splitting what is left by whether a whole
    calendar year lies inside cost `leaky_border` 0.011 of event F1, by whether a sign of life
    began inside 0.010.) Where it is at least
    ``min_return_probability``, an entry is imputed a typical trip after the exit and an exit a
    typical trip before the entry (the person's median recorded trip under a year, else everyone's).
    Run after :func:`add_imputed_departures` (it needs rules.silence's tables); left in
    ``LONG_ABSENCE_ESTIMATES``.
    """
    m = PRIOR_STRENGTH
    materialise(db, LONG_ABSENCES, long_absences_by_group_sql(movements, SILENCE_EVIDENCE, people=people,
                                                               data_end=data_end))
    estimate(db, LONG_ABSENCE_ESTIMATES, f"""
        WITH g AS (
            SELECT a.age_band, a.citizenship_group, a.profile,
                   count(*) FILTER (WHERE a.kind = 'absence') AS absences,
                   count(*) FILTER (WHERE a.kind = 'trip_pair') AS trip_pairs,
                   count(*) FILTER (WHERE a.kind = 'trip_pair')
                       * (1 - any_value(r.entry_recording)) * (1 - any_value(r.exit_recording))
                       / nullif(any_value(r.entry_recording) * any_value(r.exit_recording), 0) AS merged_expected,
                   coalesce(any_value(r.entry_recording) * any_value(r.exit_recording), 0) > 0 AS estimable
            FROM {LONG_ABSENCES} AS a LEFT JOIN {RECORDING_BY_GROUP} AS r USING (age_band, citizenship_group)
            GROUP BY ALL),
        o AS (SELECT least(1.0, sum(merged_expected) / nullif(sum(absences), 0)) AS ratio FROM g WHERE estimable)
        SELECT g.*, round(CASE WHEN g.estimable
                               THEN least(1.0, (g.merged_expected + {m} * coalesce(o.ratio, 0)) / (g.absences + {m}))
                               ELSE 0.0 END, 4) AS probability
        FROM g, o""")
    estimate(db, TYPICAL_TRIP_AT_LONG_ABSENCES, typical_trip_sql(movements))
    return append(db, movements, f"""
        WITH {_recorded_trips_ctes(movements)},
        own AS (SELECT person_id, median(days) AS days FROM trips GROUP BY 1),
        everyone AS (SELECT days FROM {TYPICAL_TRIP_AT_LONG_ABSENCES}),
        split AS (
            SELECT a.person_id, a.left_on, a.back_on, CAST(round(coalesce(o.days, e.days)) AS INTEGER) AS trip
            FROM {LONG_ABSENCES} AS a JOIN {LONG_ABSENCE_ESTIMATES} AS t USING (age_band, citizenship_group, profile)
            LEFT JOIN own AS o USING (person_id), everyone AS e
            WHERE a.kind = 'absence' AND t.probability >= {float(min_return_probability)!r})
        SELECT person_id, 'itinerary' AS source, CAST(NULL AS VARCHAR) AS record_id,
               CAST(left_on + trip AS DATE) AS date, 'in' AS direction, 'imputed' AS flag, TRUE AS kept FROM split
        UNION ALL
        SELECT person_id, 'itinerary', CAST(NULL AS VARCHAR), CAST(back_on - trip AS DATE), 'out', 'imputed', TRUE
        FROM split""")


def registration_lag_sql(movements: str, presence: str) -> str:
    """Build the one-row SELECT of the usual registration lag (``days``, and ``cases`` it was seen
    in): the most common days (give or take a month, rules._sql.usual_lag_sql) from a recorded
    first entry to the first registration among people with both, within two years; no row when
    nobody shows it."""
    m, p = quote_ident(movements), quote_ident(presence)
    return usual_lag_sql(f"""
        WITH registered AS (SELECT person_id, min(start_date) AS registered FROM {p}
                            WHERE kind = 'registration' GROUP BY 1),
        first_move AS (
            SELECT person_id, min(date) AS first_move,
                   arg_min(direction, strftime(date, '%Y%m%d') || direction) AS first_direction
            FROM {m} WHERE kept AND record_id IS NOT NULL GROUP BY 1)
        SELECT datediff('day', fm.first_move, r.registered) AS days
        FROM registered AS r JOIN first_move AS fm USING (person_id)
        WHERE fm.first_direction = 'in' AND r.registered BETWEEN fm.first_move AND fm.first_move + INTERVAL 730 DAY""")


def activity_arrival_offset_sql(movements: str, presence: str, people: str, *, first_day: date) -> str:
    """Build the one-row SELECT of where in their first period of activity arrivals fall (``days``
    from its start, and the ``cases`` it was seen in; rules._sql.usual_lag_sql): among people born
    abroad whose first recorded movement is an entry lying inside their first activity (a tax year, a
    claim, an enrolment: the one that ends first), which began on or after ``first_day``. A tax year
    shows presence some time in it; this says when, for the arrivals nobody recorded
    (:func:`registration_arrivals_sql`). (Over a year either side of the activity's start the
    entries of people who began work a year after arriving pulled it to about its start.)"""
    m, p, w = quote_ident(movements), quote_ident(presence), quote_ident(people)
    first = f"DATE {sql_literal(first_day.isoformat())}"
    return usual_lag_sql(f"""
        WITH first_activity AS (SELECT person_id, arg_min(start_date, coalesce(end_date, start_date)) AS first_start,
                                       min(coalesce(end_date, start_date)) AS first_end
                                FROM {p} WHERE kind <> 'registration' GROUP BY 1),
        first_move AS (
            SELECT person_id, min(date) AS first_move,
                   arg_min(direction, strftime(date, '%Y%m%d') || direction) AS first_direction
            FROM {m} WHERE kept AND record_id IS NOT NULL GROUP BY 1)
        SELECT datediff('day', a.first_start, fm.first_move) AS days
        FROM first_activity AS a JOIN first_move AS fm USING (person_id) JOIN {w} AS who USING (person_id)
        WHERE who.born_abroad AND fm.first_direction = 'in' AND a.first_start >= {first}
          AND fm.first_move BETWEEN a.first_start AND a.first_end""")


def registration_arrivals_sql(movements: str, presence: str, people: str, lag: str, *, first_day: date,
                              data_end: date, offset: str | None = None) -> str:
    """Build the SELECT of arrivals nobody recorded, from registrations: a person born abroad whose
    first registration is on or after ``first_day``, with no recorded movement before it and no
    recorded entry within 30 days after (an exit soon after is a trip), arrived unrecorded (asylum
    seekers and others who came without crossing a border post).

    - Registered first: dated at the registration less the usual registration lag (``lag``, from
      :func:`registration_lag_sql`; none unless ``MIN_LAG_CASES`` people showed it): the median of
      lags that mix prompt registrations with a long tail of late ones dated almost nobody within
      a month.
    - Active first (a tax year ending before the registration: a late registration): arrived in
      that first activity, where arrivals usually fall in it (``offset``, from
      :func:`activity_arrival_offset_sql`; its middle unless ``MIN_LAG_CASES`` people showed it),
      no later than its end or the registration less the lag. Only if that activity began on or
      after ``first_day``.

    Other evidence shows presence some time in its period (a tax year), so counts from its end: a
    tax year ending after the registration does not come first. ``first_day``: presence earlier than
    this may belong to people here before the data began (the first year of the data is history).
    ``people``: ``person_id, born_abroad``. Grain: at most one row per person; columns as
    ``movements`` (source ``registration``, flag ``imputed``).
    """
    m, p, w, lag = quote_ident(movements), quote_ident(presence), quote_ident(people), quote_ident(lag)
    first, end = f"DATE {sql_literal(first_day.isoformat())}", f"DATE {sql_literal(data_end.isoformat())}"
    usual_offset = (f"SELECT any_value(days) FILTER (WHERE cases >= {MIN_LAG_CASES}) AS days FROM {quote_ident(offset)}"
                    if offset else "SELECT CAST(NULL AS INTEGER) AS days")
    return f"""
WITH registered AS (SELECT person_id, min(start_date) AS registered FROM {p} WHERE kind = 'registration' GROUP BY 1),
first_seen AS (   -- a registration is dated; a tax year shows presence some time in it, so counts from its end
    SELECT person_id, min(CASE WHEN kind = 'registration' THEN start_date ELSE coalesce(end_date, start_date) END)
               AS first_seen,
           arg_min(start_date, coalesce(end_date, start_date)) FILTER (WHERE kind <> 'registration') AS activity_start
    FROM {p} GROUP BY 1
),
first_move AS (SELECT person_id, min(date) AS first_move, min(date) FILTER (WHERE direction = 'in') AS first_entry
               FROM {m} WHERE kept AND record_id IS NOT NULL GROUP BY 1),
registration_lag AS (SELECT coalesce(any_value(days) FILTER (WHERE cases >= {MIN_LAG_CASES}), 0) AS days FROM {lag}),
usual_offset AS ({usual_offset}),
arrivals AS (
    SELECT r.person_id, r.registered - to_days((SELECT days FROM registration_lag)) AS by_registration,
           CASE WHEN f.first_seen < r.registered THEN f.activity_start END AS activity_start, f.first_seen
    FROM registered AS r JOIN first_seen AS f USING (person_id) JOIN {w} AS who USING (person_id)
    LEFT JOIN first_move AS fm USING (person_id)
    WHERE who.born_abroad AND r.registered >= {first} AND r.registered <= {end}
      AND (f.first_seen >= r.registered OR f.activity_start >= {first})
      AND (fm.first_move IS NULL OR fm.first_move >= r.registered)
      AND (fm.first_entry IS NULL OR fm.first_entry > r.registered + INTERVAL 30 DAY)
)
SELECT person_id, 'registration' AS source, CAST(NULL AS VARCHAR) AS record_id,
       CAST(greatest(CASE WHEN activity_start IS NULL THEN by_registration
                          ELSE least(activity_start + to_days(coalesce((SELECT days FROM usual_offset),
                                         datediff('day', activity_start, first_seen) // 2)),
                                     by_registration, first_seen) END, {first}) AS DATE) AS date,
       'in' AS direction, 'imputed' AS flag, TRUE AS kept
FROM arrivals"""


def add_registration_arrivals(db: Engine, movements: str, presence: str, people: str, *, first_day: date,
                              data_end: date) -> int:
    """Insert :func:`registration_arrivals_sql` rows into ``movements``; return how many. The lag
    it estimates is left in ``REGISTRATION_LAG``."""
    estimate(db, REGISTRATION_LAG, registration_lag_sql(movements, presence))
    estimate(db, ACTIVITY_ARRIVAL_OFFSET, activity_arrival_offset_sql(movements, presence, people, first_day=first_day))
    return append(db, movements, registration_arrivals_sql(movements, presence, people, REGISTRATION_LAG,
                                                            first_day=first_day, data_end=data_end,
                                                            offset=ACTIVITY_ARRIVAL_OFFSET))


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


def imputation_estimates(db: Engine) -> dict:
    """What the last :func:`add_imputed_departures` and :func:`add_imputed_returns` estimated and
    decided (for quality.json): recording rates, the chance of each kind of departure, and per
    subgroup and silence length the silent people, the known leavers, the chance and what was done."""
    rates = _one_row(db, DEPARTURE_RATES)
    if rates is None:
        return {"estimated": False}
    threshold = rates["min_departure_probability"]
    by_basis = db.run(f"""
        SELECT basis, count(*), count(*) FILTER (WHERE coalesce(probability, ?) >= ?)
        FROM {DEPARTURE_CANDIDATES} GROUP BY 1 ORDER BY 1""", [rates["gap_probability"], threshold])
    groups = db.run(f"""
        SELECT age_band, citizenship_group, profile, silence_bin, candidates, known_registered,
               known_unregistered, unrecorded_expected, probability
        FROM {SILENCE_ESTIMATES} WHERE candidates > 0
        ORDER BY candidates DESC, age_band, citizenship_group, profile, silence_bin""")
    keys = ("age_band", "citizenship_group", "profile", "silence_length", "silent", "known_leavers_registered",
            "known_leavers_unregistered", "unrecorded_leavers_expected", "probability")
    subgroups = [dict(zip(keys, row)) | {"imputed": row[4] if row[8] >= threshold else 0} for row in groups]
    return {"estimated": True, **rates, "returns": _one_row(db, RETURN_RATES),
            "candidates_by_basis": {b: {"candidates": n, "imputed": k} for b, n, k in by_basis},
            "subgroups": subgroups, "trips_with_missed_entry": _trip_estimates(db),
            "registration_lag": _usual_lag(db, REGISTRATION_LAG, 0),
            "arrival_in_first_activity": _usual_lag(db, ACTIVITY_ARRIVAL_OFFSET, None)}


def _usual_lag(db: Engine, table: str, otherwise: int | None) -> dict | None:
    """A usual lag estimated for :func:`add_registration_arrivals` (the registration lag, where
    arrivals fall in a first activity), how many showed it, and the days used (``otherwise``, None
    for the activity's middle, unless ``MIN_LAG_CASES`` did); None when it did not run."""
    lag = _one_row(db, table)
    if lag is None:
        return None
    cases = int(lag.get("cases") or 0)
    return {"estimated_days": lag.get("days"), "cases": cases, "min_cases": MIN_LAG_CASES,
            "days": lag.get("days") if cases >= MIN_LAG_CASES else otherwise, "most_common_days": lag.get("mode_days"),
            "median_days": lag.get("median_days"), "most_common_stands_out": lag.get("mode_stands_out")}


def _trip_estimates(db: Engine) -> list[dict]:
    """Per subgroup and what followed the exit: the exits with nothing after them, the recorded
    trips standing for missed entries, the chance such an exit was a trip (left by
    :func:`add_returns_from_trips`; empty when it did not run)."""
    try:
        return db.records(f"""
            SELECT age_band, citizenship_group, profile, after AS after_exit, candidates AS exits_without_return,
                   trips AS recorded_trips, round(missed_expected, 2) AS missed_entries_expected, probability,
                   CASE WHEN probability >= min_return_probability THEN candidates ELSE 0 END AS imputed
            FROM {TRIP_ESTIMATES} WHERE candidates > 0
            ORDER BY candidates DESC, age_band, citizenship_group, profile, after""")
    except Exception as exc:  # noqa: BLE001 - DuckDB raises CatalogException when the table is not there
        if "does not exist" in str(exc):
            return []
        raise


def _one_row_sql(values: dict) -> str:
    """A one-row SELECT of named figures: rates and chances rounded to 4 places as DOUBLE, counts as
    BIGINT, flags as BOOLEAN (NULL where not estimated)."""
    def cell(value: object) -> str:
        if isinstance(value, bool):
            return sql_literal(value)
        if isinstance(value, int):
            return f"CAST({value} AS BIGINT)"
        return f"CAST({'NULL' if value is None else round(float(value), 4)!s} AS DOUBLE)"
    return "SELECT " + ", ".join(f"{cell(v)} AS {quote_ident(k)}" for k, v in values.items())


def _one_row(db: Engine, table: str) -> dict | None:
    try:
        rows = db.records(f"SELECT * FROM {quote_ident(table)}")
    except Exception as exc:  # noqa: BLE001 - DuckDB raises CatalogException when the table is not there
        if "does not exist" in str(exc):
            return None
        raise
    return rows[0] if rows else None
