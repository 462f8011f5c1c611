"""Derived columns that make standardised names and dates tolerant in blocking and comparison.

Phonetic keys come from jellyfish, computed once per *distinct* name (a few thousand values even for
millions of records) and joined back in the engine; everything else is SQL.
"""

from __future__ import annotations

import jellyfish
import pyarrow as pa

from linkage._sql import Engine, materialise, quote_ident
from linkage.reference import NAME_VARIANT_TABLE, create_reference_tables

#: Column added -> what it holds.
FEATURES: dict[str, str] = {
    "first_name_canonical": "first name with nicknames and spelling variants resolved (BILL -> WILLIAM)",
    "first_initial": "first letter of the first name",
    "surname_initial": "first letter of the surname (which transliteration and most typos keep)",
    "first_name_metaphone": "metaphone key of the first name",
    "surname_soundex": "soundex key of the surname",
    "surname_metaphone": "metaphone key of the surname",
    "surname_nysiis": "NYSIIS key of the surname (robust to transliteration: PETROV/PETROFF)",
    "birth_year": "year of the date of birth",
    "birth_year_month": "year and month of the date of birth (e.g. 1975-02: what a date known only to the month holds)",
    "birth_month_day": "month and day of the date of birth (e.g. 02-17: what a mistyped year of birth keeps)",
    "name_tokens": "sorted distinct parts of first name and surname (multi-part, hyphenated or swapped names)",
}
#: Derived feature -> the standard fields it is computed from (a pair agreeing on the feature agrees on
#: that much of the field).
FEATURE_SOURCES: dict[str, tuple[str, ...]] = {
    "first_name_canonical": ("first_name",), "first_initial": ("first_name",),
    "first_name_metaphone": ("first_name",), "surname_soundex": ("surname",),
    "surname_metaphone": ("surname",), "surname_nysiis": ("surname",), "birth_year": ("dob",),
    "birth_year_month": ("dob",), "birth_month_day": ("dob",), "name_tokens": ("first_name", "surname"),
    "surname_initial": ("surname",),
}
PHONETIC_TABLE = "linkage__phonetic_keys"


def _phonetic_keys(db: Engine, table: str) -> str:
    """Soundex, metaphone and NYSIIS of every distinct name in ``table`` (letters only)."""
    t = quote_ident(table)
    names = db.arrays(f"""
        SELECT DISTINCT name FROM (
            SELECT regexp_replace(first_name, '[^A-Z]', '', 'g') AS name FROM {t}
            UNION ALL SELECT regexp_replace(surname, '[^A-Z]', '', 'g') FROM {t})
        WHERE name IS NOT NULL AND name <> ''""")["name"].tolist()
    keys = pa.table({
        "name": pa.array(names, pa.string()),
        "soundex": pa.array([jellyfish.soundex(n) for n in names], pa.string()),
        "metaphone": pa.array([jellyfish.metaphone(n) for n in names], pa.string()),
        "nysiis": pa.array([jellyfish.nysiis(n) for n in names], pa.string()),
    })
    with db.registered("linkage__phonetic_keys_read", keys) as view:
        db.run(f"CREATE OR REPLACE TEMP TABLE {PHONETIC_TABLE} AS SELECT * FROM {view}")
    return PHONETIC_TABLE


def add_linkage_features(db: Engine, table: str, output: str) -> str:
    """Materialise ``output``: every row and column of ``table`` plus the columns of :data:`FEATURES`.

    ``table`` needs ``first_name``, ``surname`` and ``dob`` columns (NULL where a source lacks them),
    as :func:`linkage.standardise.standardise_records_sql` produces.
    """
    if NAME_VARIANT_TABLE not in db.table_names():
        create_reference_tables(db)
    keys = _phonetic_keys(db, table)
    letters = "regexp_replace({}, '[^A-Z]', '', 'g')"
    return materialise(db, output, f"""
        SELECT t.*,
               coalesce(v.canonical, t.first_name) AS first_name_canonical,
               left(t.first_name, 1) AS first_initial, left(t.surname, 1) AS surname_initial,
               pf.metaphone AS first_name_metaphone,
               ps.soundex AS surname_soundex, ps.metaphone AS surname_metaphone, ps.nysiis AS surname_nysiis,
               year(t.dob) AS birth_year, strftime(t.dob, '%Y-%m') AS birth_year_month,
               strftime(t.dob, '%m-%d') AS birth_month_day,
               NULLIF(list_sort(list_distinct(list_filter(
                   string_split_regex(concat_ws(' ', t.first_name, t.surname), '[ \\-]+'), lambda x: x <> ''))),
                   []) AS name_tokens
        FROM {quote_ident(table)} AS t
        LEFT JOIN {NAME_VARIANT_TABLE} AS v ON v.variant = t.first_name
        LEFT JOIN {keys} AS pf ON pf.name = {letters.format('t.first_name')}
        LEFT JOIN {keys} AS ps ON ps.name = {letters.format('t.surname')}""")
