"""Sources in a PostgreSQL server: a table or a query read through ADBC into the store.

The rows stream from the server as Arrow record batches straight into a DuckDB table (never whole
in pandas, never through a CSV export). Credentials come from the environment only: the job's
``url`` holds none (libpq reads ``PGUSER``, ``PGPASSWORD`` or ``~/.pgpass``), or ``url_env`` names
a variable holding the whole URL. No message or log line shows a credential, a URL from the
environment, or a value from the server's error (which can quote a row): failures are described by
their SQLSTATE class.
"""

from __future__ import annotations

import os
import re

import duckdb

from linkage._sql import quote_ident
from spine.config import DatabaseConfig
from spine.engine import Engine

#: What a failure means, by SQLSTATE (the first two characters: its class, where no code matches).
_REASONS = {
    "28P01": "the password was refused (set PGPASSWORD, or the URL in the variable url_env names)",
    "28000": "the server refused the user (check PGUSER, or the URL in the variable url_env names)",
    "3D000": "there is no such database on the server",
    "42P01": "there is no such table",
    "42501": "the user may not read it",
    "42601": "the query has a syntax error",
    "42703": "the query names a column the table does not have",
    "08": "cannot connect to the server",
    "28": "the server refused the credentials",
    "22": "the server met a value it cannot compute or convert",
    "42": "the server cannot run the query",
    "57": "the server is shutting down or cancelled the query",
}
DRIVER_HINT = "pip install 'migration-spine[database]' (the PostgreSQL ADBC driver)"


def read_database(db: Engine, where: str, config: DatabaseConfig, table: str) -> str | None:
    """Read ``config``'s rows into the DuckDB table ``table``; None, or the problem (``where`` is
    the source's YAML path, ``sources.<name>.database``)."""
    try:
        import adbc_driver_postgresql.dbapi as postgresql
    except ImportError:
        return f"{where}  reading a database needs its driver: {DRIVER_HINT}"
    if config.url_env is not None:
        url = os.environ.get(config.url_env)
        if not url:
            return f"{where}.url_env  the environment variable {config.url_env} is not set (it holds the URL)"
    else:
        url = config.url or ""
    sql = config.query if config.query is not None else "SELECT * FROM " + ".".join(
        _pg_ident(part) for part in (config.table or "").split("."))
    reader_name = f"{table}__arrow"
    try:
        with postgresql.connect(url) as conn, conn.cursor() as cursor:
            cursor.execute(sql)
            db.register(reader_name, cursor.fetch_record_batch())
            try:
                db.run(f"CREATE OR REPLACE TABLE {quote_ident(table)} AS SELECT * FROM {quote_ident(reader_name)}")
            finally:
                db.unregister(reader_name)
    except duckdb.Error as exc:   # the server's error while the rows streamed (a division by zero)
        if "SQLSTATE" in str(exc):
            return f"{where}  cannot read {config.describe()}: {_reason(exc)}"
        return f"{where}  cannot store the rows of {config.describe()} ({type(exc).__name__})"
    except Exception as exc:  # noqa: BLE001 - the driver's errors: described by SQLSTATE, never quoted
        return f"{where}  cannot read {config.describe()}: {_reason(exc)}"
    return None


def _pg_ident(part: str) -> str:
    """A PostgreSQL identifier, always quoted: ``user`` or ``order`` are tables, not keywords (a
    name is matched as the database writes it: lower case unless created quoted)."""
    return '"' + part.replace('"', '""') + '"'


def _reason(exc: Exception) -> str:
    text = str(exc)
    quoted = re.search(r"SQLSTATE:? ([0-9A-Z]{5})", text)
    state = getattr(exc, "sqlstate", None) or (quoted.group(1) if quoted else "")
    if not state and ("password authentication failed" in text or "no password supplied" in text):
        state = "28P01"
    elif not state and "Failed to connect" in text:
        state = "08"
    reason = _REASONS.get(state) or _REASONS.get(state[:2])
    if reason is None:
        return f"the server or driver failed ({type(exc).__name__}{', SQLSTATE ' + state if state else ''})"
    return reason + (f" (SQLSTATE {state})" if len(state) == 5 else "")
