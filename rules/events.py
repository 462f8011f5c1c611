"""Long-term migration events from stays and absences.

Three definitions (``rule`` in the events table):

- ``un_12_months`` (the default, UN 1998): a *continuous* stay or absence of ``min_days`` (365)
  changes the residence state. Trips abroad and visits home shorter than ``tolerance_days`` do
  not interrupt it: they are taken out first, the shortest first (:func:`remove_short_interruptions`).
  Consecutive remaining movements in the same direction form one period, starting at the first.
- ``12_in_16`` (New Zealand, Australia): a crossing changes the state when the person spends
  ``min_days`` (12 months) in the new state, in total, within ``window_days`` (16 months, 487
  days) after it; trips count by their days.
- ``cumulative_days``: the same count with any window and threshold (e.g. 183 days in 365).

Before the first long period the state is presumed from the first movement and presence:
someone whose first recorded movement is a departure, or who was present long before their first
movement, was living here, unless the time from their first presence through their stays and
absences before the first long period (counted on every movement, short trips and visits
included) was mostly spent abroad (a seasonal worker taxed for a season before their first
recorded entry, or whose first recorded crossing is a season's exit; someone with no presence at
all whose first movement is a departure stays resident). An event is a change of
state, dated at the arrival or departure that began it. A stay or absence still open at the end of the data that may yet reach ``min_days``
gives a provisional event.
"""

from __future__ import annotations

import logging
from datetime import date

from rules.errors import RuleError
from rules._sql import Engine, materialise, quote_ident, sql_literal

logger = logging.getLogger(__name__)

#: Sixteen months, the window of the 12-in-16 definition.
TWELVE_IN_SIXTEEN_WINDOW_DAYS = 487
#: Presence this many days before the first movement makes the person resident before it.
PRIOR_PRESENCE_DAYS = 30


#: The state before the first long period, where the movements before it do not show it (``fp``
#: the person's first presence, see _first_presence_sql). A first entry is a return where the
#: person was present well before it. A first departure shows the person was here, not for how
#: long: resident before it, unless their presence began before it but less than ``min_days``
#: before it (a seasonal worker's tax year, whose first recorded crossing is the season's exit):
#: then nothing shows the year here that residence takes. Presence that begins only after the
#: departure says nothing of the time before it, and without any the departure is all there is.
_PRESUMED_STATE = (f"CASE WHEN first_direction = 'out' THEN CASE WHEN fp.first_begun IS NULL "
                   f"OR fp.first_begun >= first_date OR fp.first_begun <= first_date - to_days(ub.min_days) "
                   f"THEN 'in' ELSE 'out' END "
                   f"WHEN fp.first_presence < first_date - INTERVAL {PRIOR_PRESENCE_DAYS} DAY THEN 'in' ELSE 'out' END")
#: A person is presumed resident before their first movement on the strength of earlier presence
#: (a tax year) or of that movement being a departure. Counting the time from that presence to the
#: first movement as time here, where it and the stays and absences before the first long period
#: (short trips and visits included: a season of 80 days is still a season) add up to a year or
#: more and most of it was spent abroad, the person was not living here: a seasonal worker who
#: comes for four months every year was never resident, and their last departure is no emigration,
#: whether the first movement the border recorded was a season's entry or its exit (someone
#: registered for years before their first recorded movement has those years here; someone with no
#: presence at all whose first movement is a departure stays presumed resident: nothing says
#: otherwise, and the departure says they were here). Spending more
#: time here than away in short spells does not make an arrival resident (under the UN definition
#: a stay of a year does). Until 2026-12 a first departure always made the person resident: in the
#: robustness benchmark's random worlds, seasonal workers whose first recorded crossing was an exit
#: emigrated when a season went unrecorded (random_2: worst year's emigration +37% → +30%).
_TIME_HERE_BEFORE = "coalesce(greatest(datediff('day', fp.first_presence, first_date), 0), 0)"
_INITIAL_STATE = (f"CASE WHEN {_PRESUMED_STATE} = 'in' AND (first_direction = 'in' OR fp.first_presence IS NOT NULL) "
                  f"AND ub.in_days + {_TIME_HERE_BEFORE} + ub.out_days >= ub.min_days "
                  f"AND ub.out_days > ub.in_days + {_TIME_HERE_BEFORE} "
                  f"THEN 'out' ELSE {_PRESUMED_STATE} END")


def _first_presence_sql(presence: str | None) -> str:
    """Each person's first day of presence: a registration is dated; other evidence (a tax year)
    shows presence at some time in its period, so counts from its end. And the day their first
    record of any kind began (``first_begun``)."""
    if not presence:
        return ("(SELECT CAST(NULL AS VARCHAR) AS person_id, CAST(NULL AS DATE) AS first_presence, "
                "CAST(NULL AS DATE) AS first_begun)")
    return (f"(SELECT person_id, min(CASE WHEN kind = 'registration' THEN start_date "
            f"ELSE coalesce(end_date, start_date) END) AS first_presence, "
            f"min(start_date) AS first_begun "
            f"FROM {quote_ident(presence)} GROUP BY person_id)")


def _state_changes_sql(judged: str, order: str, presence: str | None, rule: str,
                       provisional_source: str | None, min_days: int, spans: str | None = None) -> str:
    """The events both definitions end with: from ``judged`` (movements or periods with
    ``is_long``, ``may_be_long`` and ``span_days``), the state before each (the last long one's direction, else
    the presumed initial state) and a row per change of state. Only the first provisional change
    of a person counts: nothing after it can be judged yet. ``spans`` (``person_id, date,
    direction, span_days``: every movement, consecutive ones in one direction collapsed into the
    first, before short interruptions were taken out) gives the
    days in and out before the first long period; without it, ``judged``'s own spans."""
    if spans is None:
        usual_days = f"""before_first_long AS (
    SELECT *, NOT is_long AND NOT may_be_long AND NOT coalesce(
               bool_or(is_long) OVER ({order} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), FALSE) AS counts
    FROM {judged}
),"""
    else:   # a season of 80 days taken out as a short visit was still a season here and a winter away
        usual_days = f"""first_long AS (
    SELECT person_id, min(date) FILTER (WHERE is_long OR may_be_long) AS first_long FROM {judged} GROUP BY person_id
),
before_first_long AS (
    SELECT s.person_id, s.direction, s.span_days, s.date < coalesce(f.first_long, DATE '9999-12-31') AS counts
    FROM {quote_ident(spans)} AS s JOIN first_long AS f USING (person_id)
),"""
    return f"""{usual_days}
usual AS (   -- days in and out before the first long period (usual residence, see _INITIAL_STATE)
    SELECT person_id, coalesce(sum(span_days) FILTER (WHERE counts AND direction = 'in'), 0) AS in_days,
           coalesce(sum(span_days) FILTER (WHERE counts AND direction = 'out'), 0) AS out_days,
           {int(min_days)} AS min_days
    FROM before_first_long GROUP BY person_id
),
states AS (
    SELECT *, coalesce(
               last_value(CASE WHEN is_long THEN direction END IGNORE NULLS)
                   OVER ({order} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
               {_INITIAL_STATE}) AS prior_state
    FROM {judged} LEFT JOIN {_first_presence_sql(presence)} AS fp USING (person_id)
    LEFT JOIN usual AS ub USING (person_id)
)
SELECT person_id,
       CASE direction WHEN 'in' THEN 'immigration' ELSE 'emigration' END AS event,
       date, {sql_literal(rule)} AS rule, 'self' AS derived_via,
       CAST(NULL AS VARCHAR) AS parent_person_id,
       may_be_long OR coalesce(source = {sql_literal(provisional_source)}, FALSE) AS provisional
FROM states
WHERE (is_long OR may_be_long) AND direction <> prior_state
QUALIFY NOT may_be_long OR row_number() OVER (PARTITION BY person_id, may_be_long ORDER BY rn) = 1
"""


def derive_long_term_events_sql(sequence: str, *, data_end: date, min_days: int = 365,
                                rule: str = "un_12_months", presence: str | None = None,
                                provisional_source: str | None = None, spans: str | None = None) -> str:
    """Build the SELECT of immigration and emigration events from a movement sequence.

    Grain: one row per event. ``sequence`` is the output of :func:`remove_short_interruptions`
    (short trips and visits already out, visitors already left out): ``person_id, date,
    direction, source, first_date, first_direction``. ``presence`` (optional): ``person_id,
    kind, start_date, end_date`` of registrations and activity (see rules.signs_of_life). Someone
    registered, or whose activity period ended, more than ``PRIOR_PRESENCE_DAYS`` before their
    first movement (``first_date``, before short trips were taken out) was living here: an entry
    is then a return, not an arrival, even when the exit before it was never recorded (unless
    most of the time since was spent abroad: see ``_INITIAL_STATE``; counted over ``spans``, the
    movements before short trips and visits were taken out, where given).
    A stay or absence still open at the end of the data that has not lasted ``min_days`` yet gives a
    *provisional* event (``provisional`` true): it is confirmed, or not, by later data. So does a
    period begun by a movement from ``provisional_source`` (a departure imputed from a silence
    not yet long enough to be sure, see rules.signs_of_life).
    Columns out: ``person_id, event, date, rule, derived_via, parent_person_id, provisional``.
    """
    end = f"DATE {sql_literal(data_end.isoformat())}"
    order = "PARTITION BY person_id ORDER BY date, direction, source"
    return f"""
WITH period_starts AS (   -- consecutive movements in one direction are one period, from the first
    SELECT * FROM (
        SELECT *, lag(direction) OVER ({order}) AS previous_direction FROM {quote_ident(sequence)})
    WHERE previous_direction IS NULL OR previous_direction <> direction
),
periods AS (
    SELECT *, datediff('day', date, coalesce(lead(date) OVER ({order}), {end})) AS span_days,
           lead(date) OVER ({order}) IS NULL AS is_open
    FROM period_starts
),
judged AS (   -- an open period not yet min_days long may still become one
    SELECT *, span_days >= {int(min_days)} AS is_long, span_days < {int(min_days)} AND is_open AS may_be_long
    FROM periods
),
{_state_changes_sql("judged", order, presence, rule, provisional_source, min_days, spans)}"""


def derive_cumulative_events_sql(sequence: str, *, data_end: date, min_days: int, window_days: int,
                                 rule: str = "12_in_16", presence: str | None = None,
                                 provisional_source: str | None = None) -> str:
    """Build the SELECT of events under a cumulative-days definition (``12_in_16``, ``cumulative_days``).

    A movement *qualifies* when the person spends at least ``min_days`` in the state it begins
    (here after an entry, away after an exit), in total, in the ``window_days`` after it. The
    state changes at a qualifying movement whose direction differs from the state before it
    (the last qualifying movement's, else the presumed initial state). When the window runs past
    the end of the data and the person is in that state on its last day, the movement is
    provisional if the days still to come could reach ``min_days``. (Counting the days to come
    for someone already back would make every resident's trip in the last months a provisional
    emigration: at 20k, event F1 0.967 fell to 0.866.) ``sequence`` as for
    :func:`derive_long_term_events_sql` (no trips taken out: they count by their days).
    Columns out as there.
    """
    end = f"DATE {sql_literal(data_end.isoformat())}"
    seq = quote_ident(sequence)
    order = "PARTITION BY person_id ORDER BY rn"
    before = "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING"
    return f"""
WITH spans AS (   -- each movement's state lasts until the next movement or the end of the data
    SELECT *, coalesce(lead(date) OVER ({order}), {end}) AS until, lead(date) OVER ({order}) IS NULL AS is_last,
           last_value(direction) OVER ({order} ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
               AS state_at_end
    FROM {seq}
),
running AS (      -- days spent in each state before each span begins
    SELECT *,
           coalesce(sum(CASE WHEN direction = 'in' THEN datediff('day', date, until) END)
                    OVER ({order} {before}), 0) AS in_before,
           coalesce(sum(CASE WHEN direction = 'out' THEN datediff('day', date, until) END)
                    OVER ({order} {before}), 0) AS out_before,
           CAST(date + INTERVAL {int(window_days)} DAY AS DATE) AS window_end
    FROM spans
),
counted AS (      -- days in the movement's state up to its window's end, less those before it:
                  -- the span holding the window's end found by an as-of join (n log n, not n squared)
    SELECT m.*,
           CASE WHEN m.direction = 'in' THEN s.in_before ELSE s.out_before END
           + CASE WHEN s.direction = m.direction
                  THEN datediff('day', s.date, least(s.until, m.window_end)) ELSE 0 END
           - CASE WHEN m.direction = 'in' THEN m.in_before ELSE m.out_before END AS days_in_state
    FROM running AS m
    ASOF JOIN (SELECT * FROM running WHERE until > date OR is_last) AS s   -- not a same-day span of no length
      ON s.person_id = m.person_id AND m.window_end >= s.date
),
judged AS (
    SELECT *, datediff('day', date, until) AS span_days, days_in_state >= {int(min_days)} AS is_long,
           days_in_state < {int(min_days)} AND state_at_end = direction
               AND days_in_state + greatest(0, datediff('day', {end}, window_end)) >= {int(min_days)} AS may_be_long
    FROM counted
),
{_state_changes_sql("judged", order, presence, rule, provisional_source, min_days)}"""


def remove_short_interruptions(db: Engine, movements: str, output: str, *, data_end: date,
                               tolerance_days: int = 90, visitors: str | None = None,
                               provisional_source: str | None = None, max_rounds: int = 200) -> str:
    """Materialise the movements that matter for residence: short trips and visits taken out.

    A trip abroad (an exit, then an entry within ``tolerance_days``) does not interrupt a stay,
    and a visit (an entry, then an exit within it) does not interrupt an absence. Each round takes
    out, per person, the pairs whose interruption is shorter than the ones beside it (the
    shortest first), until none is left: an immigrant who takes a four-day trip five weeks after
    arriving keeps the arrival (the trip goes), where judging each movement by the time to the
    next one alone would have dated the immigration at the return from the trip.
    Consecutive movements in one direction are one period, from the first, before anything is taken
    out (an entry imputed from a registration and another from a visa a week later, then an exit
    a month after: a stay of a month, not a visit inside a stay that never ended).
    Columns out: ``person_id, date, direction, source, kept`` (kept always true), and the person's
    ``first_date`` and ``first_direction`` before anything was taken out.
    """
    m = quote_ident(movements)
    end = f"DATE {sql_literal(data_end.isoformat())}"
    source = "source" if provisional_source else "CAST(NULL AS VARCHAR)"
    not_visitor = f" AND person_id NOT IN (SELECT person_id FROM {quote_ident(visitors)})" if visitors else ""
    out = quote_ident(output)
    materialise(db, output, f"""
        SELECT person_id, date, direction, {source} AS source, TRUE AS kept,
               row_number() OVER (PARTITION BY person_id ORDER BY date, direction, {source}) AS rn,
               min(date) OVER (PARTITION BY person_id) AS first_date,
               first_value(direction) OVER (PARTITION BY person_id ORDER BY date, direction, {source})
                   AS first_direction
        FROM {m} WHERE kept AND date <= {end}{not_visitor}""")
    if tolerance_days <= 0:   # no gap is shorter than zero days (the cumulative definitions)
        return output
    window = "PARTITION BY person_id ORDER BY rn"
    # consecutive movements in one direction are one period, from the first (as the events read
    # them): otherwise the second of two entries and the exit after it look like a short visit, and
    # taking them out leaves the first entry a stay that never ended
    db.run(f"""
        DELETE FROM {out} AS t USING (
            SELECT person_id, rn FROM (SELECT person_id, rn, direction, lag(direction) OVER ({window}) AS previous
                                       FROM {out}) WHERE previous = direction) AS s
        WHERE t.person_id = s.person_id AND t.rn = s.rn""")
    # how long each stay and absence lasted before anything is taken out (usual residence)
    materialise(db, f"{output}__spans", f"""
        SELECT person_id, date, direction,
               datediff('day', date, coalesce(lead(date) OVER ({window}), {end})) AS span_days
        FROM {out}""")
    for _ in range(max_rounds):
        removed = db.run(f"""
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
            WHERE t.person_id = s.person_id AND t.rn IN (s.rn, s.next_rn)""")[0][0]
        if not removed:
            break
    else:
        logger.warning("%s: short trips still left after %d rounds (equal gaps in a long series)", output, max_rounds)
    return output


def derive_long_term_events(db: Engine, movements: str, output: str, *, data_end: date,
                            min_days: int = 365, tolerance_days: int = 90, presence: str | None = None,
                            visitors: str | None = None, provisional_source: str | None = None,
                            definition: str = "un_12_months", window_days: int | None = None) -> str:
    """Materialise the events under ``definition``: for ``un_12_months`` short interruptions are
    taken out first (see :func:`remove_short_interruptions`), then :func:`derive_long_term_events_sql`;
    for ``12_in_16`` and ``cumulative_days`` every movement stays and
    :func:`derive_cumulative_events_sql` counts days in ``window_days`` (487 for ``12_in_16``)."""
    cumulative = definition != "un_12_months"
    if cumulative and window_days is None:
        if definition != "12_in_16":
            raise RuleError(f"rules.events.window_days: the {definition} definition needs a window")
        window_days = TWELVE_IN_SIXTEEN_WINDOW_DAYS
    sequence = remove_short_interruptions(db, movements, f"{output}__sequence", data_end=data_end,
                                          tolerance_days=0 if cumulative else tolerance_days, visitors=visitors,
                                          provisional_source=provisional_source)
    if cumulative:
        sql = derive_cumulative_events_sql(sequence, data_end=data_end, min_days=min_days, window_days=window_days,
                                           rule=definition, presence=presence, provisional_source=provisional_source)
    else:
        sql = derive_long_term_events_sql(sequence, data_end=data_end, min_days=min_days, presence=presence,
                                          provisional_source=provisional_source,
                                          spans=f"{sequence}__spans" if tolerance_days > 0 else None)
    return materialise(db, output, sql)
