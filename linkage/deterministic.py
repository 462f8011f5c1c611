"""Deterministic linkage on identifiers: one value, one entity."""

from __future__ import annotations

from collections.abc import Sequence

from linkage._sql import Connection, materialise, quote_ident, sql_literal


def link_on_identifiers_sql(records: str, reference: str, id_fields: Sequence[str]) -> str:
    """Build the SELECT that links each record to the one entity holding its identifier.

    Fields are tried in order; the first field whose value belongs to exactly one entity
    decides. A value held by several entities is ambiguous and never linked on.

    Grain: one row per row of ``records`` (nothing is dropped).
    Columns: ``record_id``, ``entity_id`` (NULL unless linked), ``status`` (``linked`` /
    ``unlinked``), ``matched_on`` (the deciding field) and ``reason`` (``missing_id``,
    ``ambiguous_id`` or ``no_match`` for unlinked records).

    Args:
        records: table with ``record_id`` and a column per id field.
        reference: table ``(entity_id, field, value)`` of identifiers known per entity.
        id_fields: the fields to try, in order.
    """
    rec, ref = quote_ident(records), quote_ident(reference)
    candidates = " UNION ALL ".join(
        f"SELECT r.record_id, {i} AS priority, {sql_literal(f)} AS field, ref.entity_id "
        f"FROM {rec} AS r JOIN {ref} AS ref "
        f"ON ref.field = {sql_literal(f)} AND ref.value = r.{quote_ident(f)}"
        for i, f in enumerate(id_fields)
    )
    any_id = " OR ".join(f"r.{quote_ident(f)} IS NOT NULL" for f in id_fields)
    return f"""
WITH candidates AS ({candidates}),
per_field AS (
    SELECT record_id, priority, field, count(DISTINCT entity_id) AS n_entities,
           min(entity_id) AS entity_id
    FROM candidates GROUP BY record_id, priority, field
),
decided AS (
    SELECT record_id,
           arg_min(entity_id, priority) FILTER (WHERE n_entities = 1) AS entity_id,
           arg_min(field, priority) FILTER (WHERE n_entities = 1) AS matched_on,
           bool_or(n_entities > 1) AS any_ambiguous
    FROM per_field GROUP BY record_id
)
SELECT r.record_id, d.entity_id,
       CASE WHEN d.entity_id IS NOT NULL THEN 'linked' ELSE 'unlinked' END AS status,
       d.matched_on,
       CASE WHEN d.entity_id IS NOT NULL THEN NULL
            WHEN d.any_ambiguous THEN 'ambiguous_id'
            WHEN NOT ({any_id}) THEN 'missing_id'
            ELSE 'no_match' END AS reason
FROM {rec} AS r LEFT JOIN decided AS d USING (record_id)
"""


def link_on_identifiers(
    con: Connection, records: str, reference: str, id_fields: Sequence[str], output: str
) -> str:
    """Materialise :func:`link_on_identifiers_sql` as ``output`` and return its name."""
    return materialise(con, output, link_on_identifiers_sql(records, reference, id_fields))
