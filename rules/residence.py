"""Residence spells: who lived in the country when, from the events and the evidence of presence.

A spell begins at an immigration, or, for someone whose first event is an emigration or who has
no event but shows presence (a registration, activity), at their first presence; it ends at the
next emigration, at a death (a deregistration whose reason is a death code), or stays open
(``end_date`` NULL) at the end of the data. People with neither events nor presence (visitors,
records never linked) have no spell. The stock of residents on a day is the number of spells
covering it, which is what demographic accounting compares with the flows.

Tables: ``events`` (``person_id, event, date``), ``presence`` (as in rules.signs_of_life).
Columns out: ``person_id, start_date, end_date, start_basis ('immigration' | 'presence'),
end_basis ('emigration' | 'death' | NULL)``.
"""

from __future__ import annotations

from rules._sql import Engine, materialise, quote_ident, sql_in_list


def residence_spells_sql(events: str, presence: str, *, death_codes: tuple[str, ...] = ("death",),
                         never_resident: str | None = None) -> str:
    """Build the SELECT of residence spells (grain: one row per spell). People in
    ``never_resident`` (``person_id``: e.g. never active, see rules.signs_of_life) get no spell
    from presence alone."""
    e, p = quote_ident(events), quote_ident(presence)
    death = sql_in_list(death_codes)
    excluded = (f" AND person_id NOT IN (SELECT person_id FROM {quote_ident(never_resident)} "
                "WHERE person_id IS NOT NULL)" if never_resident else "")
    return f"""
WITH ordered AS (
    SELECT person_id, event, date,
           row_number() OVER (PARTITION BY person_id ORDER BY date, event) AS rn,
           lead(date) OVER (PARTITION BY person_id ORDER BY date, event) AS next_date,
           lead(event) OVER (PARTITION BY person_id ORDER BY date, event) AS next_event
    FROM (SELECT DISTINCT person_id, event, date FROM {e})
),
seen AS (
    SELECT person_id, min(start_date) AS first_seen,
           min(end_date) FILTER (WHERE kind = 'registration' AND reason IN ({death})) AS died
    FROM {p} WHERE person_id IS NOT NULL GROUP BY person_id
),
spells AS (
    SELECT person_id, date AS start_date, CASE WHEN next_event = 'emigration' THEN next_date END AS end_date,
           'immigration' AS start_basis
    FROM ordered WHERE event = 'immigration'
    UNION ALL
    SELECT o.person_id, s.first_seen, o.date, 'presence'
    FROM ordered AS o JOIN seen AS s USING (person_id)
    WHERE o.rn = 1 AND o.event = 'emigration' AND s.first_seen < o.date
    UNION ALL
    SELECT person_id, first_seen, NULL, 'presence' FROM seen
    WHERE person_id NOT IN (SELECT person_id FROM ordered) AND first_seen IS NOT NULL{excluded}
)
SELECT sp.person_id, sp.start_date,
       CASE WHEN sp.end_date IS NOT NULL THEN sp.end_date
            WHEN s.died >= sp.start_date THEN s.died END AS end_date,
       sp.start_basis,
       CASE WHEN sp.end_date IS NOT NULL THEN 'emigration'
            WHEN s.died >= sp.start_date THEN 'death' END AS end_basis
FROM spells AS sp LEFT JOIN seen AS s USING (person_id)
"""


def build_residence_spells(db: Engine, events: str, presence: str, output: str, *,
                           death_codes: tuple[str, ...] = ("death",), never_resident: str | None = None) -> str:
    """Materialise :func:`residence_spells_sql` as ``output``."""
    return materialise(db, output, residence_spells_sql(events, presence, death_codes=death_codes,
                                                         never_resident=never_resident))


def stock_on_1_january_sql(spells: str, first_year: int, last_year: int) -> str:
    """Residents on 1 January of each year from ``first_year`` to ``last_year``: the spells begun on
    or before the day and not ended on or before it. Columns: y (INTEGER), n."""
    day = "make_date(CAST(y AS INTEGER), 1, 1)"
    return f"""
        SELECT CAST(y AS INTEGER) AS y, count(s.start_date) AS n
        FROM range({int(first_year)}, {int(last_year) + 1}) AS r(y)
        LEFT JOIN {quote_ident(spells)} AS s ON s.start_date <= {day} AND (s.end_date IS NULL OR s.end_date > {day})
        GROUP BY y"""
