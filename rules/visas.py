"""Visa-aware rules: people who only ever came as visitors are never long-term migrants.

A visit visa never makes a long-term migrant (ONS's First Arrival Last Departure method): a person
whose every visa is of a visit type, and who shows no sign of living here (no registration, no
activity), is a visitor, whatever their movements say. A missed exit would otherwise turn a
fortnight's visit into a stay that never ended. The ``visas`` table: ``person_id, visa_type``;
``presence`` as in rules.signs_of_life.
"""

from __future__ import annotations

from rules._sql import Connection, materialise, quote_ident, sql_literal


def visitors_sql(visas: str, presence: str, *, visit_types: tuple[str, ...] = ("visit",)) -> str:
    """Build the SELECT of ``person_id`` of visitors (grain: one row per person)."""
    types = ", ".join(sql_literal(t) for t in visit_types) or "NULL"
    return f"""
SELECT person_id FROM {quote_ident(visas)} GROUP BY person_id
HAVING bool_and(coalesce(visa_type IN ({types}), FALSE))
   AND person_id NOT IN (SELECT person_id FROM {quote_ident(presence)} WHERE person_id IS NOT NULL)
"""


def find_visitors(con: Connection, visas: str, presence: str, output: str, *,
                  visit_types: tuple[str, ...] = ("visit",)) -> int:
    """Materialise :func:`visitors_sql` as ``output``; return how many visitors."""
    materialise(con, output, visitors_sql(visas, presence, visit_types=visit_types))
    return con.execute(f"SELECT count(*) FROM {quote_ident(output)}").fetchall()[0][0]
