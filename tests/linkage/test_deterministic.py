"""Deterministic linkage on identifiers, on five-row tables."""

from linkage import link_on_identifiers
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
