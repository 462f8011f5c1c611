"""Long-term events from stays and absences (UN 12 months), one case per person."""

from datetime import date

from rules import derive_long_term_events
from tests.conftest import fetch_rows, make_table

COLUMNS = {"person_id": "VARCHAR", "date": "DATE", "direction": "VARCHAR", "kept": "BOOLEAN"}
END = date(2023, 12, 31)


def events_for(con, rows):
    make_table(con, "m", COLUMNS, rows)
    out = derive_long_term_events(con, "m", "events", data_end=END)
    return fetch_rows(con, f"SELECT person_id, event, CAST(date AS VARCHAR) AS d, rule, derived_via FROM {out}",
                      "person_id, d")


def test_immigrant_who_stays_then_leaves_for_good(con):
    assert events_for(con, [
        ("a", date(2018, 1, 5), "in", True),
        ("a", date(2018, 6, 1), "out", True),   # short trip: no event
        ("a", date(2018, 6, 20), "in", True),
        ("a", date(2021, 6, 1), "out", True),
    ]) == [("a", "immigration", "2018-01-05", "un_12_months", "self"),
           ("a", "emigration", "2021-06-01", "un_12_months", "self")]


def test_visitor_never_becomes_a_migrant(con):
    assert events_for(con, [("v", date(2019, 5, 1), "in", True), ("v", date(2019, 5, 30), "out", True)]) == []


def test_resident_whose_first_movement_is_a_departure_emigrates(con):
    assert events_for(con, [
        ("n", date(2019, 3, 1), "out", True), ("n", date(2019, 3, 10), "in", True),
        ("n", date(2020, 6, 1), "out", True),
    ]) == [("n", "emigration", "2020-06-01", "un_12_months", "self")]


def test_two_entries_then_an_exit_a_month_later_are_a_short_stay_not_an_open_one(con):
    """An entry imputed from a registration, another from a visa a week later, an exit six weeks
    after: one stay of seven weeks. Taking the second entry and the exit out as a short visit
    would have left the first entry a stay that never ended, an immigration."""
    assert events_for(con, [("d", date(2023, 1, 16), "in", True), ("d", date(2023, 1, 22), "in", True),
                            ("d", date(2023, 3, 7), "out", True)]) == []
    # and where the stay is long, the period starts at the first entry
    assert events_for(con, [("e", date(2019, 1, 16), "in", True), ("e", date(2019, 1, 22), "in", True),
                            ("e", date(2019, 3, 7), "out", True), ("e", date(2019, 3, 20), "in", True)]) == [
        ("e", "immigration", "2019-01-16", "un_12_months", "self")]


def test_stay_too_recent_to_confirm_gives_a_provisional_event(con):
    make_table(con, "m", COLUMNS, [("r", date(2023, 6, 1), "in", True), ("c", date(2021, 6, 1), "in", True)])
    out = derive_long_term_events(con, "m", "events", data_end=END)
    assert fetch_rows(con, f"SELECT person_id, event, provisional FROM {out}", "person_id") == [
        ("c", "immigration", False), ("r", "immigration", True)]


def test_movements_not_kept_are_ignored(con):
    # without the dropped exit the person simply stays: one immigration
    assert events_for(con, [("d", date(2018, 1, 1), "in", True), ("d", date(2018, 2, 1), "out", False)]) == [
        ("d", "immigration", "2018-01-01", "un_12_months", "self")]


def test_emigrant_visiting_home_briefly_stays_an_emigrant(con):
    assert events_for(con, [
        ("e", date(2018, 3, 1), "out", True),
        ("e", date(2018, 12, 20), "in", True),   # Christmas visit
        ("e", date(2019, 1, 3), "out", True),
    ]) == [("e", "emigration", "2018-03-01", "un_12_months", "self")]


def test_yearly_holidays_of_a_resident_are_not_migration(con):
    # trips of 5-48 days roughly once a year, stays between them just under a year
    rows = []
    for year, (out_day, back_day) in enumerate([((7, 20), (7, 25)), ((7, 19), (9, 5)), ((9, 3), (10, 7))]):
        rows += [("h", date(2016 + year, *out_day), "out", True), ("h", date(2016 + year, *back_day), "in", True)]
    assert events_for(con, rows) == []


def test_native_returning_after_years_abroad_immigrates(con):
    assert events_for(con, [
        ("r", date(2016, 1, 10), "out", True), ("r", date(2019, 2, 1), "in", True),
    ]) == [("r", "emigration", "2016-01-10", "un_12_months", "self"),
           ("r", "immigration", "2019-02-01", "un_12_months", "self")]


def test_presence_before_the_first_entry_makes_it_a_return_not_an_immigration(con):
    """r was registered years before; her exit was never recorded, so her first movement is an entry.
    i arrived in 2018 and has a tax record for 2018: presence during the year is not before it."""
    make_table(con, "m", COLUMNS, [("r", date(2019, 5, 1), "in", True), ("i", date(2018, 3, 1), "in", True)])
    make_table(con, "p", {"person_id": "VARCHAR", "kind": "VARCHAR", "start_date": "DATE", "end_date": "DATE"},
               [("r", "registration", date(2001, 1, 1), None),
                ("i", "activity", date(2018, 1, 1), date(2018, 12, 31))])
    out = derive_long_term_events(con, "m", "events", data_end=END, presence="p")
    assert fetch_rows(con, f"SELECT person_id, event FROM {out}") == [("i", "immigration")]
    out = derive_long_term_events(con, "m", "events", data_end=END)
    assert fetch_rows(con, f"SELECT person_id, event FROM {out}", "person_id") == [("i", "immigration"),
                                                                                   ("r", "immigration")]


def test_a_period_begun_by_a_provisional_movement_gives_a_provisional_event(con):
    make_table(con, "m", {**COLUMNS, "source": "VARCHAR"},
               [("a", date(2018, 3, 1), "in", True, "crossings"),
                ("a", date(2021, 12, 31), "out", True, "signs_of_life_provisional")])
    out = derive_long_term_events(con, "m", "events", data_end=END, provisional_source="signs_of_life_provisional")
    assert fetch_rows(con, f"SELECT event, provisional FROM {out}", "event") == [("emigration", True),
                                                                                ("immigration", False)]


def test_a_short_trip_soon_after_arrival_keeps_the_arrival_date(con):
    """i arrives, leaves for four days five weeks later, then stays: immigration at the arrival.
    e leaves for good, comes back for a ten-day visit a month later: emigration at the first exit."""
    assert events_for(con, [
        ("i", date(2018, 1, 1), "in", True), ("i", date(2018, 2, 5), "out", True),
        ("i", date(2018, 2, 9), "in", True),
        ("e", date(2019, 1, 1), "out", True), ("e", date(2019, 2, 1), "in", True),
        ("e", date(2019, 2, 11), "out", True),
    ]) == [("e", "emigration", "2019-01-01", "un_12_months", "self"),
           ("i", "immigration", "2018-01-01", "un_12_months", "self")]


def test_presence_is_judged_against_the_first_movement_before_short_trips_are_taken_out(con):
    """Arrives 1 January, registers on the 5th, a 19-day stay then a 30-day trip, then stays: the
    shortest interruption (the first stay) goes, but the registration still came after the first
    entry, so she was not living here before: an immigration."""
    make_table(con, "m", COLUMNS, [("a", date(2018, 1, 1), "in", True), ("a", date(2018, 1, 20), "out", True),
                                   ("a", date(2018, 2, 19), "in", True)])
    make_table(con, "p", {"person_id": "VARCHAR", "kind": "VARCHAR", "start_date": "DATE", "end_date": "DATE"},
               [("a", "registration", date(2018, 1, 5), None)])
    out = derive_long_term_events(con, "m", "events", data_end=END, presence="p")
    assert fetch_rows(con, f"SELECT event FROM {out}") == [("immigration",)]


def test_equal_gaps_in_a_long_series_are_all_taken_out(con):
    """A commuter: out and back every 10 days for two years, no long absence: no event."""
    from datetime import timedelta
    from rules.events import remove_short_interruptions
    rows = [("c", date(2019, 1, 1) + timedelta(days=5 * i), "out" if i % 2 == 0 else "in", True) for i in range(146)]
    assert events_for(con, rows) == []
    remove_short_interruptions(con, "m", "remaining", data_end=END)
    assert fetch_rows(con, "SELECT count(*) FROM remaining") == [(0,)]


# ---- cumulative definitions: 12 months in 16, and any days-in-window threshold

def cumulative_events_for(con, rows, **settings):
    make_table(con, "m", COLUMNS, rows)
    out = derive_long_term_events(con, "m", "events", data_end=END, **settings)
    return fetch_rows(con, f"SELECT person_id, event, CAST(date AS VARCHAR) AS d, rule, provisional FROM {out}",
                      "person_id, d")


def test_12_in_16_counts_an_absence_broken_by_a_long_visit_home(con):
    # away 8 months, home 3.5 (too long to be a mere visit), away 8 more: 381 of the 487 days
    # after leaving were spent abroad
    rows = [("w", date(2018, 3, 1), "out", True), ("w", date(2018, 11, 1), "in", True),
            ("w", date(2019, 2, 15), "out", True), ("w", date(2019, 10, 15), "in", True)]
    assert cumulative_events_for(con, rows, definition="12_in_16") == [
        ("w", "emigration", "2018-03-01", "12_in_16", False),
        ("w", "immigration", "2019-10-15", "12_in_16", False)]
    # the continuous definition sees no absence of 12 months, and the return is no change of state:
    # with nothing before the first departure (no presence), or registered long before it
    assert cumulative_events_for(con, rows) == []
    make_table(con, "p", {"person_id": "VARCHAR", "kind": "VARCHAR", "start_date": "DATE", "end_date": "DATE"},
               [("w", "registration", date(2001, 1, 1), None)])
    assert cumulative_events_for(con, rows, presence="p") == []


def test_12_in_16_immigrant_with_a_long_trip_still_immigrates_at_arrival(con):
    assert cumulative_events_for(con, [
        ("i", date(2019, 2, 1), "in", True), ("i", date(2019, 6, 1), "out", True),
        ("i", date(2019, 9, 1), "in", True),   # 92 days away: 395 of 487 days here
    ], definition="12_in_16") == [("i", "immigration", "2019-02-01", "12_in_16", False)]


def test_12_in_16_stay_of_eleven_months_in_sixteen_is_a_visit(con):
    assert cumulative_events_for(con, [
        ("v", date(2019, 2, 1), "in", True), ("v", date(2019, 12, 20), "out", True),   # 322 days
    ], definition="12_in_16") == []


def test_cumulative_days_threshold_of_183_days_in_a_year(con):
    rows = [("s", date(2018, 4, 1), "in", True), ("s", date(2018, 11, 1), "out", True)]   # 214 days
    assert cumulative_events_for(con, rows, definition="cumulative_days", min_days=183, window_days=365) == [
        ("s", "immigration", "2018-04-01", "cumulative_days", False),
        ("s", "emigration", "2018-11-01", "cumulative_days", False)]
    assert cumulative_events_for(con, rows, definition="12_in_16") == []


def test_12_in_16_arrival_near_the_data_end_is_provisional(con):
    assert cumulative_events_for(con, [
        ("r", date(2023, 6, 1), "in", True),                                   # may still reach 12 months
        ("t", date(2023, 1, 10), "in", True), ("t", date(2023, 3, 1), "out", True),   # left: cannot
    ], definition="12_in_16") == [("r", "immigration", "2023-06-01", "12_in_16", True)]


def test_cumulative_days_without_a_window_is_refused(con):
    import pytest
    from rules import RuleError
    make_table(con, "m", COLUMNS, [("a", date(2018, 1, 1), "in", True)])
    with pytest.raises(RuleError, match="window"):
        derive_long_term_events(con, "m", "events", data_end=END, definition="cumulative_days")


def test_12_in_16_a_resident_back_from_a_trip_at_the_end_is_no_provisional_emigrant(con):
    """b went abroad for three weeks two months before the end of the data and came back: the
    days to come could in theory make a year away, but she is here on the last day. a is still
    away on the last day: her absence may yet last, so it is a provisional emigration."""
    assert cumulative_events_for(con, [
        ("b", date(2023, 11, 1), "out", True), ("b", date(2023, 11, 20), "in", True),
        ("a", date(2023, 11, 1), "out", True),
    ], definition="12_in_16") == [("a", "emigration", "2023-11-01", "12_in_16", True)]


def test_a_seasonal_worker_taxed_before_the_first_recorded_entry_was_never_resident(con):
    """s comes for four months a year and was taxed for a season before the first recorded entry;
    after three seasons she stops coming: no emigration, as most of her time before was spent
    abroad (without the balance the tax year made her resident, and her last exit an emigration).
    r, registered long before, has an entry as her first movement too (her exit went unrecorded),
    then short trips, then leaves for good: most of her time was spent here; she emigrates. q,
    registered since 2001, spends 100 days here and 300 away before settling back: her years of
    registration count as time here, so she is no immigrant. x, another seasonal worker, has the
    exit of her first season as her first recorded movement, then one more season, taxed for it:
    a first departure does not make her resident either, when most of her time was spent abroad."""
    seasons = [(date(y, 4, 1), "in") for y in (2018, 2019, 2020)] + [(date(y, 7, 30), "out") for y in (2018, 2019, 2020)]
    first_exit = [(date(2018, 7, 30), "out"), (date(2019, 4, 1), "in"), (date(2019, 7, 30), "out")]
    returns = [(date(2018, 2, 1), "in"), (date(2018, 11, 1), "out"), (date(2018, 12, 10), "in"),
               (date(2019, 11, 1), "out"), (date(2019, 12, 10), "in"), (date(2020, 6, 1), "out")]
    settling = [(date(2018, 3, 1), "in"), (date(2018, 6, 9), "out"), (date(2019, 4, 5), "in")]
    make_table(con, "m", COLUMNS, [("s", d, direction, True) for d, direction in seasons]
               + [("r", d, direction, True) for d, direction in returns]
               + [("q", d, direction, True) for d, direction in settling]
               + [("x", d, direction, True) for d, direction in first_exit])
    make_table(con, "p", {"person_id": "VARCHAR", "kind": "VARCHAR", "start_date": "DATE", "end_date": "DATE"},
               [("s", "activity", date(2017, 1, 1), date(2017, 12, 31)),
                ("x", "activity", date(2019, 1, 1), date(2019, 12, 31)),
                ("r", "registration", date(2001, 1, 1), None), ("q", "registration", date(2001, 1, 1), None)])
    out = derive_long_term_events(con, "m", "events", data_end=END, presence="p")
    assert fetch_rows(con, f"SELECT person_id, event, CAST(date AS VARCHAR) FROM {out}", "person_id") == [
        ("r", "emigration", "2020-06-01")]


def test_a_season_short_enough_to_be_taken_out_as_a_visit_still_counts_as_time_abroad_around_it(con):
    """y, taxed in 2017, comes for 80 days in 2018 (taken out as a short visit) and 100 days in 2019,
    then stops coming. Her usual residence is judged on every movement: 180 days here, 285 away
    (and 91 from the tax year to the first entry): she never lived here, and her last exit is no
    emigration. Judged on what is left after the visit is taken out, the winter away vanished
    and the tax year made her resident."""
    make_table(con, "m", COLUMNS, [("y", date(2018, 4, 1), "in", True), ("y", date(2018, 6, 20), "out", True),
                                   ("y", date(2019, 4, 1), "in", True), ("y", date(2019, 7, 10), "out", True)])
    make_table(con, "p", {"person_id": "VARCHAR", "kind": "VARCHAR", "start_date": "DATE", "end_date": "DATE"},
               [("y", "activity", date(2017, 1, 1), date(2017, 12, 31))])
    out = derive_long_term_events(con, "m", "events", data_end=END, presence="p")
    assert fetch_rows(con, out) == []


def test_a_first_departure_makes_someone_resident_only_where_the_evidence_reaches_a_year_back(con):
    """w's first recorded crossing is the exit of her first season (its entry went unrecorded), then
    she comes for 80 days a year, each season short enough to be taken out as a visit: one long
    absence from her first exit. Her first presence is the tax year of that season, so nothing
    shows her here a year before the exit: she was never resident, and the exit is no emigration.
    v, taxed since 2015, made the same movements: she lived here and emigrated. u has no presence
    at all: the departure is all that says she was here, and she stays presumed resident. t's first
    movement is a trip's exit, and she registered only after it: that says nothing of the time
    before the trip; she stayed two more years and emigrated. g was granted a visa in the country
    ten days before the same movements as w, and nothing earlier: no emigration either; h was
    granted one after them: resident before them, as u."""
    moves = [(date(2018, 7, 30), "out")] + [(date(y, m, d), direction) for y in (2019, 2020, 2021)
                                            for m, d, direction in ((4, 1, "in"), (6, 20, "out"))]
    trip_then_stay = [(date(2018, 3, 9), "out"), (date(2018, 4, 8), "in"), (date(2020, 6, 1), "out")]
    make_table(con, "m", COLUMNS, [(p, d, direction, True) for p in "wvugh" for d, direction in moves]
               + [("t", d, direction, True) for d, direction in trip_then_stay])
    make_table(con, "p", {"person_id": "VARCHAR", "kind": "VARCHAR", "start_date": "DATE", "end_date": "DATE"},
               [("w", "activity", date(2018, 1, 1), date(2018, 12, 31)),
                ("v", "activity", date(2015, 1, 1), date(2015, 12, 31)),
                ("v", "activity", date(2018, 1, 1), date(2018, 12, 31)),
                ("t", "registration", date(2018, 8, 8), None),
                ("g", "visa_grant", date(2018, 7, 20), date(2018, 7, 20)),
                ("h", "visa_grant", date(2022, 1, 10), date(2022, 1, 10))])
    out = derive_long_term_events(con, "m", "events", data_end=END, presence="p")
    assert fetch_rows(con, f"SELECT person_id, event, CAST(date AS VARCHAR) FROM {out}", "person_id") == [
        ("h", "emigration", "2018-07-30"), ("t", "emigration", "2020-06-01"), ("u", "emigration", "2018-07-30"),
        ("v", "emigration", "2018-07-30")]
