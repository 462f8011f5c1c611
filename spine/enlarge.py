"""Enlargement: people absent from the base register become spine persons.

Unmatched records of every source marked ``enlarge: true`` are pooled and deduplicated among
themselves across sources before any person is created, so one unregistered immigrant seen in
visas, border crossings and tax becomes one person, not three. Records belong together when they
share a passport or national id, or agree on names, date of birth and sex (a name
key held by more than ``MAX_GROUP`` records is a common value and joins nothing). Groups are the
connected components of those pairs, found by label propagation in SQL. Each new person's id is
the keyed hash of its first record (``<source>:<record id>``, smallest first), so it is stable
while that record is.
"""

from __future__ import annotations

from typing import Any

import duckdb

from linkage._sql import columns_of, materialise, quote_ident, sql_literal
from spine.config import JobConfig
from spine.linking import features_table, link_table
from spine.pseudonymise import hmac_sql

POOL = "enlarge__pool"
EDGES = "enlarge__edges"
GROUPS = "enlarge__groups"
ENLARGED = "spine__enlarged"
MAX_GROUP = 50
NAME_KEYS = (("first_name", "surname", "dob", "sex", "nationality"),
             ("first_name", "surname", "dob", "sex"),   # sources without nationality (education, claims)
             ("first_name_canonical", "surname", "dob", "sex"),
             ("first_initial", "surname", "dob", "sex"))   # a typo in the first name
ID_KEYS = ("passport_no", "national_id")


def enlarge(con: duckdb.DuckDBPyConnection, job: JobConfig, key_table: str) -> dict[str, Any]:
    """Create persons for unmatched records of enlarging sources; update their link tables."""
    sources = [name for name, source in job.ordered_sources if source.enlarge]
    con.execute(f"CREATE OR REPLACE TABLE {ENLARGED} (person_id VARCHAR)").fetchall()
    if not sources:
        return {"sources": []}
    columns = tuple(dict.fromkeys(c for key in (*NAME_KEYS, ID_KEYS) for c in key))
    parts = []
    for name in sources:
        feat = features_table(name)
        have = set(columns_of(con, feat))
        cols = ", ".join(f"f.{quote_ident(c)}" if c in have else f"CAST(NULL AS VARCHAR) AS {c}" for c in columns)
        parts.append(f"""SELECT {sql_literal(name + ':')} || l.record_id AS pool_id, {sql_literal(name)} AS source,
                                l.record_id, {cols}
                         FROM {quote_ident(link_table(name))} AS l JOIN {quote_ident(feat)} AS f USING (record_id)
                         WHERE l.status = 'unlinked'""")
    materialise(con, POOL, " UNION ALL ".join(parts))
    edges = []
    for key in (*[(k,) for k in ID_KEYS], *NAME_KEYS):
        cols = ", ".join(quote_ident(c) for c in key)
        complete = " AND ".join(f"{quote_ident(c)} IS NOT NULL" for c in key)
        # An identifier is one person's however many records carry it (a frequent traveller's
        # crossings); a name key shared by many records is a common name.
        limit = "" if key[0] in ID_KEYS else f"WHERE n <= {MAX_GROUP}"
        edges.append(f"""SELECT a, b FROM (
                             SELECT pool_id AS a, min(pool_id) OVER (PARTITION BY {cols}) AS b,
                                    count(*) OVER (PARTITION BY {cols}) AS n
                             FROM {POOL} WHERE {complete}) {limit}""")
    materialise(con, EDGES, f"SELECT DISTINCT a, b FROM ({' UNION ALL '.join(edges)}) WHERE a <> b")
    _components(con)
    # The person id is hashed once per group (HMAC in SQL is not free), then joined to its records.
    materialise(con, GROUPS, f"""
        WITH ids AS (SELECT group_id, {hmac_sql('group_id', key_table)} AS person_id
                     FROM (SELECT DISTINCT group_id FROM {GROUPS}))
        SELECT g.pool_id, g.group_id, ids.person_id FROM {GROUPS} AS g JOIN ids USING (group_id)""")
    materialise(con, ENLARGED, f"SELECT DISTINCT person_id FROM {GROUPS}")
    for name in sources:
        table = link_table(name)
        materialise(con, table, f"""   -- rewritten in place
            SELECT l.record_id,
                   CASE WHEN g.group_id IS NOT NULL THEN g.person_id ELSE l.entity_id END AS entity_id,
                   CASE WHEN g.group_id IS NOT NULL THEN 'linked' ELSE l.status END AS status,
                   CASE WHEN g.group_id IS NOT NULL THEN 'enlarged' ELSE l.method END AS method,
                   l.matched_on, l.match_probability, l.match_weight,
                   CASE WHEN g.group_id IS NOT NULL THEN NULL ELSE l.reason END AS reason
            FROM {quote_ident(table)} AS l
            LEFT JOIN {GROUPS} AS g ON g.pool_id = {sql_literal(name + ':')} || l.record_id""")
    n_records, n_persons = con.execute(f"SELECT count(*), count(DISTINCT group_id) FROM {GROUPS}").fetchall()[0]
    by_source = dict(con.execute(f"SELECT split_part(pool_id, ':', 1), count(*) FROM {GROUPS} GROUP BY 1 ORDER BY 1"
                                 ).fetchall())
    return {"sources": sources, "records": int(n_records), "persons": int(n_persons), "records_per_source": by_source}


def _components(con: duckdb.DuckDBPyConnection) -> None:
    """Connected components of the pool's edges: every record gets the smallest id it reaches."""
    con.execute(f"CREATE OR REPLACE TABLE {GROUPS} AS SELECT pool_id, pool_id AS group_id FROM {POOL}").fetchall()
    while True:
        changed = con.execute(f"""
            UPDATE {GROUPS} AS g SET group_id = m.group_id FROM (
                SELECT x.pool_id, min(y.group_id) AS group_id FROM (
                    SELECT a AS pool_id, b AS other FROM {EDGES} UNION ALL SELECT b, a FROM {EDGES}) AS x
                JOIN {GROUPS} AS y ON y.pool_id = x.other GROUP BY x.pool_id) AS m
            WHERE g.pool_id = m.pool_id AND m.group_id < g.group_id""").fetchall()[0][0]
        if not changed:
            break
