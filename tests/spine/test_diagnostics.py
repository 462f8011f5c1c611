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


def test_an_event_on_1_january_belongs_to_the_year_it_closes(con):
    """An arrival on 1 January 2021 is in the stock of 1 January 2021, so it is 2020's change."""
    make_table(con, "residence_spells", SPELLS, [("s", date(1980, 1, 1), None, "presence", None),
                                                 ("i", date(2021, 1, 1), None, "immigration", None)])
    make_table(con, "persons", {"person_id": "VARCHAR", "dob": "DATE"}, [("s", date(1980, 1, 1))])
    make_table(con, "events", {"person_id": "VARCHAR", "event": "VARCHAR", "date": "DATE"},
               [("i", "immigration", date(2021, 1, 1))])
    rows = demographic_accounting(con, 2020, date(2022, 12, 31))
    assert [(r["year"], r["change"], r["immigration"], r["residual"]) for r in rows] == [(2020, 1, 1, 0), (2021, 0, 0, 0)]
    make_table(con, "residence_spells", SPELLS, [])
    assert demographic_accounting(con, 2020, date(2022, 12, 31)) == []


def test_diagnostics_count_records_by_threshold_and_show_pairs_by_weights_only(con):
    """T9 was linked by an identifier first: its pairs are not the model's and are left out."""
    columns = {"record_id": "VARCHAR", "entity_id": "VARCHAR", "match_probability": "DOUBLE",
               "match_weight": "DOUBLE", "mw_dob": "DOUBLE", "mw_surname": "DOUBLE"}
    make_table(con, "candidates__tax", columns, [
        ("T1", "P1", 0.9995, 11.0, 8.0, 6.0), ("T1", "P2", 0.2, -2.0, 1.0, -6.0),
        ("T2", "P3", 0.93, 3.7, 4.0, 2.0), ("T3", "P4", 0.004, -8.0, -5.0, 0.0), ("T9", "P9", 0.9999, 14.0, 9.0, 6.0)])
    make_table(con, "link__tax__ids", {"record_id": "VARCHAR", "status": "VARCHAR"}, [("T9", "linked"), ("T1", "unlinked")])
    found = probabilistic_diagnostics(con, "tax", 0.9, ["dob", "surname", "postcode"], link_cut=0.95)
    assert found["pairs"] == 4
    assert [(h["from"], h["pairs"]) for h in found["histogram"]] == [
        (-8.0, 1), (-6.0, 0), (-4.0, 0), (-2.0, 1), (0.0, 0), (2.0, 1), (4.0, 0), (6.0, 0), (8.0, 0), (10.0, 1)]
    assert {r["threshold"]: (r["records_linked"], r["change"]) for r in found["sensitivity"]} == {
        0.5: (2, 1), 0.8: (2, 1), 0.9: (2, 1), 0.95: (1, 0), 0.99: (1, 0), 0.999: (1, 0)}
    assert found["records_linked_at_cut"] == 1 and round(found["cut_weight"], 2) == 4.25
    examples = {e["example"]: e for e in found["example_pairs"]}
    assert examples["clearly linked"]["match_weight"] == 11.0
    assert examples["at the threshold"]["weights"] == {"dob": 4.0, "surname": 2.0}
    assert examples["clearly not"]["match_weight"] == -8.0
    assert "T1" not in str(found) and "P1" not in str(found)
    assert probabilistic_diagnostics(con, "nothing", 0.9, ["dob"]) is None


def _spec(figure: str) -> dict:
    """The Vega-Lite spec a chart figure carries."""
    import json
    import re

    return json.loads(re.search(r'<script type="application/json" class="chart-spec">(.*?)</script>', figure).group(1))


def _values(spec: dict) -> list[dict]:
    layers = spec.get("layer") or [spec]
    return [row for layer in layers for row in (layer.get("data") or spec.get("data") or {}).get("values", [])]


def test_charts_leave_out_missing_and_non_finite_values_and_say_when_there_is_nothing(con):
    from spine.charts import bar_chart, histogram_chart, interval_chart, waterfall_chart, weights_chart
    figure = bar_chart("rates", ["a", "b", "c"], {"x": [0.5, float("nan"), None], "y": [float("inf"), 0.2, 0.1]})
    assert sorted((r["series"], r["category"]) for r in _values(_spec(figure))) == [("x", "a"), ("y", "b"), ("y", "c")]
    assert "NaN" not in figure and "Infinity" not in figure
    assert "no data" in bar_chart("nothing", ["a"], {"x": [None]}) and "no data" in bar_chart("empty", [], {})
    assert len(_values(_spec(bar_chart("zeros", ["a", "b"], {"x": [0, 0]})))) == 2
    steps = _values(_spec(waterfall_chart("pair", [("dob", 5.0), ("surname", float("nan"))], prior=-10.0)))
    assert [(r["step"], r["start"], r["end"]) for r in steps] == [("prior", 0.0, -10.0), ("dob", -10.0, -5.0),
                                                                  ("match weight", 0.0, -5.0)]
    assert "no data" in weights_chart("levels", [{"comparison": "dob", "level": "else", "weight": None}])
    assert "no data" in interval_chart("flows", [{"period": "2020", "event": "immigration", "count": None}])
    assert "no data" in histogram_chart("weights", [])


def test_counts_that_span_orders_of_magnitude_are_on_a_log_scale_and_flows_carry_their_intervals():
    from spine.charts import histogram_chart, interval_chart
    spec = _spec(histogram_chart("weights", [{"from": -2.0, "to": 0.0, "pairs": 22_307}, {"from": 0.0, "to": 2.0, "pairs": 3}],
                                 cut=1.0, cut_label="links"))
    bars, rule, label = spec["layer"]
    assert bars["encoding"]["y"]["scale"]["type"] == "symlog" and rule["encoding"]["x"]["field"] == "cut"
    spec = _spec(interval_chart("flows", [{"period": 2020, "event": "emigration", "count": 330, "lower": 120, "upper": 187},
                                          {"period": 2020, "event": "immigration", "count": 90, "lower": None, "upper": None}]))
    bars, whiskers = spec["layer"]
    assert whiskers["mark"]["type"] == "rule" and whiskers["encoding"]["y2"]["field"] == "upper"
    assert {r["event"]: r["upper"] for r in spec["data"]["values"]} == {"emigration": 187, "immigration": None}
    # a closing tag inside a value cannot end the script that holds the spec
    assert "</script>" not in interval_chart("</script>", [{"period": "</script>", "event": "x", "count": 1}]).split(
        '<script type="application/json" class="chart-spec">')[1][:-len("</script></figure>")]
