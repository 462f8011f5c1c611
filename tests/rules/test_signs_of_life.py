"""Departures nobody recorded, imputed from deregistrations and from activity that stops."""

from datetime import date

from rules.signs_of_life import add_imputed_departures
from tests.conftest import fetch_rows, make_table

MOVEMENTS = {"person_id": "VARCHAR", "source": "VARCHAR", "record_id": "VARCHAR", "date": "DATE",
             "direction": "VARCHAR", "flag": "VARCHAR", "kept": "BOOLEAN"}
PRESENCE = {"person_id": "VARCHAR", "kind": "VARCHAR", "start_date": "DATE", "end_date": "DATE",
            "reason": "VARCHAR", "exempt": "BOOLEAN"}
END = date(2024, 12, 31)


def imputed(con, movements, presence):
    make_table(con, "m", MOVEMENTS, movements)
    make_table(con, "p", PRESENCE, presence)
    add_imputed_departures(con, "m", "p", data_end=END, window_days=730)
    return fetch_rows(con, "SELECT person_id, source, CAST(date AS VARCHAR), direction FROM m WHERE flag = 'imputed'",
                      "person_id")


def tax_year(person, year, exempt=False):
    return (person, "activity", date(year, 1, 1), date(year, 12, 31), None, exempt)


def test_activity_that_stops_is_a_departure_at_the_last_sign_of_life(con):
    assert imputed(con, [], [tax_year("a", 2018), tax_year("a", 2019)]) == [("a", "signs_of_life", "2019-12-31", "out")]


def test_recent_silence_movement_since_death_exemption_or_no_activity_impute_nothing(con):
    assert imputed(con, [("b", "crossings", "x1", date(2021, 3, 1), "out", None, True)], [
        tax_year("r", 2023),                                                 # silent for less than the window
        tax_year("b", 2019),                                                 # recorded exit after the last sign
        tax_year("d", 2017), ("d", "registration", date(1950, 1, 1), date(2018, 2, 1), "death", False),
        tax_year("s", 2016, exempt=True),                                    # a student
        ("baby", "registration", date(2016, 5, 1), None, None, False),       # never any activity
    ]) == []


def test_deregistration_for_emigration_without_a_recorded_exit(con):
    """e's exit was recorded 36 days before her deregistration: the reporting lag. d's exit was not
    recorded: she left 36 days before her deregistration."""
    assert imputed(con, [("e", "crossings", "x1", date(2020, 1, 10), "out", None, True)], [
        ("d", "registration", date(1980, 1, 1), date(2021, 6, 30), "emigration", False),
        ("e", "registration", date(1980, 1, 1), date(2020, 2, 15), "emigration", False),  # the exit is recorded
        tax_year("d", 2021),
    ]) == [("d", "deregistration", "2021-05-25", "out")]


def test_a_sign_of_life_starting_after_a_departure_is_a_return(con):
    """a left in May 2019 and her return was never recorded, but she was taxed for 2020: back by
    1 January 2020. b's tax year 2019 covers her departure day, which says nothing about after it.
    c's return is recorded before his next sign of life."""
    from rules.signs_of_life import add_imputed_returns
    make_table(con, "m", MOVEMENTS, [("a", "crossings", "x1", date(2019, 5, 1), "out", None, True),
                                     ("b", "crossings", "x2", date(2019, 5, 1), "out", None, True),
                                     ("c", "crossings", "x3", date(2019, 5, 1), "out", None, True),
                                     ("c", "crossings", "x4", date(2019, 6, 1), "in", None, True)])
    make_table(con, "p", PRESENCE, [tax_year("a", 2020), tax_year("b", 2019), tax_year("c", 2020)])
    assert add_imputed_returns(con, "m", "p") == 1
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR), direction, flag FROM m WHERE flag = 'imputed'"
                      ) == [("a", "2020-01-01", "in", "imputed")]


def test_a_silence_shorter_than_the_window_at_the_end_of_the_data_is_a_provisional_departure(con):
    make_table(con, "m", MOVEMENTS, [])
    make_table(con, "p", PRESENCE, [tax_year("a", 2023), tax_year("b", 2024)])
    add_imputed_departures(con, "m", "p", data_end=END, window_days=730)
    assert fetch_rows(con, "SELECT count(*) FROM m") == [(0,)]
    add_imputed_departures(con, "m", "p", data_end=END, window_days=730, provisional_days=365)
    assert fetch_rows(con, "SELECT person_id, source, CAST(date AS VARCHAR) FROM m") == [
        ("a", "signs_of_life_provisional", "2023-12-31")]


def test_an_exit_recorded_just_after_the_deregistration_is_the_departure(con):
    """f deregistered on 10 January and left on the 15th (recorded): nothing is imputed."""
    assert imputed(con, [("f", "crossings", "x1", date(2020, 1, 15), "out", None, True)], [
        ("f", "registration", date(1980, 1, 1), date(2020, 1, 10), "emigration", False)]) == []


def test_a_child_whose_parent_shows_later_signs_of_life_is_not_silent(con):
    """k's own activity stops in 2019 but her parent P is active to 2024: k stays (RAPID: a child
    of a resident parent is resident). q's parent Q went silent too: both presumed gone."""
    make_table(con, "m", MOVEMENTS, [])
    make_table(con, "p", PRESENCE, [tax_year("k", 2019), tax_year("P", 2024),
                                    tax_year("q", 2019), tax_year("Q", 2018)])
    make_table(con, "deps", {"child_person_id": "VARCHAR", "parent_person_id": "VARCHAR"}, [("k", "P"), ("q", "Q")])
    add_imputed_departures(con, "m", "p", data_end=END, window_days=730, dependants="deps")
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR) FROM m", "1") == [
        ("Q", "2018-12-31"), ("q", "2019-12-31")]
    # without the exception k would have been presumed gone at the end of 2019
    make_table(con, "m", MOVEMENTS, [])
    add_imputed_departures(con, "m", "p", data_end=END, window_days=730)
    assert ("k", "2019-12-31") in fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR) FROM m")


def test_people_present_only_by_registration_are_never_active(con):
    """n: registered, nothing else ever. t: registered and taxed. c: registered, a child at the
    end of the data. x: registered, one border crossing. u: registered, age unknown."""
    from rules.signs_of_life import never_active_sql
    make_table(con, "m", MOVEMENTS, [("x", "crossings", "x1", date(2020, 3, 1), "out", None, True)])
    make_table(con, "p", PRESENCE, [(p, "registration", date(2016, 1, 1), None, None, False) for p in "ntcxu"]
               + [tax_year("t", 2018)])
    make_table(con, "people", {"person_id": "VARCHAR", "dob": "DATE"},
               [("n", date(1980, 1, 1)), ("t", date(1980, 1, 1)), ("c", date(2015, 1, 1)), ("x", date(1980, 1, 1))])
    assert fetch_rows(con, never_active_sql("p", "m", "people", data_end=END, min_age=16), "1") == [("n",), ("u",)]
