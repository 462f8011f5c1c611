"""Residence spells from events and presence, one case per person."""

from datetime import date

from rules.residence import build_residence_spells
from tests.conftest import fetch_rows, make_table

EVENTS = {"person_id": "VARCHAR", "event": "VARCHAR", "date": "DATE"}
PRESENCE = {"person_id": "VARCHAR", "kind": "VARCHAR", "start_date": "DATE", "end_date": "DATE", "reason": "VARCHAR"}


def test_spells_from_immigration_emigration_presence_and_death(con):
    """i: arrives 2018, leaves 2021, returns 2023. n: a native who emigrates in 2020. s: registered,
    no event, still here. d: registered, no event, died in 2019. v: a visitor, nothing."""
    make_table(con, "events", EVENTS, [
        ("i", "immigration", date(2018, 3, 1)), ("i", "emigration", date(2021, 6, 1)),
        ("i", "immigration", date(2023, 1, 10)), ("n", "emigration", date(2020, 5, 1))])
    make_table(con, "presence", PRESENCE, [
        ("n", "registration", date(1980, 1, 1), None, None),
        ("s", "registration", date(1975, 1, 1), None, None),
        ("d", "registration", date(1940, 1, 1), date(2019, 8, 1), "death"),
        ("i", "activity", date(2018, 1, 1), date(2018, 12, 31), None)])
    build_residence_spells(con, "events", "presence", "spells")
    rows = fetch_rows(con, "SELECT person_id, CAST(start_date AS VARCHAR) AS s, CAST(end_date AS VARCHAR), start_basis, "
                      "end_basis FROM spells", "person_id, s")
    assert rows == [("d", "1940-01-01", "2019-08-01", "presence", "death"),
                    ("i", "2018-03-01", "2021-06-01", "immigration", "emigration"),
                    ("i", "2023-01-10", None, "immigration", None),
                    ("n", "1980-01-01", "2020-05-01", "presence", "emigration"),
                    ("s", "1975-01-01", None, "presence", None)]


def test_people_judged_never_resident_get_no_spell_from_presence_alone(con):
    """s and z are both registered with no event; z is in the never-resident list (never active).
    i is listed too, but an immigration is more than presence: her spell stays."""
    make_table(con, "events", EVENTS, [("i", "immigration", date(2018, 3, 1))])
    make_table(con, "presence", PRESENCE, [(p, "registration", date(2016, 1, 1), None, None) for p in "siz"])
    make_table(con, "never", {"person_id": "VARCHAR"}, [("z",), ("i",)])
    build_residence_spells(con, "events", "presence", "spells", never_resident="never")
    assert fetch_rows(con, "SELECT person_id, start_basis FROM spells", "person_id") == [
        ("i", "immigration"), ("s", "presence")]
