"""What the run's own data says about departures nobody recorded.

A silence (no sign of life for a while) is a departure in one country and a carer, an early retiree
or a person between jobs in another. How often it is a departure is estimated from the people whose
outcome the data shows, never assumed:

- **How well movements are recorded.** Of the recorded entries of people seen crossing before, the
  share with a recorded exit before them (a re-entry with no exit before it is a missed exit), and
  of recorded re-exits the share with an entry before them, give the *exit recording rate* ``r`` and
  the *entry recording rate* ``e`` (:func:`recording_from_shares`: the shares overstate the rates
  when both kinds of movement go missing). Of the registered people whose last recorded movement is an exit and
  who have been silent a year since, the share who deregistered for emigration is the
  *deregistration rate* ``d``.
- **How often a silence is a departure.** Among people silent for a given time, those with a
  recorded exit (or, if registered, a deregistration) are *known leavers*: ``K``. If a leaver's
  departure is known with chance ``p`` (``r`` for people outside the register, ``1 - (1 - r)(1 - d)``
  for registered people), about ``K (1 - p) / p`` leavers went unrecorded, and they are among the
  silent people without a recorded exit: ``N``. The chance that one of those left is their ratio,
  per subgroup (age band at the end of the data x citizenship group x activity profile: the
  source most of the person's activity comes from, and whether it comes every year) and silence
  length (under 1, 1-2, 2-3, 3-5, 5 or more years), shrunk towards the silence length's pooled
  ratio (weight ``PRIOR_STRENGTH``), and that towards the overall one. Where exits are always
  recorded no silence is a departure; where residents are often quiet for years, silence is weak
  evidence; where nothing is known (too few re-entries to estimate ``r``), every silence long
  enough counts, as the RAPID principle has it, and the estimates say so.

Tables: ``movements`` (``person_id, record_id, date, direction, kept``: ``record_id`` NULL for
imputed ones), ``presence`` (rules.signs_of_life) and, optionally, ``people`` (``person_id, dob,
citizenship_group``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from rules._sql import Engine, columns_of, estimate, materialise, quote_ident, sql_in_list, sql_literal

#: The recorded pairs behind the recording rates, where departures are imputed from silence (and
#: the same at the visa ends and at the returns, on the movements as they are there).
RECORDING_RATES = "rules__recording_rates"
RECORDING_RATES_AT_VISA_ENDS = "rules__recording_rates_at_visa_ends"
RECORDING_RATES_AT_RETURNS = "rules__recording_rates_at_returns"
#: Registered people whose last movement is an exit, and of them the deregistered (the rate ``d``).
DEREGISTRATION_COUNTS = "rules__deregistration_counts"
RECORDING_BY_GROUP = "rules__recording_rates_by_group"
SILENCE_EVIDENCE = "rules__silence_evidence"
SILENCE_ESTIMATES = "rules__silence_estimates"
#: Fewer cases than this and a rate is not estimated (the rule falls back to counting every silence).
MIN_CASES = 30
#: A subgroup's ratio is shrunk towards its silence length's as if this many more people were seen.
PRIOR_STRENGTH = 10
#: Pieces of evidence (presence rows and recorded movements) a person needs before their silence
#: counts: a person known from a single record is as likely a fragment of someone linked elsewhere
#: (a tax record with a typo made a person of its own) as a leaver.
MIN_EVIDENCE = 2
#: Share of the years between a person's first and last counted activity with some activity,
#: above which the activity profile is ``regular``.
REGULAR_SHARE = 0.8
#: Silence lengths (lower bounds in days) and their labels.
SILENCE_BINS = ((0, "0-1y"), (365, "1-2y"), (730, "2-3y"), (1095, "3-5y"), (1826, "5y+"))


def age_band_sql(dob: str, data_end: date) -> str:
    """SQL label of the age band at the end of the data of a date of birth (``unknown`` without one)."""
    age = f"datesub('year', {dob}, DATE {sql_literal(data_end.isoformat())})"
    return (f"CASE WHEN {dob} IS NULL OR {age} < 0 THEN 'unknown' WHEN {age} < 18 THEN '0-17' "
            f"WHEN {age} < 35 THEN '18-34' WHEN {age} < 55 THEN '35-54' WHEN {age} < 67 THEN '55-66' ELSE '67+' END")


def people_sql(people: str | None, data_end: date) -> str:
    """Each person's subgroup labels: ``person_id, age_band, citizenship_group``."""
    if not people:
        return ("SELECT CAST(NULL AS VARCHAR) AS person_id, CAST(NULL AS VARCHAR) AS age_band, "
                "CAST(NULL AS VARCHAR) AS citizenship_group WHERE FALSE")
    return (f"SELECT person_id, {age_band_sql('dob', data_end)} AS age_band, "
            f"coalesce(citizenship_group, 'unknown') AS citizenship_group FROM {quote_ident(people)}")


def group_recording_rates_sql(movements: str, *, people: str | None, data_end: date,
                              exits_seen: float | None, entries_seen: float | None) -> str:
    """Build the SELECT of the exit and entry recording rates of each subgroup (age band x
    citizenship group): children's crossings, say, may be recorded far less often than adults'.
    The subgroup's shares (re-entries with an exit before, re-exits with an entry before) are
    shrunk towards the overall shares (``exits_seen``, ``entries_seen``) as if ``MIN_CASES`` more
    pairs had been seen at them, then turned into rates (:func:`recording_from_shares`); NULL where
    they cannot be. Grain: one row per subgroup with a movement."""
    def shrunk(after: str, n: str, overall: float | None) -> str:
        return "CAST(NULL AS DOUBLE)" if overall is None else f"({after} + {MIN_CASES} * {overall!r}) / ({n} + {MIN_CASES})"
    return f"""
WITH m AS (
    SELECT person_id, direction, lag(direction) OVER (PARTITION BY person_id ORDER BY date, direction) AS previous
    FROM {quote_ident(movements)} WHERE kept AND record_id IS NOT NULL
),
counts AS (
    SELECT coalesce(w.age_band, 'unknown') AS age_band, coalesce(w.citizenship_group, 'unknown') AS citizenship_group,
           count(*) FILTER (WHERE m.direction = 'in' AND m.previous IS NOT NULL) AS reentries,
           count(*) FILTER (WHERE m.direction = 'in' AND m.previous = 'out') AS reentries_after_exit,
           count(*) FILTER (WHERE m.direction = 'out' AND m.previous IS NOT NULL) AS reexits,
           count(*) FILTER (WHERE m.direction = 'out' AND m.previous = 'in') AS reexits_after_entry
    FROM m LEFT JOIN ({people_sql(people, data_end)}) AS w USING (person_id)
    GROUP BY ALL
),
shares AS (
    SELECT *, {shrunk('reentries_after_exit', 'reentries', exits_seen)} AS a,
           {shrunk('reexits_after_entry', 'reexits', entries_seen)} AS b
    FROM counts
)
SELECT * EXCLUDE (a, b), a AS reentries_with_an_exit_before, b AS reexits_with_an_entry_before,
       CASE WHEN a + b > 1 THEN least(1.0, (a + b - 1) / b) END AS exit_recording,
       CASE WHEN a + b > 1 THEN least(1.0, (a + b - 1) / a) END AS entry_recording
FROM shares"""


def recording_rates_sql(movements: str) -> str:
    """Build the SELECT of the recorded pairs behind the exit and entry recording rates.

    Grain: one row. Only recorded (``record_id`` not NULL), kept movements count; a person's
    first movement has nothing before it and is left out. Columns: ``reentries,
    reentries_after_exit, reexits, reexits_after_entry, exit_entry_pairs``.
    """
    return f"""
WITH m AS (
    SELECT direction, lag(direction) OVER (PARTITION BY person_id ORDER BY date, direction) AS previous
    FROM {quote_ident(movements)} WHERE kept AND record_id IS NOT NULL
)
SELECT count(*) FILTER (WHERE direction = 'in' AND previous IS NOT NULL) AS reentries,
       count(*) FILTER (WHERE direction = 'in' AND previous = 'out') AS reentries_after_exit,
       count(*) FILTER (WHERE direction = 'out' AND previous IS NOT NULL) AS reexits,
       count(*) FILTER (WHERE direction = 'out' AND previous = 'in') AS reexits_after_entry,
       count(*) FILTER (WHERE direction = 'in' AND previous = 'out') AS exit_entry_pairs
FROM m"""


def estimate_recording_rates(db: Engine, movements: str, table: str = RECORDING_RATES) -> dict[str, Any]:
    """Materialise the recorded pairs (``table``: ``RECORDING_RATES`` or the one of another point of
    the rules) and return the exit and entry recording rates (None where fewer than ``MIN_CASES``
    pairs say; not rounded)."""
    estimate(db, table, recording_rates_sql(movements))
    reentries, after_exit, reexits, after_entry, pairs = db.run(
        f"SELECT reentries, reentries_after_exit, reexits, reexits_after_entry, exit_entry_pairs FROM {table}")[0]
    exits_seen, entries_seen = _rate(after_exit, reentries), _rate(after_entry, reexits)
    exit_rate, entry_rate = recording_from_shares(exits_seen, entries_seen)
    return {"exit_recording": exit_rate, "reentries": reentries, "reentries_after_exit": after_exit,
            "entry_recording": entry_rate, "reexits": reexits, "reexits_after_entry": after_entry,
            "reentries_with_an_exit_before": exits_seen, "reexits_with_an_entry_before": entries_seen,
            "exit_entry_pairs": pairs}


def recording_from_shares(exits_seen: float | None, entries_seen: float | None) -> tuple[float | None, float | None]:
    """The exit and entry recording rates from the shares of re-entries with an exit before them and
    of re-exits with an entry before them.

    Those shares overstate the rates: the movement before a re-entry is an exit if the exit was
    recorded, but also if it and the entry before it were both missed and the exit before that was
    recorded, and so on. For trips with exits recorded at ``r`` and entries at ``e`` independently,
    the share is ``r / (1 - (1 - r)(1 - e))`` for exits and ``e / (1 - (1 - r)(1 - e))`` for entries;
    solved: ``r = (a + b - 1) / b`` and ``e = (a + b - 1) / a`` for shares ``a`` and ``b``. (Shares of
    0.75 and 0.94 give 0.73 and 0.92; 0.67 and 0.67 give 0.5.) None where a share is not estimated
    or the two cannot come from any rates (``a + b <= 1``)."""
    if exits_seen is None or entries_seen is None or exits_seen + entries_seen <= 1:
        return exits_seen if entries_seen is None else None, entries_seen if exits_seen is None else None
    both = exits_seen + entries_seen - 1
    return min(1.0, both / entries_seen), min(1.0, both / exits_seen)


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator >= MIN_CASES else None


def silence_evidence_sql(movements: str, presence: str, *, data_end: date, people: str | None = None,
                         emigration_codes: tuple[str, ...] = ("emigration",),
                         death_codes: tuple[str, ...] = ("death",), grace: str = "0",
                         dependants: str | None = None, child_age_limit: int = 18,
                         duplicates: str | None = None, with_source: bool = True) -> str:
    """Build the SELECT of each person's signs of life, silence and what ended it.

    Grain: one row per person with presence. Later signs of life from a probable duplicate
    registration (``duplicates``: ``person_id, other_id``), a visa granted in the country, or a
    parent (``dependants``, up to the child's ``child_age_limit``-th birthday) extend a person's
    own, never start one. ``grace``: SQL of the days a presence row's silence starts after its end.
    Columns: ``person_id, last_activity, last_counted, counted_until, deregistered, died,
    registered, pieces, last_start, silence_days, silence_bin, age_band, citizenship_group, profile,
    has_exit, moved_after, class`` where ``class`` is ``died``, ``deregistered``, ``exit`` (the
    last recorded movement is an exit, made after the last counted activity began), ``no_activity``, ``exempt`` (the last sign of life is an
    exempt one), ``moved`` (a movement after the last sign of life), ``thin`` (under
    ``MIN_EVIDENCE`` pieces) or ``silent``.
    """
    m, p = quote_ident(movements), quote_ident(presence)
    end = f"DATE {sql_literal(data_end.isoformat())}"
    emigration, death = sql_in_list(emigration_codes), sql_in_list(death_codes)
    counted = "kind = 'activity' AND NOT exempt"
    source = "source" if with_source else "'activity'"
    in_order = " ORDER BY source" if with_source else ""   # ties between sources broken alike in every run
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
    bins = " ".join(f"WHEN e.silence_days >= {low} THEN '{label}'" for low, label in reversed(SILENCE_BINS))
    return f"""
WITH own AS (
    SELECT person_id,
           max(coalesce(end_date, start_date)) FILTER (WHERE kind = 'activity') AS last_activity,
           max(coalesce(end_date, start_date)) FILTER (WHERE {counted}) AS last_counted,
           CAST(max(coalesce(end_date, start_date) + to_days({grace})) FILTER (WHERE {counted}) AS DATE)
               AS counted_until,
           min(start_date) FILTER (WHERE {counted}) AS first_start,
           max(start_date) FILTER (WHERE {counted}) AS last_start,
           count(DISTINCT year(start_date)) FILTER (WHERE {counted}) AS active_years,
           mode({source}{in_order}) FILTER (WHERE {counted}) AS main_source,
           max(start_date) FILTER (WHERE kind = 'visa_grant') AS last_grant,
           min(end_date) FILTER (WHERE kind = 'registration' AND reason IN ({emigration})) AS deregistered,
           coalesce(bool_or(kind = 'registration' AND reason IN ({death})), FALSE) AS died,
           bool_or(kind = 'registration') AS registered,
           count(*) AS pieces
    FROM {p} WHERE person_id IS NOT NULL GROUP BY person_id
),
kept AS (SELECT person_id, record_id, date, direction FROM {m} WHERE kept),
moves AS (
    SELECT person_id, count(*) AS moves, max(date) AS last_move,
           arg_max(direction, strftime(date, '%Y%m%d') || direction) FILTER (WHERE record_id IS NOT NULL)
               AS last_recorded_direction,
           max(date) FILTER (WHERE record_id IS NOT NULL) AS last_recorded
    FROM kept GROUP BY person_id
),
parents AS ({parents}),
duplicate AS (
    SELECT d.person_id, max(o.last_counted) AS last_counted, max(o.counted_until) AS counted_until
    FROM ({pairs}) AS d JOIN own AS o ON o.person_id = d.other_id GROUP BY d.person_id
),
evidence AS (
    SELECT o.person_id, o.deregistered, o.died, o.registered, o.pieces + coalesce(mv.moves, 0) AS pieces,
           greatest(o.last_activity, du.last_counted, o.last_grant, pa.parent_last) AS last_activity,
           CASE WHEN o.last_counted IS NOT NULL
                THEN greatest(o.last_counted, du.last_counted, o.last_grant, pa.parent_last) END AS last_counted,
           CASE WHEN o.last_counted IS NOT NULL
                THEN greatest(o.counted_until, du.counted_until, o.last_grant, pa.parent_until) END AS counted_until,
           o.last_start,
           o.main_source || ':' || CASE WHEN o.active_years >= {REGULAR_SHARE}
                * (year(o.last_start) - year(o.first_start) + 1) THEN 'regular' ELSE 'intermittent' END AS profile,
           coalesce(mv.last_recorded_direction = 'out' AND mv.last_recorded >= o.last_start, FALSE) AS has_exit,
           mv.last_move
    FROM own AS o LEFT JOIN parents AS pa USING (person_id) LEFT JOIN duplicate AS du USING (person_id)
    LEFT JOIN moves AS mv USING (person_id)
),
e AS (
    SELECT e.*, datediff('day', e.counted_until, {end}) AS silence_days,
           coalesce(e.last_move > e.last_counted, FALSE) AS moved_after,
           coalesce(w.age_band, 'unknown') AS age_band,
           coalesce(w.citizenship_group, 'unknown') AS citizenship_group
    FROM evidence AS e LEFT JOIN ({people_sql(people, data_end)}) AS w USING (person_id)
)
SELECT e.*, CASE {bins} END AS silence_bin,
       CASE WHEN e.died THEN 'died'
            WHEN e.deregistered <= {end} THEN 'deregistered'
            WHEN e.has_exit THEN 'exit'
            WHEN e.last_counted IS NULL THEN 'no_activity'
            WHEN e.last_counted <> e.last_activity THEN 'exempt'
            WHEN e.moved_after THEN 'moved'
            WHEN e.pieces < {MIN_EVIDENCE} THEN 'thin'
            ELSE 'silent' END AS class
FROM e"""


def deregistration_rate_sql(evidence: str) -> str:
    """Build the SELECT of the registered people whose last recorded movement is an exit, silent a
    year since, and how many of them deregistered (one row: ``leavers, deregistered``)."""
    return f"""
SELECT count(*) AS leavers, count(*) FILTER (WHERE deregistered IS NOT NULL) AS deregistered
FROM {quote_ident(evidence)}
WHERE registered AND has_exit AND last_counted IS NOT NULL AND silence_days >= 365 AND NOT died"""


def silence_estimates_sql(evidence: str, rates_by_group: str, *, deregistration: float | None,
                          min_silence_days: int) -> str:
    """Build the SELECT of the chance that a silent person left, per subgroup and silence length.

    Known leavers of a subgroup outside the register were known with chance ``r`` (its exit
    recording rate, ``rates_by_group``), registered ones with ``1 - (1 - r)(1 - d)``; each stands
    for ``(1 - p) / p`` unrecorded leavers. A subgroup whose ``r`` is not estimated (or 0) has
    probability 1: every silence counts. Only silences longer than ``min_silence_days`` are
    counted. Grain: one row per ``age_band, citizenship_group, profile, silence_bin``. Columns:
    those, ``candidates, known_registered, known_unregistered, exit_recording,
    unrecorded_expected, probability``.
    """
    d = float(deregistration or 0.0)
    m = PRIOR_STRENGTH
    return f"""
WITH counts AS (
    SELECT age_band, citizenship_group, profile, silence_bin,
           count(*) FILTER (WHERE class = 'silent') AS candidates,
           count(*) FILTER (WHERE class IN ('exit', 'deregistered') AND registered) AS known_registered,
           count(*) FILTER (WHERE class = 'exit' AND NOT coalesce(registered, FALSE)) AS known_unregistered
    FROM {quote_ident(evidence)}
    WHERE last_counted IS NOT NULL AND silence_days > {int(min_silence_days)}
      AND class IN ('silent', 'exit', 'deregistered')
    GROUP BY ALL
),
g AS (
    SELECT c.*, r.exit_recording, coalesce(r.exit_recording, 0) > 0 AS estimable,
           c.known_registered * (1 - (1 - (1 - r.exit_recording) * (1 - {d!r})))
               / nullif(1 - (1 - r.exit_recording) * (1 - {d!r}), 0)
           + c.known_unregistered * (1 - r.exit_recording) / nullif(r.exit_recording, 0) AS unrecorded_expected
    FROM counts AS c LEFT JOIN {quote_ident(rates_by_group)} AS r USING (age_band, citizenship_group)
),
overall AS (
    SELECT least(1.0, sum(unrecorded_expected) / nullif(sum(candidates), 0)) AS ratio FROM g WHERE estimable
),
b AS (
    SELECT silence_bin,
           least(1.0, (sum(unrecorded_expected) + {m} * coalesce(any_value(o.ratio), 1.0))
                      / (sum(candidates) + {m})) AS pooled
    FROM g, overall AS o WHERE estimable GROUP BY silence_bin
)
SELECT g.age_band, g.citizenship_group, g.profile, g.silence_bin, g.candidates, g.known_registered,
       g.known_unregistered, round(g.exit_recording, 4) AS exit_recording,
       round(g.unrecorded_expected, 2) AS unrecorded_expected,
       round(CASE WHEN g.estimable THEN least(1.0, (g.unrecorded_expected + {m} * coalesce(b.pooled, 1.0))
                                              / (g.candidates + {m}))
                  ELSE 1.0 END, 4) AS probability
FROM g LEFT JOIN b USING (silence_bin)"""


def estimate_silence(db: Engine, movements: str, presence: str, *, data_end: date, rates: dict[str, Any],
                     people: str | None = None, min_silence_days: int = 365, **evidence_options: Any) -> dict[str, Any]:
    """Materialise ``RECORDING_BY_GROUP``, ``SILENCE_EVIDENCE`` and ``SILENCE_ESTIMATES``; return the
    deregistration rate. ``rates``: the overall rates, from :func:`estimate_recording_rates`."""
    estimate(db, RECORDING_BY_GROUP, group_recording_rates_sql(
        movements, people=people, data_end=data_end, exits_seen=rates["reentries_with_an_exit_before"],
        entries_seen=rates["reexits_with_an_entry_before"]))
    materialise(db, SILENCE_EVIDENCE, silence_evidence_sql(
        movements, presence, data_end=data_end, people=people,
        with_source="source" in columns_of(db, presence), **evidence_options))
    estimate(db, DEREGISTRATION_COUNTS, deregistration_rate_sql(SILENCE_EVIDENCE))
    leavers, deregistered = db.run(f"SELECT leavers, deregistered FROM {DEREGISTRATION_COUNTS}")[0]
    d = _rate(deregistered, leavers)
    estimate(db, SILENCE_ESTIMATES, silence_estimates_sql(
        SILENCE_EVIDENCE, RECORDING_BY_GROUP, deregistration=d, min_silence_days=min_silence_days))
    r = rates["exit_recording"]
    return {"deregistration": d, "registered_exit_leavers": leavers, "of_whom_deregistered": deregistered,
            "estimated": r is not None and r > 0}


def ratio_probability(known: int, unrecorded_per_known: float | None, candidates: int) -> float:
    """The chance that a candidate is one of the expected unrecorded cases: ``known x
    unrecorded_per_known / candidates`` capped at 1; 1 when it cannot be estimated."""
    if unrecorded_per_known is None or candidates == 0:
        return 1.0
    return min(1.0, known * unrecorded_per_known / candidates)
