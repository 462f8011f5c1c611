"""What the store keeps after a run (``output.keep_intermediate``).

A run writes some two hundred tables into its store: the sources as read, each linkage step's
working tables, the rules' per-movement copies, the checkpoints. At a hundred thousand persons
they made a 974 MB store, of which later commands read a fifth. Unless the job sets
``output.keep_intermediate``, the store is rewritten at the end of a successful run with only
:func:`kept_tables`: what the next run (the link history), the Python API (``JobResult.table``,
``JobResult.linker``), ``spine review`` and ``spine report`` read, and the small tables that say
what the run estimated and measured (the rules' estimates and candidates, the validation sample,
the replicates). Dropping tables does not shrink a DuckDB file (its blocks are only marked free),
so the kept tables are copied into a new file that replaces the old. A failed run keeps
everything (``--resume`` needs it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from linkage._sql import quote_ident, sql_literal
from spine import tables
from spine.config import JobConfig, ProbabilisticConfig
from spine.engine import DuckDBEngine, Engine


def kept_tables(job: JobConfig, have: set[str]) -> list[str]:
    """Of the tables ``have``, those the store keeps (spine.tables: the outputs, what later commands
    read, each source's standardised records and the features a model scored, and the tables that
    explain the numbers), in the order spine.tables declares them."""
    scored = {name for name, s in job.sources.items() if isinstance(s.linkage, ProbabilisticConfig)}
    return tables.kept_tables(list(job.sources), scored, have)


#: The name the store being rewritten is attached under: one no job (nor so its store's catalog) can have.
_SOURCE = "spine-store-being-rewritten"


def compact_store(path: Path, job: JobConfig, configure: Callable[[Engine], Any] | None = None) -> dict[str, Any]:
    """Rewrite the DuckDB store at ``path`` (closed) with only its :func:`kept_tables`: copied into
    a new file beside it, which then replaces it. ``configure``: applies the run's DuckDB settings
    (memory limit, threads, spill folder) to the copy's database. Returns what quality.json says of it."""
    before = path.stat().st_size
    fresh = path.with_name(f"{path.name}.compact")
    fresh.unlink(missing_ok=True)   # a copy a killed run left
    source = quote_ident(_SOURCE)
    try:
        with DuckDBEngine.open(fresh) as db:
            if configure is not None:
                configure(db)
            db.run(f"ATTACH {sql_literal(str(path))} AS {source} (READ_ONLY)")
            have = {r[0] for r in db.run("SELECT table_name FROM duckdb_tables() WHERE database_name = ?",
                                         [_SOURCE])}
            kept = kept_tables(job, have)
            for table in kept:
                db.run(f"CREATE TABLE {quote_ident(table)} AS SELECT * FROM {source}.{quote_ident(table)}")
            db.run(f"DETACH {source}")
            db.run("CHECKPOINT")
    except BaseException:
        fresh.unlink(missing_ok=True)
        raise
    os.replace(fresh, path)
    return {"intermediate_tables": "dropped", "tables_kept": len(kept), "tables_dropped": len(have) - len(kept),
            "megabytes_before": round(before / 1e6, 1), "megabytes": round(path.stat().st_size / 1e6, 1)}


def copy_to_store(compute: Engine, store: Engine, staging: Path, job: JobConfig) -> dict[str, Any]:
    """A run on another engine: the tables the store keeps (every table with
    ``output.keep_intermediate``), from the engine it used into the DuckDB store, through a Parquet
    file beside it (written by the engine, read by DuckDB; removed after); the store's own other
    tables dropped unless the job keeps them."""
    made = {t for t in compute.table_names() if not t.startswith("__")}   # not the files read, as views
    tables = sorted(made) if job.output.keep_intermediate else kept_tables(job, made)
    for table in tables:
        file = staging / f".{table}.to-store.parquet"
        compute.run(f"COPY {table} TO {sql_literal(str(file))} (FORMAT parquet)")
        store.run(f"CREATE OR REPLACE TABLE {quote_ident(table)} AS "
                  f"SELECT * FROM read_parquet({sql_literal(str(file))})")
        file.unlink()
    dropped = set()
    if not job.output.keep_intermediate:   # the store's own working tables (the stage checkpoints)
        own = {r[0] for r in store.run("SELECT table_name FROM duckdb_tables() "
                                       "WHERE database_name = current_database()")}
        dropped = own - set(tables)
        for table in dropped:
            store.run(f"DROP TABLE {quote_ident(table)}")
    return {"intermediate_tables": "kept" if job.output.keep_intermediate else "dropped", "tables_kept": len(tables),
            "tables_dropped": len((made | dropped) - set(tables))}
