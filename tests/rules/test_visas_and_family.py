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


def test_dependants_follow_their_parent_by_the_usual_lag(con):
    """30 children whose own arrival was recorded came 60 days after their parent: a child with no
    movement of its own inherits the parent's immigration 60 days later (k), or on the day it was
    first seen here if that came sooner (m); emigrations stay at the parent's date."""
    from datetime import timedelta

    from rules.family import FOLLOW_LAG
    arrived = date(2018, 3, 1)
    events = [(f"P{i}", "immigration", arrived, "un_12_months", "self", None, False) for i in range(32)]
    events += [(f"c{i}", "immigration", arrived + timedelta(days=60), "un_12_months", "self", None, False)
               for i in range(30)]
    events += [("P30", "emigration", date(2022, 7, 1), "un_12_months", "self", None, False)]
    make_table(con, "events", EVENTS, events)
    make_table(con, "movements", MOVEMENTS, [(f"c{i}", arrived + timedelta(days=60), "in", True) for i in range(30)])
    make_table(con, "dependants", {"child_person_id": "VARCHAR", "parent_person_id": "VARCHAR", "child_dob": "DATE"},
               [(f"c{i}", f"P{i}", date(2012, 1, 1)) for i in range(30)]
               + [("k", "P30", date(2012, 1, 1)), ("m", "P31", date(2012, 1, 1))])
    make_table(con, "p", PRESENCE, [("m", "activity", date(2018, 4, 10), date(2018, 7, 1))])
    assert add_family_events(con, "dependants", "events", "movements", "p") == 3
    assert fetch_rows(con, "SELECT person_id, event, CAST(date AS VARCHAR) FROM events WHERE derived_via = 'family'",
                      "1, 2") == [("k", "emigration", "2022-07-01"), ("k", "immigration", "2018-04-30"),
                                  ("m", "immigration", "2018-04-10")]
    assert fetch_rows(con, f"SELECT days, cases FROM {FOLLOW_LAG}") == [(60, 30)]


# ---- in-country grants, time as a visitor, arrivals imputed from visa starts

VISAS = {"person_id": "VARCHAR", "visa_type": "VARCHAR", "start_date": "DATE", "end_date": "DATE"}
KEPT_MOVEMENTS = {"person_id": "VARCHAR", "source": "VARCHAR", "record_id": "VARCHAR", "date": "DATE",
                  "direction": "VARCHAR", "flag": "VARCHAR", "kept": "BOOLEAN"}


def crossing(person, day, direction):
    return (person, "crossings", f"{person}{day}", day, direction, None, True)


def test_a_visa_starting_while_the_person_is_here_was_granted_in_the_country(con):
    from rules.visas import in_country_grants_sql
    make_table(con, "visas", VISAS, [("a", "work", date(2020, 1, 1), None), ("b", "work", date(2020, 1, 1), None),
                                     ("c", "work", date(2020, 1, 1), None), ("d", "work", date(2019, 1, 1), None)])
    make_table(con, "movements", KEPT_MOVEMENTS, [
        crossing("a", date(2019, 1, 1), "in"),
        crossing("b", date(2019, 1, 1), "in"), crossing("b", date(2019, 6, 1), "out"),   # left before it
        crossing("d", date(2019, 1, 20), "in")])   # visa obtained abroad, then came; c: no movement at all
    assert fetch_rows(con, f"SELECT person_id, CAST(entry_date AS VARCHAR) FROM ({in_country_grants_sql('visas', 'movements')})") == [
        ("a", "2019-01-01")]


def test_time_as_a_visitor_does_not_count_the_stay_starts_at_the_transition(con):
    """t came on a visit visa and switched to a work visa in the country: the immigration is dated
    at the switch. u came on a work visa: unchanged. w stayed a visitor: no event."""
    from rules import derive_long_term_events
    from rules.visas import apply_visa_transitions, in_country_grants_sql
    make_table(con, "visas", VISAS, [
        ("t", "visit", date(2019, 1, 1), date(2019, 6, 30)), ("t", "work", date(2019, 3, 1), date(2022, 3, 1)),
        ("u", "work", date(2019, 1, 1), date(2022, 1, 1)), ("u", "work", date(2021, 12, 1), date(2024, 1, 1)),
        ("w", "visit", date(2019, 1, 1), date(2019, 6, 30))])
    make_table(con, "movements", KEPT_MOVEMENTS, [crossing("t", date(2019, 1, 10), "in"),
                                                  crossing("u", date(2019, 1, 10), "in"),
                                                  crossing("w", date(2019, 1, 10), "in"),
                                                  crossing("w", date(2019, 2, 10), "out")])
    con.execute(f"CREATE TABLE grants AS {in_country_grants_sql('visas', 'movements')}")
    assert apply_visa_transitions(con, "grants", "visas", "movements") == 1
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR), source, flag, kept FROM movements "
                      "WHERE person_id = 't'", "2") == [
        ("t", "2019-01-10", "crossings", None, False), ("t", "2019-03-01", "visa_transition", "imputed", True)]
    derive_long_term_events(con, "movements", "events", data_end=date(2023, 12, 31))
    assert fetch_rows(con, "SELECT person_id, event, CAST(date AS VARCHAR) FROM events", "1") == [
        ("t", "immigration", "2019-03-01"), ("u", "immigration", "2019-01-10")]


def test_arrival_imputed_at_the_start_of_a_visa_granted_abroad_with_no_recorded_entry(con):
    """f: work visa, registered after it, no entry recorded: arrival imputed at the visa's start.
    g: entry recorded. h: a child visa (may be born here). i: registered long before the visa.
    j: no sign of presence during the visa. k: a visit visa. l: granted in the country."""
    from rules.visas import add_imputed_arrivals, in_country_grants_sql
    make_table(con, "visas", VISAS, [(p, "child" if p == "h" else "visit" if p == "k" else "work",
                                      date(2019, 5, 1), date(2022, 5, 1)) for p in "fghijkl"])
    make_table(con, "movements", KEPT_MOVEMENTS, [crossing("g", date(2019, 5, 20), "in"),
                                                  crossing("l", date(2018, 1, 1), "in")])
    make_table(con, "p", PRESENCE, [(p, "registration", date(2019, 6, 1), None) for p in "fghkl"]
               + [("i", "registration", date(2012, 1, 1), None)])
    con.execute(f"CREATE TABLE grants AS {in_country_grants_sql('visas', 'movements')}")
    assert add_imputed_arrivals(con, "visas", "grants", "movements", "p", data_start=date(2015, 1, 1),
                                no_arrival_types=("child",)) == 1
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR), direction, source, flag FROM movements "
                      "WHERE record_id IS NULL") == [("f", "2019-05-01", "in", "visa", "imputed")]


def test_an_arrival_is_imputed_when_the_first_movement_on_the_visa_is_an_exit(con):
    """m: a study visa from May 2019, registered in June, first seen at the border leaving for a
    holiday in 2020 and coming back: the entry back is not the arrival, which nobody recorded.
    n: the same, but already here by the movements before the visa (entered in 2017, never left):
    no second arrival. x left two weeks before the visa began and entered after it began: that
    entry is the arrival, recorded. y left on a trip the day her visa began and was first seen in a
    2020 tax year: she had arrived by then, so the arrival is dated the day before the trip."""
    from rules.visas import add_imputed_arrivals, in_country_grants_sql
    make_table(con, "visas", VISAS, [(p, "study", date(2019, 5, 1), date(2022, 5, 1)) for p in "mnxy"])
    make_table(con, "movements", KEPT_MOVEMENTS, [crossing(p, date(2020, 7, 1), "out") for p in "mn"]
               + [crossing(p, date(2020, 7, 20), "in") for p in "mn"] + [crossing("n", date(2017, 3, 1), "in")]
               + [crossing("x", date(2019, 4, 15), "out"), crossing("x", date(2019, 5, 10), "in"),
                  crossing("y", date(2019, 5, 1), "out"), crossing("y", date(2019, 5, 30), "in")])
    make_table(con, "p", PRESENCE, [(p, "registration", date(2019, 6, 1), None) for p in "mnx"]
               + [("y", "activity", date(2020, 1, 1), date(2020, 12, 31))])
    con.execute(f"CREATE TABLE grants AS {in_country_grants_sql('visas', 'movements')}")
    assert add_imputed_arrivals(con, "visas", "grants", "movements", "p", data_start=date(2015, 1, 1)) == 2
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR), direction FROM movements "
                      "WHERE record_id IS NULL", "1") == [("m", "2019-05-01", "in"), ("y", "2019-04-30", "in")]


def test_an_imputed_arrival_comes_the_usual_lag_after_the_visa_start(con):
    """40 work-visa holders whose first entry was recorded 40 days after their visa's start, and a
    study-visa one 5 days after (too few to estimate study visas alone): the arrival nobody recorded
    comes 40 days after the start, for a study visa too (all types' lag), and no later than the
    first sign of presence (c's registration)."""
    from datetime import timedelta

    from rules.visas import ARRIVAL_LAGS, add_imputed_arrivals, in_country_grants_sql
    start = date(2019, 5, 1)
    visas = [(f"w{i}", "work", start, date(2022, 5, 1)) for i in range(40)]
    visas += [("s0", "study", start, date(2022, 5, 1)), ("a", "work", start, date(2022, 5, 1)),
              ("b", "study", start, date(2022, 5, 1)), ("c", "work", start, date(2022, 5, 1))]
    make_table(con, "visas", VISAS, visas)
    make_table(con, "movements", KEPT_MOVEMENTS,
               [crossing(p, start + timedelta(days=5 if p == "s0" else 40), "in") for p, *_ in visas if p[0] in "ws"])
    make_table(con, "p", PRESENCE, [("a", "registration", date(2019, 8, 1), None),
                                    ("b", "registration", date(2019, 8, 1), None),
                                    ("c", "registration", date(2019, 5, 20), None)])
    con.execute(f"CREATE TABLE grants AS {in_country_grants_sql('visas', 'movements')}")
    assert add_imputed_arrivals(con, "visas", "grants", "movements", "p", data_start=date(2015, 1, 1)) == 3
    assert fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR) FROM movements WHERE record_id IS NULL",
                      "1") == [("a", "2019-06-10"), ("b", "2019-06-10"), ("c", "2019-05-20")]
    assert fetch_rows(con, f"SELECT visa_type, arrivals, days FROM {ARRIVAL_LAGS}", "1 NULLS LAST") == [
        ("study", 1, 5), ("work", 40, 40), (None, 41, 40)]


def test_a_valid_visa_does_not_keep_someone_away_for_years_resident(con):
    """More than a year out of the country within a visa period is an emigration: x's visa was
    granted in the country in 2019 and runs to 2024, but x left in 2020 and never came back."""
    from rules import derive_long_term_events
    from rules.signs_of_life import add_imputed_departures
    from rules.visas import in_country_grants_sql
    make_table(con, "visas", VISAS, [("x", "work", date(2019, 6, 1), date(2024, 6, 1))])
    make_table(con, "movements", KEPT_MOVEMENTS, [crossing("x", date(2018, 2, 1), "in"),
                                                  crossing("x", date(2020, 3, 1), "out")])
    con.execute(f"CREATE TABLE grants AS {in_country_grants_sql('visas', 'movements')}")
    make_table(con, "p", {**PRESENCE, "reason": "VARCHAR", "exempt": "BOOLEAN"}, [])
    con.execute("INSERT INTO p SELECT person_id, 'visa_grant', start_date, start_date, visa_type, TRUE FROM grants")
    assert fetch_rows(con, "SELECT person_id, kind FROM p") == [("x", "visa_grant")]
    assert add_imputed_departures(con, "movements", "p", data_end=date(2023, 12, 31)) == 0
    derive_long_term_events(con, "movements", "events", data_end=date(2023, 12, 31), presence="p")
    assert fetch_rows(con, "SELECT event, CAST(date AS VARCHAR) FROM events", "2") == [
        ("immigration", "2018-02-01"), ("emigration", "2020-03-01")]


def test_a_same_day_trip_before_a_visa_means_the_person_was_away(con):
    from rules.visas import in_country_grants_sql
    make_table(con, "visas", VISAS, [("s", "work", date(2019, 9, 1), None)])
    make_table(con, "movements", KEPT_MOVEMENTS, [crossing("s", date(2019, 6, 1), "in"),
                                                  crossing("s", date(2019, 6, 1), "out")])
    assert fetch_rows(con, in_country_grants_sql("visas", "movements")) == []
