"""Shared fixtures: a fresh in-memory DuckDB per test and helpers to make and read tiny tables."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import pytest

from spine.engine import DuckDBEngine


class EngineForTests(DuckDBEngine):
    """The engine the packages are given, plus four of the DuckDB connection's own methods for a
    test to set up and read its tables (only these: a package calling anything else on its engine
    must fail here as it would in a run)."""

    def execute(self, *args: Any) -> Any:
        return self.connection.execute(*args)

    def executemany(self, *args: Any) -> Any:
        return self.connection.executemany(*args)

    def sql(self, *args: Any) -> Any:
        return self.connection.sql(*args)

    def table(self, name: str) -> Any:
        return self.connection.table(name)


def engine_on(connection: duckdb.DuckDBPyConnection | None = None) -> EngineForTests:
    """An engine on ``connection`` (a new in-memory database by default)."""
    return EngineForTests(connection if connection is not None else duckdb.connect())


@pytest.fixture
def con() -> Iterator[EngineForTests]:
    engine = engine_on()
    yield engine
    engine.close()


def make_table(con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, str],
               rows: Sequence[Sequence[Any]]) -> str:
    """Create table ``name`` with explicit column types and insert ``rows``."""
    cols = ", ".join(f'"{c}" {t}' for c, t in columns.items())
    con.execute(f'CREATE OR REPLACE TABLE "{name}" ({cols})')
    if rows:
        marks = ", ".join("?" for _ in columns)
        con.executemany(f'INSERT INTO "{name}" VALUES ({marks})', [list(r) for r in rows])
    return name


def fetch_rows(con: duckdb.DuckDBPyConnection, sql_or_table: str, order_by: str | None = None) -> list[tuple]:
    """Rows of a table (or a SELECT), ordered for stable comparisons."""
    sql = sql_or_table if sql_or_table.lstrip().upper().startswith(("SELECT", "WITH")) else f'SELECT * FROM "{sql_or_table}"'
    if order_by:
        sql = f"SELECT * FROM ({sql}) ORDER BY {order_by}"
    return con.execute(sql).fetchall()
