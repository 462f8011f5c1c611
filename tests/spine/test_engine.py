"""The engine: the one place SQL runs; failures name the stage and the statement, never a value."""

from __future__ import annotations

import pickle

import duckdb
import pandas as pd
import pytest

from spine.engine import DuckDBEngine, EngineError, statement_shape


def test_rows_records_frames_and_arrays_come_back_fully_read():
    with DuckDBEngine.open() as db:
        db.run("CREATE TABLE t AS SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(n, s)")
        assert db.run("SELECT n, s FROM t ORDER BY n") == [(1, "a"), (2, "b")]
        assert db.records("SELECT n, s FROM t WHERE n = ?", [2]) == [{"n": 2, "s": "b"}]
        assert db.frame("SELECT n FROM t ORDER BY n")["n"].tolist() == [1, 2]
        assert db.arrays("SELECT n FROM t ORDER BY n")["n"].tolist() == [1, 2]
        # fully read: the next statement on the same connection is not blocked by an open result
        assert db.run("SELECT count(*) FROM t") == [(2,)]


def test_a_frame_is_readable_by_name_only_inside_its_block():
    with DuckDBEngine.open() as db:
        with db.registered("people_read", pd.DataFrame({"n": [1, 2, 3]})) as name:
            assert db.run(f"SELECT sum(n) FROM {name}") == [(6,)]
        with pytest.raises(duckdb.CatalogException):
            db.run("SELECT * FROM people_read")


def test_a_failure_names_its_stage_and_statement_but_not_the_values_in_it():
    with DuckDBEngine.open() as db:
        db.run("CREATE TABLE people (surname VARCHAR)")
        with db.stage("rules"), pytest.raises(EngineError) as caught:
            db.run("CREATE OR REPLACE TABLE movements AS SELECT * FROM people AS p "
                   "JOIN crossings AS c ON c.surname = p.surname WHERE p.surname = 'Okonkwo'")
    error = caught.value
    assert isinstance(error, duckdb.CatalogException)   # a handler of DuckDB's errors still catches it
    assert error.stage == "rules"
    assert error.statement == "CREATE OR REPLACE TABLE movements ← people, crossings"
    assert "Okonkwo" not in error.where
    assert str(error).endswith("in stage rules: CREATE OR REPLACE TABLE movements ← people, crossings")


def test_a_failure_survives_the_trip_from_a_worker_process():
    with DuckDBEngine.open() as db, db.stage("link"), pytest.raises(EngineError) as caught:
        db.run("SELECT * FROM missing_table")
    back = pickle.loads(pickle.dumps(caught.value))
    assert isinstance(back, duckdb.CatalogException) and isinstance(back, EngineError)
    assert (back.stage, back.statement, str(back)) == ("link", "SELECT ← missing_table", str(caught.value))


def test_a_failure_outside_any_stage_names_the_statement():
    with DuckDBEngine.open() as db, pytest.raises(EngineError) as caught:
        db.run("SELECT CAST('1975-13-45' AS DATE)")
    assert isinstance(caught.value, duckdb.ConversionException)
    assert caught.value.stage is None and caught.value.where == "SELECT"


@pytest.mark.parametrize(("sql", "shape"), [
    ("INSERT INTO links BY NAME SELECT * FROM links__new", "INSERT INTO links ← links__new"),
    ('DROP TABLE IF EXISTS "events__staged"', "DROP TABLE IF EXISTS events__staged"),
    ("WITH a AS (SELECT * FROM persons) SELECT * FROM a JOIN events USING (person_id) WHERE name = 'x FROM y'",
     "WITH ← persons, a, events"),
    ("UPDATE movements SET kept = FALSE WHERE source = 'tax'", "UPDATE movements"),
    ("COPY (SELECT * FROM flows) TO '/tmp/out.csv'", "COPY ← flows"),
    # a quote in a comment or a quoted name must not turn a literal into text
    ("CREATE TABLE x AS SELECT * FROM a -- the person's trip\n WHERE n IN ('b', 'FROM Okonkwo')", "CREATE TABLE x ← a"),
    ("SELECT \"Mother's name\" FROM t WHERE x IN ('a', 'JOIN Okonkwo')", "SELECT ← t"),
    ("VALUES ('Okonkwo')", "VALUES"),
])
def test_a_statement_shape_is_its_verb_target_and_sources(sql, shape):
    assert statement_shape(sql) == shape


def test_the_store_opened_read_only_cannot_be_written(tmp_path):
    store = tmp_path / "store.duckdb"
    with DuckDBEngine.open(store) as db:
        db.run("CREATE TABLE links AS SELECT 1 AS n")
    with DuckDBEngine.read_only_store(store) as db:
        assert db.run("SELECT n FROM links") == [(1,)]
        with pytest.raises(duckdb.Error):
            db.run("CREATE TABLE other AS SELECT 1 AS n")


def test_a_cursor_runs_beside_its_engine_on_the_same_database():
    with DuckDBEngine.open() as db:
        db.run("CREATE TABLE t AS SELECT 1 AS n")
        with db.stage("link"):
            beside = db.cursor()
        assert beside.run("SELECT n FROM t") == [(1,)]
        assert beside.current_stage == "link"
        beside.close()
