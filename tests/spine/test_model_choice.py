"""Field-aware linkage models (spine.linking.resolve_model): comparisons, blocking and training
rules are built from the fields both sides map *and fill in this run*."""

import duckdb
import pytest

from spine.config import ProbabilisticConfig, SourceConfig
from spine.linking import fill_rates, model_choice, resolve_model
from tests.conftest import engine_on

MAPPED = {"first_name": "fn", "surname": "sn", "dob": "dob", "sex": "sex", "postcode": "pc"}


def source(columns=MAPPED):
    return SourceConfig(path="x.csv", record_id="id", columns=columns)


def test_fill_rates_measure_each_mapped_field_and_give_zero_for_the_unmapped():
    con = engine_on()
    con.execute("""CREATE TABLE feat AS SELECT * FROM (VALUES
        ('A', 'B', DATE '1990-01-01', NULL, 'X1'), ('C', 'D', NULL, NULL, 'X2'),
        ('E', 'F', DATE '1991-01-01', NULL, NULL), ('G', 'H', DATE '1992-01-01', NULL, 'X3'))
        AS t(first_name, surname, dob, sex, postcode)""")
    rates = fill_rates(con, "feat", source())
    assert rates["first_name"] == 1.0 and rates["dob"] == 0.75 and rates["postcode"] == 0.75
    assert rates["sex"] == 0.0 and rates["passport_no"] == 0.0


def test_a_field_mapped_but_empty_is_neither_compared_nor_blocked_nor_trained_on():
    full = {f: 1.0 for f in ("first_name", "surname", "dob", "sex", "postcode")}
    no_sex_no_postcode = {**full, "sex": 0.0, "postcode": 0.0}
    model = resolve_model(ProbabilisticConfig(method="probabilistic"), source(), source(), no_sex_no_postcode, full)
    compared = [s.column for s in model.comparisons]
    assert compared == ["first_name", "surname", "dob"]
    assert all("postcode" not in rule for rule in model.blocking_rules)
    assert ("dob",) in model.blocking_rules and ("first_name", "surname", "birth_year") in model.training_rules
    # Filled on both sides: the same source compares them.
    both = resolve_model(ProbabilisticConfig(method="probabilistic"), source(), source(), full, full)
    assert {"sex", "postcode"} <= {s.column for s in both.comparisons}
    assert ("first_name", "postcode") in both.blocking_rules
    # where names are written otherwise and the day of birth is missing, the address still meets
    assert ("postcode", "birth_year") in both.blocking_rules
    assert ("first_name_canonical", "birth_year", "surname_initial") in model.blocking_rules
    # a surname written otherwise (CHOU / ZHOU, a married name) and a date known only to the month
    assert ("first_name_canonical", "birth_year_month") in model.blocking_rules
    choice = model_choice(model, no_sex_no_postcode, full)
    assert choice["fields"]["sex"] == {"source_fill": 0.0, "base_fill": 1.0, "compared": False}
    assert choice["fields"]["dob"]["compared"] and choice["comparisons"] == compared


def test_explicit_comparisons_are_kept_whatever_the_fill():
    config = ProbabilisticConfig(method="probabilistic", comparisons=["first_name", "sex"])
    model = resolve_model(config, source(), source(), {"first_name": 1.0, "sex": 0.0}, {"first_name": 1.0, "sex": 1.0})
    assert [s.column for s in model.comparisons] == ["first_name", "sex"]


def test_a_compared_identifier_is_also_a_blocking_rule():
    """Without it a true pair whose names and dates all differ is never scored, whatever its id."""
    columns = {**MAPPED, "national_id": "nin"}
    fill = {f: 1.0 for f in ("first_name", "surname", "dob", "sex", "postcode", "national_id")}
    model = resolve_model(ProbabilisticConfig(method="probabilistic"), source(columns), source(columns), fill, fill)
    assert ("national_id",) in model.blocking_rules
    empty = {**fill, "national_id": 0.0}
    model = resolve_model(ProbabilisticConfig(method="probabilistic"), source(columns), source(columns), empty, fill)
    assert ("national_id",) not in model.blocking_rules


def test_default_rules_may_be_tightened_with_fields_both_sides_fill_user_rules_never():
    full = {f: 1.0 for f in ("first_name", "surname", "dob", "sex", "postcode")}
    no_sex = {**full, "sex": 0.0}
    model = resolve_model(ProbabilisticConfig(method="probabilistic"), source(), source(), no_sex, full)
    assert "sex" not in model.tighten_with, "a field one side lacks would drop every pair"
    assert model.tighten_with[:2] == ("birth_year", "first_initial")
    assert "dob" not in model.tighten_with
    own = ProbabilisticConfig(method="probabilistic", blocking_rules=[["dob"]])
    assert resolve_model(own, source(), source(), full, full).tighten_with == ()


def test_an_address_both_sides_map_is_compared_and_blocked_on():
    """House number, street and locality: compared where both map and fill them; a household
    (number and street, number and postcode) and a street in a postcode are blocks of their own,
    so a person whose name and date are both written otherwise still meets their record."""
    columns = {**MAPPED, "house_number": "no", "street": "street", "locality": "town"}
    fill = {f: 1.0 for f in (*MAPPED, "house_number", "street", "locality")}
    model = resolve_model(ProbabilisticConfig(method="probabilistic"), source(columns), source(columns), fill, fill)
    specs = {s.column: s for s in model.comparisons}
    assert {"house_number", "street", "locality"} <= set(specs)
    assert specs["street"].kind == "name" and specs["street"].term_frequency
    assert specs["house_number"].kind == "exact" and specs["house_number"].term_frequency
    assert {("house_number", "street"), ("house_number", "postcode"), ("street", "postcode")} <= set(model.blocking_rules)
    # One side without an address: none of it is compared or blocked on.
    model = resolve_model(ProbabilisticConfig(method="probabilistic"), source(columns), source(), fill, fill)
    assert not {"house_number", "street", "locality"} & {s.column for s in model.comparisons}
    assert not any({"house_number", "street"} & set(rule) for rule in model.blocking_rules)


def test_a_splink_rule_in_the_yaml_is_used_as_written_and_its_columns_must_be_mapped():
    """SQL over l. and r., as Splink's settings take it (first name and surname crossed): kept as
    written, never tightened, and the columns it reads count as named by the job."""
    rule = "l.first_name = r.surname AND l.surname = r.first_name"
    config = ProbabilisticConfig(method="probabilistic", blocking_rules=[["dob"], rule])
    assert config.columns_needed() >= {"dob", "first_name", "surname"}
    full = {f: 1.0 for f in MAPPED}
    model = resolve_model(config, source(), source(), full, full)
    assert model.blocking_rules == (("dob",), rule) and model.tighten_with == ()
    assert model_choice(model, full, full)["blocking_rules"] == [["dob"], rule]
    with pytest.raises(ValueError, match="compares l.<column> with r.<column>"):
        ProbabilisticConfig(method="probabilistic", blocking_rules=["first_name = surname"])
