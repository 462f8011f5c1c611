"""Deterministic linkage on identifiers, on five-row tables."""

import pytest

from linkage import check_id_links, duplicate_identifiers, link_on_identifiers
from tests.conftest import fetch_rows, make_table


def test_links_on_first_unique_identifier_and_explains_the_rest(con):
    make_table(con, "ref", {"entity_id": "VARCHAR", "field": "VARCHAR", "value": "VARCHAR"}, [
        ("p1", "national_id", "111"),
        ("p2", "national_id", "222"),
        ("p3", "national_id", "222"),   # one number given to two persons: ambiguous
        ("p2", "passport_no", "PB"),
        ("p1", "passport_no", "PA"),
    ])
    make_table(con, "rec", {"record_id": "VARCHAR", "national_id": "VARCHAR", "passport_no": "VARCHAR"}, [
        ("r1", "111", None),     # unique national id
        ("r2", "222", "PB"),     # ambiguous national id, passport decides
        ("r3", "222", None),     # ambiguous only
        ("r4", None, None),      # nothing to link on
        ("r5", "999", "PZ"),     # ids that nobody holds
        ("r6", "111", "PB"),     # fields disagree: the first field in order wins
    ])
    out = link_on_identifiers(con, "rec", "ref", ["national_id", "passport_no"], "out")
    assert fetch_rows(con, out, "record_id") == [
        ("r1", "p1", "linked", "national_id", None),
        ("r2", "p2", "linked", "passport_no", None),
        ("r3", None, "unlinked", None, "ambiguous_id"),
        ("r4", None, "unlinked", None, "missing_id"),
        ("r5", None, "unlinked", None, "no_match"),
        ("r6", "p1", "linked", "national_id", None),
    ]


def test_empty_reference_links_nothing_and_drops_nothing(con):
    make_table(con, "ref", {"entity_id": "VARCHAR", "field": "VARCHAR", "value": "VARCHAR"}, [])
    make_table(con, "rec", {"record_id": "VARCHAR", "national_id": "VARCHAR"}, [("r1", "1"), ("r2", None)])
    out = link_on_identifiers(con, "rec", "ref", ["national_id"], "out")
    assert fetch_rows(con, f"SELECT record_id, status, reason FROM {out}", "record_id") == [
        ("r1", "unlinked", "no_match"), ("r2", "unlinked", "missing_id")]


def test_invalid_identifiers_are_never_linked_on(con):
    make_table(con, "ref", {"entity_id": "VARCHAR", "field": "VARCHAR", "value": "VARCHAR"}, [
        ("p1", "national_id", "000000000"), ("p2", "national_id", "123456789")])
    make_table(con, "rec", {"record_id": "VARCHAR", "national_id": "VARCHAR"}, [
        ("r1", "123456789"), ("r2", "000000000"), ("r3", "12345")])
    link_on_identifiers(con, "rec", "ref", ["national_id"], "out",
                        id_patterns={"national_id": "[1-9][0-9]{8}"})
    assert fetch_rows(con, "SELECT record_id, entity_id, reason FROM out", "record_id") == [
        ("r1", "p2", None), ("r2", None, "invalid_id"), ("r3", None, "invalid_id")]


def test_duplicate_identifiers_are_listed(con):
    make_table(con, "ref", {"entity_id": "VARCHAR", "field": "VARCHAR", "value": "VARCHAR"}, [
        ("p1", "national_id", "1"), ("p2", "national_id", "1"), ("p1", "passport_no", "A"),
        ("p1", "passport_no", "A")])   # the same person twice is not a duplicate
    assert fetch_rows(con, duplicate_identifiers(con, "ref", "dups")) == [("national_id", "1", 2)]


@pytest.mark.parametrize("action,expected", [
    ("keep", ("p1", "linked", "national_id", None, True, "dob,sex")),
    ("demote", (None, "unlinked", None, "id_conflict", True, "dob,sex")),
    ("review", ("p1", "review", "national_id", "id_conflict", True, "dob,sex")),
])
def test_id_link_with_disagreeing_birth_date_and_sex(con, action, expected):
    make_table(con, "links", {"record_id": "VARCHAR", "entity_id": "VARCHAR", "status": "VARCHAR",
                              "matched_on": "VARCHAR", "reason": "VARCHAR"}, [
        ("r1", "p1", "linked", "national_id", None),   # dob and sex differ: someone else's number
        ("r2", "p2", "linked", "national_id", None),   # only sex differs: a coding error, kept
        ("r3", "p2", "linked", "national_id", None),   # sex missing on one side: not a disagreement
        ("r4", None, "unlinked", None, "no_match")])
    make_table(con, "recs", {"record_id": "VARCHAR", "dob": "DATE", "sex": "VARCHAR"}, [
        ("r1", "1990-01-01", "m"), ("r2", "1970-05-05", "m"), ("r3", "1971-05-05", None), ("r4", None, None)])
    make_table(con, "refs", {"entity_id": "VARCHAR", "dob": "DATE", "sex": "VARCHAR"}, [
        ("p1", "1950-03-03", "f"), ("p2", "1970-05-05", "f")])
    check_id_links(con, "links", "recs", "refs", "out", action=action)
    rows = fetch_rows(con, "SELECT record_id, entity_id, status, matched_on, reason, id_conflict, disagreeing "
                      "FROM out", "record_id")
    assert rows[0] == ("r1", *expected)
    assert rows[1:] == [("r2", "p2", "linked", "national_id", None, False, None),
                        ("r3", "p2", "linked", "national_id", None, False, None),
                        ("r4", None, "unlinked", None, "no_match", False, None)]


@pytest.mark.parametrize("kind", ["DATE", "VARCHAR"])
def test_a_birth_date_written_otherwise_is_not_a_disagreement(con, kind):
    """Against 1983-06-04: without its day, as the year only, day and month swapped, one digit
    mistyped are the same date; another day of that month, another year are not. As text, the
    same (a VARCHAR column is read as dates where it holds them)."""
    dates = {"day_missing": "1983-06-01", "year_only": "1983-01-01", "swapped": "1983-04-06",
             "typo": "1983-06-07", "other_day": "1983-06-19", "other_year": "1988-11-30"}
    make_table(con, "links", {"record_id": "VARCHAR", "entity_id": "VARCHAR", "status": "VARCHAR",
                              "matched_on": "VARCHAR", "reason": "VARCHAR"},
               [(r, "p", "linked", "passport_no", None) for r in dates])
    make_table(con, "recs", {"record_id": "VARCHAR", "dob": kind}, list(dates.items()))
    make_table(con, "refs", {"entity_id": "VARCHAR", "dob": kind}, [("p", "1983-06-04")])
    check_id_links(con, "links", "recs", "refs", "out", fields=("dob",), min_disagreements=1)
    assert dict(fetch_rows(con, "SELECT record_id, id_conflict FROM out")) == {
        "day_missing": False, "year_only": False, "swapped": False, "typo": False,
        "other_day": True, "other_year": True}
