"""Early leavers: how many of the latest arrivals will leave before their 12 months are up.

An arrival in the last 12 months of the data gives a *provisional* immigration: it may yet become
a long-term one, or the person may leave first (ONS: early leavers). How often is estimated from
the data itself, in the situation the latest arrivals are in: the events are derived again as if
the data had ended one, two, three and four years earlier (the same movements and evidence up to
that day), and each provisional immigration of those earlier ends is checked against the events
the whole data gives: did it become a long-term immigration (an immigration of the person within
``MATCH_DAYS`` of it), or did the person leave early? The share who left early is estimated per
subgroup (reason (visa type at arrival, where a visa source is given) x citizenship group x age
group), shrunk towards the year's overall share; as ONS does, the level is the mean of the latest
two years and its uncertainty the spread over four, drawn in each uncertainty replicate. Each
provisional immigration of the real end counts ``1 - share`` of an immigration in the flows
(``EARLY_LEAVER_WEIGHTS``). Conditioning on the same data situation (the arrival is as recent, and
short visits have been taken out in the same way) improves on a share of all arrivals.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import numpy as np

from rules._sql import Engine, estimate, is_pinned, materialise, quote_ident

EARLY_LEAVERS = "rules__early_leavers"
EARLY_LEAVER_WEIGHTS = "rules__early_leaver_weights"
#: The provisional immigrations of the real end, each with its subgroup.
EARLY_LEAVER_ARRIVALS = "rules__early_leaver_arrivals"
#: A provisional immigration became long-term if the whole data gives an immigration this close to it.
MATCH_DAYS = 31
#: Earlier data ends tried, in years before the real one (ONS: the latest two for the level, four for the spread).
YEARS_BACK = (1, 2, 3, 4)
#: A subgroup's share is shrunk towards the overall one as if this many more arrivals had been seen.
PRIOR_ARRIVALS = 10


def _groups_sql(table: str, people: str, visas: str | None, age_groups: list[int]) -> str:
    """Each provisional immigration of ``table`` with its subgroup: visa type at arrival (``none``
    without one, ``unknown`` without a visa source), citizenship group, age group at arrival."""
    bounds = age_groups + [200]
    age = "datesub('year', w.dob, e.date)"
    labels = " ".join(f"WHEN {age} < {hi} THEN '{lo}-{hi - 1}'" for lo, hi in zip(bounds, bounds[1:-1]))
    if not visas:
        return f"""
        SELECT e.person_id, e.date, 'unknown' AS reason, coalesce(w.citizenship_group, 'unknown') AS citizenship_group,
               CASE WHEN w.dob IS NULL THEN 'unknown' {labels} ELSE '{bounds[-2]}+' END AS age_group
        FROM {quote_ident(table)} AS e LEFT JOIN {quote_ident(people)} AS w USING (person_id)
        WHERE e.event = 'immigration' AND e.provisional AND e.derived_via = 'self'"""
    # the reason is the visa begun by 60 days after the arrival, not ended before it, the latest one
    # (a join, each arrival numbered to stay one row, not a correlated subquery: Spark runs it too)
    return f"""
        SELECT e.person_id, e.date, coalesce(v.visa_type, 'none') AS reason,
               coalesce(e.citizenship_group, 'unknown') AS citizenship_group,
               CASE WHEN e.dob IS NULL THEN 'unknown' {labels.replace("w.dob", "e.dob")}
                    ELSE '{bounds[-2]}+' END AS age_group
        FROM (SELECT row_number() OVER () AS arrival, e.person_id, e.date, w.dob, w.citizenship_group
              FROM {quote_ident(table)} AS e LEFT JOIN {quote_ident(people)} AS w USING (person_id)
              WHERE e.event = 'immigration' AND e.provisional AND e.derived_via = 'self') AS e
        LEFT JOIN {quote_ident(visas)} AS v ON v.person_id = e.person_id
             AND v.start_date <= e.date + INTERVAL 60 DAY AND coalesce(v.end_date, e.date) >= e.date
        QUALIFY row_number() OVER (PARTITION BY e.arrival ORDER BY v.start_date DESC, v.visa_type) = 1"""


def _estimate_shares(db: Engine, derive_at: Callable[[date, str], str], events: str, people: str, *,
                     data_end: date, visas: str | None, age_groups: list[int]) -> None:
    """``EARLY_LEAVERS``: per earlier end and subgroup, the provisional immigrations then and how many
    of them the whole data shows leaving early."""
    parts = []
    for years in YEARS_BACK:
        end = data_end - timedelta(days=round(365.25 * years))
        earlier = derive_at(end, f"rules__events_ended_{years}y_earlier")
        groups = _groups_sql(earlier, people, visas, age_groups)
        parts.append(f"""
            SELECT {years} AS years_back, g.reason, g.citizenship_group, g.age_group, count(*) AS provisional,
                   count(*) FILTER (WHERE c.person_id IS NULL) AS left_early
            FROM ({groups}) AS g
            LEFT JOIN (   -- arrivals the whole data confirms (a long-term immigration within a month)
                SELECT DISTINCT g.person_id, g.date FROM ({groups}) AS g JOIN {quote_ident(events)} AS f
                ON f.person_id = g.person_id AND f.event = 'immigration' AND NOT f.provisional
                   AND abs(datediff('day', f.date, g.date)) <= {MATCH_DAYS}) AS c USING (person_id, date)
            GROUP BY ALL""")
    estimate(db, EARLY_LEAVERS, " UNION ALL ".join(parts))


def estimate_early_leavers(db: Engine, derive_at: Callable[[date, str], str], events: str, people: str, *,
                           data_end: date, visas: str | None, age_groups: list[int],
                           draw: np.random.Generator | None = None,
                           merge: Callable[[str], str] | None = None) -> dict[str, Any]:
    """Estimate the early-leaver shares and materialise the weight of each provisional immigration.

    ``derive_at(day, output)`` derives the events as if the data ended on ``day`` into table
    ``output`` (the rules' own event step, with the same settings) and returns its name;
    ``events``: the events of the whole data (own ones: ``person_id, event, date, provisional,
    derived_via``); ``people``: ``person_id, dob, citizenship_group``. ``draw``: a generator for an
    uncertainty replicate (the level drawn from a normal with the latest two years' mean and the
    four years' spread); None: the level itself. Materialises ``EARLY_LEAVERS`` (per year back and
    subgroup: provisional immigrations, of them early leavers; left as it is where pinned, and the
    earlier ends not derived), ``EARLY_LEAVER_ARRIVALS`` (each provisional immigration with its
    subgroup; ``merge(table)``, when given, a SELECT of it with other persons' added) and
    ``EARLY_LEAVER_WEIGHTS`` (``person_id, date, early_leaver_share, weight``); returns the
    quality.json section.
    """
    if not is_pinned(db, EARLY_LEAVERS):
        _estimate_shares(db, derive_at, events, people, data_end=data_end, visas=visas, age_groups=age_groups)
    yearly = dict(db.run(f"""SELECT years_back, sum(left_early) / nullif(sum(provisional), 0)
                                  FROM {EARLY_LEAVERS} GROUP BY 1"""))
    shares = [yearly.get(y) for y in YEARS_BACK]
    latest = [s for s in shares[:2] if s is not None]
    level = float(np.mean(latest)) if latest else None
    spread = float(np.std([s for s in shares if s is not None], ddof=1)) if sum(s is not None for s in shares) > 1 else 0.0
    drawn = level
    if level is not None and draw is not None:
        drawn = float(np.clip(draw.normal(level, spread), 0.0, 1.0))
    scale = drawn / level if level else 1.0
    m = PRIOR_ARRIVALS
    latest_years = ", ".join(str(y) for y in YEARS_BACK[:2])
    materialise(db, EARLY_LEAVER_ARRIVALS, _groups_sql(events, people, visas, age_groups))
    if merge is not None:
        materialise(db, EARLY_LEAVER_ARRIVALS, merge(EARLY_LEAVER_ARRIVALS))   # rewritten in place
    materialise(db, EARLY_LEAVER_WEIGHTS, f"""
        WITH rates AS (
            SELECT reason, citizenship_group, age_group,
                   least(1.0, {scale!r} * (sum(left_early) + {m} * {level or 0.0!r}) / (sum(provisional) + {m})) AS share
            FROM {EARLY_LEAVERS} WHERE years_back IN ({latest_years}) GROUP BY ALL),
        now AS (SELECT * FROM {EARLY_LEAVER_ARRIVALS})
        SELECT n.person_id, n.date, coalesce(r.share, {(drawn or 0.0)!r}) AS early_leaver_share,
               1 - coalesce(r.share, {(drawn or 0.0)!r}) AS weight
        FROM now AS n LEFT JOIN rates AS r USING (reason, citizenship_group, age_group)""")
    weighted, n = db.run(f"SELECT sum(weight), count(*) FROM {EARLY_LEAVER_WEIGHTS}")[0]
    return {"years_back": list(YEARS_BACK),
            "share_by_year_back": {str(y): None if s is None else round(s, 4) for y, s in zip(YEARS_BACK, shares)},
            "level": None if level is None else round(level, 4), "spread": round(spread, 4),
            "drawn": None if drawn is None or draw is None else round(drawn, 4),
            "provisional_immigrations": int(n), "expected_long_term": None if weighted is None else round(weighted, 1)}
