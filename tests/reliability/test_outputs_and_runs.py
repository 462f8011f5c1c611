"""Outputs, store and concurrent runs: nothing lost, nothing injected, nothing left behind.

Each case is a defect found by trying the CLI as a careless or hostile user would (issue 18):
values from the job file that reach SQL, two runs at once, a kill in the middle of the commit,
files in the output folder the job does not own, commands writing over the job's inputs.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from spine import ConfigError, Job
from spine.history import HISTORY_RUNS
from spine.outputs import MARKER, RunLocked, exclusive, read_manifest
from tests.reliability.helpers import assert_fails_cleanly, cli, small_job, snapshot
from tests.spine.test_bad_input import REGISTER, TAX

ROOT = Path(__file__).resolve().parents[2]


def runs_in_history(store: Path) -> int:
    with duckdb.connect(str(store), read_only=True) as con:
        return con.execute(f"SELECT count(*) FROM {HISTORY_RUNS}").fetchone()[0]


def edit_job(job: Path, change) -> Path:
    spec = yaml.safe_load(job.read_text())
    change(spec)
    job.write_text(yaml.safe_dump(spec))
    return job


# --- values from the job file that reach SQL or the file system ---------------------------------

INJECTION = "o' (FORMAT parquet); COPY (SELECT 'x') TO 'INJECTED.csv'; --"


@pytest.mark.parametrize("where,value", [
    ("output.dir", INJECTION),
    ("output.dir", "out'x"),
    ("output.store", "st'ore.duckdb"),
    ("output.store", "s\"t'ore; DROP TABLE links; --.duckdb"),
    ("engine.temp_directory", "sp'ill"),
    ("sources.tax.path", "ta'x; --.csv"),
], ids=["output.dir injection", "output.dir quote", "store quote", "store injection", "temp_directory", "source path"])
def test_values_reaching_sql_are_quoted(tmp_path, where, value):
    job = small_job(tmp_path)
    section, key = where.rsplit(".", 1)

    def change(spec):
        target = spec
        for part in section.split("."):
            target = target.setdefault(part, {})
        target[key] = value
    edit_job(job, change)
    if where == "sources.tax.path":
        (tmp_path / value).write_text(TAX)
    result = cli("run", "--quiet", job)
    assert result.exit_code == 0, result.output
    assert not list(tmp_path.rglob("INJECTED*")), "a statement was injected"
    loaded = Job.from_yaml(job).config
    assert (loaded.output_dir / "links.parquet").exists()
    assert runs_in_history(loaded.store_path) == 1


@pytest.mark.parametrize("column", ['i"d', "i'd", "id; DROP TABLE x"])
def test_record_id_columns_with_quotes_are_read(tmp_path, column):
    register = REGISTER.replace("id,", f"\"{column.replace(chr(34), chr(34) * 2)}\",", 1)
    job = small_job(tmp_path, {"register.csv": register, "tax.csv": TAX}, sources__register__record_id=column)
    result = cli("run", "--quiet", job)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("date_format", ["%d'%m'%Y", "%d\"%m\"%Y"])
def test_date_formats_with_quotes_are_literals(tmp_path, date_format):
    sep = date_format[2]
    tax = TAX.replace("/", sep) if sep != '"' else TAX.replace("02/01/1980", '"02""01""1980"').replace(
        "06/05/1990", '"06""05""1990"').replace("31/02/1990", '"31""02""1990"')
    job = small_job(tmp_path, {"register.csv": REGISTER, "tax.csv": tax}, sources__tax__date_format=date_format)
    result = cli("validate", job)
    assert result.exit_code == 0, result.output


def test_output_dir_with_tilde_is_the_home_folder(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    (tmp_path / "job").mkdir()
    job = small_job(tmp_path / "job", output={"dir": "~/spine-out"})
    assert cli("run", "--quiet", job).exit_code == 0
    assert (home / "spine-out" / "links.parquet").exists()
    assert not list(tmp_path.rglob("~")), "a folder named ~ was created"


# --- one run at a time ---------------------------------------------------------------------------

def test_a_second_run_fails_at_once_while_one_holds_the_output(tmp_path):
    job = small_job(tmp_path)
    assert cli("run", "--quiet", job).exit_code == 0
    before = snapshot(tmp_path / "out")
    with exclusive(tmp_path / "out"):
        result = cli("run", "--quiet", job)
        report = cli("report", job)
    assert_fails_cleanly(result, 2, "in use by another spine run", f"process {os.getpid()}")
    assert_fails_cleanly(report, 2, "in use by another spine run")
    assert snapshot(tmp_path / "out") == before


def test_a_store_outside_the_output_is_locked_too(tmp_path):
    job = small_job(tmp_path, output={"dir": "out", "store": "stores/t.duckdb"})
    with exclusive(tmp_path / "stores" / "t.duckdb"):
        with pytest.raises(RunLocked, match="t.duckdb is in use"):
            Job.from_yaml(job).run()
    assert not (tmp_path / "out").exists()


def test_concurrent_runs_lose_no_run(tmp_path):
    """Two runs of one job started together: each either runs (and is in the history) or is
    refused with exit 2; none exits 0 without its run in the history."""
    job = small_job(tmp_path)
    spine = str(Path(sys.executable).with_name("spine"))
    procs = [subprocess.Popen([spine, "run", "--quiet", str(job)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = [code for code, _ in results]
    assert set(codes) <= {0, 2}, results
    assert all("in use by another spine run" in err for code, err in results if code == 2), results
    assert runs_in_history(tmp_path / "out" / "t.duckdb") == codes.count(0)


# --- a kill at any point of the commit loses nothing -----------------------------------------------

#: Runs the job and dies (SIGKILL, no clean-up) just before the N-th file system rename of the commit.
DIE_AT_RENAME = """
import os, signal, sys
import spine.outputs as outputs
from spine import Job

import spine.job
real_replace, real_commit, calls = os.replace, spine.job.commit, [0]
def dying_replace(src, dst):
    calls[0] += 1
    if calls[0] == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst)
def commit(*args, **kwargs):
    outputs.os.replace = dying_replace
    return real_commit(*args, **kwargs)
spine.job.commit = commit
Job.from_yaml(sys.argv[1]).run()
"""


@pytest.mark.parametrize("store_outside", [False, True], ids=["store inside", "store outside"])
def test_a_kill_at_each_step_of_the_commit_loses_nothing(tmp_path, store_outside):
    output = {"dir": "out", "store": "stores/t.duckdb"} if store_outside else {"dir": "out"}
    job = small_job(tmp_path, output=output)
    store = tmp_path / ("stores/t.duckdb" if store_outside else "out/t.duckdb")
    assert cli("run", "--quiet", job).exit_code == 0
    renames = 4 if store_outside else 3   # the journal, (the store,) out -> previous, staging -> out
    for step in range(1, renames + 1):
        runs_before = runs_in_history(store)
        done = subprocess.run([sys.executable, "-c", DIE_AT_RENAME, str(job), str(step)], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == -9, done.stderr[-2000:]
        result = cli("run", "--quiet", job)
        assert result.exit_code == 0, (step, result.output)
        committed_on_recovery = step > 1   # once the journal is written the killed run is finished
        assert runs_in_history(store) == runs_before + 1 + committed_on_recovery, step
        assert not [p.name for p in tmp_path.rglob(".*") if ".staging-" in p.name or ".previous-" in p.name
                    or p.name.endswith(".commit")], step


def test_a_killed_run_leaves_no_staging_after_the_next_start(tmp_path):
    job = small_job(tmp_path)
    assert cli("run", "--quiet", job).exit_code == 0
    dead = tmp_path / ".out.staging-999999"
    dead.mkdir()
    (dead / "t.duckdb").write_bytes(b"personal data")
    (tmp_path / ".out.previous-999998").mkdir()
    result = Job.from_yaml(job).run()
    assert result.quality["run"]["recovered"]["leftovers_removed"] == 2
    result.close()
    assert not dead.exists() and not (tmp_path / ".out.previous-999998").exists()


# --- the output folder holds only what the job wrote ------------------------------------------------

def test_a_file_the_job_did_not_write_is_refused_not_deleted(tmp_path):
    job = small_job(tmp_path)
    assert cli("run", "--quiet", job).exit_code == 0
    (tmp_path / "out" / "decisions.csv").write_text("source,record_id,person_id,decision\n")
    before = snapshot(tmp_path / "out")
    for command in ("validate", "run"):
        result = cli(command, job) if command == "validate" else cli(command, "--quiet", job)
        assert_fails_cleanly(result, 2, "output.dir", "1 file(s) this job did not write (decisions.csv)")
    assert snapshot(tmp_path / "out") == before


def test_a_second_job_cannot_take_over_the_first_jobs_output(tmp_path):
    first = small_job(tmp_path)
    assert cli("run", "--quiet", first).exit_code == 0
    before = snapshot(tmp_path / "out")
    second = tmp_path / "second.yaml"
    second.write_text(first.read_text())
    for command in ("validate", "run"):
        result = cli(command, second) if command == "validate" else cli(command, "--quiet", second)
        assert_fails_cleanly(result, 2, "holds the outputs of another job", str(first))
    assert snapshot(tmp_path / "out") == before
    manifest = read_manifest(tmp_path / "out")   # the documented way to hand the folder over
    (tmp_path / "out" / MARKER).write_text(json.dumps({**manifest, "job": str(second)}))
    assert cli("run", "--quiet", second).exit_code == 0
    assert read_manifest(tmp_path / "out")["job"] == str(second)
    assert runs_in_history(tmp_path / "out" / "t.duckdb") == 2, "the history was kept"


def test_the_manifest_lists_what_the_run_and_the_report_wrote(tmp_path):
    job = small_job(tmp_path)
    assert cli("run", "--quiet", job).exit_code == 0
    manifest = read_manifest(tmp_path / "out")
    assert manifest["job"] == str(job)
    assert set(manifest["files"]) == {f"{t}.parquet" for t in
                                      ("persons", "links", "attribute_values", "movements", "events", "flows")} | {
        "quality.json", "report.html", "run.log", "t.duckdb"}
    assert cli("report", job, "--compare", job).exit_code == 0
    assert "comparison.html" in read_manifest(tmp_path / "out")["files"]
    assert cli("validate", job).exit_code == 0, "a file a report wrote is the job's"


def test_an_older_runs_plain_marker_is_taken_over(tmp_path):
    job = small_job(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / MARKER).write_text("written by migration-spine; this folder is replaced on every run\n")
    (tmp_path / "out" / "links.parquet").write_bytes(b"old")
    assert cli("run", "--quiet", job).exit_code == 0
    assert read_manifest(tmp_path / "out")["job"] == str(job)


@pytest.mark.parametrize("change,where", [
    (lambda s: s.setdefault("review", {}).update(decisions="out/decisions.csv"), "review.decisions"),
    (lambda s: s["sources"]["tax"].update(path="out/tax.csv"), "sources.tax.path"),
    (lambda s: s.update(output={"dir": "out", "store": "tax.csv"}), "output.store"),
    (lambda s: s.update(output={"dir": "."}), "output.dir"),
    (lambda s: s.update(output={"dir": "tax.csv"}), "output.dir"),
], ids=["decisions in out", "source in out", "store is a source", "out is the job folder", "out is a file"])
def test_inputs_and_outputs_cannot_overlap(tmp_path, change, where):
    job = edit_job(small_job(tmp_path), change)
    (tmp_path / "out").mkdir(exist_ok=True)
    (tmp_path / "out" / "tax.csv").write_text(TAX)
    inputs = snapshot(tmp_path)
    for command in ("validate", "run"):
        result = cli(command, job) if command == "validate" else cli(command, "--quiet", job)
        assert_fails_cleanly(result, 2, where)
    assert snapshot(tmp_path) == inputs


# --- commands that write a file never write over the job's inputs -----------------------------------

@pytest.mark.parametrize("target", ["job.yaml", "tax.csv", "out/t.duckdb", "notes.txt", "."],
                         ids=["job file", "source", "store", "another file", "a folder"])
def test_report_out_never_overwrites(tmp_path, target):
    job = small_job(tmp_path)
    assert cli("run", "--quiet", job).exit_code == 0
    (tmp_path / "notes.txt").write_text("my notes")
    before = snapshot(tmp_path)
    result = cli("report", job, "--out", tmp_path / target)
    assert_fails_cleanly(result, 2, "--out")
    assert snapshot(tmp_path) == before


def test_report_out_to_a_new_html_file(tmp_path):
    job = small_job(tmp_path)
    assert cli("run", "--quiet", job).exit_code == 0
    assert cli("report", job, "--out", tmp_path / "elsewhere.html").exit_code == 0
    assert (tmp_path / "elsewhere.html").read_text().startswith("<!")
    assert cli("report", job, "--out", tmp_path / "new" / "folder" / "r.html").exit_code == 0
    assert (tmp_path / "new" / "folder" / "r.html").exists()
    assert cli("report", job, "--out", tmp_path / "out" / "mine.html").exit_code == 0
    assert_fails_cleanly(cli("report", job, "--out", tmp_path / "out" / "sub" / "r.html"), 2, "subfolder")
    assert cli("run", "--quiet", job).exit_code == 0, "a report written into the output folder is the job's"


# --- what a run writes is readable by the user only ------------------------------------------------

@pytest.mark.parametrize("permissions,folder_mode,file_mode", [("private", 0o700, 0o600), ("group", 0o750, 0o640)])
def test_outputs_and_store_are_private_by_default(tmp_path, permissions, folder_mode, file_mode):
    job = small_job(tmp_path, output={"dir": "out", "permissions": permissions})
    old_umask = os.umask(0o022)
    try:
        assert cli("run", "--quiet", job).exit_code == 0
    finally:
        os.umask(old_umask)
    out = tmp_path / "out"
    assert stat.S_IMODE(out.stat().st_mode) == folder_mode
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert set(modes.values()) == {file_mode}, modes
    assert stat.S_IMODE((tmp_path / ".out.lock").stat().st_mode) == 0o600


def test_failed_run_leaves_previous_outputs_byte_identical(tmp_path):
    job = small_job(tmp_path)
    assert cli("run", "--quiet", job).exit_code == 0
    before = snapshot(tmp_path / "out")
    (tmp_path / "tax.csv").write_text("id,nin,dob,year\nT1,001,02/01/1980,2020\nT1,002,06/05/1990,2020\n")
    assert_fails_cleanly(cli("run", "--quiet", job), 2, "sources.tax.record_id")
    assert snapshot(tmp_path / "out") == before
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]


def test_python_api_raises_config_error_for_a_foreign_output(tmp_path):
    job = small_job(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("x")
    with pytest.raises(ConfigError, match="was not written by a spine run"):
        Job.from_yaml(job).run()
    assert (tmp_path / "out" / "mine.txt").read_text() == "x"


# --- an unexpected failure: exit 3, one line, no values ---------------------------------------------

@pytest.mark.parametrize("failure,fragments", [
    ("SELECT CAST('Anna' AS INTEGER)", ["ConversionException", "Could not convert string '…'",
                                        "(in stage rules: SELECT)", "--debug"]),
    (MemoryError(), ["MemoryError", "engine.memory_limit", "engine.temp_directory"]),
    (OSError(28, "No space left on device"), ["No space left", "free disk space"]),
], ids=["duckdb quotes a value", "out of memory", "disk full"])
def test_a_runtime_failure_is_one_line_without_values(tmp_path, monkeypatch, failure, fragments):
    job = small_job(tmp_path)
    assert cli("run", "--quiet", job).exit_code == 0
    before = snapshot(tmp_path / "out")

    def failing_rules(self, step):
        if isinstance(failure, str):
            self.db.run(failure)
        raise failure
    monkeypatch.setattr("spine.job._Stages._rules", failing_rules)
    assert_fails_cleanly(cli("run", "--quiet", job), 3, *fragments)
    assert snapshot(tmp_path / "out") == before
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]


# --- found by a second reading -----------------------------------------------------------------------

def test_an_exception_inside_the_commit_finishes_it_and_keeps_the_history(tmp_path, monkeypatch):
    """Ctrl-C between the two renames of the swap: the new outputs are complete, so the swap is
    finished (it used to delete them and leave only the previous ones, then lose those too)."""
    import spine.outputs as outputs

    job = small_job(tmp_path)
    assert cli("run", "--quiet", job).exit_code == 0
    real, calls = os.replace, []

    def interrupted(src, dst):
        if str(src).endswith(".compact"):   # the store rewritten without its working tables: before the swap
            return real(src, dst)
        calls.append(dst)
        if len(calls) == 3:   # the journal, out -> previous, then staging -> out
            raise KeyboardInterrupt
        return real(src, dst)
    monkeypatch.setattr(outputs.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Job.from_yaml(job).run()
    monkeypatch.undo()
    assert runs_in_history(tmp_path / "out" / "t.duckdb") == 2
    assert cli("run", "--quiet", job).exit_code == 0
    assert runs_in_history(tmp_path / "out" / "t.duckdb") == 3


def test_a_journal_whose_new_outputs_are_gone_restores_the_previous_ones(tmp_path):
    job = small_job(tmp_path)
    assert cli("run", "--quiet", job).exit_code == 0
    previous = tmp_path / ".out.previous-999999"
    os.replace(tmp_path / "out", previous)
    (tmp_path / ".out.commit").write_text(json.dumps(
        {"staging": str(tmp_path / ".out.staging-999999"), "previous": str(previous), "store": None}))
    assert cli("run", "--quiet", job).exit_code == 0
    assert runs_in_history(tmp_path / "out" / "t.duckdb") == 2, "the history went on"


def test_a_half_written_report_does_not_make_the_folder_foreign(tmp_path):
    job = small_job(tmp_path)
    assert cli("run", "--quiet", job).exit_code == 0
    (tmp_path / "out" / ".report.html.tmp").write_text("<html")
    assert cli("run", "--quiet", job).exit_code == 0
    assert not (tmp_path / "out" / ".report.html.tmp").exists()


@pytest.mark.parametrize("change,where", [
    (lambda s: s.update(output={"dir": "b", "store": "out/other.duckdb"}), "output.store"),
    (lambda s: s.update(engine={"temp_directory": "out/spill"}), "engine.temp_directory"),
], ids=["store in another job's output", "spill folder in the output"])
def test_a_store_or_spill_folder_in_an_output_folder_is_refused(tmp_path, change, where):
    job = small_job(tmp_path)
    assert cli("run", "--quiet", job).exit_code == 0
    before = snapshot(tmp_path / "out")
    other = tmp_path / "other.yaml"
    other.write_text(job.read_text())
    edit_job(other, change)
    assert_fails_cleanly(cli("validate", other), 2, where, "out")
    assert_fails_cleanly(cli("run", "--quiet", other), 2, where)
    assert snapshot(tmp_path / "out") == before


def test_a_file_saved_without_its_header_shows_none_of_its_first_line(tmp_path):
    tax = "T1,AB123456C,Omar Haddad,2020\nT2,CD234567E,Anna Berg,2020\n"
    job = small_job(tmp_path, {"register.csv": REGISTER, "tax.csv": tax})
    assert_fails_cleanly(cli("validate", job), 2, "sources.tax.path", "names none of them",
                         personal=("Omar", "Haddad", "AB123456C", "T1"))


def test_a_runtime_message_hides_a_value_with_an_apostrophe():
    from spine.cli import _runtime_message

    try:
        duckdb.execute("SELECT CAST('O''Brien' AS INTEGER)").fetchall()
    except duckdb.Error as exc:
        shown = _runtime_message(exc)
    assert "Brien" not in shown and "ConversionException" in shown


def test_every_run_writes_its_log_into_the_output_folder_with_no_personal_value(tmp_path):
    """run.log: the stages, the tables with their row counts and timings, at info level whatever the
    console shows; names and counts only. --debug (SQL on the console) does not put SQL in it, and
    --log-level is taken after the command too."""
    from spine.cli import debug_first
    from tests.reliability.helpers import PERSONAL_VALUES

    job = small_job(tmp_path)
    assert cli(*debug_first(["run", "--quiet", str(job), "--log-level", "error", "--debug"])).exit_code == 0
    log = (tmp_path / "out" / "run.log").read_text()
    assert "INFO linkage._sql: link__tax" in log and "rows in" in log
    assert "INFO spine.job: stage link: finished in" in log and "stage write: started" in log
    assert "SELECT" not in log and "DEBUG" not in log
    assert not [value for value in PERSONAL_VALUES if value in log]
    assert cli(*debug_first(["run", "--quiet", "--log-level=info", str(job)])).exit_code == 0
    assert (tmp_path / "out" / "run.log").read_text().count("INFO") > 10
    assert cli(*debug_first(["run", "--quiet", str(job), "--log-level", "loud"])).exit_code == 2


def test_splink_warnings_go_to_the_run_log_and_quality_json_not_the_notebook(tmp_path):
    """From Python (a notebook), Splink's training advice no longer floods the output: it is counted
    for quality.json and written to run.log; a user who sets Splink's level still sees it."""
    import logging

    from spine.job import _RunLog

    shown: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            shown.append(record)

    root = logging.getLogger()
    keep = Keep()
    root.addHandler(keep)
    splink = logging.getLogger("splink")
    before = splink.level
    try:
        run_log = _RunLog(tmp_path / "run.log")
        for _ in range(3):
            logging.getLogger("splink.internals.em").warning("WARNING:\nLevel else on comparison sex not observed")
        logging.getLogger("splink.internals.em").error("a real failure")
        run_log.close()
        assert [r.getMessage() for r in shown if r.name.startswith("splink")] == ["a real failure"]
        assert run_log.splink.summary() == [
            {"level": "warning", "message": "Level else on comparison sex not observed", "times": 3},
            {"level": "error", "message": "a real failure", "times": 1}]
        assert (tmp_path / "run.log").read_text().count("not observed") == 3
        splink.setLevel(logging.WARNING)   # the user asked to see them
        run_log = _RunLog(tmp_path / "run2.log")
        logging.getLogger("splink.internals.em").warning("shown now")
        run_log.close()
        assert "shown now" in [r.getMessage() for r in shown]
    finally:
        root.removeHandler(keep)
        splink.setLevel(before)
