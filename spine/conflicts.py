"""Resolve each person's attributes from every linked record, keeping the provenance.

This first cut has one policy, ``source_priority``: the value from the highest-ranked source
(the base register first, then sources in job order) wins; ties go to the value seen in more
records, then to the smaller value, so the choice is deterministic. Issue 4 adds the others.
"""

from __future__ import annotations

import duckdb

from linkage._sql import materialise, quote_ident, sql_literal

ATTRIBUTES = ("first_name", "surname", "dob", "sex", "nationality", "country_of_birth")
POLICY = "source_priority"


def build_attribute_values(con: duckdb.DuckDBPyConnection, linked_records: str) -> str:
    """Materialise ``attribute_values``: one row per person, attribute, distinct value and source.

    Columns: person_id, attribute, value, source, chosen, policy, n_records.
    """
    unpivot = " UNION ALL ".join(
        f"SELECT person_id, source, source_rank, {sql_literal(a)} AS attribute, "
        f"CAST({a} AS VARCHAR) AS value FROM {quote_ident(linked_records)} WHERE {a} IS NOT NULL"
        for a in ATTRIBUTES)
    return materialise(con, "attribute_values", f"""
        WITH seen AS (
            SELECT person_id, attribute, value, source,
                   min(source_rank) AS source_rank, count(*) AS n_records
            FROM ({unpivot}) GROUP BY person_id, attribute, value, source
        )
        SELECT person_id, attribute, value, source,
               row_number() OVER (PARTITION BY person_id, attribute
                                  ORDER BY source_rank, n_records DESC, value) = 1 AS chosen,
               {sql_literal(POLICY)} AS policy, n_records
        FROM seen""")


def build_persons(con: duckdb.DuckDBPyConnection, base_links: str) -> str:
    """Materialise ``persons``: one row per spine person (merged base duplicates once) with the chosen values."""
    pivots = ", ".join(
        f"max(value) FILTER (WHERE attribute = {sql_literal(a)}) AS {a}" for a in ATTRIBUTES)
    return materialise(con, "persons", f"""
        WITH chosen AS (
            SELECT person_id, {pivots} FROM attribute_values WHERE chosen GROUP BY person_id
        )
        SELECT b.entity_id AS person_id, 'base' AS origin, c.first_name, c.surname,
               CAST(c.dob AS DATE) AS dob, c.sex, c.nationality, c.country_of_birth
        FROM (SELECT DISTINCT entity_id FROM {quote_ident(base_links)} WHERE status = 'linked') AS b
        LEFT JOIN chosen AS c ON c.person_id = b.entity_id""")
