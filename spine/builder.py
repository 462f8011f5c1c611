"""Build the spine: standardise every source, link each to the spine, account for every record.

The base register becomes the spine (one person per base record in this first cut). Each other
source is linked in the order the job gives; identifiers of linked records join the spine's
known identifiers, so a passport learnt from a visa can link a border crossing.
"""

from __future__ import annotations

import duckdb

from linkage import link_on_identifiers, standardise_records_sql
from linkage._sql import materialise, quote_ident, sql_literal
from spine.config import DATE_FIELDS, ID_FIELDS, DeterministicIdConfig, JobConfig
from spine.pseudonymise import create_key_table, hmac_sql
from spine.sources import raw_table, std_table

SPINE_IDENTIFIERS = "spine__identifiers"
LINKED_RECORDS = "spine__linked_records"


def link_table(name: str) -> str:
    """Per-source link result (record_id, entity_id, status, matched_on, reason)."""
    return f"link__{name}"


def standardise_sources(con: duckdb.DuckDBPyConnection, job: JobConfig) -> None:
    """Materialise ``std__<name>`` for every source; movement sources need a date and a direction."""
    for name, source in job.sources.items():
        columns = {field: source.column_of(field) for field in source.columns}
        formats = {field: source.date_formats_of(field) for field in DATE_FIELDS if field in columns}
        required = ("event_date", "direction") if source.is_movement_source else ()
        sql = standardise_records_sql(raw_table(name), source.record_id, columns, date_formats=formats,
                                      sex_codes=source.sex_codes, direction_codes=source.direction_codes,
                                      required=required)
        materialise(con, std_table(name), sql)
        if source.is_movement_source and job.observation is not None:
            con.execute(
                f"UPDATE {quote_ident(std_table(name))} SET reject_reason = 'date_outside_observation' "
                f"WHERE reject_reason IS NULL AND event_date NOT BETWEEN "
                f"DATE {sql_literal(job.observation.start.isoformat())} "
                f"AND DATE {sql_literal(job.observation.end.isoformat())}")


def link_sources(con: duckdb.DuckDBPyConnection, job: JobConfig, key: bytes, progress_step=lambda: None) -> None:
    """Create the spine from the base register and link every other source to it."""
    key_table = create_key_table(con, key)
    base = std_table(job.base)
    anchor = f"{sql_literal(job.base + ':')} || record_id"
    materialise(con, link_table(job.base), f"""
        SELECT record_id, {hmac_sql(anchor, key_table)} AS entity_id,
               CASE WHEN reject_reason IS NULL THEN 'linked' ELSE 'rejected' END AS status,
               CAST(NULL AS VARCHAR) AS matched_on, reject_reason AS reason
        FROM {quote_ident(base)}""")
    materialise(con, SPINE_IDENTIFIERS, "SELECT CAST(NULL AS VARCHAR) AS entity_id, "
                "CAST(NULL AS VARCHAR) AS field, CAST(NULL AS VARCHAR) AS value WHERE FALSE")
    _learn_identifiers(con, job.base)
    progress_step()
    for name, source in job.ordered_sources[1:]:
        linkage = source.linkage
        if isinstance(linkage, DeterministicIdConfig):
            candidates = f"linkage_input__{name}"
            con.execute(f"CREATE OR REPLACE TEMP VIEW {quote_ident(candidates)} AS "
                        f"SELECT * FROM {quote_ident(std_table(name))} WHERE reject_reason IS NULL")
            linked = link_on_identifiers(con, candidates, SPINE_IDENTIFIERS, linkage.id_fields,
                                         f"link__{name}__accepted")
            materialise(con, link_table(name), f"""
                SELECT s.record_id, l.entity_id,
                       CASE WHEN s.reject_reason IS NOT NULL THEN 'rejected' ELSE l.status END AS status,
                       l.matched_on, coalesce(s.reject_reason, l.reason) AS reason
                FROM {quote_ident(std_table(name))} AS s LEFT JOIN {quote_ident(linked)} AS l USING (record_id)""")
            con.execute(f"DROP TABLE {quote_ident(linked)}")
            _learn_identifiers(con, name)
        else:
            materialise(con, link_table(name), f"""
                SELECT record_id, CAST(NULL AS VARCHAR) AS entity_id,
                       CASE WHEN reject_reason IS NOT NULL THEN 'rejected' ELSE 'unlinked' END AS status,
                       CAST(NULL AS VARCHAR) AS matched_on, coalesce(reject_reason, 'not_linked') AS reason
                FROM {quote_ident(std_table(name))}""")
        progress_step()


def _learn_identifiers(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Add the identifiers of a source's linked records to what the spine knows."""
    for field in ID_FIELDS:
        con.execute(f"""
            INSERT INTO {SPINE_IDENTIFIERS}
            SELECT DISTINCT l.entity_id, {sql_literal(field)}, s.{field}
            FROM {quote_ident(std_table(name))} AS s
            JOIN {quote_ident(link_table(name))} AS l USING (record_id)
            WHERE l.status = 'linked' AND s.{field} IS NOT NULL
            EXCEPT SELECT entity_id, field, value FROM {SPINE_IDENTIFIERS}""")


def build_links(con: duckdb.DuckDBPyConnection, job: JobConfig) -> str:
    """Materialise the contract's ``links`` table: one row per input record of every source."""
    parts = []
    for name, _ in job.ordered_sources:
        method = "'base'" if name == job.base else "CASE WHEN status = 'linked' THEN 'deterministic_id' END"
        parts.append(f"""
            SELECT {sql_literal(name)} AS source, record_id,
                   CASE WHEN status = 'linked' THEN entity_id END AS person_id,
                   status, {method} AS method,
                   CAST(NULL AS DOUBLE) AS match_probability, CAST(NULL AS DOUBLE) AS match_weight,
                   reason
            FROM {quote_ident(link_table(name))}""")
    return materialise(con, "links", " UNION ALL ".join(parts))


def build_linked_records(con: duckdb.DuckDBPyConnection, job: JobConfig) -> str:
    """Standardised attributes of every linked record, with its person and source rank."""
    parts = []
    for rank, (name, _) in enumerate(job.ordered_sources):
        parts.append(f"""
            SELECT l.entity_id AS person_id, {sql_literal(name)} AS source, {rank} AS source_rank,
                   s.record_id, s.first_name, s.surname, s.dob, s.sex, s.nationality,
                   s.country_of_birth, s.event_date, s.direction
            FROM {quote_ident(std_table(name))} AS s
            JOIN {quote_ident(link_table(name))} AS l USING (record_id)
            WHERE l.status = 'linked'""")
    return materialise(con, LINKED_RECORDS, " UNION ALL ".join(parts))
