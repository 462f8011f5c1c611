"""Deterministic linkage on identifiers: one value, one entity.

An identifier links only when its value is valid (matches the field's pattern, if one is given) and
belongs to exactly one entity. Because identifiers are mistyped, reused and shared in real
registers, :func:`check_id_links` compares time-invariant fields on every identifier link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from linkage._sql import Engine, materialise, quote_ident, sql_literal
from linkage.comparisons import same_date_sql
from linkage.errors import LinkageError

ID_CHECK_ACTIONS = ("keep", "demote", "review")


def _valid_sql(column: str, pattern: str | None) -> str:
    """The column's value where it is present and fits ``pattern``, else NULL."""
    return f"(CASE WHEN regexp_full_match({column}, {sql_literal(pattern)}) THEN {column} END)" if pattern else column


def link_on_identifiers_sql(records: str, reference: str, id_fields: Sequence[str],
                            id_patterns: Mapping[str, str] | None = None) -> str:
    """Build the SELECT that links each record to the one entity holding its identifier.

    Fields are tried in order; the first field whose value belongs to exactly one entity
    decides. A value held by several entities is ambiguous and never linked on. A value that
    does not fit its field's pattern is invalid and never linked on.

    Grain: one row per row of ``records`` (nothing is dropped).
    Columns: ``record_id``, ``entity_id`` (NULL unless linked), ``status`` (``linked`` /
    ``unlinked``), ``matched_on`` (the deciding field) and ``reason`` (``missing_id``,
    ``invalid_id``, ``ambiguous_id`` or ``no_match`` for unlinked records).

    Args:
        records: table with ``record_id`` and a column per id field.
        reference: table ``(entity_id, field, value)`` of identifiers known per entity.
        id_fields: the fields to try, in order.
        id_patterns: field -> regular expression a valid value matches in full (e.g. ``[0-9]{9}``).
    """
    patterns = dict(id_patterns or {})
    rec, ref = quote_ident(records), quote_ident(reference)
    valid = {f: _valid_sql(f"r.{quote_ident(f)}", patterns.get(f)) for f in id_fields}
    candidates = " UNION ALL ".join(
        f"SELECT r.record_id, {i} AS priority, {sql_literal(f)} AS field, ref.entity_id "
        f"FROM {rec} AS r JOIN {ref} AS ref "
        f"ON ref.field = {sql_literal(f)} AND ref.value = {valid[f]}"
        for i, f in enumerate(id_fields)
    )
    any_id = " OR ".join(f"r.{quote_ident(f)} IS NOT NULL" for f in id_fields)
    any_valid = " OR ".join(f"{valid[f]} IS NOT NULL" for f in id_fields)
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
            WHEN NOT ({any_valid}) THEN 'invalid_id'
            ELSE 'no_match' END AS reason
FROM {rec} AS r LEFT JOIN decided AS d USING (record_id)
"""


def link_on_identifiers(
    db: Engine, records: str, reference: str, id_fields: Sequence[str], output: str, *,
    id_patterns: Mapping[str, str] | None = None,
) -> str:
    """Materialise :func:`link_on_identifiers_sql` as ``output`` and return its name."""
    return materialise(db, output, link_on_identifiers_sql(records, reference, id_fields, id_patterns))


def duplicate_identifiers(db: Engine, reference: str, output: str) -> str:
    """Identifier values held by more than one entity: ``(field, value, n_entities)``; never linked on."""
    return materialise(db, output, f"""
        SELECT field, value, count(DISTINCT entity_id) AS n_entities FROM {quote_ident(reference)}
        WHERE value IS NOT NULL GROUP BY field, value HAVING count(DISTINCT entity_id) > 1""")


def disagrees_sql(field: str, left: str, right: str) -> str:
    """SQL true when both sides hold ``field`` and the values disagree; dates of birth only when
    they cannot be one date written otherwise (:func:`linkage.comparisons.same_date_sql`; text
    that is not a date is compared as text)."""
    if field == "dob":
        dates = same_date_sql(f"TRY_CAST({left} AS DATE)", f"TRY_CAST({right} AS DATE)")
        unequal = f"NOT coalesce({dates}, {left} = {right})"
    else:
        unequal = f"{left} <> {right}"
    return f"({left} IS NOT NULL AND {right} IS NOT NULL AND {unequal})"


def check_id_links(
    db: Engine, links: str, records: str, reference_records: str, output: str, *,
    fields: Sequence[str] = ("dob", "sex"), min_disagreements: int = 2, action: str = "demote",
) -> str:
    """Flag identifier links whose time-invariant fields disagree, and act on them.

    A field disagrees when both sides have a value and the values differ (dates of birth: when they
    cannot be one date written otherwise, see :func:`linkage.comparisons.same_date_sql`). A link
    with at least ``min_disagreements`` disagreeing fields (against every reference record of its
    entity) is an ``id_conflict``: a reused, mistyped or shared identifier more often than a changed
    birth date.

    Actions: ``keep`` (link stands, conflict reported), ``demote`` (unlinked with reason
    ``id_conflict``, so a hybrid job tries the record probabilistically), ``review`` (status
    ``review`` with the candidate entity kept for the clerical queue).

    Columns of ``output``: those of ``links`` plus ``id_conflict`` (BOOLEAN) and ``disagreeing``
    (comma-separated fields).
    """
    if action not in ID_CHECK_ACTIONS:
        raise LinkageError(f"id check action must be one of {', '.join(ID_CHECK_ACTIONS)}, got {action!r}")
    if not fields:
        raise LinkageError("id check needs at least one field to compare")
    differs = [f"CASE WHEN {disagrees_sql(f, f'r.{quote_ident(f)}', f'ref.{quote_ident(f)}')} "
               f"THEN {sql_literal(f)} END" for f in fields]
    n_differs = " + ".join(f"CAST(({d}) IS NOT NULL AS INTEGER)" for d in differs)
    conflict_status = {"keep": "l.status", "demote": "'unlinked'", "review": "'review'"}[action]
    conflict_entity = "NULL" if action == "demote" else "l.entity_id"
    conflict_reason = "NULL" if action == "keep" else "'id_conflict'"
    return materialise(db, output, f"""
        WITH compared AS (
            SELECT l.record_id, {n_differs} AS n_disagreements, concat_ws(',', {', '.join(differs)}) AS disagreeing
            FROM {quote_ident(links)} AS l
            JOIN {quote_ident(records)} AS r USING (record_id)
            JOIN {quote_ident(reference_records)} AS ref ON ref.entity_id = l.entity_id
            WHERE l.status = 'linked'
        ),
        per_link AS (
            SELECT record_id, min(n_disagreements) >= {int(min_disagreements)} AS id_conflict,
                   arg_min(disagreeing, n_disagreements) AS disagreeing
            FROM compared GROUP BY record_id
        )
        SELECT l.record_id,
               CASE WHEN c.id_conflict THEN {conflict_entity} ELSE l.entity_id END AS entity_id,
               CASE WHEN c.id_conflict THEN {conflict_status} ELSE l.status END AS status,
               CASE WHEN c.id_conflict AND {sql_literal(action)} = 'demote' THEN NULL ELSE l.matched_on END
                   AS matched_on,
               CASE WHEN c.id_conflict THEN {conflict_reason} ELSE l.reason END AS reason,
               coalesce(c.id_conflict, FALSE) AS id_conflict,
               CASE WHEN c.id_conflict THEN c.disagreeing END AS disagreeing
        FROM {quote_ident(links)} AS l LEFT JOIN per_link AS c USING (record_id)""")
