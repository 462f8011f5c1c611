"""The output contract (../shared/spec/outputs.md) as data, and a checker for a finished run."""

from __future__ import annotations

import duckdb

CONTRACT: dict[str, dict[str, str]] = {
    "persons": {"person_id": "VARCHAR", "origin": "VARCHAR", "first_name": "VARCHAR", "surname": "VARCHAR",
                "dob": "DATE", "sex": "VARCHAR", "nationality": "VARCHAR", "country_of_birth": "VARCHAR"},
    "links": {"source": "VARCHAR", "record_id": "VARCHAR", "person_id": "VARCHAR", "status": "VARCHAR",
              "method": "VARCHAR", "match_probability": "DOUBLE", "match_weight": "DOUBLE", "reason": "VARCHAR"},
    "attribute_values": {"person_id": "VARCHAR", "attribute": "VARCHAR", "value": "VARCHAR", "source": "VARCHAR",
                         "chosen": "BOOLEAN", "policy": "VARCHAR"},
    "movements": {"person_id": "VARCHAR", "source": "VARCHAR", "record_id": "VARCHAR", "date": "DATE",
                  "direction": "VARCHAR", "flag": "VARCHAR", "kept": "BOOLEAN"},
    "events": {"person_id": "VARCHAR", "event": "VARCHAR", "date": "DATE", "rule": "VARCHAR",
               "derived_via": "VARCHAR", "parent_person_id": "VARCHAR", "provisional": "BOOLEAN"},
    "flows": {"period": "VARCHAR", "event": "VARCHAR", "sex": "VARCHAR", "age_group": "VARCHAR",
              "citizenship_group": "VARCHAR", "count": "BIGINT", "suppressed": "BOOLEAN",
              "lower": "DOUBLE", "upper": "DOUBLE"},
}

ALLOWED: dict[tuple[str, str], set] = {
    ("persons", "origin"): {"base", "enlarged", "family"},
    ("persons", "sex"): {"f", "m", None},
    ("links", "status"): {"linked", "unlinked", "review", "rejected"},
    ("links", "method"): {"base", "deterministic_id", "deterministic", "probabilistic", "enlarged", "clerical", "family", None},
    ("movements", "direction"): {"in", "out"},
    ("movements", "flag"): {None, "illogical_itinerary", "imputed"},
    ("events", "event"): {"immigration", "emigration"},
    ("events", "derived_via"): {"self", "family"},
}


def check_contract(con: duckdb.DuckDBPyConnection) -> None:
    """Assert every contract table exists with its columns, types and allowed codes."""
    for table, columns in CONTRACT.items():
        found = {r[0]: r[1] for r in con.execute(f"DESCRIBE {table}").fetchall()}
        for column, sql_type in columns.items():
            assert column in found, f"{table}.{column} missing"
            assert found[column] == sql_type, f"{table}.{column} is {found[column]}, contract says {sql_type}"
    for (table, column), allowed in ALLOWED.items():
        seen = {r[0] for r in con.execute(f"SELECT DISTINCT {column} FROM {table}").fetchall()}
        assert seen <= allowed, f"{table}.{column} has {seen - allowed}"
    # person_id is NULL exactly when a record is not linked
    bad = con.execute("SELECT count(*) FROM links WHERE (person_id IS NULL) <> (status <> 'linked')").fetchone()[0]
    assert bad == 0
    # every linked person_id is a spine person; nationality codes are alpha-3 upper case
    orphans = con.execute("SELECT count(*) FROM links WHERE person_id IS NOT NULL "
                          "AND person_id NOT IN (SELECT person_id FROM persons)").fetchone()[0]
    assert orphans == 0
    bad_codes = con.execute("SELECT count(*) FROM persons WHERE NOT regexp_full_match(nationality, '[A-Z]{3}') "
                            "OR NOT regexp_full_match(country_of_birth, '[A-Z]{3}')").fetchone()[0]
    assert bad_codes == 0
    one_chosen = con.execute("SELECT count(*) FROM (SELECT person_id, attribute FROM attribute_values "
                             "GROUP BY ALL HAVING count(*) FILTER (WHERE chosen) <> 1)").fetchone()[0]
    assert one_chosen == 0
