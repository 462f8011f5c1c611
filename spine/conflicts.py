"""Resolve each person's attributes from every linked record, keeping the provenance.

Policies, per attribute (``conflicts`` in the YAML; default ``source_priority``):

- ``source_priority``: the value from the highest-ranked source (``conflicts.priority``, else the
  base register first, then sources in job order);
- ``most_frequent``: the value seen in most records, whatever their source;
- ``most_recent``: the value of the most recent record (its event or start date);
- ``most_complete``: the longest value (``MARIA JOSE`` over ``MARIA``, a full date over none).

Ties always fall through to the same chain, so the choice is deterministic: source priority,
then the value seen in more records, then the smaller value.
"""

from __future__ import annotations

from typing import Any


from linkage._sql import materialise, quote_ident, sql_literal
from spine.config import JobConfig
from spine.engine import Engine

ATTRIBUTES = ("first_name", "surname", "dob", "sex", "nationality", "country_of_birth")
ORDER_BY = {
    "source_priority": "source_rank, n_value DESC, value",
    "most_frequent": "n_value DESC, source_rank, value",
    "most_recent": "last_date DESC NULLS LAST, source_rank, n_value DESC, value",
    "most_complete": "length(value) DESC, source_rank, n_value DESC, value",
}


def attributes_of(job: JobConfig) -> tuple[str, ...]:
    """The resolved attributes: the person fields, and raw identifiers only where the job opts in."""
    return ATTRIBUTES + tuple(dict.fromkeys(job.output.raw_identifiers))


def policy_of(job: JobConfig, attribute: str) -> str:
    return job.conflicts.attributes.get(attribute, job.conflicts.default)  # type: ignore[arg-type]


def build_attribute_values(db: Engine, linked_records: str, job: JobConfig) -> str:
    """Materialise ``attribute_values``: one row per person, attribute, distinct value and source.

    Columns: person_id, attribute, value, source, chosen, policy, n_records.
    """
    unpivot = " UNION ALL ".join(
        f"SELECT person_id, source, source_rank, record_date, {sql_literal(a)} AS attribute, "
        f"CAST({a} AS VARCHAR) AS value FROM {quote_ident(linked_records)} WHERE {a} IS NOT NULL"
        for a in attributes_of(job))
    policy = "CASE attribute " + " ".join(
        f"WHEN {sql_literal(a)} THEN {sql_literal(policy_of(job, a))}" for a in attributes_of(job)) + " END"
    rank = "CASE policy " + " ".join(
        f"WHEN {sql_literal(p)} THEN row_number() OVER (PARTITION BY person_id, attribute ORDER BY {order})"
        for p, order in ORDER_BY.items()) + " END"
    return materialise(db, "attribute_values", f"""
        WITH seen AS (
            SELECT person_id, attribute, value, source, min(source_rank) AS source_rank,
                   count(*) AS n_records, max(record_date) AS last_date
            FROM ({unpivot}) GROUP BY person_id, attribute, value, source
        ),
        scored AS (
            SELECT *, {policy} AS policy,
                   sum(n_records) OVER (PARTITION BY person_id, attribute, value) AS n_value,
                   max(last_date) OVER (PARTITION BY person_id, attribute, value) AS value_date
            FROM seen
        )
        SELECT person_id, attribute, value, source, {rank.replace('last_date', 'value_date')} = 1 AS chosen,
               policy, n_records
        FROM scored""")


def build_persons(db: Engine, base_links: str, job: JobConfig,
                  enlarged: str = "spine__enlarged", family: str = "spine__family_persons") -> str:
    """Materialise ``persons``: one row per spine person (merged base duplicates once, then persons
    created by enlargement, then dependants created by family association) with the chosen values
    (and opted-in raw identifiers)."""
    pivots = ", ".join(
        f"max(value) FILTER (WHERE attribute = {sql_literal(a)}) AS {a}" for a in attributes_of(job))
    extra = "".join(f", c.{quote_ident(a)}" for a in attributes_of(job)[len(ATTRIBUTES):])
    return materialise(db, "persons", f"""
        WITH chosen AS (
            SELECT person_id, {pivots} FROM attribute_values WHERE chosen GROUP BY person_id
        )
        SELECT b.entity_id AS person_id, 'base' AS origin, c.first_name, c.surname,
               CAST(c.dob AS DATE) AS dob, c.sex, c.nationality, c.country_of_birth{extra}
        FROM (SELECT DISTINCT entity_id FROM {quote_ident(base_links)} WHERE status = 'linked') AS b
        LEFT JOIN chosen AS c ON c.person_id = b.entity_id
        UNION ALL
        SELECT e.person_id, 'enlarged', c.first_name, c.surname, CAST(c.dob AS DATE), c.sex, c.nationality,
               c.country_of_birth{extra}
        FROM {quote_ident(enlarged)} AS e LEFT JOIN chosen AS c USING (person_id)
        UNION ALL
        SELECT f.person_id, 'family', c.first_name, c.surname, CAST(c.dob AS DATE), c.sex, c.nationality,
               c.country_of_birth{extra}
        FROM {quote_ident(family)} AS f LEFT JOIN chosen AS c USING (person_id)""")


def conflict_rates(db: Engine) -> dict[str, Any]:
    """Share of persons whose records disagree, per attribute and per pair of sources.

    Two sources disagree on a person's attribute when they share no value for it.
    """
    by_attribute = db.run("""
        SELECT attribute, count(*) AS persons, count(*) FILTER (WHERE n > 1) AS conflicting
        FROM (SELECT person_id, attribute, count(DISTINCT value) AS n FROM attribute_values GROUP BY ALL)
        GROUP BY attribute ORDER BY attribute""")
    by_pair = db.run("""
        WITH v AS (SELECT person_id, attribute, source, list(DISTINCT value) AS vals FROM attribute_values GROUP BY ALL)
        SELECT a.attribute, a.source, b.source, count(*) AS persons,
               count(*) FILTER (WHERE NOT list_has_any(a.vals, b.vals)) AS conflicting
        FROM v AS a JOIN v AS b ON a.person_id = b.person_id AND a.attribute = b.attribute AND a.source < b.source
        GROUP BY ALL ORDER BY 1, 2, 3""")
    return {
        "by_attribute": {a: {"persons": n, "conflicting": c, "rate": round(c / n, 6) if n else None}
                         for a, n, c in by_attribute},
        "by_source_pair": [{"attribute": a, "sources": [s1, s2], "persons": n, "conflicting": c,
                            "rate": round(c / n, 6) if n else None} for a, s1, s2, n, c in by_pair],
    }
