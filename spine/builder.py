"""Build the spine: standardise every source, link each to the spine, account for every record.

The base register becomes the spine (one person per base record in this first cut). Each other
source is linked in the order the job gives; identifiers of linked records join the spine's
known identifiers, so a passport learnt from a visa can link a border crossing.
"""

from __future__ import annotations

import statistics
from typing import Any


from linkage import create_reference_tables, standardise_records_sql
from linkage._sql import columns_of, materialise, quote_ident, sql_literal
from spine.config import DATE_FIELDS, ID_FIELDS, JobConfig
from spine.engine import Engine
from spine.linking import (
    SPINE_IDENTIFIERS,
    build_features,
    build_reference,
    features_table,
    link_source,
    link_table,
    report_duplicate_identifiers,
)
from spine.review import add_review_pairs, apply_decisions, check_decision_ids, create_review_pairs, load_decisions
from spine.dedupe import deduplicate_base
from spine.enlarge import enlarge
from spine.family import add_family_persons
from spine.number_holders import move_to_number_holders
from spine.pseudonymise import create_key_table, hmac_sql
from spine.sources import raw_table, std_table

LINKED_RECORDS = "spine__linked_records"


def standardise_sources(db: Engine, job: JobConfig) -> None:
    """Materialise ``std__<name>`` for every source; movement sources need a date and a direction."""
    create_reference_tables(db)
    for name, source in job.sources.items():
        columns = {field: source.column_of(field) for field in source.columns}
        formats = {field: source.date_formats_of(field) for field in DATE_FIELDS if field in columns}
        required = ("event_date", "direction") if source.is_movement_source else ()
        sql = standardise_records_sql(raw_table(name), source.record_id, columns, date_formats=formats,
                                      sex_codes=source.sex_codes, direction_codes=source.direction_codes,
                                      required=required)
        materialise(db, std_table(name), sql)
        if source.is_movement_source and job.observation is not None:
            db.run(
                f"UPDATE {quote_ident(std_table(name))} SET reject_reason = 'date_outside_observation' "
                f"WHERE reject_reason IS NULL AND event_date NOT BETWEEN "
                f"DATE {sql_literal(job.observation.start.isoformat())} "
                f"AND DATE {sql_literal(job.observation.end.isoformat())}")


def link_sources(db: Engine, job: JobConfig, key: bytes,
                 progress_step=lambda: None, run: int = 1) -> dict[str, Any]:
    """Create the spine from the base register, link every other source to it; return linkage metrics.

    ``run`` is the run's number in the store's history (enlarged persons keep earlier runs' ids).
    """
    key_table = create_key_table(db, key)
    base = std_table(job.base)
    anchor = f"{sql_literal(job.base + ':')} || record_id"
    materialise(db, link_table(job.base), f"""
        SELECT record_id, {hmac_sql(anchor, key_table)} AS entity_id,
               CASE WHEN reject_reason IS NULL THEN 'linked' ELSE 'rejected' END AS status,
               CASE WHEN reject_reason IS NULL THEN 'base' END AS method, CAST(NULL AS VARCHAR) AS matched_on,
               CAST(NULL AS DOUBLE) AS match_probability, CAST(NULL AS DOUBLE) AS match_weight,
               reject_reason AS reason
        FROM {quote_ident(base)}""")
    materialise(db, SPINE_IDENTIFIERS, "SELECT CAST(NULL AS VARCHAR) AS entity_id, CAST(NULL AS VARCHAR) AS field, "
                "CAST(NULL AS VARCHAR) AS value, CAST(NULL AS BOOLEAN) AS from_base WHERE FALSE")
    build_features(db, job.base)
    base_duplicates = deduplicate_base(db, job, link_table(job.base), features_table(job.base))
    _learn_identifiers(db, job.base, from_base=True)
    build_reference(db, job)
    create_review_pairs(db)
    n_decisions = load_decisions(db, job)
    n_stale = check_decision_ids(db, job)   # decisions whose record or person is gone: skipped, counted
    progress_step()
    metrics: dict[str, Any] = {}
    for name, _source in job.ordered_sources[1:]:
        build_features(db, name)
        metrics[name] = link_source(db, job, name)
        metrics[name]["clerical_decisions_applied"] = apply_decisions(db, name, link_table(name))
        _keep_review_pairs(db, name)
        _learn_identifiers(db, name)
        progress_step()
    metrics["enlargement"] = enlarge(db, job, key_table, run, learnt_m=learnt_m_by_column(metrics))
    metrics["number_holders"] = move_to_number_holders(db, [name for name, _ in job.ordered_sources[1:]])
    metrics["family_persons"] = add_family_persons(db, job, key_table)
    metrics["duplicate_identifiers"] = report_duplicate_identifiers(db)
    metrics["base_duplicates"] = base_duplicates
    metrics["clerical_decisions"] = n_decisions
    metrics["clerical_decisions_applied"] = sum(metrics[name]["clerical_decisions_applied"]
                                                for name, _ in job.ordered_sources[1:])
    metrics["clerical_decisions_stale"] = n_stale
    return metrics


def learnt_m_by_column(metrics: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per compared column, each level's m: the median over the sources' probabilistic models,
    scaled to sum to one (the median, because one model gone astray, e.g. a small source whose EM
    settled on siblings, must not move the others)."""
    sums: dict[str, dict[str, list[float]]] = {}
    for source_metrics in metrics.values():
        models = [source_metrics.get("parameters"), (source_metrics.get("probabilistic") or {}).get("parameters")]
        for parameters in filter(None, models):
            for column, levels in parameters.items():
                for level in levels:
                    if level.get("m") is not None:
                        sums.setdefault(column, {}).setdefault(level["level"], []).append(float(level["m"]))
    medians = {column: {label: statistics.median(ms) for label, ms in levels.items()}
               for column, levels in sums.items()}
    return {column: [{"level": label, "m": m / sum(levels.values())} for label, m in levels.items()]
            for column, levels in medians.items() if sum(levels.values()) > 0}


def _keep_review_pairs(db: Engine, name: str) -> None:
    """Records sent to review (the clerical band, or an identifier conflict), for ``spine review export``."""
    candidates = f"candidates__{name}"
    columns = columns_of(db, candidates)
    add_review_pairs(db, name, link_table(name), candidates if columns else None,
                     [c for c in columns if c.startswith("mw_")])


def _learn_identifiers(db: Engine, name: str, *, from_base: bool = False) -> None:
    """Add the identifiers of a source's linked records to what the spine knows (``from_base``:
    the base register's own, as against numbers other sources' links taught it)."""
    for field in ID_FIELDS:
        db.run(f"""
            INSERT INTO {SPINE_IDENTIFIERS}
            SELECT DISTINCT l.entity_id, {sql_literal(field)}, s.{field}, {sql_literal(from_base)}
            FROM {quote_ident(std_table(name))} AS s
            JOIN {quote_ident(link_table(name))} AS l USING (record_id)
            WHERE l.status = 'linked' AND s.{field} IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM {SPINE_IDENTIFIERS} AS i
                              WHERE i.entity_id = l.entity_id AND i.field = {sql_literal(field)}
                                AND i.value = s.{field})""")


def build_links(db: Engine, job: JobConfig) -> str:
    """Materialise the contract's ``links`` table: one row per input record of every source."""
    parts = []
    for name, _ in job.ordered_sources:
        parts.append(f"""
            SELECT {sql_literal(name)} AS source, record_id,
                   CASE WHEN status = 'linked' THEN entity_id END AS person_id,
                   status, CASE WHEN status = 'linked' THEN method END AS method,
                   match_probability, match_weight, reason
            FROM {quote_ident(link_table(name))}""")
    return materialise(db, "links", " UNION ALL ".join(parts))


def build_linked_records(db: Engine, job: JobConfig) -> str:
    """Standardised attributes of every linked record, with its person and source rank."""
    parts = []
    priority = job.source_priority
    for name, _ in job.ordered_sources:
        parts.append(f"""
            SELECT l.entity_id AS person_id, {sql_literal(name)} AS source, {priority.index(name)} AS source_rank,
                   s.record_id, s.first_name, s.surname, s.dob, s.sex, s.nationality,
                   s.country_of_birth, s.national_id, s.passport_no, s.event_date, s.direction,
                   coalesce(s.event_date, s.start_date) AS record_date
            FROM {quote_ident(std_table(name))} AS s
            JOIN {quote_ident(link_table(name))} AS l USING (record_id)
            WHERE l.status = 'linked'""")
    return materialise(db, LINKED_RECORDS, " UNION ALL ".join(parts))
