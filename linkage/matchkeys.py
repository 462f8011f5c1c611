"""Deterministic match-key cascade (the ONS Census 2021 approach).

An ordered list of keys, strict to loose. Each pass links records to reference entities that agree
on every field of the key, among what earlier passes left. A key value links only when it points at
exactly one reference entity (and, for one-to-one jobs, exactly one record), so a common name plus
a birth year never links on its own merit. Many-to-one jobs (a person has many tax records) do not
require uniqueness on the records side: several records of one person share a key by design.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from linkage._sql import Engine, columns_of, materialise, quote_ident, sql_literal
from linkage.errors import LinkageError

CONSTRAINTS = ("many_to_one", "one_to_one")


@dataclass(frozen=True)
class MatchKey:
    """One pass of the cascade: a name for reports and the fields that must all agree."""

    name: str
    fields: tuple[str, ...]


#: Default cascade, modelled on ONS's 35 Census–CCS keys and cut to the fields a register and
#: admin sources share: full agreement first, then each key relaxes one thing (nickname,
#: spelling, initial, surname change on marriage, wrong date of birth, missing or miscoded sex).
#: A job uses the keys whose fields both sides map, in this order.
DEFAULT_MATCH_KEYS: tuple[MatchKey, ...] = (
    MatchKey("full", ("first_name", "surname", "dob", "sex", "postcode")),
    MatchKey("name_dob_postcode", ("first_name", "surname", "dob", "postcode")),
    MatchKey("name_dob_sex", ("first_name", "surname", "dob", "sex")),
    MatchKey("nickname_dob_sex", ("first_name_canonical", "surname", "dob", "sex")),
    MatchKey("name_dob", ("first_name", "surname", "dob")),
    MatchKey("nickname_dob", ("first_name_canonical", "surname", "dob")),
    MatchKey("phonetic_names_dob_sex", ("first_name_metaphone", "surname_nysiis", "dob", "sex")),
    MatchKey("phonetic_names_dob", ("first_name_metaphone", "surname_nysiis", "dob")),
    MatchKey("first_name_soundex_surname_dob_sex", ("first_name", "surname_soundex", "dob", "sex")),
    MatchKey("initial_surname_dob_sex", ("first_initial", "surname", "dob", "sex")),
    MatchKey("initial_surname_dob_postcode", ("first_initial", "surname", "dob", "postcode")),
    MatchKey("initial_phonetic_surname_dob_sex", ("first_initial", "surname_nysiis", "dob", "sex")),
    MatchKey("name_year_sex_postcode", ("first_name", "surname", "birth_year", "sex", "postcode")),
    MatchKey("name_year_postcode", ("first_name", "surname", "birth_year", "postcode")),
    MatchKey("swapped_names_dob", ("name_tokens", "dob")),
    MatchKey("first_name_dob_sex_postcode", ("first_name", "dob", "sex", "postcode")),
    MatchKey("first_name_dob_postcode", ("first_name", "dob", "postcode")),
    MatchKey("nickname_dob_sex_nationality", ("first_name_canonical", "dob", "sex", "nationality")),
    MatchKey("surname_dob_sex_postcode", ("surname", "dob", "sex", "postcode")),
    MatchKey("surname_dob_postcode", ("surname", "dob", "postcode")),
)


def check_keys(keys: Sequence[MatchKey], columns: set[str], side: str) -> None:
    """Every key field must be a column of ``side``; names must be unique."""
    if not keys:
        raise LinkageError("the match-key cascade needs at least one key")
    names = [k.name for k in keys]
    if len(set(names)) != len(names):
        raise LinkageError(f"match-key names must be unique, got {names}")
    for key in keys:
        missing = [f for f in key.fields if f not in columns]
        if missing:
            raise LinkageError(f"match-key {key.name!r} uses {', '.join(missing)}, which the {side} lacks")


def link_on_match_keys(db: Engine, records: str, reference: str, keys: Sequence[MatchKey], output: str, *,
                       constraint: str = "many_to_one") -> str:
    """Run the cascade; materialise ``output`` and return its name.

    Grain: one row per row of ``records``.
    Columns: ``record_id``, ``entity_id``, ``status`` (``linked``/``unlinked``), ``matched_on``
    (the key's name), ``key_rank`` (its position, 1 = strictest) and ``reason`` (``no_match``).

    Args:
        records: table with ``record_id`` and the key fields.
        reference: table with ``entity_id`` and the key fields (several rows per entity allowed).
        keys: the cascade, strict to loose.
        constraint: ``many_to_one`` (an entity takes any number of records) or ``one_to_one``
            (an entity takes one record, and a key value must be unique among the records too).
    """
    if constraint not in CONSTRAINTS:
        raise LinkageError(f"constraint must be one of {', '.join(CONSTRAINTS)}, got {constraint!r}")
    check_keys(keys, set(columns_of(db, records)), f"records table {records!r}")
    check_keys(keys, set(columns_of(db, reference)), f"reference table {reference!r}")
    found = f"{output}__found"
    db.run(f"CREATE OR REPLACE TEMP TABLE {quote_ident(found)} "
           "(record_id VARCHAR, entity_id VARCHAR, matched_on VARCHAR, key_rank INTEGER)")
    rec, ref, got = quote_ident(records), quote_ident(reference), quote_ident(found)
    for rank, key in enumerate(keys, start=1):
        cols = ", ".join(quote_ident(f) for f in key.fields)
        complete = " AND ".join(f"{quote_ident(f)} IS NOT NULL" for f in key.fields)
        taken = f"AND entity_id NOT IN (SELECT entity_id FROM {got})" if constraint == "one_to_one" else ""
        unique_records = "HAVING count(*) = 1" if constraint == "one_to_one" else ""
        # An entity with several reference rows could meet two records on two key values.
        one_record_per_entity = ("QUALIFY count(*) OVER (PARTITION BY e.entity_id) = 1"
                                 if constraint == "one_to_one" else "")
        db.run(f"""
            INSERT INTO {got}
            WITH open_records AS (
                SELECT record_id, {cols} FROM {rec}
                WHERE {complete} AND record_id NOT IN (SELECT record_id FROM {got})
            ),
            record_keys AS (SELECT {cols} FROM open_records GROUP BY ALL {unique_records}),
            entity_keys AS (
                SELECT {cols}, min(entity_id) AS entity_id FROM {ref}
                WHERE {complete} {taken} GROUP BY ALL HAVING count(DISTINCT entity_id) = 1
            )
            SELECT o.record_id, e.entity_id, {sql_literal(key.name)}, {rank}
            FROM open_records AS o JOIN record_keys USING ({cols}) JOIN entity_keys AS e USING ({cols})
            {one_record_per_entity}
        """)
    materialise(db, output, f"""
        SELECT r.record_id, f.entity_id,
               CASE WHEN f.entity_id IS NULL THEN 'unlinked' ELSE 'linked' END AS status,
               f.matched_on, f.key_rank,
               CASE WHEN f.entity_id IS NULL THEN 'no_match' END AS reason
        FROM {rec} AS r LEFT JOIN {got} AS f USING (record_id)""")
    db.run(f"DROP TABLE {got}")
    return output


def dedupe_on_match_keys(db: Engine, records: str, keys: Sequence[MatchKey], output: str, *,
                         max_group: int = 5) -> str:
    """Duplicate pairs within one table by the cascade; materialise ``output`` and return its name.

    A key value shared by 2 to ``max_group`` records makes each pair of them a duplicate pair
    (a larger group is a common value, not one person). A pair is reported once, with the first
    (strictest) key that found it.

    Columns: ``left_id`` < ``right_id``, ``matched_on``, ``key_rank``.
    """
    if max_group < 2:
        raise LinkageError(f"max_group must be at least 2, got {max_group}")
    check_keys(keys, set(columns_of(db, records)), f"records table {records!r}")
    rec = quote_ident(records)
    passes = []
    for rank, key in enumerate(keys, start=1):
        cols = ", ".join(quote_ident(f) for f in key.fields)
        complete = " AND ".join(f"{quote_ident(f)} IS NOT NULL" for f in key.fields)
        passes.append(f"""
            SELECT l.record_id AS left_id, r.record_id AS right_id, {sql_literal(key.name)} AS matched_on,
                   {rank} AS key_rank
            FROM (SELECT record_id, {cols}, count(*) OVER (PARTITION BY {cols}) AS n FROM {rec} WHERE {complete})
                 AS l
            JOIN {rec} AS r USING ({cols})
            WHERE l.record_id < r.record_id AND l.n <= {int(max_group)}""")
    return materialise(db, output, f"""
        SELECT left_id, right_id, arg_min(matched_on, key_rank) AS matched_on, min(key_rank) AS key_rank
        FROM ({' UNION ALL '.join(passes)}) GROUP BY left_id, right_id""")
