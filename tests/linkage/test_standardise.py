"""Each standardiser on a handful of nasty values, written as data."""

import pytest

from linkage import add_linkage_features, create_reference_tables
from linkage.standardise import (
    DEFAULT_SEX_CODES,
    birth_date_sql,
    code_map_sql,
    country_ambiguity_sql,
    country_sql,
    date_sql,
    identifier_sql,
    name_sql,
    house_number_sql,
    place_sql,
    postcode_sql,
    standardise_records_sql,
    street_sql,
)
from tests.conftest import fetch_rows, make_table

CASES = [
    # (description, builder, raw, expected)
    ("accents stripped, upper case", name_sql, "Zoë", "ZOE"),
    ("apostrophe dropped, hyphen kept", name_sql, " o'Brien-smith ", "OBRIEN-SMITH"),
    ("typographic apostrophe dropped", name_sql, "D’Angelo", "DANGELO"),
    ("spaces around a hyphen closed", name_sql, "smith - jones", "SMITH-JONES"),
    ("repeated spaces collapsed", name_sql, "Anna   Maria", "ANNA MARIA"),
    ("digits dropped, punctuation separates", name_sql, "J0hn.Paul", "JHN PAUL"),
    ("titles and suffixes removed", name_sql, "Dr. John Smith Jr.", "JOHN SMITH"),
    ("consecutive titles removed", name_sql, "Mr Dr John", "JOHN"),
    ("a title inside a hyphenated name is kept", name_sql, "Mary Miss-Smith", "MARY MISS-SMITH"),
    ("a name that is only a title is kept", name_sql, "Sir", "SIR"),
    ("Cyrillic transliterated (ICAO)", name_sql, "Жанна Шевченко", "ZHANNA SHEVCHENKO"),
    ("Ukrainian letters and soft sign", name_sql, "Юлія Мельник", "IULIIA MELNIK"),
    ("Greek with accents", name_sql, "Σωκράτης", "SOKRATIS"),
    ("letters without decomposition", name_sql, "Łukasz Ødegård Straße", "LUKASZ ODEGARD STRASSE"),
    ("ligature", name_sql, "Ærø", "AERO"),
    ("blank is NULL", name_sql, "   ", None),
    ("only punctuation is NULL", name_sql, " -.- ", None),
    ("identifier without spaces and hyphens", identifier_sql, " ab-12 34 ", "AB1234"),
    ("blank identifier is NULL", identifier_sql, "", None),
    ("postcode compacted", postcode_sql, "xs1 4ab", "XS14AB"),
    ("postcode placeholder is NULL", postcode_sql, "N/A", None),
    ("no fixed abode is NULL", postcode_sql, "nfa", None),
    ("house number compacted", house_number_sql, " 12 a ", "12A"),
    ("house number without leading zeros", house_number_sql, "0012", "12"),
    ("house number zero is NULL", house_number_sql, "0", None),
    ("street type read in full", street_sql, "12 High St.", "12 HIGH STREET"),
    ("street accents, apostrophes and punctuation", street_sql, "o'Connell-Straße  Ave", "OCONNELL STRASSE AVENUE"),
    ("a street named only ST is kept", street_sql, "St", "ST"),
    ("a saint's locality keeps its ST", place_sql, "St. Kilda", "ST KILDA"),
    ("locality digits kept", place_sql, "Zone 4", "ZONE 4"),
    ("blank street is NULL", street_sql, " , ", None),
    ("country alpha-3 upper-cased", country_sql, "nor", "NOR"),
    ("country alpha-2", country_sql, "NO", "NOR"),
    ("country numeric with leading zero", country_sql, "040", "AUT"),
    ("country numeric", country_sql, "578", "NOR"),
    ("country English name, any case", country_sql, "norway", "NOR"),
    ("country name with accent and apostrophe", country_sql, "Côte d’Ivoire", "CIV"),
    ("country official name", country_sql, "United Kingdom of Great Britain and Northern Ireland", "GBR"),
    ("country everyday alias", country_sql, "UK", "GBR"),
    ("user-assigned code passes", country_sql, "XSY", "XSY"),
    ("unknown country is NULL", country_sql, "Atlantis", None),
    ("ambiguous alpha-2 still mapped", country_sql, "CA", "CAN"),
    ("ambiguous name not guessed", country_sql, "Korea", None),
    ("ambiguous name not guessed (Congo)", country_sql, "Congo", None),
    ("CA flagged", country_ambiguity_sql, "ca", "Canada or California"),
    ("CH flagged as a China confusion", country_ambiguity_sql, "CH", "Switzerland (CHE) often confused with China (CHN)"),
    ("CHE not flagged", country_ambiguity_sql, "CHE", None),
    ("sex code mapped", lambda c: code_map_sql(c, DEFAULT_SEX_CODES), " Female ", "f"),
    ("ISO 5218 sex code", lambda c: code_map_sql(c, DEFAULT_SEX_CODES), "2", "f"),
    ("unknown sex code is NULL", lambda c: code_map_sql(c, DEFAULT_SEX_CODES), "x", None),
    ("date of birth in the future is NULL", lambda c: birth_date_sql(c, ["%Y-%m-%d"]), "2999-01-01", None),
    ("date of birth before 1880 is NULL", lambda c: birth_date_sql(c, ["%Y-%m-%d"]), "1066-10-14", None),
    ("plausible date of birth", lambda c: birth_date_sql(c, ["%d.%m.%Y"]), "29.02.1996", "1996-02-29"),
]


@pytest.fixture
def ref_con(con):
    create_reference_tables(con)
    return con


@pytest.mark.parametrize("description,builder,raw,expected", CASES, ids=[c[0] for c in CASES])
def test_value_standardisers(ref_con, description, builder, raw, expected):
    got = ref_con.execute(f"SELECT CAST({builder('raw')} AS VARCHAR) FROM (SELECT CAST(? AS VARCHAR) AS raw)",
                          [raw]).fetchall()[0][0]
    assert got == expected


def test_linkage_features_resolve_nicknames_and_phonetics(ref_con):
    make_table(ref_con, "std", {"record_id": "VARCHAR", "first_name": "VARCHAR", "surname": "VARCHAR", "dob": "DATE"}, [
        ("r1", "BILL", "PETROV", "1980-05-02"),
        ("r2", "WILLIAM", "PETROFF", None),
        ("r3", "MUHAMMAD", "AL-HASSAN", "1990-01-01"),
        ("r4", None, None, None),
    ])
    add_linkage_features(ref_con, "std", "feat")
    rows = fetch_rows(ref_con, "SELECT record_id, first_name_canonical, first_initial, surname_soundex, birth_year, "
                      "name_tokens, birth_year_month FROM feat", "record_id")
    assert rows[0][:2] == ("r1", "WILLIAM") and rows[1][1] == "WILLIAM"
    assert rows[0][3] == rows[1][3]            # PETROV and PETROFF share a soundex key
    assert rows[2][1] == "MOHAMMED" and rows[2][5] == ["AL", "HASSAN", "MUHAMMAD"]
    assert rows[0][2] == "B" and rows[0][4] == 1980 and rows[0][6] == "1980-05"
    assert rows[3] == ("r4", None, None, None, None, None, None)


def test_ambiguous_country_codes_are_flagged_per_record(ref_con):
    make_table(ref_con, "raw", {"id": "VARCHAR", "nat": "VARCHAR", "cob": "VARCHAR"}, [
        ("a", "CA", "CAN"), ("b", "NOR", "Korea"), ("c", "Atlantis", "NO")])
    sql = standardise_records_sql("raw", "id", {"nationality": "nat", "country_of_birth": "cob"}, date_formats={})
    assert fetch_rows(ref_con, f"SELECT record_id, nationality, country_of_birth, invalid_fields, ambiguous_fields "
                      f"FROM ({sql})", "record_id") == [
        ("a", "CAN", "CAN", None, "nationality"),
        ("b", "NOR", None, None, "country_of_birth"),
        ("c", None, "NOR", "nationality", None),
    ]


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


def test_standardise_records_keeps_every_row_and_names_problems(ref_con):
    con = ref_con
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
        ("d", None, "in", None, "missing_event_date"),   # 9: sex not known (ISO 5218), not an error
        ("e", "m", "in", "event_date", "invalid_event_date"),
    ]
