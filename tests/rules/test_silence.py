"""Estimated from the run's own data: how well movements are recorded, how often a silence is a
departure, how often activity after a departure is a return; each on tables with a known answer."""

from datetime import date

import pytest

from rules.signs_of_life import add_imputed_departures, add_imputed_returns, imputation_estimates
from rules.silence import (RECORDING_RATES, SILENCE_ESTIMATES, estimate_recording_rates, estimate_silence,
                           ratio_probability)
from tests.conftest import fetch_rows, make_table

MOVEMENTS = {"person_id": "VARCHAR", "source": "VARCHAR", "record_id": "VARCHAR", "date": "DATE",
             "direction": "VARCHAR", "flag": "VARCHAR", "kept": "BOOLEAN"}
PRESENCE = {"person_id": "VARCHAR", "source": "VARCHAR", "kind": "VARCHAR", "start_date": "DATE",
            "end_date": "DATE", "reason": "VARCHAR", "exempt": "BOOLEAN"}
PEOPLE = {"person_id": "VARCHAR", "dob": "DATE", "citizenship_group": "VARCHAR"}
END = date(2024, 12, 31)


def move(person, day, direction, n=[0]):  # noqa: B006 - a counter for record ids
    n[0] += 1
    return (person, "crossings", f"x{n[0]}", day, direction, None, True)


def trip(person, year, *, exit_recorded=True, entry_recorded=True):
    """A short trip abroad in ``year``; either side may go unrecorded."""
    rows = []
    if exit_recorded:
        rows.append(move(person, date(year, 3, 1), "out"))
    if entry_recorded:
        rows.append(move(person, date(year, 3, 20), "in"))
    return rows


def tax(person, first, last):
    return [(person, "tax", "activity", date(y, 1, 1), date(y, 12, 31), None, False) for y in range(first, last + 1)]


def registered(person):
    return [(person, "register", "registration", date(1980, 1, 1), None, None, False)]


def national_adults(con, movements, presence):
    """Tables ``m`` and ``p``, and ``who``: everyone with presence a national born in 1984."""
    make_table(con, "m", MOVEMENTS, movements)
    make_table(con, "p", PRESENCE, presence)
    make_table(con, "who", PEOPLE, [(p, date(1984, 6, 1), "national") for p in sorted({r[0] for r in presence})])


def world(con, *, travellers=60, exit_recorded_share=0.9, known_leavers=9, silent=100):
    """Residents who arrived in 2015 and took a trip in 2018 whose exit is recorded at the given share,
    recorded leavers (arrived in 2015, a recorded exit in 2021, nothing since) and silent residents
    (tax to 2021, then nothing, no movement): all registered, all 40 at the end of the data."""
    movements, presence = [], []
    recorded = round(travellers * exit_recorded_share)
    for i in range(travellers):
        p = f"t{i}"
        movements += [move(p, date(2015, 2, 1), "in")] + trip(p, 2018, exit_recorded=i < recorded)
        presence += registered(p) + tax(p, 2015, 2024)
    for i in range(known_leavers):
        p = f"k{i}"
        movements += [move(p, date(2015, 2, 1), "in"), move(p, date(2021, 6, 1), "out")]
        presence += registered(p) + tax(p, 2015, 2021)
    for i in range(silent):
        p = f"s{i}"
        presence += registered(p) + tax(p, 2015, 2021)
    people = [(p, date(1984, 6, 1), "national") for p in sorted({row[0] for row in presence})]
    make_table(con, "m", MOVEMENTS, movements)
    make_table(con, "p", PRESENCE, presence)
    make_table(con, "who", PEOPLE, people)


def test_recording_rates_from_recorded_pairs(con):
    world(con, travellers=50, exit_recorded_share=0.8, known_leavers=0, silent=0)
    rates = estimate_recording_rates(con, "m")
    # each traveller's entry of 2018: 40 of 50 after a recorded exit; every recorded exit after an entry
    assert rates["reentries"] == 50 and rates["reentries_after_exit"] == 40 and rates["exit_recording"] == 0.8
    assert rates["entry_recording"] == 1.0 and rates["exit_entry_pairs"] == 40
    assert fetch_rows(con, RECORDING_RATES) == [(50, 40, 40, 40, 40)]


def test_too_few_pairs_estimate_nothing(con):
    world(con, travellers=10, known_leavers=0, silent=0)
    assert estimate_recording_rates(con, "m")["exit_recording"] is None
    assert ratio_probability(5, None, 10) == 1.0 and ratio_probability(5, 0.5, 0) == 1.0
    assert ratio_probability(9, 1 / 9, 100) == 0.01 and ratio_probability(9, 1.0, 5) == 1.0


@pytest.mark.parametrize("exit_share", [0.9, 0.5])
def test_chance_that_a_silence_is_a_departure(con, exit_share):
    """With exits recorded at r and no deregistration rate to speak of, 9 known leavers mean
    9 (1 - r) / r unrecorded ones among the 100 silent (0.01 at r = 0.9, 0.09 at r = 0.5), shrunk
    (weight 10) towards the pooled ratio of the silence length, itself shrunk towards the overall one."""
    world(con, exit_recorded_share=exit_share)
    rates = estimate_recording_rates(con, "m")
    assert rates["exit_recording"] == pytest.approx(exit_share)
    silence = estimate_silence(con, "m", "p", data_end=END, rates=rates, people="who")
    assert silence["estimated"] and silence["deregistration"] is None     # too few registered exit leavers
    rows = fetch_rows(con, f"SELECT age_band, profile, silence_bin, candidates, known_registered, probability "
                           f"FROM {SILENCE_ESTIMATES}")
    assert [r[:5] for r in rows] == [("35-54", "tax:regular", "3-5y", 100, 9)]
    unrecorded = 9 * (1 - exit_share) / exit_share
    overall = unrecorded / 100
    pooled = (unrecorded + 10 * overall) / 110
    assert rows[0][5] == pytest.approx((unrecorded + 10 * pooled) / 110, abs=1e-4)


def test_where_every_silence_is_a_stay_nothing_is_imputed(con):
    """Exits always recorded: a silent person without a recorded exit did not leave."""
    world(con, exit_recorded_share=1.0, known_leavers=9, silent=100)
    assert add_imputed_departures(con, "m", "p", data_end=END, people="who", min_departure_probability=0.5) == 0
    estimates = imputation_estimates(con)
    assert estimates["exit_recording"] == 1.0
    assert estimates["candidates_by_basis"]["silence"] == {"candidates": 100, "imputed": 0}


def test_where_exits_are_never_recorded_the_leavers_are_still_found(con):
    """No recorded exit at all: nothing says how often a silence is a stay, so every silence longer
    than the window is a departure (the RAPID principle), and the estimates say why."""
    world(con, exit_recorded_share=0.0, known_leavers=0, silent=20)
    assert add_imputed_departures(con, "m", "p", data_end=END, people="who", min_departure_probability=0.5) == 20
    estimates = imputation_estimates(con)
    assert estimates["exit_recording"] == 0.0 and estimates["silence_estimated"] is False
    assert {s["probability"] for s in estimates["subgroups"]} == {1.0}


def test_poorly_recorded_exits_make_silence_a_departure(con):
    world(con, exit_recorded_share=0.5, known_leavers=30, silent=25)
    imputed = add_imputed_departures(con, "m", "p", data_end=END, people="who", min_departure_probability=0.5)
    assert imputed == 25
    assert fetch_rows(con, "SELECT DISTINCT source, CAST(date AS VARCHAR) FROM m WHERE flag = 'imputed'") == \
        [("signs_of_life", "2021-12-31")]


def test_activity_after_an_exit_is_a_return_only_where_entries_go_unrecorded(con):
    """30 residents' trips in 2016, 2017 and 2019, taxed to 2024; 40 people who left in 2019 and are
    still taxed here. With every entry recorded the tax is paid to people abroad: no return. With a
    third of the 2017 entries missed (seen as an exit after an exit in 2019), 80 recorded pairs mean
    16 unrecorded returns against the 10 signs of life inside the residents' itineraries: those are
    returns. The 40 leavers' exits are their last movements: they are judged against the 30
    residents whose last trip was recorded and who were seen after it, which stand for about 6
    missed entries among 40 such exits (0.15): no return. Counted together (80 pairs against 50
    signs of life, 0.32) neither the leavers nor the residents' missed entries were told apart."""
    from rules.signs_of_life import add_returns_from_trips

    def setup(entry_missed, abroad):
        movements, presence = [], []
        for i in range(30):
            movements += trip(f"t{i}", 2016) + trip(f"t{i}", 2017, entry_recorded=i >= entry_missed) + trip(f"t{i}", 2019)
            presence += tax(f"t{i}", 2015, 2024)
        for i in range(abroad):
            movements += [move(f"a{i}", date(2019, 5, 1), "out")]
            presence += tax(f"a{i}", 2015, 2024)
        make_table(con, "m", MOVEMENTS, movements)
        make_table(con, "p", PRESENCE, presence)

    def returns(entry_missed, abroad):
        setup(entry_missed, abroad)
        add_imputed_departures(con, "m", "p", data_end=END, min_departure_probability=0.5)
        inside = add_imputed_returns(con, "m", "p", min_return_probability=0.5)
        rates = fetch_rows(con, "SELECT entry_recording, return_candidates, return_probability FROM rules__return_rates")[0]
        last = add_returns_from_trips(con, "m", "p", data_end=END, min_return_probability=0.5)
        return inside, rates, last

    assert returns(0, 40) == (0, (1.0, 0, 1.0), 0)
    assert returns(10, 40) == (10, (0.8333, 10, 1.0), 0)
    assert fetch_rows(con, "SELECT count(DISTINCT person_id) FROM m WHERE flag = 'imputed' AND person_id LIKE 't%'") \
        == [(10,)]
    assert returns(10, 0) == (10, (0.8333, 10, 1.0), 0)


def test_a_record_spanning_the_next_recorded_entry_is_no_return(con):
    """A seasonal worker: out in August, taxed for the next year, back through the border in April.
    The tax year covers the recorded entry, so it shows presence after it, not a return before."""
    make_table(con, "m", MOVEMENTS, [move("w", date(2018, 8, 1), "out"), move("w", date(2019, 4, 1), "in"),
                                     move("w", date(2019, 8, 1), "out")])
    make_table(con, "p", PRESENCE, tax("w", 2019, 2019))
    assert add_imputed_returns(con, "m", "p") == 0


def test_a_long_absence_is_two_trips_where_the_border_misses_both_middle_movements(con):
    """100 travellers with a trip each March 2016-2021, and 12 people with a recorded exit and entry
    two years apart. Where the border records every crossing, an absence of a year or more is one:
    nothing is split. Where it records each crossing with chance 0.4, trips a year apart whose middle
    entry and exit were both missed look like such absences as often as fully recorded trip pairs
    are seen: the recorded long absences are likelier two trips, and each gets an entry a trip after
    its exit and an exit a trip before its entry (with chance 0.4: more than half are two trips)."""
    import numpy as np

    from rules.signs_of_life import add_trips_from_long_absences

    def setup(recorded):
        rng = np.random.default_rng(3)
        movements, presence = [], []
        for i in range(100):
            p = f"t{i}"
            for year in range(2016, 2022):
                movements += trip(p, year, exit_recorded=rng.random() < recorded, entry_recorded=rng.random() < recorded)
            presence += registered(p)
        for i in range(12):
            p = f"l{i}"
            movements += [move(p, date(2016, 5, 1), "out"), move(p, date(2018, 5, 1), "in")]
            presence += registered(p)
        national_adults(con, movements, presence)
        add_imputed_departures(con, "m", "p", data_end=END, people="who", min_departure_probability=0.5)
        added = add_trips_from_long_absences(con, "m", data_end=END, people="who", min_return_probability=0.5)
        return added, fetch_rows(con, "SELECT absences, trip_pairs, probability FROM rules__long_absence_estimates")[0]

    added, (absences, pairs, probability) = setup(1.0)
    assert added == 0 and absences == 12 and probability == 0
    added, (absences, pairs, probability) = setup(0.4)
    assert absences > 12 and probability >= 0.5 and added == 2 * absences
    assert fetch_rows(con, "SELECT CAST(date AS VARCHAR), direction FROM m WHERE person_id = 'l0' AND flag = 'imputed'",
                      "1") == [("2016-05-20", "in"), ("2018-04-12", "out")]


def test_an_exit_followed_by_activity_is_a_trip_and_one_followed_by_silence_a_departure(con):
    """100 residents with a trip each March 2018-2020, taxed to 2024: a quarter of the 2019 entries
    went unrecorded (seen as an exit after an exit), so entries are recorded with chance about 0.92
    and the 92 recorded last trips stand for about 8 whose entry was missed. The 8 residents whose
    2020 entry went unrecorded were taxed afterwards, as the 92 were; 20 leavers who exited in 2020
    were not. Counted against all 28 exits the missed trips are too few to call any exit a trip
    (about 0.28); counted against the exits followed by activity like theirs, they are the likelier
    reading, and the exits followed by silence are departures."""
    from rules.signs_of_life import TRIP_ESTIMATES, add_returns_from_trips

    movements, presence = [], []
    for i in range(100):
        p = f"r{i:02d}"
        movements += [move(p, date(2015, 2, 1), "in")] + trip(p, 2018) + trip(p, 2019, entry_recorded=i >= 25)
        movements += trip(p, 2020, entry_recorded=i >= 8)
        presence += tax(p, 2015, 2024)
    for i in range(20):
        p = f"l{i:02d}"
        movements += [move(p, date(2015, 2, 1), "in"), move(p, date(2020, 3, 1), "out")]
        presence += tax(p, 2015, 2019)
    national_adults(con, movements, presence)
    add_imputed_departures(con, "m", "p", data_end=END, people="who", min_departure_probability=0.5)
    assert add_returns_from_trips(con, "m", "p", data_end=END, people="who", min_return_probability=0.5) == 8
    returned = fetch_rows(con, "SELECT person_id FROM m WHERE flag = 'imputed' AND direction = 'in' ORDER BY 1")
    assert returned == [(f"r{i:02d}",) for i in range(8)]
    by_split = dict(fetch_rows(con, f"SELECT after, probability FROM {TRIP_ESTIMATES}"))
    assert by_split["seen"] >= 0.5 and by_split["silent"] == 0
    assert fetch_rows(con, f"SELECT after, candidates, trips FROM {TRIP_ESTIMATES} ORDER BY 1") == \
        [("seen", 8, 92), ("silent", 20, 0)]
    trips = imputation_estimates(con)["trips_with_missed_entry"]
    assert [(t["after_exit"], t["exits_without_return"], t["imputed"]) for t in trips] == [("silent", 20, 0), ("seen", 8, 8)]


def test_activity_between_an_exit_and_the_deregistration_reporting_it_is_from_abroad(con):
    """30 residents' trips in 2016, 2017 and 2019, a third of the 2017 entries missed: activity after
    an exit is a return there. 10 people exited in May 2019 and were deregistered for emigration in
    March 2020, and were still taxed here to 2024 (rent, a pension paid abroad). The deregistration
    reports that exit, so the tax paid before it is from abroad, and so is the tax after it until
    the person registers again: one of them did in February 2023, and came back then."""
    movements, presence = [], []
    for i in range(30):
        movements += trip(f"t{i}", 2016) + trip(f"t{i}", 2017, entry_recorded=i >= 10) + trip(f"t{i}", 2019)
        presence += tax(f"t{i}", 2015, 2024)
    for i in range(10):
        movements += [move(f"d{i}", date(2019, 5, 1), "out")]
        presence += tax(f"d{i}", 2015, 2024)
        presence += [(f"d{i}", "register", "registration", date(1980, 1, 1), date(2020, 3, 1), "emigration", False)]
    presence += [("d0", "register", "registration", date(2023, 2, 1), None, None, False)]
    make_table(con, "m", MOVEMENTS, movements)
    make_table(con, "p", PRESENCE, presence)
    add_imputed_departures(con, "m", "p", data_end=END, min_departure_probability=0.5)
    add_imputed_returns(con, "m", "p", min_return_probability=0.5)
    returned = fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR) FROM m WHERE flag = 'imputed' "
                               "AND direction = 'in' ORDER BY 1")
    assert [r for r in returned if r[0].startswith("d")] == [("d0", "2023-02-01")]
    assert len([r for r in returned if r[0].startswith("t")]) == 10



def test_without_an_entry_recording_rate_only_exits_followed_by_activity_are_trips(con):
    """10 residents whose last movement is an exit in 2020, taxed to 2024, and 10 leavers with an
    exit in 2020 and nothing after: no recorded trip anywhere, so how often the border misses an
    entry cannot be estimated. The residents' activity after their exit is presence (a trip whose
    entry went unrecorded); the leavers' silence is no evidence of a return, so their exits stay
    departures (taking every such exit for a trip once gave nobody an emigration)."""
    from rules.signs_of_life import TRIP_ESTIMATES, add_returns_from_trips

    movements, presence = [], []
    for i in range(10):
        movements += [move(f"r{i}", date(2020, 3, 1), "out")]
        presence += tax(f"r{i}", 2015, 2024)
        movements += [move(f"l{i}", date(2020, 3, 1), "out")]
        presence += tax(f"l{i}", 2015, 2019)
    national_adults(con, movements, presence)
    add_imputed_departures(con, "m", "p", data_end=END, people="who", min_departure_probability=0.5)
    assert add_returns_from_trips(con, "m", "p", data_end=END, people="who", min_return_probability=0.5) == 10
    returned = fetch_rows(con, "SELECT DISTINCT person_id FROM m WHERE flag = 'imputed' AND direction = 'in' ORDER BY 1")
    assert returned == [(f"r{i}",) for i in range(10)]
    assert fetch_rows(con, f"SELECT after, candidates, entry_recording, probability FROM {TRIP_ESTIMATES} ORDER BY 1") \
        == [("seen", 10, None, 1.0), ("silent", 10, None, 0.0)]
