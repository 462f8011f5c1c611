"""Dependants without a spine record of their own become persons (``origin = family``).

Children often have no record but their parent's claim (no identifier, no tax record): Canada
links immigrant children to parents through child benefit data. A record of the configured
children source that is still unlinked after linkage and enlargement, and whose claim belongs to a
linked claimant, becomes a new person, linked with method ``family``; its id is the keyed hash
of the record (``<source>:<record id>``), so it is stable while the record is. Records of one
child (same names and date of birth) make one person. A record held back from enlargement as a
possible register match still becomes a family person: the claim ties it to its parent, and the
near miss is usually a sibling in the register (excluding them cost 10 points of family-event
recall at 100k persons). The rules then
give such children their parent's migration events (rules.family).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


from linkage._sql import materialise, quote_ident, sql_literal
from spine.config import JobConfig
from spine.engine import Engine
from spine.linking import link_table
from spine.pseudonymise import hmac_sql
from spine.sources import std_table

FAMILY_PERSONS = "spine__family_persons"
DEPENDANTS = "spine__dependants"


def claims_sql(job: JobConfig, links: Callable[[str], str] = quote_ident) -> str:
    """SELECT (child person, parent person) from the children source and the claims source, joined on
    the claim id; only linked records on both sides. ``links`` names a link table in the SQL."""
    family = job.rules.family
    children, claims = family.children_source, family.claims_source
    # Each linked child with its claim's records first, materialised: left to itself DuckDB's
    # optimiser has joined the two link tables on the inequality alone (a nested loop: 100 s at
    # 20k persons, in the uncertainty replicates).
    return f"""
        WITH children AS MATERIALIZED (
            SELECT lc.entity_id AS child_person_id, p.record_id AS claim_record
            FROM {quote_ident(std_table(children))} AS c JOIN {links(link_table(children))} AS lc USING (record_id)
            JOIN {quote_ident(std_table(claims))} AS p ON p.claim_id = c.claim_id
            WHERE lc.status = 'linked')
        SELECT DISTINCT k.child_person_id, lp.entity_id AS parent_person_id
        FROM children AS k JOIN {links(link_table(claims))} AS lp ON lp.record_id = k.claim_record
        WHERE lp.status = 'linked' AND k.child_person_id <> lp.entity_id"""


def add_family_persons(db: Engine, job: JobConfig, key_table: str) -> dict[str, Any]:
    """Create persons for unlinked children on a linked claimant's claim; update their link table."""
    db.run(f"CREATE OR REPLACE TABLE {FAMILY_PERSONS} (person_id VARCHAR)")
    family = job.rules.family
    if family.children_source is None:
        return {"enabled": False}
    children, claims = family.children_source, family.claims_source
    table = link_table(children)
    anchor = f"{sql_literal(children + ':')} || l.record_id"
    # One child on two claim records (two parents claiming, a claim listed twice) is one person:
    # records with the same names and date of birth share the id of the first of them.
    materialise(db, "family__new", f"""
        WITH candidates AS (
            SELECT l.record_id, {anchor} AS anchor,
                   CASE WHEN c.first_name IS NULL OR c.surname IS NULL OR c.dob IS NULL THEN l.record_id
                        ELSE c.first_name || '|' || c.surname || '|' || CAST(c.dob AS VARCHAR) END AS child_key
            FROM {quote_ident(table)} AS l JOIN {quote_ident(std_table(children))} AS c USING (record_id)
            WHERE l.status = 'unlinked'
              AND c.claim_id IN (
                SELECT p.claim_id FROM {quote_ident(std_table(claims))} AS p
                JOIN {quote_ident(link_table(claims))} AS lp USING (record_id) WHERE lp.status = 'linked')),
        grouped AS (SELECT record_id, min(anchor) OVER (PARTITION BY child_key) AS anchor FROM candidates),
        ids AS (SELECT anchor, {hmac_sql('anchor', key_table)} AS person_id FROM (SELECT DISTINCT anchor FROM grouped))
        SELECT g.record_id, ids.person_id FROM grouped AS g JOIN ids USING (anchor)""")
    materialise(db, table, f"""   -- rewritten in place
        SELECT l.record_id, coalesce(n.person_id, l.entity_id) AS entity_id,
               CASE WHEN n.person_id IS NOT NULL THEN 'linked' ELSE l.status END AS status,
               CASE WHEN n.person_id IS NOT NULL THEN 'family' ELSE l.method END AS method,
               l.matched_on, l.match_probability, l.match_weight,
               CASE WHEN n.person_id IS NOT NULL THEN NULL ELSE l.reason END AS reason
        FROM {quote_ident(table)} AS l LEFT JOIN family__new AS n USING (record_id)""")
    materialise(db, FAMILY_PERSONS, "SELECT DISTINCT person_id FROM family__new")
    return {"enabled": True, "persons_created": db.run(f"SELECT count(*) FROM {FAMILY_PERSONS}")[0][0]}
