"""Links re-judged after enlargement by the identifiers their records carry.

A crossing with a year-only birth date can link by the model to a registered namesake born that
year, while the traveller's other crossings and visas, carrying the same passport with the full
date, are refused for that person (see ``_refuse_taught_numbers_that_disagree``) and become a new
person in enlargement. The passport then has two holders: the namesake, through a link the model
made, and the new person, through most of the records that carry it. When the new person holds
more of its records than the registered one, the number is not one the register holds for that
person, and most of the new person's records disagree with the registered person's date of birth
or sex, the links were the new person's: they move to the new person (``method = 'enlarged'``,
``matched_on`` ``<field>_holder`` in the store; counts in ``linkage.number_holders``).

Never moved: a record a clerk linked (method ``clerical``); a number any record of the registered
person carries next to a number the register holds for them (a renewed passport of a registered
person); a number with two new holders; a record whose numbers point at two holders.
"""

from __future__ import annotations

from typing import Any


from linkage._sql import columns_of, materialise, quote_ident, sql_literal
from linkage.deterministic import disagrees_sql
from spine.config import ID_FIELDS
from spine.engine import Engine
from spine.enlarge import ENLARGED
from spine.linking import SPINE_IDENTIFIERS, SPINE_REFERENCE, TAUGHT_NUMBER_CHECK, features_table, link_table

CARRIED = "spine__carried_numbers"
MOVES = "spine__moves_to_number_holders"


def move_to_number_holders(db: Engine, sources: list[str]) -> dict[str, Any]:
    """Move links of registered persons to the new person holding most records of the number they
    carry, where that person's records disagree with the registered person (module docstring);
    rewrite the link tables of ``sources`` (every source but the base). Returns counts: ``numbers``
    judged another's, ``records`` moved, by source."""
    parts = []
    for name in sources:
        have = set(columns_of(db, features_table(name)))
        parts += [f"""SELECT {sql_literal(name)} AS source, l.record_id, l.entity_id, l.method,
                             {sql_literal(field)} AS field, f.{quote_ident(field)} AS value,
                             {", ".join(f"f.{f}" for f in TAUGHT_NUMBER_CHECK)}
                      FROM {quote_ident(link_table(name))} AS l JOIN {quote_ident(features_table(name))} AS f
                      USING (record_id)
                      WHERE l.status = 'linked' AND f.{quote_ident(field)} IS NOT NULL"""
                  for field in ID_FIELDS if field in have]
    if not parts:
        return {"numbers": 0, "records": 0, "by_source": {}}
    # only numbers a new person holds can move: the records carrying none (nearly all) are not kept
    materialise(db, CARRIED, f"""
        WITH carried AS ({" UNION ALL ".join(parts)}),
        held AS (SELECT DISTINCT field, value FROM carried WHERE entity_id IN (SELECT person_id FROM {ENLARGED})),
        held_by_record AS (SELECT DISTINCT source, record_id FROM carried JOIN held USING (field, value))
        SELECT c.* FROM carried AS c JOIN held_by_record USING (source, record_id)""")
    differs = " OR ".join(disagrees_sql(f, f"c.{f}", f"r.{f}") for f in TAUGHT_NUMBER_CHECK)
    materialise(db, MOVES, f"""
        WITH base_numbers AS (SELECT entity_id, field, value FROM {SPINE_IDENTIFIERS} WHERE from_base),
        on_base_number AS (   -- records that carry a number the register holds for their person
            SELECT DISTINCT c.source, c.record_id
            FROM {CARRIED} AS c JOIN base_numbers USING (entity_id, field, value)),
        per AS (SELECT field, value, entity_id, count(*) AS n FROM {CARRIED} GROUP BY ALL),
        pairs AS (
            SELECT b.field, b.value, b.entity_id AS registered, e.entity_id AS holder
            FROM per AS b JOIN per AS e USING (field, value)
            WHERE b.entity_id IN (SELECT entity_id FROM {SPINE_REFERENCE})
              AND e.entity_id IN (SELECT person_id FROM {ENLARGED}) AND e.n > b.n
              AND NOT EXISTS (SELECT 1 FROM base_numbers AS n
                              WHERE n.entity_id = b.entity_id AND n.field = b.field AND n.value = b.value)
              AND NOT EXISTS (SELECT 1 FROM {CARRIED} AS c JOIN on_base_number AS o USING (source, record_id)
                              WHERE c.entity_id = b.entity_id AND c.field = b.field AND c.value = b.value)
            QUALIFY count(*) OVER (PARTITION BY b.field, b.value, b.entity_id) = 1),
        holder_records AS (   -- does each of the holder's records agree with a register record of the other?
            SELECT p.field, p.value, p.registered, p.holder, c.source, c.record_id,
                   bool_or(NOT coalesce({differs}, FALSE)) AS agrees
            FROM pairs AS p JOIN {CARRIED} AS c ON c.field = p.field AND c.value = p.value AND c.entity_id = p.holder
            JOIN {SPINE_REFERENCE} AS r ON r.entity_id = p.registered
            GROUP BY ALL),
        judged AS (
            SELECT field, value, registered, holder FROM holder_records GROUP BY ALL
            HAVING 2 * count(*) FILTER (WHERE agrees) < count(*))
        SELECT c.source, c.record_id, j.holder AS entity_id, c.field, j.value
        FROM judged AS j JOIN {CARRIED} AS c ON c.field = j.field AND c.value = j.value AND c.entity_id = j.registered
        WHERE c.method IS DISTINCT FROM 'clerical'
        QUALIFY min(j.holder) OVER (PARTITION BY c.source, c.record_id)
                = max(j.holder) OVER (PARTITION BY c.source, c.record_id)
            AND row_number() OVER (PARTITION BY c.source, c.record_id ORDER BY c.field) = 1""")
    for name in sources:
        db.run(f"""
            UPDATE {quote_ident(link_table(name))} AS l
            SET entity_id = m.entity_id, method = 'enlarged', matched_on = m.field || '_holder', reason = NULL
            FROM {MOVES} AS m WHERE m.source = {sql_literal(name)} AND m.record_id = l.record_id""")
    numbers, records = db.run(f"SELECT count(DISTINCT (field, value)), count(*) FROM {MOVES}")[0]
    by_source = dict(db.run(f"SELECT source, count(*) FROM {MOVES} GROUP BY 1 ORDER BY 1"))
    return {"numbers": int(numbers), "records": int(records), "by_source": by_source}
