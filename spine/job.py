"""Run a job end to end, and the Python API for notebooks: ``Job.from_yaml(path).run()``."""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pandas as pd

from linkage._sql import sql_literal
from spine import builder, conflicts, diagnostics, flows, history, plausibility, quality, uncertainty, validation
from spine.config import JobConfig, load_job
from spine.errors import CheckFailed, ConfigError, SpineError
from spine.calibration import calibrate_rules
from spine.events_stage import build_movements_and_events, first_year
from spine.linking import link_table
from spine.outputs import CONTRACT_TABLES, check_output_dir, check_store_location, commit, commit_file, staging_dir
from spine.progress import NullProgress, Progress
from spine.pseudonymise import person_key_from_env
from spine.report import render_comparison, render_report
from spine.sources import check_sources, file_fingerprint, load_sources

logger = logging.getLogger(__name__)


def validate_job(job: JobConfig) -> dict[str, int]:
    """Check every source against the job without writing anything; return rows per source.

    Raises:
        ConfigError: with every problem found.
    """
    person_key_from_env(job.person_key_env, demo=job.demo)
    check_output_dir(job.output_dir)
    check_store_location(job.store_path, job.output_dir)
    with duckdb.connect() as con:
        rows = load_sources(con, job, as_views=True)
        check_sources(con, job, rows)
        validation.load_validation(con, job)
    return rows


@dataclass
class _Timer:
    progress: Progress
    stages: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str, total: int = 1) -> Iterator[Callable[[], None]]:
        self.progress.start(name, total)
        started = time.perf_counter()
        yield lambda: self.progress.advance(name)
        self.stages[name] = round(time.perf_counter() - started, 3)
        self.progress.finish(name, self.stages[name])


def _versions() -> dict[str, str]:
    names = ("migration-spine", "duckdb", "splink", "pandas", "pydantic")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def run_job(job: JobConfig, progress: Progress | None = None) -> "JobResult":
    """Run every stage into a staging folder, then swap it in for the output folder.

    A failed run leaves the previous outputs as they were.

    Raises:
        ConfigError: bad job or inputs (before anything is written).
        CheckFailed: the accounting identity does not hold (outputs are not published).
    """
    timer = _Timer(progress or NullProgress())
    started_dt = datetime.now(timezone.utc)
    started_at = started_dt.isoformat(timespec="seconds")
    key = person_key_from_env(job.person_key_env, demo=job.demo)
    key_check = history.key_check(key)
    out = job.output_dir
    check_output_dir(out)
    check_store_location(job.store_path, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(out)
    store_inside = job.store_path.resolve().parent == out.resolve()
    staged_store = staging / (job.store_path.name if store_inside else f"{job.store_path.name}.staging")
    started = time.perf_counter()
    try:
        with duckdb.connect(str(staged_store)) as con:
            with timer.stage("load"):
                previous = history.load_previous(con, job.store_path, key_check)
                rows = load_sources(con, job)
                check_sources(con, job, rows)
                inputs = {name: {"file": job.resolve(s.path).name, "rows": rows[name],
                                 "sha256": file_fingerprint(job.resolve(s.path))}
                          for name, s in job.sources.items()}
                validation_file = validation.load_validation(con, job)
                if validation_file:
                    inputs["flows.uncertainty.validation"] = validation_file
            with timer.stage("standardise"):
                builder.standardise_sources(con, job)
            with timer.stage("link", len(job.sources)) as step:
                linkage_metrics = builder.link_sources(con, job, key, step, run=(previous["run"] or 0) + 1)
                builder.build_links(con, job)
            with timer.stage("resolve"):
                linked = builder.build_linked_records(con, job)
                conflicts.build_attribute_values(con, linked, job)
                conflicts.build_persons(con, link_table(job.base), job)
            with timer.stage("rules"):
                calibration = None
                if job.rules.calibrate is not None:   # the settings chosen on the validation sample
                    job, calibration = calibrate_rules(con, job, linked)
                data_end, rule_counts = build_movements_and_events(con, job, linked)
                if calibration:
                    rule_counts["calibration"] = calibration
            with timer.stage("flows"):
                disclosure = flows.build_flows(con, job)
            with timer.stage("uncertainty"):
                # after build_flows, whatever rows it publishes: fills flows.lower/upper by key
                flow_uncertainty = uncertainty.apply_uncertainty(con, job)
            with timer.stage("history"):
                changes = history.record_history(con, previous, started_dt, key_check)
            with timer.stage("quality"):
                metrics = {
                    "job": job.name,
                    "data_end": data_end.isoformat(),
                    "sources": {n: quality.source_metrics(con, job, n, data_end) for n in job.sources},
                    "persons": quality.person_metrics(con),
                    "rules": {**quality.rule_metrics(con), **rule_counts},
                    "flows": quality.flow_metrics(
                        con, (flow_uncertainty.get("calibration") or {}).pop("disclosure", None) or disclosure),
                    "uncertainty": flow_uncertainty,
                    "accounting": quality.accounting(con, rows),
                    "reporting": rule_counts.pop("reporting"),
                    "plausibility": plausibility.plausibility(con, job),
                    "demographic_accounting": diagnostics.demographic_accounting(
                        con, first_year(job, data_end), job.reporting_period(data_end)[1] + timedelta(days=1)),
                    "linkage_diagnostics": diagnostics.linkage_diagnostics(con, linkage_metrics),
                    "linkage": linkage_metrics,
                    "conflicts": conflicts.conflict_rates(con),
                    "inputs": inputs,
                    "changes": changes,
                }
            with timer.stage("write", len(CONTRACT_TABLES)) as step:
                for table in CONTRACT_TABLES:
                    target = staging / f"{table}.parquet"
                    con.execute(f"COPY {table} TO '{target}' (FORMAT parquet)")
                    step()
        metrics["run"] = {"started": started_at, "seconds": round(time.perf_counter() - started, 3),
                          "stages": timer.stages, "versions": _versions()}
        metrics = finite(metrics)
        (staging / "quality.json").write_text(json.dumps(metrics, indent=2, default=str, allow_nan=False))
        (staging / "report.html").write_text(render_report(metrics), encoding="utf-8")
        if not metrics["accounting"]["passed"]:
            raise CheckFailed(f"accounting identity failed: {metrics['accounting']['by_source']}")
        if not store_inside:
            commit_file(staged_store, job.store_path)
        commit(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return JobResult(job=job, quality=metrics)


def write_report(job_path: str | Path, *, compare: str | Path | None = None, out: str | Path | None = None) -> Path:
    """Write the report of a finished run from its quality.json (nothing is run again); with
    ``compare``, a page setting it beside another job's run. Returns the file written."""
    job = load_job(job_path)
    first = _read_quality(job)
    if compare is None:
        target = Path(out) if out else job.output_dir / "report.html"
        text = render_report(first)
    else:
        other = load_job(compare)
        target = Path(out) if out else job.output_dir / "comparison.html"
        text = render_comparison(first, _read_quality(other))
    staged = target.with_name(target.name + ".tmp")
    staged.write_text(text, encoding="utf-8")
    commit_file(staged, target)
    return target


def finite(value: Any) -> Any:
    """The metrics with NaN and infinities as None: quality.json is strict JSON, and a chart cannot
    draw a bar of NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def _read_quality(job: JobConfig) -> dict[str, Any]:
    path = job.output_dir / "quality.json"
    if not path.exists():
        raise ConfigError(f"{job.name}: no finished run in {job.output_dir} (quality.json is missing); "
                          "run `spine run` on the job first")
    try:
        quality = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path}: not readable as JSON ({exc}); run `spine run` on the job again") from None
    missing = [k for k in ("job", "data_end", "sources", "rules", "run") if not isinstance(quality, dict) or k not in quality]
    if missing:
        raise ConfigError(f"{path}: not the quality.json of a finished run of this version (no {', '.join(missing)}); "
                          "run `spine run` on the job again")
    return quality


@dataclass
class JobResult:
    """What a run produced: contract tables as DuckDB relations or pandas frames, and the metrics."""

    job: JobConfig
    quality: dict[str, Any]
    _con: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)

    @property
    def output_dir(self) -> Path:
        return self.job.output_dir

    @property
    def store_path(self) -> Path:
        return self.job.store_path

    @property
    def report_path(self) -> Path:
        return self.job.output_dir / "report.html"

    def connection(self) -> duckdb.DuckDBPyConnection:
        """A read-only connection to this run's store (opened once).

        The store is attached to a private in-memory database rather than opened with
        ``duckdb.connect(path)``: DuckDB caches instances by path, so a result still open from an
        earlier run would otherwise hand a rerun the old, replaced file.
        """
        if self._con is None:
            con = duckdb.connect()
            con.execute(f"ATTACH {sql_literal(str(self.store_path))} AS store (READ_ONLY)").fetchall()
            con.execute("USE store").fetchall()
            self._con = con
        return self._con

    def table(self, name: str) -> duckdb.DuckDBPyRelation:
        """A contract table as a DuckDB relation (lazy, for large tables), on its own cursor."""
        if name not in CONTRACT_TABLES:
            raise SpineError(f"unknown table '{name}'; tables are {', '.join(CONTRACT_TABLES)}")
        return self._cursor().table(name)

    def df(self, name: str) -> pd.DataFrame:
        """A contract table as a pandas frame (for small results)."""
        if name not in CONTRACT_TABLES:
            raise SpineError(f"unknown table '{name}'; tables are {', '.join(CONTRACT_TABLES)}")
        with self._cursor() as cursor:
            return cursor.table(name).df()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = self.connection().cursor()
        cursor.execute("USE store").fetchall()
        return cursor

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


@dataclass(frozen=True)
class Job:
    """A spine job for notebooks: ``Job.from_yaml('job.yaml').run().df('links')``."""

    config: JobConfig

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Job":
        return cls(load_job(path))

    def validate(self) -> dict[str, int]:
        """Check the job and its inputs without writing anything; return rows per source."""
        return validate_job(self.config)

    def run(self, progress: Progress | None = None) -> JobResult:
        """Run the job; the previous outputs stay as they were if anything fails."""
        return run_job(self.config, progress)
