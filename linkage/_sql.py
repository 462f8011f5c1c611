"""Small SQL helpers. Duplicated on purpose in ``rules/_sql.py``: the packages share no code."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Engine(Protocol):
    """Where the SQL runs (``spine.engine.DuckDBEngine`` is one): statements in, results out.
    This package builds SQL and names tables; it never holds a database connection."""

    def run(self, sql: str, parameters: Any = None) -> list[tuple]: ...

    def records(self, sql: str, parameters: Any = None) -> list[dict[str, Any]]: ...

    def frame(self, sql: str, parameters: Any = None) -> Any: ...

    def arrays(self, sql: str, parameters: Any = None) -> dict[str, Any]: ...

    def relation(self, table: str) -> Any: ...

    def table_names(self) -> set[str]: ...

    def register(self, name: str, data: Any) -> None: ...

    def unregister(self, name: str) -> None: ...

    def registered(self, name: str, data: Any) -> AbstractContextManager[str]: ...

    def cursor(self) -> Engine: ...

    def splink_api(self) -> Any: ...

    def splink_sql(self, condition: str) -> str: ...

    def close(self) -> None: ...


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


def columns_of(db: Engine, table: str) -> list[str]:
    """A table's (or view's) column names in order; empty when it does not exist."""
    try:
        return [row[0] for row in db.run(f"DESCRIBE {quote_ident(table)}")]
    except Exception as exc:  # noqa: BLE001 - DuckDB raises CatalogException (Spark AnalysisException)
        if "does not exist" in str(exc) or "TABLE_OR_VIEW_NOT_FOUND" in str(exc):
            return []
        raise


def materialise(db: Engine, name: str, sql: str) -> str:
    """Create (or replace) table ``name`` from a SELECT; log its size and time; return its name."""
    started = time.perf_counter()
    logger.debug("materialise %s:\n%s", name, sql)
    db.run(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS {sql}")
    n = db.run(f"SELECT count(*) FROM {quote_ident(name)}")[0][0]
    logger.info("%s: %d rows in %.2fs", name, n, time.perf_counter() - started)
    return name


def fill_rates(db: Engine, table: str, columns: Sequence[str]) -> dict[str, float]:
    """Share of ``table``'s rows holding a value in each of ``columns`` (0.0 on an empty table)."""
    if not columns:
        return {}
    total, *counts = db.run(f"SELECT count(*){''.join(f', count({quote_ident(c)})' for c in columns)} "
                            f"FROM {quote_ident(table)}")[0]
    return {c: round(n / total, 4) if total else 0.0 for c, n in zip(columns, counts, strict=True)}
