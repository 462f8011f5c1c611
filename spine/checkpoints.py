"""Stage checkpoints in the staged store, so that a killed run can continue (``spine run --resume``).

A run writes its store in a staging folder beside the output folder and swaps it in at the end.
Each stage that finishes records a checkpoint in that store: its name, its wall seconds and what
it handed to later stages (small JSON: counts, metrics, the rule settings calibration chose),
together with a fingerprint of the run's inputs. A run killed part way leaves its staging folder;
``--resume`` takes the latest one whose fingerprint matches (same job settings, same input files,
same person key, same previous store, same code: this toolkit's modules and the DuckDB and Splink
versions), and whose process is gone, and continues at its first
unfinished stage. Stages rebuild their tables from the start (``CREATE OR REPLACE``), so a stage
cut off half way is simply run again; the one stage that appends (the link history) commits its
changes and its checkpoint in one transaction.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from linkage._sql import quote_ident
from spine.config import JobConfig
from spine.engine import DuckDBEngine, Engine

CHECKPOINTS = "spine__checkpoints"
FINGERPRINT = "__fingerprint__"


#: The packages whose code builds the store's tables: a leftover store written by other code is
#: not continued (its tables, columns or checkpoint states may differ), it is started again.
PACKAGES = tuple(Path(__file__).resolve().parents[1] / name for name in ("linkage", "rules", "spine"))


@functools.lru_cache(maxsize=4)
def code_fingerprint(packages: tuple[Path, ...] = PACKAGES) -> str:
    """A hash of every module of ``packages`` (path and bytes) and of the DuckDB and Splink versions."""
    import splink

    digest = hashlib.sha256(f"duckdb {duckdb.__version__} splink {splink.__version__}".encode())
    for package in packages:
        for path in sorted(p for p in package.rglob("*.py") if p.is_file() and not p.name.startswith(".")):
            digest.update(str(path.relative_to(package.parent)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def run_fingerprint(job: JobConfig, input_hashes: dict[str, str], key_check: str) -> str:
    """What a resumed run must share with the one it continues."""
    previous = job.store_path
    stat = previous.stat() if previous.exists() else None
    parts = {"job": job.model_dump(mode="json"), "inputs": input_hashes, "key": key_check,
             "previous_store": [stat.st_size, stat.st_mtime_ns] if stat else None, "code": code_fingerprint()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def start(db: Engine, fingerprint: str) -> None:
    """A fresh checkpoint table holding the run's fingerprint."""
    db.run(f"CREATE OR REPLACE TABLE {CHECKPOINTS} (stage VARCHAR, seconds DOUBLE, state VARCHAR)")
    db.run(f"INSERT INTO {CHECKPOINTS} VALUES (?, 0, ?)", [FINGERPRINT, fingerprint])


def save(db: Engine, stage: str, seconds: float, state: dict[str, Any]) -> None:
    """Record that ``stage`` finished and what it produced for later stages."""
    db.run(f"INSERT INTO {CHECKPOINTS} VALUES (?, ?, ?)",
           [stage, seconds, json.dumps(state, default=_json_default)])


def finished(db: Engine) -> dict[str, tuple[float, dict[str, Any]]]:
    """Per finished stage: its seconds and its state."""
    rows = db.run(f"SELECT stage, seconds, state FROM {CHECKPOINTS} WHERE stage <> ?", [FINGERPRINT])
    return {stage: (seconds, _restore(json.loads(state))) for stage, seconds, state in rows}


def drop_leftovers(db: Engine) -> None:
    """Drop the working tables Splink left when the run was killed in the middle of a model."""
    for name, kind in db.run("SELECT table_name, table_type FROM information_schema.tables "
                             "WHERE starts_with(table_name, '__splink__')"):
        db.run(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} IF EXISTS {quote_ident(name)}")


def find_resumable(out: Path, store_name: str, fingerprint: str) -> Path | None:
    """The most recent staging folder a killed run of the same inputs left, or None.

    Called holding the output folder's lock, so no staging folder belongs to a live run; the
    process id in its name is not checked (in a container every run may have the same one).
    """
    candidates = []
    for folder in out.parent.glob(f".{out.name}.staging-*"):
        store = folder / store_name
        if store.exists() and _fingerprint_of(store) == fingerprint:
            candidates.append((store.stat().st_mtime, folder))
    return max(candidates)[1] if candidates else None


def _fingerprint_of(store: Path) -> str | None:
    try:
        with DuckDBEngine.open(store) as db:   # not read-only: a killed run's log is replayed
            row = db.run(f"SELECT state FROM {CHECKPOINTS} WHERE stage = ?", [FINGERPRINT])
    except duckdb.Error:
        return None
    return row[0][0] if row else None


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, date):
        return {"__date__": value.isoformat()}
    return str(value)


def _restore(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__date__"}:
            return date.fromisoformat(value["__date__"])
        if set(value) == {"__datetime__"}:
            return datetime.fromisoformat(value["__datetime__"])
        return {k: _restore(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v) for v in value]
    return value
