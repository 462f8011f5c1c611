"""Illogical itineraries on a five-row table."""

from datetime import date

from rules import flag_itineraries
from tests.conftest import fetch_rows, make_table

COLUMNS = {"person_id": "VARCHAR", "source": "VARCHAR", "record_id": "VARCHAR", "date": "DATE", "direction": "VARCHAR"}


def test_same_day_duplicates_collapsed_and_two_exits_flagged(con):
    make_table(con, "m", COLUMNS, [
        ("p1", "x", "1", date(2020, 1, 1), "in"),
        ("p1", "x", "2", date(2020, 1, 1), "in"),    # same-day duplicate: collapsed
        ("p1", "x", "3", date(2020, 3, 1), "out"),
        ("p1", "x", "4", date(2020, 5, 1), "out"),   # two exits in a row
        ("p2", "x", "5", date(2020, 5, 1), "out"),   # another person's first movement: fine
    ])
    out = flag_itineraries(con, "m", "flagged")
    assert fetch_rows(con, f"SELECT record_id, flag, kept FROM {out}", "record_id") == [
        ("1", None, True),
        ("2", "illogical_itinerary", False),
        ("3", None, True),
        ("4", "illogical_itinerary", True),
        ("5", None, True),
    ]


def test_disabled_rule_flags_nothing(con):
    make_table(con, "m", COLUMNS, [("p1", "x", "1", date(2020, 1, 1), "in"), ("p1", "x", "2", date(2020, 1, 1), "in")])
    out = flag_itineraries(con, "m", "flagged", enabled=False)
    assert fetch_rows(con, f"SELECT flag, kept FROM {out}") == [(None, True), (None, True)]


def test_repair_imputes_the_missed_exit_from_presence_else_at_the_midpoint(con):
    """a: two entries, taxed up to the end of 2019 in between, so the missed exit is dated then.
    b: two exits with nothing between: left alone, or the missed entry at the midpoint if asked.
    c: fine as it is."""
    from rules.itinerary import repair_itineraries
    make_table(con, "m", {"person_id": "VARCHAR", "source": "VARCHAR", "record_id": "VARCHAR", "date": "DATE",
                          "direction": "VARCHAR", "flag": "VARCHAR", "kept": "BOOLEAN"},
               [("a", "x", "1", date(2018, 3, 1), "in", None, True), ("a", "x", "2", date(2021, 6, 1), "in", None, True),
                ("b", "x", "3", date(2018, 1, 1), "out", None, True), ("b", "x", "4", date(2018, 1, 31), "out", None, True),
                ("c", "x", "5", date(2018, 1, 1), "out", None, True), ("c", "x", "6", date(2018, 2, 1), "in", None, True)])
    make_table(con, "p", {"person_id": "VARCHAR", "start_date": "DATE", "end_date": "DATE", "exempt": "BOOLEAN"},
               [("a", date(2019, 1, 1), date(2019, 12, 31), False), ("a", date(2020, 9, 1), date(2021, 7, 1), True)])
    assert repair_itineraries(con, "m", "impute", "p") == 1   # b has no presence between: left as it is
    assert repair_itineraries(con, "m", "impute", "p", midpoint=True) == 1   # b (a is repaired already)
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR), direction FROM m WHERE flag = 'imputed'",
                      "person_id") == [("a", "2019-12-31", "out"), ("b", "2018-01-16", "in")]


def test_repair_drop_stops_keeping_the_second_of_a_pair(con):
    from rules.itinerary import repair_itineraries
    make_table(con, "m", {"person_id": "VARCHAR", "source": "VARCHAR", "record_id": "VARCHAR", "date": "DATE",
                          "direction": "VARCHAR", "flag": "VARCHAR", "kept": "BOOLEAN"},
               [("a", "x", "1", date(2018, 3, 1), "in", None, True), ("a", "x", "2", date(2021, 6, 1), "in", None, True)])
    assert repair_itineraries(con, "m", "drop") == 1
    assert fetch_rows(con, "SELECT record_id, kept FROM m", "record_id") == [("1", True), ("2", False)]
