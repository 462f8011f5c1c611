"""Evidence of presence for the rules: registrations, activity, and the children on claims."""

from __future__ import annotations

import logging


from linkage._sql import columns_of, materialise, quote_ident, sql_in_list, sql_literal
from spine.config import JobConfig
from spine.dedupe import BASE_PAIRS
from spine.engine import Engine
from spine.family import DEPENDANTS, claims_sql
from spine.linking import link_table
from spine.sources import std_table

logger = logging.getLogger(__name__)

#: Registrations and activity only, when the visa rules add in-country grants to a copy
#: (spine.visa_stage.PRESENCE); without visa rules the evidence is written to PRESENCE itself.
PRESENCE_WITHOUT_GRANTS = "rules__presence_without_visa_grants"
BASE_DUPLICATES = "rules__base_duplicates"


def build_presence(db: Engine, job: JobConfig,
                   output: str = PRESENCE_WITHOUT_GRANTS) -> str:
    """Materialise ``output``, the evidence of presence: registrations of the base register and
    activity of the other signs-of-life sources (one row per linked record with a start date). Columns:
    ``person_id, source, kind, start_date, end_date, reason, exempt`` (see rules.signs_of_life)."""
    life = job.rules.signs_of_life
    if life.enabled and life.sources and job.base not in life.sources:
        logger.warning("rules.signs_of_life.sources leaves out the base register %r: deaths and "
                       "deregistrations are not seen, so a death after activity reads as an emigration", job.base)
    parts = ["SELECT CAST(NULL AS VARCHAR) AS person_id, CAST(NULL AS VARCHAR) AS source, "
             "CAST(NULL AS VARCHAR) AS kind, CAST(NULL AS DATE) AS start_date, CAST(NULL AS DATE) AS end_date, "
             "CAST(NULL AS VARCHAR) AS reason, FALSE AS exempt WHERE FALSE"]
    types = sql_in_list(life.exempt_event_types)
    for name in life.sources if life.enabled else []:
        kind = "registration" if name == job.base else "activity"
        covers = life.covers_days.get(name)
        end = (f"coalesce(s.end_date, s.start_date + INTERVAL {int(covers) - 1} DAY)" if covers and kind == "activity"
               else "s.end_date")
        parts.append(f"""
            SELECT l.entity_id, {sql_literal(name)}, {sql_literal(kind)}, s.start_date, CAST({end} AS DATE),
                   s.event_type, {sql_literal(name in life.exempt_sources)} OR coalesce(s.event_type IN ({types}), FALSE)
            FROM {quote_ident(std_table(name))} AS s JOIN {quote_ident(link_table(name))} AS l USING (record_id)
            WHERE l.status = 'linked' AND s.start_date IS NOT NULL""")
    materialise(db, output, " UNION ALL ".join(parts))
    _warn_unused_grace(db, job, output)
    return output


def grace_periods(job: JobConfig) -> tuple[dict[str, int], dict[str, int]]:
    """``signs_of_life.grace_days`` split into (by source name, by record type)."""
    grace = job.rules.signs_of_life.grace_days
    return ({k: v for k, v in grace.items() if k in job.sources},
            {k: v for k, v in grace.items() if k not in job.sources})


def _warn_unused_grace(db: Engine, job: JobConfig, presence: str) -> None:
    """A grace period for a record type no evidence has is almost always a misspelt type."""
    _, by_type = grace_periods(job)
    if not by_type or getattr(db, "pinned_estimates", None) is not None:   # a replicate's few persons: not all types
        return
    seen = {r[0] for r in db.run(f"SELECT DISTINCT reason FROM {quote_ident(presence)} "
                                 "WHERE kind = 'activity'")}
    for name in sorted(set(by_type) - seen):
        logger.warning("rules.signs_of_life.grace_days.%s: no source and no record type of that name among the "
                       "signs of life (types seen: %s); it gives no grace", name,
                       ", ".join(sorted(t for t in seen if t)) or "none")


def build_dependants(db: Engine, job: JobConfig) -> str | None:
    """Materialise the children on linked claimants' claims (with their date of birth); None
    without family association."""
    if job.rules.family.children_source is None:
        return None
    return materialise(db, DEPENDANTS, f"""
        SELECT d.child_person_id, d.parent_person_id, p.dob AS child_dob
        FROM ({claims_sql(job)}) AS d LEFT JOIN persons AS p ON p.person_id = d.child_person_id""")


def build_base_duplicates(db: Engine, job: JobConfig) -> str | None:
    """Materialise the probable duplicate registrations (spine.dedupe pairs, when reported and not
    merged) as person pairs, both ways; None when the base was not checked for duplicates. With
    ``action: merge`` none: a pair kept apart then may be two people (twins), each their own life."""
    if not columns_of(db, BASE_PAIRS):
        return None
    if job.base_deduplication.action == "merge":
        return materialise(db, BASE_DUPLICATES, "SELECT CAST(NULL AS VARCHAR) AS person_id, "
                                                "CAST(NULL AS VARCHAR) AS other_id WHERE FALSE")
    base = quote_ident(link_table(job.base))
    return materialise(db, BASE_DUPLICATES, f"""
        WITH pairs AS (
            SELECT a.entity_id AS x, b.entity_id AS y FROM {BASE_PAIRS} AS p
            JOIN {base} AS a ON a.record_id = p.left_id JOIN {base} AS b ON b.record_id = p.right_id
            WHERE a.entity_id <> b.entity_id)
        SELECT x AS person_id, y AS other_id FROM pairs UNION SELECT y, x FROM pairs""")
