"""Enlargement: people absent from the base register become spine persons.

Unmatched records of every source marked ``enlarge: true`` are pooled and deduplicated among
themselves across sources before any person is created, so one unregistered immigrant seen in
visas, border crossings and tax becomes one person, not three. Which records are one person is
spine.pool_grouping's job: shared identifiers and name keys as a floor (no key needs a field a
source lacks), then a Fellegi–Sunter model of the pool (``enlargement.method: probabilistic``,
the default). Groups are made of those pairs by spine.pool_clusters: the connected components
of the pairs, except that a record whose date of birth is a placeholder (1 January, or the 1st of
the month, where the source writes unknown days so: linkage.birth_dates) joins one person and
never bridges two. Each new person's id is the keyed hash of its first record (``<source>:<record id>``,
smallest first), so it is stable while that record is.
"""

from __future__ import annotations

from typing import Any


from linkage._sql import columns_of, materialise, quote_ident, sql_literal
from linkage.birth_dates import placeholder_days, precision_sql
from spine.config import JobConfig
from spine.engine import Engine
from spine.history import HISTORY_LINKS, PREVIOUS_LINKS, PREVIOUS_PERSONS, carried_ids_sql, ensure_history_tables
from spine.linking import features_table, link_table
from spine.pool_grouping import (
    ID_KEYS,
    NAME_KEYS,
    PROFILE_FEATURES,
    PROFILE_FIELDS,
    key_edges,
    probabilistic_edges,
)
from spine.pool_clusters import person_groups, strong_sql
from spine.pseudonymise import hmac_sql

POOL = "enlarge__pool"
EDGES = "enlarge__edges"
GROUPS = "enlarge__groups"
HELD_BACK = "enlarge__held_back"
FRESH_IDS = "enlarge__fresh_ids"
IDS = "enlarge__ids"
ENLARGED = "spine__enlarged"
#: The date of birth with day and month in either order: 1990-03-07 and 1990-07-03 share it.
DOB_UNORDERED = ("strftime(f.dob, '%Y') || '-' || least(month(f.dob), day(f.dob)) "
                 "|| '-' || greatest(month(f.dob), day(f.dob))")


def enlarge(db: Engine, job: JobConfig, key_table: str, run: int = 1,
            learnt_m: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """Create persons for unmatched records of enlarging sources; update their link tables.

    ``run`` is this run's number in the store's history; persons of the previous run (in
    ``previous__links``, see spine.history) keep their ids. ``learnt_m``: per compared column, the
    levels and m the linkage models learnt (where the pool model's training starts).
    """
    sources = [name for name, source in job.ordered_sources if source.enlarge]
    ensure_history_tables(db)
    db.run(f"CREATE OR REPLACE TABLE {ENLARGED} (person_id VARCHAR)")
    if not sources:
        return {"sources": []}
    key_columns = (c for key in (*NAME_KEYS, ID_KEYS) for c in key if c != "dob_unordered")
    columns = tuple(dict.fromkeys((*key_columns, *PROFILE_FIELDS, *PROFILE_FEATURES)))
    parts = []
    birth_dates: dict[str, Any] = {}
    for name in sources:
        feat = features_table(name)
        have = set(columns_of(db, feat))
        cols = ", ".join(f"f.{quote_ident(c)}" if c in have else f"CAST(NULL AS VARCHAR) AS {c}" for c in columns)
        known_to = "'none'"
        if "dob" in have:   # measured on every record of the source: its way of writing dates
            birth_dates[name] = placeholder_days(db, feat)
            known_to = precision_sql("f.dob", birth_dates[name])
        parts.append(f"""SELECT {sql_literal(name + ':')} || l.record_id AS pool_id, {sql_literal(name)} AS source,
                                l.record_id, l.match_weight, l.reason, {cols},
                                {DOB_UNORDERED} AS dob_unordered, {known_to} AS dob_known_to
                         FROM {quote_ident(link_table(name))} AS l JOIN {quote_ident(feat)} AS f USING (record_id)
                         WHERE l.status = 'unlinked'""")
    materialise(db, POOL, " UNION ALL ".join(parts))
    grouping: dict[str, Any] = {"method": job.enlargement.method, "dates_of_birth": birth_dates}
    found = None
    if job.enlargement.method == "probabilistic":
        found, grouping["probabilistic"] = probabilistic_edges(
            db, POOL, threshold=job.enlargement.match_probability, starting_m=learnt_m or {})
    # Under a fitted model the keys are a strict floor; without one, the full cascade.
    edges, grouping["keys"] = key_edges(db, POOL, strict=found is not None)
    if found:
        edges += " UNION ALL " + found
    materialise(db, EDGES, f"SELECT DISTINCT a, b, kind, probability FROM ({edges}) WHERE a <> b")
    materialise(db, EDGES, strong_sql(POOL, EDGES))
    grouping["groups"] = person_groups(db, POOL, EDGES, GROUPS)
    held_back = _hold_back(db, job.enlargement.hold_back_weight)
    # The person id is hashed once per group (HMAC in SQL is not free), then joined to its records.
    # A fresh id that some earlier run gave a person (the anchor record has left that person) is
    # re-keyed with the run number, so it cannot make two people one across runs.
    issued = f"SELECT person_id FROM {PREVIOUS_PERSONS} UNION SELECT person_id FROM {HISTORY_LINKS}"
    rekeyed = hmac_sql(f"group_id || chr(31) || 'run{int(run)}'", key_table)
    materialise(db, FRESH_IDS, f"""
        SELECT group_id, CASE WHEN h IN ({issued}) THEN {rekeyed} ELSE h END AS person_id, h AS rebuilt_id
        FROM (SELECT group_id, {hmac_sql('group_id', key_table)} AS h FROM (SELECT DISTINCT group_id FROM {GROUPS}))""")
    materialise(db, IDS, carried_ids_sql(GROUPS, FRESH_IDS))
    materialise(db, GROUPS, f"""
        SELECT g.pool_id, g.group_id, ids.person_id FROM {GROUPS} AS g JOIN {IDS} AS ids USING (group_id)""")
    materialise(db, ENLARGED, f"SELECT DISTINCT person_id FROM {GROUPS}")
    for name in sources:
        table = link_table(name)
        materialise(db, table, f"""   -- rewritten in place
            SELECT l.record_id,
                   CASE WHEN g.group_id IS NOT NULL THEN g.person_id ELSE l.entity_id END AS entity_id,
                   CASE WHEN g.group_id IS NOT NULL THEN 'linked' ELSE l.status END AS status,
                   CASE WHEN g.group_id IS NOT NULL THEN 'enlarged' ELSE l.method END AS method,
                   l.matched_on, l.match_probability, l.match_weight,
                   CASE WHEN g.group_id IS NOT NULL THEN NULL ELSE l.reason END AS reason
            FROM {quote_ident(table)} AS l
            LEFT JOIN {GROUPS} AS g ON g.pool_id = {sql_literal(name + ':')} || l.record_id""")
        db.run(f"""UPDATE {quote_ident(table)} SET reason = 'possible_register_match'
                        WHERE {sql_literal(name + ':')} || record_id IN (SELECT pool_id FROM {HELD_BACK})
                          AND reason IS DISTINCT FROM 'clerical_non_match'""")   # the clerk's word stays
    n_records, n_persons = db.run(f"SELECT count(*), count(DISTINCT group_id) FROM {GROUPS}")[0]
    by_source = dict(db.run(f"SELECT split_part(pool_id, ':', 1), count(*) FROM {GROUPS} GROUP BY 1 ORDER BY 1"))
    carried, rebuilt_differs = db.run(f"""
        SELECT count(*) FILTER (carried), count(*) FILTER (carried AND i.person_id <> f.rebuilt_id)
        FROM {IDS} AS i JOIN {FRESH_IDS} AS f USING (group_id)""")[0]
    return {"sources": sources, "records": int(n_records), "persons": int(n_persons), "records_per_source": by_source,
            "grouping": grouping,
            "held_back": held_back, "persons_carried_from_previous_run": int(carried),
            # what carrying ids over saved: persons a rebuild from scratch would have renamed
            "carried_persons_a_rebuild_would_rename": int(rebuilt_differs)}


def _hold_back(db: Engine, weight: float | None) -> dict[str, Any]:
    """Take out of the groups those whose records mostly have a register candidate at ``weight``
    or more: probably a registered person (a changed surname, a duplicate registration) rather
    than a new one.

    The group is the person, and each of its records that the model scored votes: at least half
    near a register person holds it back. One record among many (a seasonal worker's crossing
    that met a registered namesake born the same year) does not: in the robustness benchmark's
    random worlds, groups held back on a quarter or less of their records were 87% people absent
    from the register (5,910 of their 6,721 records), groups held back on more than half 91%
    registered people. A record scored against nobody (``no_candidate``) votes "new".

    Not counted: the weight of a pair a clerk rejected (``clerical_non_match``: the clerk said
    this is not that person). Not held back: a group holding a person enlarged in the previous
    run, so one new near-miss record cannot unmake an established person.
    """
    established = f"""SELECT source || ':' || record_id FROM {PREVIOUS_LINKS}
                      WHERE status = 'linked' AND method = 'enlarged'"""
    condition = "FALSE"
    if weight is not None:
        near = (f"count(*) FILTER (WHERE p.match_weight >= {float(weight)!r} "
                "AND p.reason IS DISTINCT FROM 'clerical_non_match')")
        scored = ("count(*) FILTER (WHERE (p.match_weight IS NOT NULL OR p.reason = 'no_candidate') "
                  "AND p.reason IS DISTINCT FROM 'clerical_non_match')")
        condition = f"{near} > 0 AND 2 * {near} >= {scored} AND NOT bool_or(p.pool_id IN ({established}))"
    materialise(db, HELD_BACK, f"""
        SELECT g.pool_id FROM {GROUPS} AS g WHERE g.group_id IN (
            SELECT g.group_id FROM {GROUPS} AS g JOIN {POOL} AS p USING (pool_id)
            GROUP BY g.group_id HAVING {condition})""")
    n_records, n_groups = db.run(f"""SELECT count(*), count(DISTINCT group_id) FROM {GROUPS}
                                          WHERE pool_id IN (SELECT pool_id FROM {HELD_BACK})""")[0]
    db.run(f"DELETE FROM {GROUPS} WHERE pool_id IN (SELECT pool_id FROM {HELD_BACK})")
    return {"weight": weight, "groups": int(n_groups), "records": int(n_records)}
