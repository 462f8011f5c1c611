"""What the engines accept as a table: a name, or data a notebook already holds.

A Splink user holds pandas frames, Arrow tables or DuckDB relations, not table names. Each is
written once into a table of the connection (a relation of another connection through Arrow):
Splink reads its inputs through its own cursor, which sees tables, not Python variables. The
functions then carry on with names as before.
"""

from __future__ import annotations

from typing import Any

import duckdb

from linkage._sql import Engine, quote_ident
from linkage.errors import LinkageError

#: A table name, a pandas DataFrame, a pyarrow Table or a DuckDB relation.
TableLike = Any


def as_table(db: Engine, data: TableLike, name: str) -> str:
    """``data`` as a table of ``db``: a name is returned as it is; frames, Arrow tables and
    relations are written to table ``name`` (replaced if it exists)."""
    if isinstance(data, str):
        return data
    if not (isinstance(data, duckdb.DuckDBPyRelation) or hasattr(data, "__arrow_c_stream__") or _is_pandas(data)):
        raise LinkageError(f"expected a table name, a pandas DataFrame, a pyarrow Table or a DuckDB relation "
                           f"for {name!r}, got {type(data).__name__}")
    view = f"__linkage_input_{name}"
    try:
        db.register(view, data)
    except duckdb.InvalidInputException:
        if not isinstance(data, duckdb.DuckDBPyRelation):
            raise
        db.register(view, data.to_arrow_table())   # a relation of another connection: through Arrow
    try:
        db.run(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS SELECT * FROM {quote_ident(view)}")
    finally:
        db.unregister(view)
    return name


def _is_pandas(data: Any) -> bool:
    return type(data).__module__.startswith("pandas") and hasattr(data, "columns")
