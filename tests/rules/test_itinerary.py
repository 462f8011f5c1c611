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
