"""Family association: dependants inherit their parent's migration events.

Dependants often have no movements of their own (no passport record, no tax record): US IDIM
counts dependants on foreign-born tax returns, Canada links immigrant children to parents through
child benefit data. A dependant with no kept movement and no event of its own takes its parent's
events (``derived_via = family``, ``parent_person_id``) when they are consistent with the child
having moved with the parent: born before the move; for an immigration, not present here more
than ``PRIOR_PRESENCE_DAYS`` before it; for an emigration, no sign of presence more than
``GRACE_DAYS`` after it, and not still registered (a registered child who stayed is not a
dependant who left). A child on claims of two parents follows the parent with the smaller id.

Tables: ``dependants`` (``child_person_id, parent_person_id, child_dob``), ``events`` (self
events), ``movements``, ``presence`` (as in rules.signs_of_life).
"""

from __future__ import annotations

from rules._sql import Connection, append, quote_ident

#: Presence of the child this long before the parent's immigration: the child was already here.
PRIOR_PRESENCE_DAYS = 30
#: Presence of the child this long after the parent's emigration: the child stayed.
GRACE_DAYS = 90


def family_events_sql(dependants: str, events: str, movements: str, presence: str) -> str:
    """Build the SELECT of family-derived events (grain: one row per child and inherited event)."""
    d, e, m, p = (quote_ident(t) for t in (dependants, events, movements, presence))
    return f"""
WITH one_parent AS (
    SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY child_person_id ORDER BY parent_person_id) AS r
                   FROM {d}) WHERE r = 1
),
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
SELECT o.child_person_id AS person_id, ev.event, ev.date, ev.rule, 'family' AS derived_via,
       o.parent_person_id, ev.provisional
FROM one_parent AS o
JOIN {e} AS ev ON ev.person_id = o.parent_person_id AND ev.derived_via = 'self'
LEFT JOIN child_presence AS cp ON cp.person_id = o.child_person_id
WHERE o.child_person_id NOT IN (SELECT person_id FROM own WHERE person_id IS NOT NULL)
  AND (o.child_dob IS NULL OR o.child_dob < ev.date)
  AND NOT (ev.event = 'immigration' AND coalesce(cp.first_seen < ev.date - INTERVAL {PRIOR_PRESENCE_DAYS} DAY, FALSE))
  AND NOT (ev.event = 'emigration' AND coalesce(cp.last_seen > ev.date + INTERVAL {GRACE_DAYS} DAY, FALSE))
"""


def add_family_events(con: Connection, dependants: str, events: str, movements: str, presence: str) -> int:
    """Append :func:`family_events_sql` rows to ``events``; return how many."""
    return append(con, events, family_events_sql(dependants, events, movements, presence))
