"""The movement rules run in order by rules.pipeline, configured by one settings object."""

import dataclasses
from datetime import date

from rules.pipeline import MovementRules, RuleSettings, RuleTables
from tests.conftest import fetch_rows, make_table
from tests.rules.test_signs_of_life import MOVEMENTS, PRESENCE, tax_year

END = date(2024, 12, 31)
PEOPLE = {"person_id": "VARCHAR", "dob": "DATE", "citizenship_group": "VARCHAR", "born_abroad": "BOOLEAN"}
#: a's tax years stop in 2019 (a silence of five years); b came in 2016 and stayed.
EVIDENCE = [tax_year("a", 2016), tax_year("a", 2017), tax_year("a", 2018), tax_year("a", 2019)]
CROSSINGS = [("b", "crossings", "x1", date(2016, 3, 1), "in", None, True)]


def run(con, derive_until=None, **settings):
    make_table(con, "m", MOVEMENTS, CROSSINGS)
    make_table(con, "p", PRESENCE, EVIDENCE)
    make_table(con, "people", PEOPLE, [("a", date(1980, 1, 1), "home", False), ("b", date(1985, 1, 1), "other", True)])
    rules = MovementRules(con, RuleSettings(data_end=END, first_reported_day=date(2015, 1, 1), **settings),
                          RuleTables(people="people"))
    rules.repair("m", "p")
    rules.impute("m", "p")
    rules.repair_after_imputation("m", "p")
    rules.derive("events", "m", "p", data_end=derive_until)
    return (fetch_rows(con, "SELECT person_id, source, CAST(date AS VARCHAR) FROM m WHERE flag = 'imputed'", "person_id"),
            fetch_rows(con, "SELECT person_id, event, CAST(date AS VARCHAR), provisional FROM events", "person_id"))


def test_the_settings_reach_every_step(con):
    """With the RAPID principle alone (no estimate needed), a's silence is a departure at her last tax
    year's end; b's arrival is an immigration."""
    imputed, events = run(con, min_departure_probability=0.0)
    assert imputed == [("a", "signs_of_life", "2019-12-31")]
    assert events == [("a", "emigration", "2019-12-31", False), ("b", "immigration", "2016-03-01", False)]


def test_without_signs_of_life_nothing_is_imputed_and_a_stays(con):
    imputed, events = run(con, signs_of_life=False, min_departure_probability=0.0)
    assert imputed == []
    assert events == [("b", "immigration", "2016-03-01", False)]


def test_a_silence_longer_than_the_data_since_is_no_departure(con):
    """A window longer than a's five years of silence: she is still resident."""
    imputed, _ = run(con, min_departure_probability=0.0, window_days=6 * 365)
    assert imputed == []


def test_events_derived_at_an_earlier_day_see_a_stay_not_yet_a_year_long(con):
    """As the early-leaver estimate derives what was known then: in June 2016 b's stay is provisional."""
    _, events = run(con, derive_until=date(2016, 6, 30), signs_of_life=False)
    assert events == [("b", "immigration", "2016-03-01", True)]


def test_settings_are_one_frozen_value():
    settings = RuleSettings(data_end=END, first_reported_day=date(2015, 1, 1))
    assert dataclasses.replace(settings, window_days=365) != settings
