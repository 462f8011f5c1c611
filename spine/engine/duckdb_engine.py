"""The DuckDB engine: the one place the toolkit's SQL runs against a DuckDB database.

Every statement of every stage goes through :meth:`DuckDBEngine.run` (or its siblings that shape
the result), so that a failure names its stage and statement, and a second engine can stand
behind the same methods (see ``docs/engine.md``). ``linkage`` and ``rules`` know only the methods
(their ``Engine`` protocols), never DuckDB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from linkage._sql import quote_ident, sql_literal
from spine.engine.base import EngineBase


class DuckDBEngine(EngineBase):
    """Runs SQL on one DuckDB connection (or cursor) and hands back fully read results: DuckDB 2.0
    blocks a connection while a result is unread, so nothing is left half read."""

    kind = "duckdb"
    database_errors = (duckdb.Error,)

    def __init__(self, connection: duckdb.DuckDBPyConnection, *, stage: str | None = None) -> None:
        super().__init__(stage=stage)
        self._connection = connection

    @classmethod
    def open(cls, path: str | Path | None = None, *, read_only: bool = False) -> DuckDBEngine:
        """A new database: the file ``path`` (created if missing), or an in-memory one."""
        if path is None:
            return cls(duckdb.connect())
        return cls(duckdb.connect(str(path), read_only=read_only))

    @classmethod
    def read_only_store(cls, path: str | Path, alias: str = "store") -> DuckDBEngine:
        """The store at ``path``, read only, attached as ``alias`` to a private in-memory database
        and made current. Not ``duckdb.connect(path)``: DuckDB caches instances by path, so a
        result still open from an earlier run would hand a rerun the old, replaced file."""
        engine = cls.open()
        engine.run(f"ATTACH {sql_literal(str(path))} AS {alias} (READ_ONLY)")
        engine.run(f"USE {alias}")
        return engine

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection underneath: for a user's own queries, never the toolkit's SQL."""
        return self._connection

    # -- statements -------------------------------------------------------------------------------

    def run(self, sql: str, parameters: Any = None) -> list[tuple]:
        """Run one statement and return its rows (empty for statements that return none)."""
        with self._naming(sql):
            return self._execute(sql, parameters).fetchall()

    def records(self, sql: str, parameters: Any = None) -> list[dict[str, Any]]:
        """Run a query and return its rows as dicts by column name."""
        with self._naming(sql):
            cursor = self._execute(sql, parameters)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def frame(self, sql: str, parameters: Any = None) -> Any:
        """Run a query and return a pandas DataFrame (for small results)."""
        with self._naming(sql):
            return self._execute(sql, parameters).df()

    def arrays(self, sql: str, parameters: Any = None) -> dict[str, Any]:
        """Run a query and return its columns as numpy arrays."""
        with self._naming(sql):
            return self._execute(sql, parameters).fetchnumpy()

    def arrow(self, sql: str) -> Any:
        """Run a query and return a pyarrow Table (to hand rows to another engine, types kept)."""
        with self._naming(sql):
            return self._connection.sql(sql).to_arrow_table()

    def relation(self, table: str) -> duckdb.DuckDBPyRelation:
        """A table as a lazy DuckDB relation (for the Python API's large results)."""
        with self._naming(f"SELECT * FROM {table}"):
            return self._connection.table(table)

    def table_names(self) -> set[str]:
        """The names of the tables in every attached database (temporary ones included)."""
        return {row[0] for row in self.run("SELECT table_name FROM duckdb_tables()")}

    # -- frames and streams -------------------------------------------------------------------------

    def register(self, name: str, data: Any) -> None:
        """Make ``data`` (a pandas or Arrow table, an Arrow stream, a relation) readable as ``name``."""
        self._connection.register(name, data)

    def unregister(self, name: str) -> None:
        self._connection.unregister(name)

    # -- connections --------------------------------------------------------------------------------

    def cursor(self) -> DuckDBEngine:
        """Another engine on the same database, with its own transaction and results (for work that
        runs beside this engine's, as Splink's)."""
        return DuckDBEngine(self._connection.cursor(), stage=self.current_stage)

    @contextmanager
    def shadowing(self, name: str) -> Iterator[tuple[DuckDBEngine, Callable[[str], str]]]:
        """A cursor whose tables are its own (a private in-memory database ``name``, made current)
        and which reads this engine's tables where it has none of that name (the search path falls
        back to them), and a function naming this engine's own table from inside it (for a table
        the cursor shadows). Nothing the cursor writes reaches this engine's tables."""
        store = self.run("SELECT current_database()")[0][0]
        shadow = self.cursor()
        shadow.run(f"ATTACH ':memory:' AS {quote_ident(name)}")
        try:
            shadow.run(f"USE {quote_ident(name)}")
            path = f"{quote_ident(name)}.main,{quote_ident(store)}.main"   # a store named with a quote too
            shadow.run(f"SET search_path = {sql_literal(path)}")
            yield shadow, lambda table: f"{quote_ident(store)}.main.{quote_ident(table)}"
        finally:
            shadow.run(f"USE {quote_ident(store)}")
            shadow.run(f"DETACH {quote_ident(name)}")
            shadow.close()

    def splink_api(self) -> Any:
        """Splink's database API over this engine's connection (give Splink a :meth:`cursor`)."""
        from splink import DuckDBAPI

        return DuckDBAPI(connection=self._connection)

    def close(self) -> None:
        self._connection.close()

    def _execute(self, sql: str, parameters: Any) -> duckdb.DuckDBPyConnection:
        if parameters is None:
            return self._connection.execute(sql)
        return self._connection.execute(sql, parameters)
