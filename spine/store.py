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
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from linkage._sql import quote_ident, sql_literal
from rules._sql import ESTIMATES
from spine import history
from spine.config import JobConfig, ProbabilisticConfig
from spine.engine import DuckDBEngine, Engine
from spine.linking import features_table
from spine.outputs import CONTRACT_TABLES
from spine.sources import std_table

#: Tables later commands read: the contract tables, the link history, the review pairs and the
#: spine's reference records ``spine review`` shows.
COMMAND_TABLES = (*CONTRACT_TABLES, history.HISTORY_LINKS, history.HISTORY_RUNS, history.CHANGED_RECORDS,
                  "review__pairs", "spine__reference")

#: The small tables that explain the numbers (docs/rules.md, docs/uncertainty.md name them): the
#: rules' estimates (every table of rules._sql.ESTIMATES among them) and the people they were
#: estimated from, the events outside the reporting period, each person's residence spells (the stock on 1 January), the validation sample, the
#: flows before calibration, the replicates' counts, and the records each hybrid source's model
#: scored (``benchmarks.scale`` gives bare Splink the same).
EXPLAINING = re.compile(
    r"rules__\w+_(estimates|rates|rates_by_group|lag|lags|offsets|candidates|evidence)"
    r"|rules__(early_leavers|early_leaver_weights|early_leaver_arrivals|events_all|unreturned_exits|long_absences)"
    r"|spine__base_duplicates|residence_spells|flows__(cells|counts|uncalibrated)"
    r"|uncertainty__\w+|validation__\w+|score_only__\w+")


def kept_tables(job: JobConfig, have: set[str]) -> list[str]:
    """Of the tables ``have``, those the store keeps: :data:`COMMAND_TABLES`, each source's
    standardised records (``spine review``), the features a probabilistic source was scored on
    (``JobResult.linker``) and the :data:`EXPLAINING` tables; in that order."""
    wanted = [*COMMAND_TABLES, *(std_table(name) for name in job.sources),
              *(features_table(name) for name, s in job.sources.items()
                if isinstance(s.linkage, ProbabilisticConfig))]
    wanted += sorted(t for t in have if (EXPLAINING.fullmatch(t) or t in ESTIMATES) and t not in wanted)
    return [t for t in wanted if t in have]


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
