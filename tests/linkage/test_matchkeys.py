"""The match-key cascade on five-row tables: order, uniqueness on both sides, constraints."""

import pytest

from linkage import LinkageError, MatchKey, link_on_match_keys
from linkage.matchkeys import dedupe_on_match_keys
from tests.conftest import fetch_rows, make_table

COLS = {"first_name": "VARCHAR", "surname": "VARCHAR", "dob": "VARCHAR", "postcode": "VARCHAR"}
KEYS = [MatchKey("full", ("first_name", "surname", "dob", "postcode")),
        MatchKey("name_dob", ("first_name", "surname", "dob")),
        MatchKey("surname_dob", ("surname", "dob"))]


@pytest.fixture
def reference(con):
    return make_table(con, "ref", {"entity_id": "VARCHAR", **COLS}, [
        ("p1", "ANNA", "BERG", "1980", "A1"),
        ("p2", "ANNA", "BERG", "1980", "B2"),   # same name and dob as p1, other postcode
        ("p3", "OLE", "DAHL", "1975", "C3"),
        ("p4", "OLA", "LIE", "1990", None),
    ])


def test_each_pass_links_only_what_is_unique_and_left(con, reference):
    make_table(con, "rec", {"record_id": "VARCHAR", **COLS}, [
        ("r1", "ANNA", "BERG", "1980", "A1"),   # full key is unique: p1
        ("r2", "ANNA", "BERG", "1980", None),   # name+dob points at p1 and p2: never linked
        ("r3", "OLE", "DAHL", "1975", "Z9"),    # full key fails, name+dob unique: p3
        ("r4", "OLGA", "LIE", "1990", None),    # only surname+dob: p4
        ("r5", "EVA", "HOLM", "2000", "A1"),    # nobody
    ])
    out = link_on_match_keys(con, "rec", "ref", KEYS, "out")
    assert fetch_rows(con, "SELECT record_id, entity_id, status, matched_on, key_rank, reason FROM out",
                      "record_id") == [
        ("r1", "p1", "linked", "full", 1, None),
        ("r2", None, "unlinked", None, None, "no_match"),
        ("r3", "p3", "linked", "name_dob", 2, None),
        ("r4", "p4", "linked", "surname_dob", 3, None),
        ("r5", None, "unlinked", None, None, "no_match"),
    ]
    assert out == "out"


def test_one_to_one_needs_uniqueness_among_records_too(con, reference):
    make_table(con, "rec", {"record_id": "VARCHAR", **COLS}, [
        ("r1", "OLE", "DAHL", "1975", "C3"),
        ("r2", "OLE", "DAHL", "1975", "C3"),    # a duplicate record: one-to-one cannot choose
        ("r3", "OLA", "LIE", "1990", None),
    ])
    many = fetch_rows(con, f"SELECT record_id, entity_id FROM {link_on_match_keys(con, 'rec', 'ref', KEYS, 'm')}",
                      "record_id")
    one = fetch_rows(con, "SELECT record_id, entity_id FROM "
                     f"{link_on_match_keys(con, 'rec', 'ref', KEYS, 'o', constraint='one_to_one')}", "record_id")
    assert many == [("r1", "p3"), ("r2", "p3"), ("r3", "p4")]
    assert one == [("r1", None), ("r2", None), ("r3", "p4")]


def test_one_to_one_does_not_reuse_an_entity_in_a_later_pass(con, reference):
    make_table(con, "rec", {"record_id": "VARCHAR", **COLS}, [
        ("r1", "OLE", "DAHL", "1975", "C3"),     # pass 1 takes p3
        ("r2", "OLEG", "DAHL", "1975", None),    # pass 3 would also point at p3
    ])
    link_on_match_keys(con, "rec", "ref", KEYS, "o", constraint="one_to_one")
    assert fetch_rows(con, "SELECT record_id, entity_id FROM o", "record_id") == [("r1", "p3"), ("r2", None)]


def test_key_on_a_missing_column_is_a_clear_error(con, reference):
    make_table(con, "rec", {"record_id": "VARCHAR", "first_name": "VARCHAR"}, [])
    with pytest.raises(LinkageError, match="match-key 'full' uses surname, dob, postcode, which the records table"):
        link_on_match_keys(con, "rec", "ref", KEYS, "out")


def test_dedupe_pairs_records_sharing_a_rare_key(con):
    make_table(con, "recs", {"record_id": "VARCHAR", **COLS}, [
        ("a", "ANNA", "BERG", "1980", "A1"),
        ("b", "ANNA", "BERG", "1980", None),     # same person as a, postcode missing
        ("c", "OLE", "DAHL", "1975", "C3"),
        ("d", "OLE", "DAHL", "1975", "C3"),
        ("e", "OLE", "DAHL", "1975", "C3"),      # a group of three: every pair of it
        ("f", "EVA", "HOLM", "2000", "Z1"),
    ])
    dedupe_on_match_keys(con, "recs", KEYS, "dups")
    assert fetch_rows(con, "SELECT left_id, right_id, matched_on FROM dups", "left_id, right_id") == [
        ("a", "b", "name_dob"), ("c", "d", "full"), ("c", "e", "full"), ("d", "e", "full")]
    dedupe_on_match_keys(con, "recs", KEYS, "strict", max_group=2)
    assert fetch_rows(con, "SELECT left_id, right_id FROM strict", "left_id") == [("a", "b")]


def test_one_to_one_entity_with_two_reference_rows_takes_one_record(con):
    make_table(con, "ref2", {"entity_id": "VARCHAR", **COLS}, [
        ("E", "ANNA", "BERG", "1980", "P1"), ("E", "ANNA", "BERG", "1980", "P2")])
    make_table(con, "rec", {"record_id": "VARCHAR", **COLS}, [
        ("a", "ANNA", "BERG", "1980", "P1"), ("b", "ANNA", "BERG", "1980", "P2")])
    link_on_match_keys(con, "rec", "ref2", KEYS[:1], "o", constraint="one_to_one")
    assert fetch_rows(con, "SELECT count(*) FROM o WHERE status = 'linked'") == [(0,)]
