"""Run a job end to end, and the Python API for notebooks: ``Job.from_yaml(path).run()``."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import time
from collections import Counter
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
from spine import checkpoints
from spine._urls import shown
from spine.config import JobConfig, load_job, with_rule_value
from spine.engine import DuckDBEngine, Engine
from spine.errors import CheckFailed, ConfigError, InputError, SpineError
from spine.calibration import calibrate_rules
from spine.events_stage import build_movements_and_events, first_year, keeps_repaired_movements
from spine.linking import link_table
from spine.outputs import (
    CONTRACT_TABLES,
    add_to_manifest,
    check_not_in_other_output,
    check_not_inside_output,
    check_output_dir,
    check_store_location,
    check_write_target,
    commit,
    commit_file,
    commit_started,
    exclusive,
    finish_interrupted_commit,
    job_files,
    private_files,
    read_manifest,
    remove_leftovers,
    resume_staging,
    staging_dir,
    write_manifest,
)
from spine.progress import Progress, default_progress
from spine.pseudonymise import is_demo_key, person_key_from_env
from spine.dashboards import DASHBOARDS_DIR, write_dashboards
from spine.report import render_comparison, render_report
from spine.sources import check_sources, content_hash, file_fingerprint, load_sources
from spine.store import compact_store, copy_to_store

logger = logging.getLogger(__name__)


def validate_job(job: JobConfig) -> dict[str, int]:
    """Check every source against the job without writing anything; return rows per source.

    Every check runs: a missing file does not keep the other sources' columns and values from
    being checked.

    Raises:
        ConfigError: with every problem found.
    """
    problems: list[str] = []
    for check in (lambda: person_key_from_env(job.person_key_env, demo=job.demo), lambda: check_job_paths(job)):
        try:
            check()
        except ConfigError as exc:
            problems += exc.problems
    with DuckDBEngine.open() as db:
        rows = load_sources(db, job, as_views=True, problems=problems)
        try:
            check_sources(db, job, rows)
        except ConfigError as exc:
            problems += exc.problems
        if len(rows) == len(job.sources):   # the sample names records of the sources
            try:
                validation.load_validation(db, job)
            except ConfigError as exc:
                problems += exc.problems
    if problems:
        raise InputError(problems)
    return rows


def validate_job_file(path: str | Path) -> tuple[JobConfig, dict[str, int]]:
    """``spine validate``: every problem of every pass at once, sorted by file and line: the job
    file's, then its sources' as far as the job's sound parts let them be checked.

    Raises:
        ConfigError: with every problem found.
    """
    path = Path(path)
    try:
        job, problems = load_job(path), []
    except ConfigError as exc:
        if exc.job is None:
            raise
        job, problems = exc.job, list(exc.problems)
    rows: dict[str, int] = {}
    try:
        rows = validate_job(job)
    except ConfigError as exc:
        from spine._yaml import load_yaml

        doc = load_yaml(path)
        problems += [_with_position(doc, p) for p in exc.problems]
    if problems:
        raise ConfigError(sorted(problems, key=_position_key), file=str(path))
    return job, rows


def _with_position(doc: Any, problem: str) -> str:
    """``file:line:col  path  message`` for a problem that names its YAML path but not its place."""
    from spine._every_problem import PATH, parse_path

    head = problem.split("  ", 1)[0]
    if not PATH.match(head) or "." not in head:
        return problem
    where, _ = doc.locate(parse_path(head))
    return f"{where}  {problem}" if where.startswith(doc.path.name + ":") else problem


def _position_key(problem: str) -> tuple[int, int, str]:
    """Problems with a place first, by line and column; the rest after, as found."""
    found = re.match(r"^[^:\s]+:(\d+):(\d+)\s", problem)
    return (int(found.group(1)), int(found.group(2)), "") if found else (1 << 30, 0, "")


def check_job_paths(job: JobConfig) -> None:
    """The output folder is replaced whole on every run: it must be the job's own, nothing the job
    reads may live in it, and the store may not be one of the job's inputs. Every problem at once.

    Raises:
        ConfigError: listing each problem with its YAML path.
    """
    out = job.output_dir
    inside = dict(job_files(job))
    if job.engine.temp_directory:
        inside["engine.temp_directory"] = job.resolve(job.engine.temp_directory)
    checks = [lambda: check_output_dir(out, job.job_file), lambda: check_store_location(job.store_path, out),
              lambda: check_not_in_other_output(job.store_path, out, "output.store"),
              *(lambda where=where, path=path: check_not_inside_output(path, out, where) for where, path in inside.items())]
    problems = []
    for check in checks:
        try:
            check()
        except ConfigError as exc:
            problems.extend(exc.problems)
    problems += [f"output.store  {job.store_path} is also {where}; the store must be a file of its own"
                 for where, path in job_files(job).items() if path.resolve() == job.store_path.resolve()]
    if problems:
        raise ConfigError(problems)


@dataclass
class _Timer:
    progress: Progress
    stages: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str, total: int = 1) -> Iterator[Callable[[], None]]:
        self.progress.start(name, total)
        logger.info("stage %s: started", name)
        started = time.perf_counter()
        yield lambda: self.progress.advance(name)
        self.stages[name] = round(time.perf_counter() - started, 3)
        logger.info("stage %s: finished in %.1fs", name, self.stages[name])
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


#: The share of the machine's memory the store's database may use when the job sets no
#: ``engine.memory_limit`` (DuckDB's own default is 80%; Splink, pandas and Python need the rest).
#: At a million persons on a 24 GB machine, 5 GB set kept the whole run at 5.7 GB with the same
#: outputs, and the link stage no slower (BENCHMARKS.md).
DEFAULT_MEMORY_SHARE = 0.25

#: How much a database may write before DuckDB checkpoints it (its default is 16 MB). A checkpoint
#: rewrites and vacuums the database, and its cost grows with the database, not with what was
#: written: the rules and the replicates replace many tables of a few MB each, and at the default a
#: checkpoint followed nearly every one of them. At a million persons, with the threshold raised
#: (to 8 GB; the rules stage wrote 239 MB of log, under 1 GB, so no checkpoint either way) the rules
#: stage took 184 s instead of 212 s and a replicate 16.5 s instead of 19.1 s, with identical counts;
#: the whole run at 1 GB took 22.7 min (BENCHMARKS.md). The log stays on disk; a resumed run replays it.
CHECKPOINT_THRESHOLD = "1GB"


def default_memory_limit() -> str | None:
    """``DEFAULT_MEMORY_SHARE`` of the machine's physical memory, in MiB (at least 1 GiB); None
    where the system does not say (DuckDB's default then applies)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    return f"{max(1024, int(total * DEFAULT_MEMORY_SHARE / 2**20))}MiB"


def configure_engine(db: Engine, job: JobConfig) -> dict[str, Any]:
    """Apply the job's ``engine`` settings (memory, threads, spill folder) to the store's database;
    return the settings in effect (for quality.json: what the run's timings were measured with).
    On Spark the store keeps DuckDB's defaults and the settings are the session's (spark_conf)."""
    engine = job.engine
    if engine.kind == "spark":
        return {"kind": "spark", "master": engine.master, "conf": spark_conf(job),
                "memory_limit_set_by_job": engine.memory_limit is not None, "temp_directory": engine.temp_directory}
    memory_limit = engine.memory_limit or default_memory_limit()
    if memory_limit:
        db.run(f"SET memory_limit = {sql_literal(memory_limit)}")
    db.run(f"SET checkpoint_threshold = {sql_literal(CHECKPOINT_THRESHOLD)}")
    if engine.threads:
        db.run(f"SET threads = {int(engine.threads)}")
    if engine.temp_directory:
        folder = job.resolve(engine.temp_directory)
        folder.mkdir(parents=True, exist_ok=True)
        db.run(f"SET temp_directory = {sql_literal(str(folder))}")
    memory, threads, checkpoint = db.run("SELECT current_setting('memory_limit'), current_setting('threads'), "
                                         "current_setting('checkpoint_threshold')")[0]
    return {"kind": engine.kind, "memory_limit": memory, "memory_limit_set_by_job": engine.memory_limit is not None,
            "threads": int(threads), "temp_directory": engine.temp_directory, "checkpoint_threshold": checkpoint}


def spark_conf(job: JobConfig) -> dict[str, str]:
    """The Spark session's settings: the job's ``engine.conf``, with ``memory_limit`` as the
    driver's memory and ``temp_directory`` as Spark's spill folder."""
    engine, conf = job.engine, dict(job.engine.conf)
    if engine.memory_limit:   # "5GB" -> "5120m": Spark takes whole units, no decimals
        number, unit = re.fullmatch(r"(\d+(?:\.\d+)?) ?([KMGT])i?B", engine.memory_limit).groups()
        conf.setdefault("spark.driver.memory", f"{max(1, int(float(number) * 1024 ** ('KMGT'.index(unit) - 1)))}m")
    if engine.temp_directory:
        folder = job.resolve(engine.temp_directory)
        folder.mkdir(parents=True, exist_ok=True)
        conf.setdefault("spark.local.dir", str(folder))
    return conf


@contextmanager
def compute_engine(job: JobConfig, store: Engine) -> Iterator[Engine]:
    """The engine the stages run on: the store's own DuckDB, or for ``engine.kind: spark`` a Spark
    session (its checkpoint folder removed at the end; the session is left to whoever owns the
    process, as Splink leaves it)."""
    if job.engine.kind != "spark":
        yield store
        return
    try:
        from spine.engine.spark_engine import SparkEngine
        spark = SparkEngine.local(job.engine.master, spark_conf(job))
    except ImportError:
        raise ConfigError("engine.kind: spark needs pyspark: pip install 'migration-spine[spark]' "
                          "(and Java 17)") from None
    try:
        yield spark
    finally:
        spark.close()


def run_job(job: JobConfig, progress: Progress | None = None, *, resume: bool = False) -> "JobResult":
    """Run every stage into a staging folder, then swap it in for the output folder.

    One run at a time per output folder and store (a second one fails at once). A failed run
    leaves the previous outputs as they were; a run killed at any point, even during the swap,
    loses neither (the next start finishes or undoes what it left). Each finished stage is
    checkpointed in the staged store; with ``resume`` a run killed part way with the same inputs
    is continued at its first unfinished stage (spine.checkpoints), giving the outputs an
    uninterrupted run gives.

    Raises:
        ConfigError: bad job or inputs (before anything is written).
        RunLocked: another run holds the output folder or the store.
        CheckFailed: the accounting identity does not hold (outputs are not published).
    """
    key = person_key_from_env(job.person_key_env, demo=job.demo)
    out = job.output_dir
    check_job_paths(job)   # the output folder again under the lock, after recovering a killed commit
    store_inside = job.store_path.resolve().parent == out.resolve()
    with exclusive(out, *(() if store_inside else (job.store_path,))), private_files(job.output.permissions):
        return _run_locked(job, progress, key, store_inside, resume)


#: The trained Splink models of a run, one JSON per probabilistic or hybrid source.
MODELS_DIR = "models"


def _write_models(metrics: dict[str, Any], staging: Path) -> dict[str, str]:
    """Write each source's trained Splink model (m, u, prior, comparisons: no record's value) to
    ``models/<source>.json``, for Splink's own tools and for ``linkage.model`` in a later job; take
    them out of the metrics. Returns source -> file, relative to the output folder."""
    written = {}
    for name, source_metrics in (metrics.get("linkage") or {}).items():
        if not isinstance(source_metrics, dict):
            continue
        for part in (source_metrics, source_metrics.get("probabilistic")):
            model = part.pop("splink_model", None) if isinstance(part, dict) else None
            if model:
                (staging / MODELS_DIR).mkdir(exist_ok=True)
                (staging / MODELS_DIR / f"{name}.json").write_text(json.dumps(model, indent=2), encoding="utf-8")
                written[name] = f"{MODELS_DIR}/{name}.json"
    return written


def _input_fingerprint(job: JobConfig, source: Any) -> str:
    """A file's SHA-256; for a database source, of where its rows come from (a resumed run reads
    the rows the killed run stored, so it is the same run whatever the server holds by then)."""
    if source.database is not None:   # the server and rows named, never a password
        where = source.database.model_dump()
        if source.database.url_env:
            where["url"] = shown(os.environ.get(source.database.url_env, ""))
        return hashlib.sha256(json.dumps(where, sort_keys=True).encode()).hexdigest()
    path = job.resolve(source.path)
    return file_fingerprint(path) if path.is_file() else ""


def _run_locked(job: JobConfig, progress: Progress | None, key: bytes, store_inside: bool,
                resume: bool) -> "JobResult":
    timer = _Timer(progress or default_progress())
    key_check = history.key_check(key)
    out = job.output_dir
    store_name = job.store_path.name if store_inside else f"{job.store_path.name}.staging"
    input_hashes = {name: _input_fingerprint(job, s) for name, s in job.sources.items()}
    input_hashes |= {where: file_fingerprint(path)   # a saved model decides the links too
                     for where, path in job_files(job).items() if where.endswith(".linkage.model") and path.is_file()}
    fingerprint = checkpoints.run_fingerprint(job, input_hashes, key_check)
    recovered = {"commit_finished": finish_interrupted_commit(out)}
    leftover = checkpoints.find_resumable(out, store_name, fingerprint) if resume else None
    recovered["leftovers_removed"] = remove_leftovers(out, keep=leftover)
    check_output_dir(out, job.job_file)
    staging = resume_staging(leftover, out) if leftover else staging_dir(out)
    staged_store = staging / store_name
    started = time.perf_counter()
    run_log = _RunLog(staging / RUN_LOG)
    try:
        with DuckDBEngine.open(staged_store) as db, compute_engine(job, db) as compute:
            engine = configure_engine(db, job)
            done = checkpoints.finished(db) if leftover else {}
            if leftover:
                checkpoints.drop_leftovers(db)
            else:
                checkpoints.start(db, fingerprint)
            run = _Stages(compute, job, key, key_check, input_hashes, staging, timer, done, store=db)
            metrics = run.all()
            store_kept = {"intermediate_tables": "kept"}
            if compute is not db:
                store_kept = copy_to_store(compute, db, staging, job)
            if job.report.dashboards:   # personal data: only where the job asks (spine.dashboards)
                metrics["dashboards"] = write_dashboards(db, metrics, staging / DASHBOARDS_DIR)
        if compute is db and not job.output.keep_intermediate:
            with timer.stage("store"):
                store_kept = _compacted(staged_store, job)
        metrics["run"] = {"started": run.state["started_at"], "seconds": round(time.perf_counter() - started, 3),
                          "stages": timer.stages, "versions": _versions(), "engine": engine, "store": store_kept,
                          "resumed_after": sorted(done, key=STAGES.index) if done else [],
                          "demo_key": is_demo_key(key),  # shown as a warning at the report's top
                          "recovered": recovered, "splink_warnings": run_log.splink.summary()}
        metrics["models"] = _write_models(metrics, staging)
        metrics = finite(metrics)
        (staging / "quality.json").write_text(json.dumps(metrics, indent=2, default=str, allow_nan=False))
        (staging / "report.html").write_text(render_report(metrics), encoding="utf-8")
        if not metrics["accounting"]["passed"]:
            raise CheckFailed(f"accounting identity failed: {metrics['accounting']['by_source']}")
        run_log.close()
        write_manifest(staging, job.job_file)
        commit(staging, out, None if store_inside else (staged_store, job.store_path))
        failed_run_log(out).unlink(missing_ok=True)   # an earlier failure's log: this run succeeded
    except BaseException:
        run_log.close()
        if commit_started(out):   # the new outputs are complete: finish the swap now or at the next start
            try:
                finish_interrupted_commit(out)
            except Exception:   # noqa: BLE001 - the journal stays; the next start finishes it
                logger.warning("the outputs' swap could not be finished; the next run of the job finishes it")
        else:
            _keep_failed_run_log(staging / RUN_LOG, out)
            shutil.rmtree(staging, ignore_errors=True)
        raise
    return JobResult(job=run.job, quality=metrics)


def _compacted(staged_store: Path, job: JobConfig) -> dict[str, Any]:
    """The store rewritten without its working tables (spine.store); if that fails (a full disk),
    the whole store is kept, with a warning: it only saves space, a finished run is not lost for it."""
    try:
        return compact_store(staged_store, job, configure=lambda fresh: configure_engine(fresh, job))
    except Exception as exc:   # noqa: BLE001 - any failure: the run's outputs are complete without it
        logger.warning("the store keeps its working tables: rewriting it without them failed (%s)",
                       type(exc).__name__)
        return {"intermediate_tables": "kept", "rewrite_failed": type(exc).__name__}


#: The run's log in the output folder: stages, tables and row counts, timings, warnings; names and
#: counts only, never a record's values (SQL text, which --debug logs, is not written to it).
RUN_LOG = "run.log"


def failed_run_log(out: Path) -> Path:
    """Where a failed run's log is kept: beside the output folder, whose previous outputs a failed
    run leaves as they were (``out.failed-run.log``); removed by the next run that succeeds."""
    return out.parent / f"{out.name}.failed-run.log"


def _keep_failed_run_log(log: Path, out: Path) -> None:
    """Keep the log of a run that failed, which would go with its staging folder: what it did up to
    the failure is what the user needs (names and counts only, as every run log)."""
    try:
        if log.is_file():
            os.replace(log, failed_run_log(out))
    except OSError:   # the failure itself is what the user must see
        logger.warning("the failed run's log could not be kept at %s", failed_run_log(out))


#: Loggers the run log records (Splink's only from WARNING: its INFO is training chatter).
_LOGGED = {"spine": logging.INFO, "linkage": logging.INFO, "rules": logging.INFO, "splink": logging.WARNING}


class _Forward(logging.Handler):
    """Passes on to the root logger's handlers (the console, a notebook, pytest's capture) what
    they would have shown without the run log: records at or above ``threshold``."""

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= self.threshold:
            logging.getLogger().handle(record)


class _Collect(logging.Handler):
    """Counts each distinct warning (Splink's advice on its training: an untrained level, the u
    sample's size), one line each, for quality.json and the report."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: Counter[tuple[str, str]] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        text = " ".join(record.getMessage().split()).removeprefix("WARNING: ")
        self.seen[(record.levelname.lower(), text[:300])] += 1

    def summary(self) -> list[dict[str, Any]]:
        return [{"level": level, "message": text, "times": n} for (level, text), n in self.seen.most_common()]


class _RunLog:
    """A file handler on the toolkit's loggers for the length of one run (written into the staging
    folder, so it is published with the outputs, or dropped with them when the run fails). The
    loggers record INFO for the file; what reaches the console is what did before, except Splink's
    warnings: unless Splink's level was set (the CLI's ``--debug`` does), they go to the run log
    and quality.json only, the same from the CLI and from Python, instead of flooding a notebook."""

    def __init__(self, path: Path) -> None:
        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.splink = _Collect()
        self.saved: dict[str, tuple[int, bool, logging.Handler]] = {}
        for name, level in _LOGGED.items():
            log = logging.getLogger(name)
            shown = log.getEffectiveLevel()
            if name == "splink" and log.level == logging.NOTSET:
                shown = max(shown, logging.ERROR)
            forward = _Forward(shown)
            self.saved[name] = (log.level, log.propagate, forward)
            log.setLevel(min(level, log.getEffectiveLevel()))
            log.propagate = False
            log.addHandler(forward)
            log.addHandler(self.handler)
        logging.getLogger("splink").addHandler(self.splink)
        self.handler.addFilter(lambda record: record.levelno >= _LOGGED.get(record.name.split(".")[0], logging.INFO))
        self.closed = False

    def close(self) -> None:
        if self.closed:
            return
        logging.getLogger("splink").removeHandler(self.splink)
        for name, (level, propagate, forward) in self.saved.items():
            log = logging.getLogger(name)
            log.removeHandler(self.handler)
            log.removeHandler(forward)
            log.setLevel(level)
            log.propagate = propagate
        self.handler.close()
        self.closed = True


#: The stages of a run, in order (each checkpointed when it finishes).
STAGES = ("load", "standardise", "link", "resolve", "rules", "flows", "uncertainty", "history", "quality", "write")


class _Stages:
    """The stages of one run over one store. Each returns the JSON-able state later stages read;
    a stage a killed run finished is not run again: its state is restored from its checkpoint."""

    def __init__(self, db: Engine, job: JobConfig, key: bytes, key_check: str,
                 input_hashes: dict[str, str], staging: Path, timer: _Timer,
                 done: dict[str, tuple[float, dict[str, Any]]], store: Engine | None = None) -> None:
        """``db``: where the stages run; ``store``: the run's DuckDB store, which keeps the stage
        checkpoints when it is also ``db`` (a run on Spark keeps its tables in the session: a killed
        one starts again)."""
        self.db, self.job, self.key, self.key_check = db, job, key, key_check
        self.store = db if store is None else store
        self.input_hashes, self.staging, self.timer, self.done = input_hashes, staging, timer, done
        self.state: dict[str, Any] = {}

    def all(self) -> dict[str, Any]:
        for name in STAGES:
            if name in self.done:
                seconds, state = self.done[name]
                self.timer.stages[name] = seconds
                self.state.update(state)
                if name == "rules" and state.get("calibration"):   # the settings calibration chose
                    self.job = _with_chosen(self.job, state["calibration"]["chosen"])
                continue
            total = len(self.job.sources) if name == "link" else len(CONTRACT_TABLES) if name == "write" else 1
            run_stage = getattr(self, f"_{name}")
            checkpointed = self.store is self.db
            if name == "history" and checkpointed:   # the one stage that appends: its changes and checkpoint together
                self.db.run("BEGIN TRANSACTION")
            with self.timer.stage(name, total) as step, self.db.stage(name):
                produced = run_stage(step)
            if checkpointed:
                checkpoints.save(self.db, name, self.timer.stages[name], produced)
            if name == "history" and checkpointed:
                self.db.run("COMMIT")
            self.state.update(produced)
        return self.state["metrics"]

    def _load(self, step: Callable[[], None]) -> dict[str, Any]:
        db, job = self.db, self.job
        started_dt = datetime.now(timezone.utc)
        previous = history.load_previous(db, job.store_path, self.key_check)
        rows = load_sources(db, job)
        check_sources(db, job, rows)
        inputs = {name: ({"file": job.resolve(s.path).name, "rows": rows[name], "sha256": self.input_hashes[name]}
                         if s.path is not None else
                         {"database": s.input_name, "rows": rows[name], "rows_sha256": content_hash(db, name)})
                  for name, s in job.sources.items()}
        validation_file = validation.load_validation(db, job)
        if validation_file:
            inputs["flows.uncertainty.validation"] = validation_file
        return {"started": started_dt, "started_at": started_dt.isoformat(timespec="seconds"),
                "previous": previous, "rows": rows, "inputs": inputs}

    def _standardise(self, step: Callable[[], None]) -> dict[str, Any]:
        builder.standardise_sources(self.db, self.job)
        return {}

    def _link(self, step: Callable[[], None]) -> dict[str, Any]:
        run = (self.state["previous"]["run"] or 0) + 1
        linkage_metrics = builder.link_sources(self.db, self.job, self.key, step, run=run)
        builder.build_links(self.db, self.job)
        return {"linkage_metrics": linkage_metrics}

    def _resolve(self, step: Callable[[], None]) -> dict[str, Any]:
        linked = builder.build_linked_records(self.db, self.job)
        conflicts.build_attribute_values(self.db, linked, self.job)
        conflicts.build_persons(self.db, link_table(self.job.base), self.job)
        return {"linked": linked}

    def _rules(self, step: Callable[[], None]) -> dict[str, Any]:
        calibration = None
        if self.job.rules.calibrate is not None:   # the settings chosen on the validation sample
            self.job, calibration = calibrate_rules(self.db, self.job, self.state["linked"])
        data_end, rule_counts = build_movements_and_events(self.db, self.job, self.state["linked"],
                                                           keep_repaired=keeps_repaired_movements(self.job))
        if calibration:
            rule_counts["calibration"] = calibration
        return {"data_end": data_end, "rule_counts": rule_counts, "calibration": calibration}

    def _flows(self, step: Callable[[], None]) -> dict[str, Any]:
        return {"disclosure": flows.build_flows(self.db, self.job)}

    def _uncertainty(self, step: Callable[[], None]) -> dict[str, Any]:
        # after build_flows, whatever rows it publishes: fills flows.lower/upper by key
        return {"flow_uncertainty": uncertainty.apply_uncertainty(self.db, self.job, data_end=self.state["data_end"])}

    def _history(self, step: Callable[[], None]) -> dict[str, Any]:
        return {"changes": history.record_history(self.db, self.state["previous"], self.state["started"],
                                                  self.key_check)}

    def _quality(self, step: Callable[[], None]) -> dict[str, Any]:
        db, job, state = self.db, self.job, self.state
        data_end, rule_counts = state["data_end"], dict(state["rule_counts"])
        flow_uncertainty = state["flow_uncertainty"]
        return {"metrics": {
            "job": job.name,
            "data_end": data_end.isoformat(),
            "sources": {n: quality.source_metrics(db, job, n, data_end) for n in job.sources},
            "persons": quality.person_metrics(db),
            "rules": {**quality.rule_metrics(db), **rule_counts},
            "flows": quality.flow_metrics(
                db, (flow_uncertainty.get("calibration") or {}).pop("disclosure", None) or state["disclosure"]),
            "uncertainty": flow_uncertainty,
            "accounting": quality.accounting(db, state["rows"]),
            "reporting": rule_counts["reporting"],
            "plausibility": plausibility.plausibility(db, job),
            "demographic_accounting": diagnostics.demographic_accounting(
                db, first_year(job, data_end), job.reporting_period(data_end)[1] + timedelta(days=1)),
            "linkage_diagnostics": diagnostics.linkage_diagnostics(db, state["linkage_metrics"]),
            "linkage": state["linkage_metrics"],
            "conflicts": conflicts.conflict_rates(db),
            "inputs": state["inputs"],
            "changes": state["changes"],
        }}

    def _write(self, step: Callable[[], None]) -> dict[str, Any]:
        for table in CONTRACT_TABLES:
            target = self.staging / f"{table}.parquet"
            self.db.run(f"COPY {table} TO {sql_literal(str(target))} (FORMAT parquet)")
            step()
        return {}


def _with_chosen(job: JobConfig, chosen: dict[str, Any]) -> JobConfig:
    for key, value in chosen.items():
        job = with_rule_value(job, key, value)
    return job


def write_report(job_path: str | Path, *, compare: str | Path | None = None, out: str | Path | None = None) -> Path:
    """Write the report of a finished run from its quality.json (nothing is run again); with
    ``compare``, a page setting it beside another job's run. Returns the file written."""
    job = load_job(job_path)
    target = Path(out).expanduser() if out else job.output_dir / ("report.html" if compare is None else "comparison.html")
    check_write_target(job, target, "--out")
    inside = job.output_dir.resolve() in target.resolve().parents
    if out and inside and target.resolve().parent != job.output_dir.resolve():
        raise ConfigError(f"--out  {target} is in a subfolder of the output folder, which runs replace whole; write "
                          "it directly in the output folder or outside it (nothing was written)")
    if out and target.exists() and target.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--out  {target} exists and is not an HTML file; choose another name (nothing was written)")
    with exclusive(job.output_dir), private_files(job.output.permissions):
        first = _read_quality(job)
        text = render_report(first) if compare is None else render_comparison(first, _read_quality(load_job(compare)))
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{target.name}.tmp")
        staged.write_text(text, encoding="utf-8")
        commit_file(staged, target)
        if target.parent.resolve() == job.output_dir.resolve():
            add_to_manifest(job.output_dir, target.name)
    return target


def open_run(job_or_output_dir: str | Path) -> "JobResult":
    """A finished run, opened without running anything: its tables (read-only) and quality.json.

    ``job_or_output_dir``: the job's YAML file, or the output folder a run wrote (its manifest names
    the job file). For notebooks and scripts in a new process: ``spine.open("out").df("events")``.

    Raises:
        ConfigError: no finished run there (no manifest, quality.json or store), or its job file moved.
    """
    path = Path(job_or_output_dir).expanduser()
    if path.is_dir():
        manifest = read_manifest(path)
        job_file = manifest.get("job") if manifest else None
        if not job_file:
            raise ConfigError(f"{path}: not the output folder of a finished run (no manifest naming its job); "
                              "pass the job's YAML file, or run `spine run` on it first")
        if not Path(job_file).is_file():
            raise ConfigError(f"{path}: its job file {job_file} is no longer there; pass the job's YAML file")
        path = Path(job_file)
    job = load_job(path)
    quality = _read_quality(job)
    if not job.store_path.is_file():
        raise ConfigError(f"{job.name}: the store {job.store_path} is missing; run `spine run` on the job again")
    return JobResult(job=job, quality=quality)


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
    _store: Engine | None = field(default=None, repr=False)
    _linker_engines: list[Engine] = field(default_factory=list, repr=False)

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
        """A read-only DuckDB connection to this run's store (opened once), for your own queries."""
        return self._store_engine().connection

    def _store_engine(self) -> Engine:
        if self._store is None:
            self._store = DuckDBEngine.read_only_store(self.store_path)
        return self._store

    def table(self, name: str) -> duckdb.DuckDBPyRelation:
        """A contract table as a DuckDB relation (lazy, for large tables), on its own cursor."""
        if name not in CONTRACT_TABLES:
            raise SpineError(f"unknown table '{name}'; tables are {', '.join(CONTRACT_TABLES)}")
        return self._cursor().relation(name)

    def df(self, name: str) -> pd.DataFrame:
        """A contract table as a pandas frame (for small results)."""
        if name not in CONTRACT_TABLES:
            raise SpineError(f"unknown table '{name}'; tables are {', '.join(CONTRACT_TABLES)}")
        with self._cursor() as cursor:
            return cursor.frame(f"SELECT * FROM {name}")

    def _cursor(self) -> Engine:
        cursor = self._store_engine().cursor()
        cursor.run("USE store")
        return cursor

    def linker(self, source: str) -> Any:
        """A Splink linker with the model this run trained for ``source``, over the source's records
        and the spine's register records in the store (read only): for Splink's own charts and
        tools (``linker.visualisations.match_weights_chart()``, ``linker.inference.predict()``)."""
        from splink import Linker

        from linkage.probabilistic import LEFT, RIGHT
        from spine.linking import SPINE_REFERENCE, features_table

        path = self.output_dir / MODELS_DIR / f"{source}.json"
        if not path.is_file():
            have = sorted(p.stem for p in (self.output_dir / MODELS_DIR).glob("*.json"))
            raise SpineError(f"{source}: no trained model in {path.parent} (only probabilistic and hybrid sources "
                             f"have one; this run's: {', '.join(have) or 'none'})")
        db = DuckDBEngine.open()   # Splink's own: it writes its working tables there, never in the store
        db.run(f"ATTACH {sql_literal(str(self.store_path))} AS store (READ_ONLY)")
        for view, table in (("linker_left", features_table(source)), ("linker_right", SPINE_REFERENCE)):
            db.run(f"CREATE VIEW {view} AS SELECT * FROM store.{table}")
        db_api = db.splink_api()
        inputs = [db_api.register("linker_left", table_name=LEFT), db_api.register("linker_right", table_name=RIGHT)]
        self._linker_engines.append(db)
        return Linker(inputs, json.loads(path.read_text(encoding="utf-8")))

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        for db in self._linker_engines:
            db.close()
        self._linker_engines.clear()


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

    @classmethod
    def validate_file(cls, path: str | Path) -> tuple["Job", dict[str, int]]:
        """Check a job file and its inputs, every problem of every pass at once (``spine validate``)."""
        job, rows = validate_job_file(path)
        return cls(job), rows

    def run(self, progress: Progress | None = None, *, resume: bool = False) -> JobResult:
        """Run the job; the previous outputs stay as they were if anything fails. With ``resume``,
        continue a run of the same inputs that was killed, at its first unfinished stage."""
        return run_job(self.config, progress, resume=resume)
