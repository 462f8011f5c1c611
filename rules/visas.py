"""Visa-aware rules: what visas say about residence that movements and activity do not.

- **Visitors** (ONS's First Arrival Last Departure method): a visit visa never makes a long-term
  migrant. A person whose every visa is of a visit type, and who shows no sign of living here (no
  registration, no activity), is a visitor, whatever their movements say: a missed exit would
  otherwise turn a fortnight's visit into a stay that never ended.
- **In-country grants**: a visa (not a visit visa) that starts while the person is here (their
  last movement before it is an entry, and no entry follows within ``ENTRY_AFTER_GRANT_DAYS``)
  was granted in the country. It is presence on its start date (kind ``visa_grant``): a visa
  transition keeps a person resident (the silence rule counts from it, not from earlier
  activity) but never starts a silence for someone with no activity. After a visit visa it
  starts the long-term count: the
  entry made as a visitor is not kept and an entry is imputed at the transition (source
  ``visa_transition``), because time as a visitor does not count towards a long-term stay.
- **First arrivals**: a visa granted abroad (of a type not in ``no_arrival_types``) starting
  inside the data, with signs of presence during it but no recorded entry, means an arrival
  nobody recorded (or that did not link): an entry is imputed the usual arrival lag after the
  visa's start (source ``visa``): how long after a visa's start its holders' first recorded entry
  comes, per visa type, estimated in the run (a visa starts when granted, people travel weeks
  later). In-country grants never impute an arrival (the person was already here), nor do
  types such as child visas, whose holders may be born here.

Time outside the country is not changed by a visa: more than a year away is an emigration even
while a visa is valid (holding a visa is not presence). Tables: ``visas`` (``person_id,
visa_type, start_date, end_date``), ``movements`` and ``presence`` as in rules.signs_of_life.
"""

from __future__ import annotations

from datetime import date

from rules._sql import Engine, append, estimate, materialise, quote_ident, sql_in_list, sql_literal, usual_lag_sql

#: Sources of the movements these rules add.
TRANSITION_SOURCE = "visa_transition"
ARRIVAL_SOURCE = "visa"
#: An entry this close before a visa's start (or any time during it) is the arrival it was for.
ARRIVAL_BEFORE_VISA_DAYS = 30
#: An entry this soon after a visa's start: the visa was granted abroad for it.
ENTRY_AFTER_GRANT_DAYS = 90
#: Presence reaching this close to a visa's start: the person was already here, no arrival.
PRESENT_BEFORE_VISA_DAYS = 90
#: First arrivals a visa type needs before its own arrival lag is used (else all types').
MIN_LAG_ARRIVALS = 30
#: First arrivals on a visa and their lag after its start (:func:`arrival_lags_sql`).
ARRIVALS_ON_VISAS = "rules__visa_first_arrivals"
#: How long after a visa's start its holder arrives, per type (:func:`usual_arrival_lags_sql`).
ARRIVAL_LAGS = "rules__visa_arrival_lags"


def visitors_sql(visas: str, presence: str, *, visit_types: tuple[str, ...] = ("visit",)) -> str:
    """Build the SELECT of ``person_id`` of visitors (grain: one row per person)."""
    return f"""
SELECT person_id FROM {quote_ident(visas)} GROUP BY person_id
HAVING bool_and(coalesce(visa_type IN ({sql_in_list(visit_types)}), FALSE))
   AND person_id NOT IN (SELECT person_id FROM {quote_ident(presence)} WHERE person_id IS NOT NULL)
"""


def find_visitors(db: Engine, visas: str, presence: str, output: str, *,
                  visit_types: tuple[str, ...] = ("visit",)) -> int:
    """Materialise :func:`visitors_sql` as ``output``; return how many visitors."""
    materialise(db, output, visitors_sql(visas, presence, visit_types=visit_types))
    return db.run(f"SELECT count(*) FROM {quote_ident(output)}")[0][0]


def in_country_grants_sql(visas: str, movements: str, *, visit_types: tuple[str, ...] = ("visit",)) -> str:
    """Build the SELECT of visas granted in the country: the person's last kept movement before
    the visa's start is an entry, and no entry follows soon after it (a visa granted abroad
    starts shortly before the entry it was for: the earlier entry's exit went unrecorded).
    Visit visas are left out: a visitor's new visit visa after a missed exit is no evidence of
    living here. Grain: one row per such visa; columns ``person_id, visa_type, start_date,
    end_date, entry_date`` (the entry they were here since)."""
    v, m = quote_ident(visas), quote_ident(movements)
    return f"""
WITH starts AS (SELECT DISTINCT person_id, start_date FROM {v} WHERE person_id IS NOT NULL AND start_date IS NOT NULL),
last_before AS (   -- per person and visa start, the last kept movement before it (ranked, not a lateral subquery,
                   -- which Spark plans as every visa against every movement)
    SELECT person_id, start_date, date, direction FROM (
        SELECT s.person_id, s.start_date, k.date, k.direction,
               row_number() OVER (PARTITION BY s.person_id, s.start_date ORDER BY k.date DESC, k.direction DESC) AS rank
        FROM starts AS s JOIN {m} AS k ON k.person_id = s.person_id AND k.kept AND k.date < s.start_date) AS ranked
    WHERE rank = 1
)
SELECT v.person_id, v.visa_type, v.start_date, v.end_date, last.date AS entry_date
FROM {v} AS v
JOIN last_before AS last ON last.person_id = v.person_id AND last.start_date = v.start_date AND last.direction = 'in'
WHERE v.person_id IS NOT NULL AND v.start_date IS NOT NULL
  AND NOT coalesce(v.visa_type IN ({sql_in_list(visit_types)}), FALSE)
  AND NOT EXISTS (SELECT 1 FROM {m} AS k WHERE k.person_id = v.person_id AND k.kept AND k.direction = 'in'
                  AND k.date BETWEEN v.start_date AND v.start_date + INTERVAL {ENTRY_AFTER_GRANT_DAYS} DAY)
"""


def visitor_entries_sql(grants: str, visas: str, movements: str, *,
                        visit_types: tuple[str, ...] = ("visit",)) -> str:
    """Build the SELECT of entries made as a visitor and followed by an in-country grant of another
    visa: ``person_id, entry_date, transition_date`` (the first such grant after the entry).
    An entry is made as a visitor when a visit visa was valid on its date and no other was."""
    g, v, m = (quote_ident(t) for t in (grants, visas, movements))
    types = sql_in_list(visit_types)
    return f"""
SELECT g.person_id, g.entry_date, min(g.start_date) AS transition_date
FROM {g} AS g
WHERE EXISTS (SELECT 1 FROM {v} AS x WHERE x.person_id = g.person_id AND x.visa_type IN ({types})
              AND g.entry_date BETWEEN x.start_date AND coalesce(x.end_date, g.entry_date))
  AND NOT EXISTS (SELECT 1 FROM {v} AS x WHERE x.person_id = g.person_id
                  AND NOT coalesce(x.visa_type IN ({types}), FALSE)
                  AND g.entry_date BETWEEN x.start_date AND coalesce(x.end_date, g.entry_date))
  AND EXISTS (SELECT 1 FROM {m} AS k WHERE k.person_id = g.person_id AND k.kept
              AND k.direction = 'in' AND k.date = g.entry_date)
GROUP BY g.person_id, g.entry_date
"""


def apply_visa_transitions(db: Engine, grants: str, visas: str, movements: str, *,
                           visit_types: tuple[str, ...] = ("visit",)) -> int:
    """Move the start of a stay from an entry made as a visitor to the in-country transition to
    another visa: the entry is no longer kept, an entry dated at the transition is added (source
    ``visa_transition``, flag ``imputed``). Return how many stays were moved."""
    staged = materialise(db, f"{movements}__visitor_entries",
                         visitor_entries_sql(grants, visas, movements, visit_types=visit_types))
    db.run(f"""
        UPDATE {quote_ident(movements)} AS k SET kept = FALSE
        FROM {quote_ident(staged)} AS e
        WHERE k.person_id = e.person_id AND k.date = e.entry_date AND k.direction = 'in'""")
    return append(db, movements, f"""
        SELECT person_id, {sql_literal(TRANSITION_SOURCE)} AS source, CAST(NULL AS VARCHAR) AS record_id,
               transition_date AS date, 'in' AS direction, 'imputed' AS flag, TRUE AS kept
        FROM {quote_ident(staged)}""")


def arrival_lags_sql(visas: str, grants: str, movements: str, *, visit_types: tuple[str, ...] = ("visit",),
                     no_arrival_types: tuple[str, ...] = ()) -> str:
    """Build the SELECT of first arrivals on a visa and how long after its start they came: people
    whose first recorded movement is an entry, from ``ARRIVAL_BEFORE_VISA_DAYS`` before the start
    of a visa granted abroad (not an in-country grant, nor a visit or ``no_arrival_types`` visa: the
    visas that may impute an arrival) to a year after it. Grain: one row per such visa. Columns:
    ``visa_type, days``."""
    v, g, m = quote_ident(visas), quote_ident(grants), quote_ident(movements)
    return f"""
WITH first_moves AS (
    SELECT person_id, min(date) AS first_move, arg_min(direction, strftime(date, '%Y%m%d') || direction) AS direction
    FROM {m} WHERE kept AND record_id IS NOT NULL GROUP BY 1
)
SELECT v.visa_type, datediff('day', v.start_date, f.first_move) AS days
FROM {v} AS v JOIN first_moves AS f ON f.person_id = v.person_id AND f.direction = 'in'
 AND f.first_move BETWEEN v.start_date - INTERVAL {ARRIVAL_BEFORE_VISA_DAYS} DAY AND v.start_date + INTERVAL 365 DAY
WHERE NOT coalesce(v.visa_type IN ({sql_in_list(visit_types + no_arrival_types)}), FALSE)
  AND NOT EXISTS (SELECT 1 FROM {g} AS x WHERE x.person_id = v.person_id AND x.start_date = v.start_date)"""


def usual_arrival_lags_sql(lags: str) -> str:
    """Build the SELECT of the usual arrival lag (rules._sql.usual_lag_sql: the most common, give or
    take a month) per visa type, and for all types together (``visa_type`` NULL), from a table of
    :func:`arrival_lags_sql`. Columns: ``visa_type, arrivals, days``."""
    t = quote_ident(lags)
    return f"""
SELECT visa_type, cases AS arrivals, days FROM ({usual_lag_sql(f"SELECT * FROM {t}", ("visa_type",))})
WHERE visa_type IS NOT NULL
UNION ALL
SELECT CAST(NULL AS VARCHAR), cases, days FROM ({usual_lag_sql(f"SELECT days FROM {t}")})"""


def imputed_arrivals_sql(visas: str, grants: str, movements: str, presence: str, lags: str, *, data_start: date,
                         visit_types: tuple[str, ...] = ("visit",),
                         no_arrival_types: tuple[str, ...] = ()) -> str:
    """Build the SELECT of arrivals imputed from visa starts, in the shape of ``movements``
    (source ``visa``, flag ``imputed``). Dated the usual arrival lag after the start (``lags``,
    from :func:`usual_arrival_lags_sql`: the visa type's where ``MIN_LAG_ARRIVALS`` arrivals show
    it, else all types', else none), no later than the first sign of presence during the visa
    and before the first movement during it. The arrival went unrecorded where no entry was
    recorded in the ``ARRIVAL_BEFORE_VISA_DAYS`` before the start and the first movement from the
    start is not an entry (an exit, or none: the entry back from a holiday is not the arrival),
    unless the person's movements before leave them here already. Grain: at most one row per visa."""
    v, g, m, p, lag = (quote_ident(t) for t in (visas, grants, movements, presence, lags))
    start = f"DATE {sql_literal(data_start.isoformat())}"
    return f"""
WITH usual AS (
    SELECT visa_type, days FROM {lag} WHERE visa_type IS NOT NULL AND arrivals >= {MIN_LAG_ARRIVALS}
),
overall AS (SELECT any_value(days) AS days FROM {lag} WHERE visa_type IS NULL AND arrivals >= {MIN_LAG_ARRIVALS}),
around AS (   -- the person's movements around each visa
    SELECT v.person_id, v.start_date, v.end_date,
           bool_or(k.direction = 'in' AND k.date < v.start_date) FILTER (
               WHERE k.date >= v.start_date - INTERVAL {ARRIVAL_BEFORE_VISA_DAYS} DAY) AS entered_before,
           min(k.date) FILTER (WHERE k.date >= v.start_date
                               AND k.date <= coalesce(v.end_date, DATE '9999-12-31')) AS first_move,
           arg_min(k.direction, (k.date, k.direction)) FILTER (
               WHERE k.date >= v.start_date AND k.date <= coalesce(v.end_date, DATE '9999-12-31')) AS first_direction,
           arg_max(k.direction, (k.date, k.direction)) FILTER (
               WHERE k.date < v.start_date - INTERVAL {ARRIVAL_BEFORE_VISA_DAYS} DAY) AS direction_before
    FROM (SELECT DISTINCT person_id, start_date, end_date FROM {v}) AS v
    JOIN {m} AS k ON k.person_id = v.person_id AND k.kept
    GROUP BY ALL
),
first_seen AS (   -- the first sign of presence during each visa (a join, not a correlated subquery: Spark
                  -- decorrelates that into every visa period against every piece of presence)
    SELECT v.person_id, v.start_date, v.end_date, min(e.start_date) AS first_seen
    FROM (SELECT DISTINCT person_id, start_date, end_date FROM {v}) AS v
    JOIN {p} AS e ON e.person_id = v.person_id AND e.start_date >= v.start_date
     AND e.start_date <= coalesce(v.end_date, DATE '9999-12-31')
    GROUP BY ALL
)
SELECT v.person_id, {sql_literal(ARRIVAL_SOURCE)} AS source, CAST(NULL AS VARCHAR) AS record_id,
       CAST(least(v.start_date + to_days(coalesce(u.days, o.days, 0)), f.first_seen,
                  a.first_move - 1) AS DATE) AS date,
       'in' AS direction, 'imputed' AS flag, TRUE AS kept
FROM {v} AS v LEFT JOIN usual AS u USING (visa_type)
LEFT JOIN around AS a ON a.person_id = v.person_id AND a.start_date = v.start_date
 AND a.end_date IS NOT DISTINCT FROM v.end_date
LEFT JOIN first_seen AS f ON f.person_id = v.person_id AND f.start_date = v.start_date
 AND f.end_date IS NOT DISTINCT FROM v.end_date, overall AS o
WHERE v.person_id IS NOT NULL
  AND v.start_date >= {start} + INTERVAL {ARRIVAL_BEFORE_VISA_DAYS} DAY   -- an entry could have been recorded
  AND NOT coalesce(v.visa_type IN ({sql_in_list(visit_types + no_arrival_types)}), FALSE)
  AND NOT EXISTS (SELECT 1 FROM {g} AS x WHERE x.person_id = v.person_id AND x.start_date = v.start_date)
  -- the arrival went unrecorded: no entry just before the start, and the first movement from it is
  -- not an entry; nor do the movements before leave the person here already
  AND NOT coalesce(a.entered_before, FALSE)
  AND coalesce(a.first_direction, 'out') <> 'in' AND coalesce(a.direction_before, 'out') <> 'in'
  AND EXISTS (SELECT 1 FROM {p} AS e WHERE e.person_id = v.person_id AND e.start_date >= v.start_date
              AND e.start_date <= coalesce(v.end_date, DATE '9999-12-31'))
  -- nor for someone already living here: present before the visa and until shortly before it
  AND NOT EXISTS (SELECT 1 FROM {p} AS e WHERE e.person_id = v.person_id
                  AND e.start_date < v.start_date - INTERVAL {ARRIVAL_BEFORE_VISA_DAYS} DAY
                  AND coalesce(e.end_date, CASE WHEN e.kind = 'registration' THEN DATE '9999-12-31'
                                                ELSE e.start_date END)
                      >= v.start_date - INTERVAL {PRESENT_BEFORE_VISA_DAYS} DAY)
QUALIFY row_number() OVER (PARTITION BY v.person_id, v.start_date ORDER BY v.visa_type) = 1
"""


def add_imputed_arrivals(db: Engine, visas: str, grants: str, movements: str, presence: str, *,
                         data_start: date, visit_types: tuple[str, ...] = ("visit",),
                         no_arrival_types: tuple[str, ...] = ()) -> int:
    """Insert :func:`imputed_arrivals_sql` rows into ``movements``; return how many. The arrival
    lags it estimates are left in ``ARRIVAL_LAGS``."""
    materialise(db, ARRIVALS_ON_VISAS, arrival_lags_sql(visas, grants, movements, visit_types=visit_types,
                                                         no_arrival_types=no_arrival_types))
    estimate(db, ARRIVAL_LAGS, usual_arrival_lags_sql(ARRIVALS_ON_VISAS))
    return append(db, movements, imputed_arrivals_sql(
        visas, grants, movements, presence, ARRIVAL_LAGS, data_start=data_start, visit_types=visit_types,
        no_arrival_types=no_arrival_types))
