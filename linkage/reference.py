"""Reference tables the standardisers look values up in: ISO 3166-1 countries and name variants.

The data are CSV files in ``linkage/data`` (provenance in its README). ``create_reference_tables``
loads them into the store once per run, so every lookup is a join in the engine.
"""

from __future__ import annotations

from importlib import resources

from linkage._sql import Engine, sql_literal

COUNTRY_TABLE = "linkage__countries"
NAME_VARIANT_TABLE = "linkage__name_variants"
#: ISO 3166-1 ranges left for users (XXA stateless, XXX unknown, national or synthetic codes).
USER_ASSIGNED_ALPHA3 = "^(AA[A-Z]|Q[M-Z][A-Z]|X[A-Z][A-Z]|ZZ[A-Z])$"


def data_path(name: str) -> str:
    """Path of a file shipped in ``linkage/data``."""
    return str(resources.files("linkage") / "data" / name)


def country_key_sql(raw: str) -> str:
    """The lookup key of a country value: upper case, no accents or punctuation, numbers without leading zeros."""
    cleaned = (f"trim(regexp_replace(regexp_replace(upper(strip_accents(trim({raw}))), '[^A-Z0-9]+', ' ', 'g'), "
               f"'\\s+', ' ', 'g'))")
    return (f"(CASE WHEN regexp_full_match({cleaned}, '[0-9]+') THEN coalesce(NULLIF(ltrim({cleaned}, '0'), ''), '0') "
            f"ELSE NULLIF({cleaned}, '') END)")


def _csv(name: str) -> str:
    return f"read_csv({sql_literal(data_path(name))}, all_varchar = true, header = true, delim = ',')"


def create_reference_tables(db: Engine, *, name_variants: str | None = None) -> None:
    """(Re)create the country and name-variant tables in the store.

    Args:
        db: the engine holding the store.
        name_variants: a CSV (variant, canonical) to use instead of the shipped seed list.
    """
    countries = _csv("countries.csv")
    key = country_key_sql
    other_names = "unnest(string_split(other_names, '|'))"
    db.run(f"""
        CREATE OR REPLACE TABLE {COUNTRY_TABLE} AS
        WITH plain AS (
            SELECT {key('alpha3')} AS key, alpha3 FROM {countries}
            UNION ALL SELECT {key('alpha2')}, alpha3 FROM {countries}
            UNION ALL SELECT {key('numeric')}, alpha3 FROM {countries}
            UNION ALL SELECT {key('name')}, alpha3 FROM {countries}
            UNION ALL SELECT {key('other_name')}, alpha3 FROM (   -- the unnest on its own: Spark nests no generator
                SELECT {other_names} AS other_name, alpha3 FROM {countries} WHERE other_names IS NOT NULL)
            UNION ALL SELECT {key('alias')}, alpha3 FROM {_csv('country_aliases.csv')}
        ),
        ambiguous AS (
            SELECT {key('a.code')} AS key,
                   CASE WHEN length(a.code) = 2 THEN p.alpha3 END AS alpha3,  -- a code still maps; a name is not guessed
                   a.reason
            FROM {_csv('country_ambiguous.csv')} AS a LEFT JOIN plain AS p ON p.key = {key('a.code')}
        )
        SELECT key, alpha3, CAST(NULL AS VARCHAR) AS ambiguity FROM plain
        WHERE key IS NOT NULL AND key NOT IN (SELECT key FROM ambiguous)
        GROUP BY key, alpha3
        UNION ALL SELECT key, any_value(alpha3), any_value(reason) FROM ambiguous GROUP BY key
    """)
    duplicated = db.run(f"SELECT key FROM {COUNTRY_TABLE} GROUP BY key HAVING count(*) > 1 LIMIT 5")
    if duplicated:  # a data error in linkage/data, caught on load rather than as a wrong join later
        raise ValueError(f"country reference data maps {[k for (k,) in duplicated]} to several countries")
    variants = (f"read_csv({sql_literal(name_variants)}, all_varchar = true, header = true)"
                if name_variants else _csv("name_variants.csv"))
    db.run(f"""
        CREATE OR REPLACE TABLE {NAME_VARIANT_TABLE} AS
        SELECT upper(trim(variant)) AS variant, any_value(upper(trim(canonical))) AS canonical
        FROM {variants} WHERE variant IS NOT NULL AND canonical IS NOT NULL GROUP BY 1""")
