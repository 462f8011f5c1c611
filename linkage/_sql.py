"""Small SQL helpers. Duplicated on purpose in ``rules/_sql.py``: the packages share no code."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
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


def columns_of(con: Connection, table: str) -> list[str]:
    """A table's (or view's) column names in order; empty when it does not exist."""
    try:
        return [row[0] for row in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()]
    except Exception as exc:  # noqa: BLE001 - DuckDB raises CatalogException; callers name the table
        if "does not exist" in str(exc):
            return []
        raise


def materialise(con: Connection, name: str, sql: str) -> str:
    """Create (or replace) table ``name`` from a SELECT; log its size and time; return its name."""
    started = time.perf_counter()
    logger.debug("materialise %s:\n%s", name, sql)
    con.execute(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS {sql}").fetchall()
    n = con.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchall()[0][0]
    logger.info("%s: %d rows in %.2fs", name, n, time.perf_counter() - started)
    return name


def fill_rates(con: Connection, table: str, columns: Sequence[str]) -> dict[str, float]:
    """Share of ``table``'s rows holding a value in each of ``columns`` (0.0 on an empty table)."""
    if not columns:
        return {}
    total, *counts = con.execute(f"SELECT count(*){''.join(f', count({quote_ident(c)})' for c in columns)} "
                                 f"FROM {quote_ident(table)}").fetchall()[0]
    return {c: round(n / total, 4) if total else 0.0 for c, n in zip(columns, counts, strict=True)}
