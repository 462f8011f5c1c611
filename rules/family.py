"""Family association: dependants inherit their parent's migration events.

Dependants often have no movements of their own (no passport record, no tax record): US IDIM
counts dependants on foreign-born tax returns, Canada links immigrant children to parents through
child benefit data. A dependant with no kept movement and no event of its own takes its parent's
events (``derived_via = family``, ``parent_person_id``) when they are consistent with the child
having moved with the parent: born before the move; for an immigration, not present here more
than ``PRIOR_PRESENCE_DAYS`` before it; for an emigration, no sign of presence more than
``GRACE_DAYS`` after it, and not still registered (a registered child who stayed is not a
dependant who left). A child on claims of two parents follows the parent with the smaller id.

Families often follow months later. How much later is estimated in the run from the dependants
whose own arrival was recorded (:func:`follow_lag_sql`: the usual days from the parent's
immigration to the child's, give or take a month); an inherited immigration is dated that long
after the parent's, never after the child's first sign of presence. Where families arrive
together the usual lag is 0.

Tables: ``dependants`` (``child_person_id, parent_person_id, child_dob``), ``events`` (self
events), ``movements``, ``presence`` (as in rules.signs_of_life).
"""

from __future__ import annotations

from rules._sql import Engine, append, estimate, quote_ident, usual_lag_sql

#: Presence of the child this long before the parent's immigration: the child was already here.
PRIOR_PRESENCE_DAYS = 30
#: Presence of the child this long after the parent's emigration: the child stayed.
GRACE_DAYS = 90
#: Dependants with their own recorded arrival needed before the follow lag is estimated (else 0).
MIN_FOLLOW_CASES = 30
#: The usual days from a parent's immigration to their dependant's (:func:`follow_lag_sql`).
FOLLOW_LAG = "rules__family_follow_lag"


def _one_parent_sql(dependants: str) -> str:
    """Each dependant once, with the parent of the smaller id (a child on two parents' claims)."""
    return (f"SELECT * FROM {dependants} "
            "QUALIFY row_number() OVER (PARTITION BY child_person_id ORDER BY parent_person_id) = 1")


def follow_lag_sql(dependants: str, events: str) -> str:
    """Build the one-row SELECT of how long after their parent dependants arrive (``days``, and the
    ``cases`` it was seen in: dependants): the usual days (give or take a month) from the parent's
    immigration to the child's own, among dependants whose own immigration is an event, up to two
    years after the parent's (or a month before); one per child, the closest pair."""
    d, e = quote_ident(dependants), quote_ident(events)
    return usual_lag_sql(f"""
        WITH one_parent AS ({_one_parent_sql(d)})
        SELECT arg_min(datediff('day', pe.date, ce.date), abs(datediff('day', pe.date, ce.date))) AS days
        FROM one_parent AS o
        JOIN {e} AS pe ON pe.person_id = o.parent_person_id AND pe.event = 'immigration' AND pe.derived_via = 'self'
        JOIN {e} AS ce ON ce.person_id = o.child_person_id AND ce.event = 'immigration' AND ce.derived_via = 'self'
        WHERE ce.date BETWEEN pe.date - INTERVAL 31 DAY AND pe.date + INTERVAL 730 DAY
        GROUP BY o.child_person_id""")


def family_events_sql(dependants: str, events: str, movements: str, presence: str, lag: str | None = None) -> str:
    """Build the SELECT of family-derived events (grain: one row per child and inherited event).
    ``lag``: a table from :func:`follow_lag_sql` (an immigration is dated that long after the
    parent's where ``MIN_FOLLOW_CASES`` showed it); none: at the parent's date."""
    d, e, m, p = (quote_ident(t) for t in (dependants, events, movements, presence))
    follow = (f"SELECT coalesce(any_value(days) FILTER (WHERE cases >= {MIN_FOLLOW_CASES}), 0) AS days "
              f"FROM {quote_ident(lag)}" if lag else "SELECT 0 AS days")
    return f"""
WITH follow AS ({follow}),
one_parent AS ({_one_parent_sql(d)}),
own AS (
    SELECT person_id FROM {m} WHERE kept
    UNION SELECT person_id FROM {e}
),
child_presence AS (
    SELECT person_id, min(start_date) AS first_seen,
           max(CASE WHEN kind = 'registration' AND end_date IS NULL THEN DATE '9999-12-31'   -- still registered
                    ELSE coalesce(end_date, start_date) END) AS last_seen
    FROM {p} GROUP BY person_id
)
SELECT o.child_person_id AS person_id, ev.event,
       CASE WHEN ev.event = 'immigration'    -- the usual follow lag later, not after the child was seen here
            THEN CAST(greatest(ev.date, least(ev.date + to_days(f.days), coalesce(cp.first_seen, DATE '9999-12-31')))
                      AS DATE)
            ELSE ev.date END AS date,
       ev.rule, 'family' AS derived_via, o.parent_person_id, ev.provisional
FROM one_parent AS o
JOIN {e} AS ev ON ev.person_id = o.parent_person_id AND ev.derived_via = 'self'
LEFT JOIN child_presence AS cp ON cp.person_id = o.child_person_id, follow AS f
WHERE o.child_person_id NOT IN (SELECT person_id FROM own WHERE person_id IS NOT NULL)
  AND (o.child_dob IS NULL OR o.child_dob < ev.date)
  AND NOT (ev.event = 'immigration' AND coalesce(cp.first_seen < ev.date - INTERVAL {PRIOR_PRESENCE_DAYS} DAY, FALSE))
  AND NOT (ev.event = 'emigration' AND coalesce(cp.last_seen > ev.date + INTERVAL {GRACE_DAYS} DAY, FALSE))
"""


def add_family_events(db: Engine, dependants: str, events: str, movements: str, presence: str) -> int:
    """Append :func:`family_events_sql` rows to ``events``, immigrations the usual follow lag after
    the parent's (estimated first, left in ``FOLLOW_LAG``); return how many."""
    estimate(db, FOLLOW_LAG, follow_lag_sql(dependants, events))
    return append(db, events, family_events_sql(dependants, events, movements, presence, FOLLOW_LAG))
