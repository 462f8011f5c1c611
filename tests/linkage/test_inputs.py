"""What the engines accept as a table: names, pandas frames, Arrow tables and DuckDB relations,
on an in-memory or a file-backed store, with nothing left behind."""

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from linkage.errors import LinkageError
from linkage.inputs import as_table
from tests.conftest import engine_on


@pytest.mark.parametrize("store", ["memory", "file"])
def test_every_kind_of_table_a_notebook_holds_becomes_a_table_of_the_store(tmp_path, store):
    con = engine_on(duckdb.connect(str(tmp_path / "store.duckdb") if store == "file" else ":memory:"))
    frame = pd.DataFrame({"record_id": ["1", "2"], "x": [1, 2]})
    other = duckdb.connect()   # a relation of another connection is read through Arrow
    given = {"frame": frame, "arrow": pa.table({"record_id": ["3"]}), "relation_over_frame": con.connection.from_df(frame),
             "other_connection": other.sql("SELECT '4' AS record_id")}
    for name, data in given.items():
        assert as_table(con, data, name) == name
    assert as_table(con, con.sql("SELECT * FROM frame WHERE x = 2"), "relation") == "relation"
    assert as_table(con, "frame", "unused") == "frame"
    ids = {name: [r[0] for r in con.execute(f"SELECT record_id FROM {name} ORDER BY 1").fetchall()]
           for name in (*given, "relation")}
    assert ids == {"frame": ["1", "2"], "arrow": ["3"], "relation_over_frame": ["1", "2"],
                   "other_connection": ["4"], "relation": ["2"]}
    assert con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchall() == [(0,)]
    assert other.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchall() == [(0,)]


def test_anything_else_is_a_clear_error():
    with pytest.raises(LinkageError, match="expected a table name, a pandas DataFrame.*for 'left', got dict"):
        as_table(duckdb.connect(), {"record_id": [1]}, "left")
