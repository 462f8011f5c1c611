"""Each standardiser on a handful of nasty values, written as data."""

import pytest

from linkage.standardise import (
    code_map_sql,
    country_sql,
    date_sql,
    identifier_sql,
    name_sql,
    postcode_sql,
    standardise_records_sql,
    DEFAULT_SEX_CODES,
)
from tests.conftest import make_table

CASES = [
    # (description, builder, raw, expected)
    ("accents stripped, upper case", name_sql, "Zoë", "ZOE"),
    ("apostrophe dropped, hyphen kept", name_sql, " o'Brien-smith ", "OBRIEN-SMITH"),
    ("repeated spaces collapsed", name_sql, "Anna   Maria", "ANNA MARIA"),
    ("digits and punctuation removed", name_sql, "J0hn.", "JHN"),
    ("blank is NULL", name_sql, "   ", None),
    ("identifier without spaces and hyphens", identifier_sql, " ab-12 34 ", "AB1234"),
    ("blank identifier is NULL", identifier_sql, "", None),
    ("postcode compacted", postcode_sql, "xs1 4ab", "XS14AB"),
    ("country alpha-3 upper-cased", country_sql, "nor", "NOR"),
    ("country not alpha-3 is NULL", country_sql, "NO", None),
    ("sex code mapped", lambda c: code_map_sql(c, DEFAULT_SEX_CODES), " Female ", "f"),
    ("unknown sex code is NULL", lambda c: code_map_sql(c, DEFAULT_SEX_CODES), "x", None),
]


@pytest.mark.parametrize("description,builder,raw,expected", CASES, ids=[c[0] for c in CASES])
def test_value_standardisers(con, description, builder, raw, expected):
    assert con.execute(f"SELECT {builder('raw')} FROM (SELECT CAST(? AS VARCHAR) AS raw)", [raw]).fetchone()[0] == expected


@pytest.mark.parametrize("raw,formats,expected", [
    ("2020-02-29", ["%Y-%m-%d"], "2020-02-29"),
    ("30/02/2020", ["%d/%m/%Y"], None),          # impossible date
    ("31/12/1999", ["%Y-%m-%d", "%d/%m/%Y"], "1999-12-31"),  # second format fits
    ("2019", ["%Y"], "2019-01-01"),
    ("", ["%Y-%m-%d"], None),
])
def test_dates(con, raw, formats, expected):
    got = con.execute(f"SELECT CAST({date_sql('?', formats)} AS VARCHAR)", [raw]).fetchone()[0]
    assert got == expected


def test_standardise_records_keeps_every_row_and_names_problems(con):
    make_table(con, "raw", {"id": "VARCHAR", "dob": "VARCHAR", "dir": "VARCHAR", "d": "VARCHAR", "sx": "VARCHAR"}, [
        ("a", "1980-01-01", "IN", "2020-01-01", "1"),
        ("b", "1980-13-01", "OUT", "2020-01-02", "2"),
        ("c", "1980-01-01", "sideways", "2020-01-03", "1"),
        ("d", "1980-01-01", "IN", "", "9"),
        ("e", "1980-01-01", "IN", "not a date", "1"),
    ])
    sql = standardise_records_sql("raw", "id", {"dob": "dob", "direction": "dir", "event_date": "d", "sex": "sx"},
                                  date_formats={"dob": ["%Y-%m-%d"], "event_date": ["%Y-%m-%d"]},
                                  sex_codes={"1": "m", "2": "f"}, required=["event_date", "direction"])
    rows = con.execute(f"SELECT record_id, sex, direction, invalid_fields, reject_reason FROM ({sql}) ORDER BY 1").fetchall()
    assert rows == [
        ("a", "m", "in", None, None),
        ("b", "f", "out", "dob", None),
        ("c", "m", None, "direction", "invalid_direction"),
        ("d", None, "in", "sex", "missing_event_date"),
        ("e", "m", "in", "event_date", "invalid_event_date"),
    ]
