"""Report figures on a few rows: demographic accounting and the probabilistic diagnostics."""

from datetime import date

from spine.diagnostics import demographic_accounting, probabilistic_diagnostics
from tests.conftest import make_table

SPELLS = {"person_id": "VARCHAR", "start_date": "DATE", "end_date": "DATE", "start_basis": "VARCHAR",
          "end_basis": "VARCHAR"}


def test_stock_change_is_births_minus_deaths_plus_net_migration_and_the_rest_is_residual(con):
    """2020: b is born, i immigrates, d dies, e emigrates, and r (here since 1990) first appears in
    2020 without any event: the stock grows by 1 (b, i, r in; d, e out), the components say 0,
    so the residual is 1 (r)."""
    make_table(con, "residence_spells", SPELLS, [
        ("s", date(1980, 1, 1), None, "presence", None),
        ("b", date(2020, 3, 1), None, "presence", None),
        ("i", date(2020, 5, 1), None, "immigration", None),
        ("d", date(1950, 1, 1), date(2020, 6, 1), "presence", "death"),
        ("e", date(1990, 1, 1), date(2020, 7, 1), "presence", "emigration"),
        ("r", date(2020, 8, 1), None, "presence", None)])
    make_table(con, "persons", {"person_id": "VARCHAR", "dob": "DATE"},
               [("b", date(2020, 2, 20)), ("r", date(1990, 1, 1)), ("s", date(1980, 1, 1))])
    make_table(con, "events", {"person_id": "VARCHAR", "event": "VARCHAR", "date": "DATE"},
               [("i", "immigration", date(2020, 5, 1)), ("e", "emigration", date(2020, 7, 1))])
    [row] = demographic_accounting(con, 2020, date(2021, 12, 31))
    assert row == {"year": 2020, "stock_1_january": 3, "stock_next_1_january": 4, "change": 1, "births": 1,
                   "deaths": 1, "immigration": 1, "emigration": 1, "residual": 1, "residual_share_of_stock": 0.333333}


def test_diagnostics_count_records_by_threshold_and_show_pairs_by_weights_only(con):
    make_table(con, "candidates__tax", {"record_id": "VARCHAR", "entity_id": "VARCHAR", "match_probability": "DOUBLE",
                                        "match_weight": "DOUBLE", "mw_dob": "DOUBLE", "mw_surname": "DOUBLE"}, [
        ("T1", "P1", 0.9995, 11.0, 8.0, 6.0), ("T1", "P2", 0.2, -2.0, 1.0, -6.0),
        ("T2", "P3", 0.93, 3.7, 4.0, 2.0), ("T3", "P4", 0.004, -8.0, -5.0, 0.0)])
    found = probabilistic_diagnostics(con, "tax", 0.9, ["dob", "surname", "postcode"])
    assert [(h["from"], h["pairs"]) for h in found["histogram"]] == [(-8.0, 1), (-2.0, 1), (2.0, 1), (10.0, 1)]
    assert {r["threshold"]: r["records_linked"] for r in found["sensitivity"]} == {
        0.5: 2, 0.8: 2, 0.9: 2, 0.95: 1, 0.99: 1, 0.999: 1}
    assert found["records_linked_at_threshold"] == 2
    examples = {e["example"]: e for e in found["example_pairs"]}
    assert examples["at the threshold"]["weights"] == {"dob": 4.0, "surname": 2.0}
    assert examples["clearly not"]["match_weight"] == -8.0
    assert "T1" not in str(found) and "P1" not in str(found)
    assert probabilistic_diagnostics(con, "nothing", 0.9, ["dob"]) is None
