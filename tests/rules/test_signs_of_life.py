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
    1 January 2020 (before her next recorded exit, in 2021). The only absence recorded at both ends
    is c's month-long trip, so a's was a trip too: back a month after leaving. b's tax year 2019
    covers her departure day, which says nothing about after it. c's return is recorded before his
    next sign of life. (A recorded exit with nothing after it is judged by add_returns_from_trips.)"""
    from rules.signs_of_life import add_imputed_returns
    make_table(con, "m", MOVEMENTS, [("a", "crossings", "x1", date(2019, 5, 1), "out", None, True),
                                     ("a", "crossings", "x9", date(2021, 3, 1), "out", None, True),
                                     ("b", "crossings", "x8", date(2021, 3, 1), "out", None, True),
                                     ("b", "crossings", "x2", date(2019, 5, 1), "out", None, True),
                                     ("c", "crossings", "x3", date(2019, 5, 1), "out", None, True),
                                     ("c", "crossings", "x4", date(2019, 6, 1), "in", None, True)])
    make_table(con, "p", PRESENCE, [tax_year("a", 2020), tax_year("b", 2019), tax_year("c", 2020)])
    assert add_imputed_returns(con, "m", "p") == 1
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR), direction, flag FROM m WHERE flag = 'imputed'"
                      ) == [("a", "2019-06-01", "in", "imputed")]


def test_a_return_is_dated_at_the_sign_of_life_where_absences_that_long_are_mostly_long(con):
    """Recorded absences: one trip of 20 days, two stays abroad of about 18 months. a left in
    March 2018 and was taxed from 2020 (21 months later): of the absences no longer than that, most
    were long, so she came back at her sign of life. t left in November 2019 and was taxed from
    2020 (2 months later): absences that short are trips, so she came back 20 days after leaving.
    Both left again, recorded, in 2021."""
    from rules.signs_of_life import add_imputed_returns
    make_table(con, "m", MOVEMENTS, [("a", "crossings", "x1", date(2018, 3, 1), "out", None, True),
                                     ("t", "crossings", "x2", date(2019, 11, 1), "out", None, True),
                                     ("a", "crossings", "x9", date(2021, 3, 1), "out", None, True),
                                     ("t", "crossings", "x10", date(2021, 3, 1), "out", None, True),
                                     ("c", "crossings", "x3", date(2016, 5, 1), "out", None, True),
                                     ("c", "crossings", "x4", date(2016, 5, 21), "in", None, True),
                                     ("l", "crossings", "x5", date(2016, 1, 1), "out", None, True),
                                     ("l", "crossings", "x6", date(2017, 7, 1), "in", None, True),
                                     ("k", "crossings", "x7", date(2016, 2, 1), "out", None, True),
                                     ("k", "crossings", "x8", date(2017, 8, 1), "in", None, True)])
    make_table(con, "p", PRESENCE, [tax_year("a", 2020), tax_year("t", 2020)])
    assert add_imputed_returns(con, "m", "p") == 2
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR) FROM m WHERE flag = 'imputed'", "person_id") == [
        ("a", "2020-01-01"), ("t", "2019-11-21")]


def test_a_silence_shorter_than_the_window_at_the_end_of_the_data_is_a_provisional_departure(con):
    make_table(con, "m", MOVEMENTS, [])
    make_table(con, "p", PRESENCE, [tax_year("a", 2022), tax_year("a", 2023), tax_year("b", 2024)])
    add_imputed_departures(con, "m", "p", data_end=END, window_days=730)
    assert fetch_rows(con, "SELECT count(*) FROM m") == [(0,)]
    add_imputed_departures(con, "m", "p", data_end=END, window_days=730, provisional_days=365)
    assert fetch_rows(con, "SELECT person_id, source, CAST(date AS VARCHAR) FROM m") == [
        ("a", "signs_of_life_provisional", "2023-12-31")]


def test_a_person_known_from_a_single_record_is_not_a_leaver_by_silence(con):
    """f is one tax record (a fragment of someone linked elsewhere, as often as a leaver); g was
    also seen arriving, h was registered: two pieces of evidence each."""
    assert imputed(con, [("g", "crossings", "x1", date(2017, 3, 1), "in", None, True)], [
        tax_year("f", 2018), tax_year("g", 2018),
        ("h", "registration", date(2016, 1, 1), None, None, False), tax_year("h", 2018)]) == [
        ("g", "signs_of_life", "2018-12-31", "out"), ("h", "signs_of_life", "2018-12-31", "out")]


def test_the_activity_of_a_probable_duplicate_registration_is_a_sign_of_life(con):
    """a and b are one person registered twice: her tax years went to either record. b's activity
    goes on, so a's silence is no departure; c's duplicate fell silent too."""
    make_table(con, "dups", {"person_id": "VARCHAR", "other_id": "VARCHAR"},
               [("a", "b"), ("b", "a"), ("c", "d"), ("d", "c")])
    make_table(con, "m", MOVEMENTS, [])
    make_table(con, "p", PRESENCE, [tax_year("a", 2017), tax_year("a", 2018), tax_year("b", 2019), tax_year("b", 2024),
                                    tax_year("c", 2017), tax_year("c", 2018), tax_year("d", 2016), tax_year("d", 2019)])
    add_imputed_departures(con, "m", "p", data_end=END, window_days=730, duplicates="dups")
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR) FROM m", "person_id") == [
        ("c", "2019-12-31"), ("d", "2019-12-31")]


def test_a_silence_of_a_year_ended_by_a_recorded_entry_is_a_departure_nobody_recorded(con):
    """r was last seen in 2017 and came back through the border in March 2020 (no exit recorded):
    gone at her last sign of life. t's silence before his entry is shorter than a year; u's exit
    was recorded."""
    def seen(person, *years):
        return [tax_year(person, y) for y in years]
    assert imputed(con, [("r", "crossings", "x1", date(2020, 3, 1), "in", None, True),
                         ("t", "crossings", "x2", date(2019, 6, 1), "in", None, True),
                         ("u", "crossings", "x3", date(2018, 3, 1), "out", None, True),
                         ("u", "crossings", "x4", date(2020, 3, 1), "in", None, True)],
                   seen("r", 2016, 2017, 2020, 2024) + seen("t", 2017, 2018, 2024) + seen("u", 2016, 2017, 2020, 2024)
                   ) == [("r", "signs_of_life", "2017-12-31", "out")]


def test_an_exit_recorded_just_after_the_deregistration_is_the_departure(con):
    """f deregistered on 10 January and left on the 15th (recorded): nothing is imputed."""
    assert imputed(con, [("f", "crossings", "x1", date(2020, 1, 15), "out", None, True)], [
        ("f", "registration", date(1980, 1, 1), date(2020, 1, 10), "emigration", False)]) == []


def test_a_child_whose_parent_shows_later_signs_of_life_is_not_silent(con):
    """k (born 2010) is silent after 2019 but her parent P is active to 2024: k stays (RAPID: a
    child of a resident parent is resident). q's parent Q went silent too: both presumed gone. a,
    an adult long before the silence (born 1990), left on her own. u's age is unknown: no
    exception."""
    make_table(con, "m", MOVEMENTS, [])
    make_table(con, "p", PRESENCE, [tax_year(p, y) for p, last in (("k", 2019), ("P", 2024), ("q", 2019), ("Q", 2018),
                                                                     ("a", 2019), ("u", 2019)) for y in (last - 1, last)])
    make_table(con, "deps", {"child_person_id": "VARCHAR", "parent_person_id": "VARCHAR", "child_dob": "DATE"},
               [("k", "P", date(2010, 1, 1)), ("q", "Q", date(2010, 1, 1)), ("a", "P", date(1990, 1, 1)),
                ("u", "P", None)])
    add_imputed_departures(con, "m", "p", data_end=END, window_days=730, dependants="deps")
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR) FROM m", "1") == [
        ("Q", "2018-12-31"), ("a", "2019-12-31"), ("q", "2019-12-31"), ("u", "2019-12-31")]
    # without the exception k would have been presumed gone at the end of 2019
    make_table(con, "m", MOVEMENTS, [])
    add_imputed_departures(con, "m", "p", data_end=END, window_days=730)
    assert ("k", "2019-12-31") in fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR) FROM m")


def test_a_child_follows_the_parent_only_until_the_age_limit(con):
    """c turned 18 on 2020-01-01: the parent's signs of life count for her until then, not after,
    so her silence counts from her 18th birthday and she is presumed gone on it."""
    make_table(con, "m", MOVEMENTS, [])
    make_table(con, "p", PRESENCE, [tax_year("c", 2018), tax_year("c", 2019), tax_year("P", 2023), tax_year("P", 2024)])
    make_table(con, "deps", {"child_person_id": "VARCHAR", "parent_person_id": "VARCHAR", "child_dob": "DATE"},
               [("c", "P", date(2002, 1, 1))])
    add_imputed_departures(con, "m", "p", data_end=END, window_days=730, dependants="deps", child_age_limit=18)
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR) FROM m") == [("c", "2020-01-01")]


def test_a_grace_period_delays_the_silence_but_not_the_date_of_departure(con):
    """g's last sign of life is a child benefit ending in 2022: with a year's grace the silence
    counts from the end of 2023, so at the end of 2024 it is not yet two years long (without the
    grace it just is). h's ended in 2020: with the grace, still more than two years: gone, dated
    at the end of the benefit."""
    benefit = [(p, "activity", date(y, 1, 1), date(y, 12, 31), "child_benefit", False)
               for p, last in (("g", 2022), ("h", 2020)) for y in (last - 1, last)]
    make_table(con, "m", MOVEMENTS, [])
    make_table(con, "p", PRESENCE, benefit)
    add_imputed_departures(con, "m", "p", data_end=END, window_days=730, grace_by_type={"child_benefit": 365})
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR) FROM m") == [("h", "2020-12-31")]
    make_table(con, "m", MOVEMENTS, [])
    add_imputed_departures(con, "m", "p", data_end=END, window_days=730)
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR) FROM m", "1") == [
        ("g", "2022-12-31"), ("h", "2020-12-31")]


def test_a_visa_granted_in_the_country_extends_a_sign_of_life_but_never_starts_one(con):
    """v: tax to 2017, a visa granted in the country in 2020, silent since: the silence runs from
    the grant (gone at it, 2020-03-01, as the window has passed). w: a grant in 2023, so not yet.
    n: a grant and no activity at all: no evidence of a departure."""
    def grant(p, day):
        return (p, "visa_grant", day, day, "work", True)
    make_table(con, "m", MOVEMENTS, [])
    make_table(con, "p", PRESENCE, [tax_year("v", 2017), grant("v", date(2020, 3, 1)),
                                    tax_year("w", 2017), grant("w", date(2023, 3, 1)),
                                    grant("n", date(2018, 1, 1)), grant("n", date(2021, 1, 1))])
    add_imputed_departures(con, "m", "p", data_end=END, window_days=730)
    assert fetch_rows(con, "SELECT person_id, source, CAST(date AS VARCHAR) FROM m") == [
        ("v", "signs_of_life", "2020-03-01")]


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


def test_a_registration_of_someone_born_abroad_without_a_recorded_entry_is_an_arrival(con):
    """i entered in 2019 and registered 20 days later, too few to show a usual lag (30 people are
    needed). a (born abroad, no entry) registered in 2020: arrived then; so did e, who left on a trip
    ten days after registering. n was born here; o registered in 2015, the data's first year (may
    have lived here before); r's entry came ten days after the registration (it dates the arrival).
    t's first presence is a tax year, two years before a late registration: t arrived in it (its
    middle: nobody showed where arrivals fall in a first tax year); h's first tax year is the
    data's first, so h may have been here all along."""
    from rules.signs_of_life import add_registration_arrivals
    make_table(con, "m", MOVEMENTS, [("i", "crossings", "x1", date(2019, 3, 1), "in", None, True),
                                     ("e", "crossings", "x2", date(2020, 7, 1), "out", None, True),
                                     ("r", "crossings", "x3", date(2020, 7, 1), "in", None, True)])
    make_table(con, "p", PRESENCE, [
        ("i", "registration", date(2019, 3, 21), None, None, False),
        ("a", "registration", date(2020, 6, 21), None, None, False),
        ("e", "registration", date(2020, 6, 21), None, None, False),
        ("n", "registration", date(2020, 6, 21), None, None, False),
        ("o", "registration", date(2015, 6, 21), None, None, False),
        ("r", "registration", date(2020, 6, 21), None, None, False),
        ("t", "registration", date(2020, 6, 21), None, None, False), tax_year("t", 2018), tax_year("t", 2019),
        ("h", "registration", date(2020, 6, 21), None, None, False), tax_year("h", 2015)])
    make_table(con, "who", {"person_id": "VARCHAR", "born_abroad": "BOOLEAN"},
               [("i", True), ("a", True), ("e", True), ("n", False), ("o", True), ("r", True), ("t", True),
                ("h", True)])
    assert add_registration_arrivals(con, "m", "p", "who", first_day=date(2016, 1, 1), data_end=END) == 3
    assert fetch_rows(con, "SELECT person_id, source, CAST(date AS VARCHAR), direction FROM m WHERE flag = 'imputed'",
                      "1") == [("a", "registration", "2020-06-21", "in"), ("e", "registration", "2020-06-21", "in"),
                               ("t", "registration", "2018-07-02", "in")]


def test_a_late_registration_is_dated_where_arrivals_usually_fall_in_their_first_activity(con):
    """40 people born abroad entered 75 days into their first tax year (recorded entries; most
    register within days). t, with no entry recorded, has tax from 2019 and registered in 2021:
    arrived 75 days into 2019, not in the middle of it. u's first activity began 71 days before
    a registration in 2021: no later than the registration less the usual lag (5 days)."""
    from datetime import timedelta

    from rules.signs_of_life import add_registration_arrivals
    rows_m, rows_p = [], []
    for k in range(40):
        start = date(2017 + k % 3, 1, 1)
        rows_m.append((f"k{k}", "crossings", f"x{k}", start + timedelta(days=75), "in", None, True))
        rows_p += [(f"k{k}", "registration", start + timedelta(days=80), None, None, False),
                   tax_year(f"k{k}", start.year)]
    make_table(con, "m", MOVEMENTS, rows_m)
    make_table(con, "p", PRESENCE, rows_p + [
        ("t", "registration", date(2021, 3, 1), None, None, False), tax_year("t", 2019), tax_year("t", 2020),
        ("u", "registration", date(2021, 3, 1), None, None, False),
        ("u", "activity", date(2020, 12, 20), date(2021, 2, 27), None, False)])
    make_table(con, "who", {"person_id": "VARCHAR", "born_abroad": "BOOLEAN"},
               [(f"k{k}", True) for k in range(40)] + [("t", True), ("u", True)])
    assert add_registration_arrivals(con, "m", "p", "who", first_day=date(2016, 1, 1), data_end=END) == 2
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR) FROM m WHERE flag = 'imputed'", "1") == [
        ("t", "2019-03-17"), ("u", "2021-02-24")]
    assert fetch_rows(con, "SELECT days, cases FROM rules__activity_arrival_offset") == [(75, 40)]


def test_the_usual_lag_is_the_middle_of_the_densest_month_where_one_stands_out(con):
    """Per group: a prompt minority (25 within days) and a tail spread over ten months (30) give the
    prompt ones' middle (a: their month holds 25, the month around the overall median, 80 days,
    holds 6: 19 more, over three standard deviations of the difference, 16.7). Where no month beats
    the median's by more than chance would, the median: nearly every delay the same (z), one delay (o), delays spread evenly
    over ten months (u: the densest month is wherever chance put it)."""
    from rules._sql import usual_lag_sql
    make_table(con, "lags", {"g": "VARCHAR", "days": "INTEGER"},
               [("a", d) for d in [3] * 8 + [4] * 9 + [5] * 8 + list(range(60, 351, 10))]
               + [("z", d) for d in (0, 0, 0, -9, 25)] + [("o", 7)] + [("u", d) for d in range(0, 301, 10)])
    assert fetch_rows(con, f"SELECT g, days, cases, median_days, mode_stands_out "
                           f"FROM ({usual_lag_sql('SELECT * FROM lags', ('g',))})", "1") == [
        ("a", 4, 55, 80, True), ("o", 7, 1, 7, False), ("u", 150, 31, 150, False), ("z", 0, 5, 0, False)]


def test_the_registration_lag_is_the_most_common_one_not_the_median(con):
    """45 people registered 10 days after their recorded entry, 55 others 100 to 640 days after (the
    median lag, 145 days, dates almost nobody within a month): a registers in 2021 with no entry
    recorded and arrived 10 days before."""
    from datetime import timedelta

    from rules.signs_of_life import add_registration_arrivals
    lags = [10] * 45 + [100 + 10 * k for k in range(55)]
    entered = date(2018, 1, 1)
    make_table(con, "m", MOVEMENTS, [(f"i{k}", "crossings", f"x{k}", entered, "in", None, True) for k in range(100)])
    make_table(con, "p", PRESENCE, [(f"i{k}", "registration", entered + timedelta(days=lag), None, None, False)
                                    for k, lag in enumerate(lags)]
               + [("a", "registration", date(2021, 6, 21), None, None, False)])
    make_table(con, "who", {"person_id": "VARCHAR", "born_abroad": "BOOLEAN"},
               [(f"i{k}", True) for k in range(100)] + [("a", True)])
    assert add_registration_arrivals(con, "m", "p", "who", first_day=date(2016, 1, 1), data_end=END) == 1
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR) FROM m WHERE flag = 'imputed'") == [
        ("a", "2021-06-11")]
    assert fetch_rows(con, "SELECT days, cases FROM rules__registration_lag") == [(10, 100)]


def test_a_deregistration_reported_long_after_the_recorded_exit_records_it(con):
    """g left (recorded) and the registry heard of it 599 days later: that exit is her departure,
    nothing is imputed, and the reporting lag is 599 days, so h, whose exit went unrecorded, left
    599 days before her deregistration. k's old exit was a trip (tax years begin more than a year
    after it): it is not the departure her deregistration records."""
    assert imputed(con, [("g", "crossings", "x1", date(2018, 1, 10), "out", None, True),
                         ("k", "crossings", "x2", date(2015, 5, 1), "out", None, True)], [
        ("g", "registration", date(1980, 1, 1), date(2019, 9, 1), "emigration", False),
        ("h", "registration", date(1980, 1, 1), date(2021, 6, 30), "emigration", False),
        ("k", "registration", date(1980, 1, 1), date(2021, 6, 30), "emigration", False),
        tax_year("k", 2017), tax_year("k", 2018), tax_year("k", 2019),
    ]) == [("h", "deregistration", "2019-11-09", "out"), ("k", "deregistration", "2019-11-09", "out")]


def test_a_return_after_a_deregistration_for_emigration_is_dated_at_the_new_registration(con):
    """Recorded absences are trips of 20 days. d left in January 2018 and was deregistered for
    emigration in 2019, which reports that exit: she is abroad until she registers again. Taxed from
    2023 alone (rent, a pension paid abroad), she has not come back; registered again in March 2023,
    she came back then, not 20 days after leaving."""
    from rules.signs_of_life import add_imputed_returns

    def returns(*presence):
        make_table(con, "m", MOVEMENTS, [("d", "crossings", "x1", date(2018, 1, 10), "out", None, True),
                                         ("c", "crossings", "x3", date(2016, 5, 1), "out", None, True),
                                         ("c", "crossings", "x4", date(2016, 5, 21), "in", None, True)])
        make_table(con, "p", PRESENCE, [("d", "registration", date(1980, 1, 1), date(2019, 9, 1), "emigration", False),
                                        tax_year("d", 2023), *presence])
        add_imputed_returns(con, "m", "p")
        return fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR) FROM m WHERE flag = 'imputed'")

    assert returns() == []
    assert returns(("d", "registration", date(2023, 3, 1), None, None, False)) == [("d", "2023-03-01")]
