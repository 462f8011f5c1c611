"""Blocking rules counted exactly, and default rules tightened until they fit the pair budget."""

from __future__ import annotations

import pytest

from linkage.blocking import count_rule_pairs, fit_rules_to_budget, tightening_order
from linkage.comparisons import ComparisonSpec
from linkage.errors import LinkageError
from linkage.probabilistic import ProbabilisticModel, score_pairs
from tests.conftest import make_table

COLUMNS = {"record_id": "VARCHAR", "surname": "VARCHAR", "sex": "VARCHAR", "birth_year": "INTEGER",
           "postcode": "VARCHAR"}


def _people(con, name: str, n: int) -> None:
    """n records all called SMITH: sex alternates, 5 birth years, postcode unique per record."""
    make_table(con, name, COLUMNS, [(f"{name}{i}", "SMITH", "fm"[i % 2], 1980 + i % 5, f"P{i}") for i in range(n)])


def test_a_rule_over_budget_gets_the_first_field_that_cuts_it_until_it_fits(con):
    _people(con, "l", 40)
    _people(con, "r", 40)
    assert count_rule_pairs(con, "l", "r", ("surname",)) == 1600
    fitted = fit_rules_to_budget(con, "l", "r", [("surname",), ("postcode",)], budget=200,
                                 tighten_with=("sex", "birth_year"))
    # sex halves it (800), still over: birth year next (40 x 40 / 10 = 160)
    assert fitted[0] == {"rule": ["surname", "sex", "birth_year"], "pairs": 160,
                         "given": ["surname"], "pairs_given": 1600}
    assert fitted[1] == {"rule": ["postcode"], "pairs": 40}, "a rule within budget is left alone"


def test_a_field_that_cuts_nothing_is_skipped_and_a_rule_that_cannot_fit_is_dropped(con):
    make_table(con, "d", COLUMNS, [(str(i), "SMITH", "f", 1980, "P1") for i in range(30)])
    fitted = fit_rules_to_budget(con, "d", None, [("surname",)], budget=100, tighten_with=("sex", "birth_year"))
    assert fitted == [{"rule": None, "pairs": 435, "given": ["surname"], "pairs_given": 435}]


def test_fields_are_tried_best_filled_first_then_time_invariant_first():
    order = tightening_order({"postcode": 1.0, "sex": 0.5, "birth_year": 1.0, "first_initial": 0.98, "dob": 0.0})
    assert order == ("birth_year", "first_initial", "postcode", "sex")


def test_default_rules_over_budget_are_tightened_and_reported_by_score_pairs(con):
    _people(con, "l", 40)
    _people(con, "r", 40)
    model = ProbabilisticModel(comparisons=(ComparisonSpec("surname", "name"), ComparisonSpec("sex", "exact"),
                                            ComparisonSpec("birth_year", "exact")),
                               blocking_rules=(("surname",),), training_rules=(("surname",),),
                               match_rate=0.5, u_max_pairs=1000, max_comparisons=900, tighten_with=("sex",))
    result = score_pairs(con, "l", "r", model, "scored")
    assert result.pairs_per_rule == [{"rule": ["surname", "sex"], "pairs": 800, "given": ["surname"],
                                      "pairs_given": 1600}]
    pairs = con.execute("SELECT count(*) FROM scored").fetchall()[0][0]
    assert 0 < pairs <= 800, "only pairs agreeing on the tightened rule are scored"
    mixed = con.execute("SELECT count(*) FROM scored JOIN l ON l.record_id = left_id "
                        "JOIN r ON r.record_id = right_id WHERE l.sex <> r.sex").fetchall()[0][0]
    assert mixed == 0


def test_user_rules_over_budget_are_an_error_not_changed(con):
    _people(con, "l", 40)
    _people(con, "r", 40)
    model = ProbabilisticModel(comparisons=(ComparisonSpec("surname", "name"),), blocking_rules=(("surname",),),
                               training_rules=(("surname",),), match_rate=0.5, max_comparisons=900)
    with pytest.raises(LinkageError, match=r"surname would generate 1,600 pairs, more than max_comparisons 900"):
        score_pairs(con, "l", "r", model, "scored")
