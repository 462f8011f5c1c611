"""Illogical itineraries on a five-row table."""

from datetime import date

from rules import flag_itineraries
from tests.conftest import fetch_rows, make_table

COLUMNS = {"person_id": "VARCHAR", "source": "VARCHAR", "record_id": "VARCHAR", "date": "DATE", "direction": "VARCHAR"}
PRESENCE = {"person_id": "VARCHAR", "kind": "VARCHAR", "start_date": "DATE", "end_date": "DATE", "reason": "VARCHAR",
            "exempt": "BOOLEAN"}


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


def test_estimated_repair_gives_the_shorter_kind_of_period_its_typical_length(con):
    """A resident's trips last ~20 days: the exit missed before the 2021 entry comes 20 days before it
    (the stay takes the rest). A seasonal worker stays ~120 days and is away ~245: the exit missed
    after the 2021 entry comes 120 days after it. A resident's missed entry comes a trip after the exit."""
    from rules.itinerary import repair_itineraries
    rows = []
    for n, (d, direction) in enumerate([(date(2018, 3, 1), "out"), (date(2018, 3, 21), "in"),
                                        (date(2019, 6, 1), "out"), (date(2019, 6, 21), "in"),
                                        (date(2021, 8, 1), "in"),                                 # exit missed before
                                        (date(2022, 5, 1), "out"), (date(2023, 2, 1), "out"),    # entry missed between
                                        (date(2023, 2, 21), "in")]):
        rows.append(("resident", "x", f"r{n}", d, direction))
    for n, (d, direction) in enumerate([(date(2018, 4, 1), "in"), (date(2018, 7, 30), "out"),
                                        (date(2019, 4, 1), "in"), (date(2019, 7, 30), "out"),
                                        (date(2020, 4, 1), "in"), (date(2021, 4, 1), "in")]):  # exit of 2020 missed
        rows.append(("seasonal", "x", f"s{n}", d, direction))
    make_table(con, "raw", COLUMNS, rows)
    flag_itineraries(con, "raw", "m")
    assert repair_itineraries(con, "m", "estimate") == 3
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR), direction FROM m WHERE flag = 'imputed'",
                      "1, 2") == [("resident", "2021-07-12", "out"), ("resident", "2022-05-21", "in"),
                                             ("seasonal", "2020-07-30", "out")]


def test_estimated_repair_leaves_long_absences_to_the_evidence(con):
    """Activity that stops two years before the second entry: the absence was long and is left to the
    signs-of-life rule. Activity that starts two years after an exit dates the missed entry at it."""
    from rules.itinerary import repair_itineraries
    make_table(con, "raw", COLUMNS, [("a", "x", "1", date(2016, 1, 10), "in"), ("a", "x", "2", date(2021, 1, 10), "in"),
                                     ("b", "x", "3", date(2016, 1, 10), "out"), ("b", "x", "4", date(2021, 1, 10), "out")])
    make_table(con, "p", PRESENCE,
               [("a", "activity", date(2017, 1, 1), date(2018, 12, 31), None, False),
                ("b", "activity", date(2015, 1, 1), date(2015, 12, 31), None, False),
                ("b", "activity", date(2019, 1, 1), date(2019, 12, 31), None, False)])
    flag_itineraries(con, "raw", "m")
    assert repair_itineraries(con, "m", "estimate", "p") == 1
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR), direction FROM m WHERE flag = 'imputed'") == [
        ("b", "2019-01-01", "in")]


def test_an_enrolment_between_two_entries_bounds_the_missed_exit(con):
    """A pupil whose stays were short and absences long (a stay of 120 days, then 245 away) enters
    in April 2018 and again in April 2020, the exit between missed. By the typical stay the exit
    came in July 2018, but she began a school year here in September 2019: she left after that.
    A tax year beginning on 1 January is not a day she was seen, and a child benefit paid for her
    (``not_presence_types``) says nothing of where she was: neither moves the exit."""
    from rules.itinerary import repair_itineraries

    def exit_date(*presence):
        make_table(con, "raw", COLUMNS, [("c", "x", "1", date(2016, 4, 1), "in"), ("c", "x", "2", date(2016, 7, 30), "out"),
                                         ("c", "x", "3", date(2017, 4, 1), "in"), ("c", "x", "4", date(2017, 7, 30), "out"),
                                         ("c", "x", "5", date(2018, 4, 1), "in"), ("c", "x", "6", date(2020, 4, 1), "in")])
        make_table(con, "p", PRESENCE, list(presence))
        flag_itineraries(con, "raw", "m")
        repair_itineraries(con, "m", "estimate", "p", not_presence_types=("child_benefit",))
        return fetch_rows(con, "SELECT CAST(date AS VARCHAR) FROM m WHERE flag = 'imputed'")[0][0]

    assert exit_date() == "2018-07-30"
    assert exit_date(("c", "activity", date(2019, 1, 1), date(2019, 12, 31), None, False),
                     ("c", "activity", date(2019, 5, 1), date(2019, 5, 31), "child_benefit", True)) == "2018-07-30"
    assert exit_date(("c", "activity", date(2019, 9, 1), date(2020, 6, 30), None, True)) == "2019-09-01"


def test_an_enrolment_bounds_a_missed_entry_dated_by_later_activity(con):
    """Two exits four years apart, the entry between missed. A job beginning more than a year after
    the first exit would date the entry at its start, but an enrolment began earlier: the pupil was
    back by then."""
    from rules.itinerary import repair_itineraries
    make_table(con, "raw", COLUMNS, [("c", "x", "1", date(2016, 1, 10), "out"), ("c", "x", "2", date(2020, 1, 10), "out")])
    make_table(con, "p", PRESENCE, [("c", "activity", date(2016, 9, 1), date(2017, 6, 30), None, True),
                                    ("c", "activity", date(2017, 3, 1), date(2019, 12, 31), None, False)])
    flag_itineraries(con, "raw", "m")
    assert repair_itineraries(con, "m", "estimate", "p") == 1
    assert fetch_rows(con, "SELECT CAST(date AS VARCHAR), direction FROM m WHERE flag = 'imputed'") == [
        ("2016-09-01", "in")]


def test_repair_after_imputation_touches_only_entries_after_an_imputed_return(con):
    """s: a return imputed from a sign of life, then a recorded entry: the exit between is repaired
    (a season after the imputed return). d: a recorded exit, then a departure imputed from a late
    deregistration: one departure, left alone (two exits would otherwise get an entry between)."""
    from rules.itinerary import repair_itineraries
    make_table(con, "m", {"person_id": "VARCHAR", "source": "VARCHAR", "record_id": "VARCHAR", "date": "DATE",
                          "direction": "VARCHAR", "flag": "VARCHAR", "kept": "BOOLEAN"},
               [("s", "x", "0", date(2017, 4, 1), "in", None, True), ("s", "x", "9", date(2017, 7, 30), "out", None, True),
                ("s", "x", "1", date(2018, 4, 1), "in", None, True), ("s", "x", "2", date(2018, 7, 30), "out", None, True),
                ("s", "signs_of_life", None, date(2019, 1, 1), "in", "imputed", True),
                ("s", "x", "3", date(2020, 4, 1), "in", None, True), ("s", "x", "4", date(2020, 7, 30), "out", None, True),
                ("d", "x", "5", date(2018, 3, 1), "out", None, True),
                ("d", "deregistration", None, date(2019, 6, 1), "out", "imputed", True)])
    assert repair_itineraries(con, "m", "estimate", entries_from="signs_of_life") == 1
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR), direction FROM m WHERE source = 'itinerary'") == [
        ("s", "2019-05-01", "out")]
