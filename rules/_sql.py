"""Small SQL helpers. Duplicated on purpose in ``linkage/_sql.py``: the packages share no code."""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Connection(Protocol):
    """Anything with ``execute(sql)``: a DuckDB connection satisfies it."""

    def execute(self, query: str, parameters: Any = ...) -> Any: ...


def quote_ident(name: str) -> str:
    """Quote an identifier for SQL (double quotes, embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: Any) -> str:
    """Render a Python value from validated config as a SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def sql_in_list(values: Any) -> str:
    """The inside of ``IN (...)`` for validated config values; ``NULL`` (matches nothing) when empty."""
    return ", ".join(sql_literal(v) for v in values) or "NULL"


def materialise(con: Connection, name: str, sql: str) -> str:
    """Create (or replace) table ``name`` from a SELECT; log its size and time; return its name."""
    started = time.perf_counter()
    logger.debug("materialise %s:\n%s", name, sql)
    con.execute(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS {sql}").fetchall()
    n = con.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchall()[0][0]
    logger.info("%s: %d rows in %.2fs", name, n, time.perf_counter() - started)
    return name


def append(con: Connection, table: str, sql: str) -> int:
    """Stage the rows of a SELECT, add them to ``table`` by column name; return how many.

    Staged first so the SELECT may read ``table`` itself (imputations read the movements they add to).
    """
    staged = f"{table}__appended"
    materialise(con, staged, sql)
    con.execute(f"INSERT INTO {quote_ident(table)} BY NAME SELECT * FROM {quote_ident(staged)}").fetchall()
    return con.execute(f"SELECT count(*) FROM {quote_ident(staged)}").fetchall()[0][0]



def columns_of(con: Connection, table: str) -> list[str]:
    """A table's (or view's) column names in order; empty when it does not exist."""
    try:
        return [row[0] for row in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()]
    except Exception as exc:  # noqa: BLE001 - DuckDB raises CatalogException; callers name the table
        if "does not exist" in str(exc):
            return []
        raise
