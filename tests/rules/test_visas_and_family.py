"""Visa-aware visitors and family association, each on a few rows."""

from datetime import date

from rules.family import add_family_events
from rules.visas import find_visitors
from tests.conftest import fetch_rows, make_table

PRESENCE = {"person_id": "VARCHAR", "kind": "VARCHAR", "start_date": "DATE", "end_date": "DATE"}
EVENTS = {"person_id": "VARCHAR", "event": "VARCHAR", "date": "DATE", "rule": "VARCHAR", "derived_via": "VARCHAR",
          "parent_person_id": "VARCHAR", "provisional": "BOOLEAN"}
MOVEMENTS = {"person_id": "VARCHAR", "date": "DATE", "direction": "VARCHAR", "kept": "BOOLEAN"}


def test_only_people_with_nothing_but_visit_visas_and_no_presence_are_visitors(con):
    make_table(con, "visas", {"person_id": "VARCHAR", "visa_type": "VARCHAR"},
               [("v", "visit"), ("v", "visit"), ("w", "visit"), ("w", "work"), ("x", "visit"), ("y", None)])
    make_table(con, "p", PRESENCE, [("x", "registration", date(2020, 1, 1), None)])
    assert find_visitors(con, "visas", "p", "visitors") == 1
    assert fetch_rows(con, "visitors") == [("v",)]


def test_dependants_without_movements_inherit_consistent_parent_events(con):
    """Parent P immigrates in 2018 and emigrates in 2022. a (born 2015) follows both; b (born 2019)
    only the emigration; c has her own movement; d stayed on at school after P left; e was here
    (registered, later deregistered) years before P arrived; f is still registered, so she did
    not leave with P."""
    make_table(con, "events", EVENTS, [
        ("P", "immigration", date(2018, 3, 1), "un_12_months", "self", None, False),
        ("P", "emigration", date(2022, 7, 1), "un_12_months", "self", None, False),
        ("c", "immigration", date(2018, 3, 1), "un_12_months", "self", None, False)])
    make_table(con, "movements", MOVEMENTS, [("c", date(2018, 3, 1), "in", True)])
    make_table(con, "dependants", {"child_person_id": "VARCHAR", "parent_person_id": "VARCHAR", "child_dob": "DATE"},
               [(child, "P", dob) for child, dob in (("a", date(2015, 1, 1)), ("b", date(2019, 1, 1)),
                                                      ("c", date(2014, 1, 1)), ("d", date(2010, 1, 1)),
                                                      ("e", date(2012, 1, 1)), ("f", date(2016, 1, 1)))])
    make_table(con, "p", PRESENCE, [("d", "activity", date(2022, 9, 1), date(2023, 7, 1)),
                                    ("e", "registration", date(2012, 1, 1), date(2022, 8, 1)),
                                    ("f", "registration", date(2018, 4, 1), None)])
    assert add_family_events(con, "dependants", "events", "movements", "p") == 6
    rows = fetch_rows(con, "SELECT person_id, event, CAST(date AS VARCHAR), derived_via, parent_person_id "
                      "FROM events WHERE derived_via = 'family'", "person_id, event")
    assert rows == [("a", "emigration", "2022-07-01", "family", "P"), ("a", "immigration", "2018-03-01", "family", "P"),
                    ("b", "emigration", "2022-07-01", "family", "P"),
                    ("d", "immigration", "2018-03-01", "family", "P"),
                    ("e", "emigration", "2022-07-01", "family", "P"),
                    ("f", "immigration", "2018-03-01", "family", "P")]
