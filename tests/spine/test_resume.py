"""A run killed at any stage (SIGKILL, in a child process) and continued with ``resume`` gives the
outputs of an uninterrupted run: every contract table and quality.json but its timings."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from spine import Job
from spine.job import STAGES
from spine.outputs import CONTRACT_TABLES
from tests.spine.test_rules_stage import LIFE, write_job

ROOT = Path(__file__).resolve().parents[2]
#: Kills itself (SIGKILL: nothing is cleaned up) when the named stage starts, or at its N-th step
#: ("middleN", default 1).
KILLER = """
import os, signal, sys
from spine import Job

class Killer:
    steps = 0
    def start(self, stage, total):
        if stage == sys.argv[2] and sys.argv[3] == "start":
            os.kill(os.getpid(), signal.SIGKILL)
    def advance(self, stage, step=1):
        self.steps += stage == sys.argv[2]
        if stage == sys.argv[2] and sys.argv[3].startswith("middle") and self.steps >= int(sys.argv[3][6:] or 1):
            os.kill(os.getpid(), signal.SIGKILL)
    def finish(self, stage, seconds):
        pass

Job.from_yaml(sys.argv[1]).run(Killer(), resume=sys.argv[4] == "resume")
"""
RULES = {"signs_of_life": LIFE, "visas": {"source": "visas"}}


def _outputs(out: Path) -> tuple[dict[str, pd.DataFrame], dict]:
    tables = {}
    for table in CONTRACT_TABLES:
        frame = pd.read_parquet(out / f"{table}.parquet")
        tables[table] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    quality = json.loads((out / "quality.json").read_text())
    quality.pop("run")
    return tables, _without_timings(quality)


def _without_timings(value):
    """quality.json less the wall times measured on the way (they differ between any two runs)."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if "seconds" not in k}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("whole")
    result = Job.from_yaml(write_job(folder, RULES)).run()
    result.close()
    return _outputs(folder / "out")


def _kill(job: Path, stage: str, when: str, resume: str = "fresh") -> None:
    done = subprocess.run([sys.executable, "-c", KILLER, str(job), stage, when, resume], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr[-2000:]


@pytest.mark.parametrize("stage, when", [(s, "start") for s in STAGES] + [("link", "middle"), ("write", "middle")])
def test_a_run_killed_at_any_stage_resumes_to_the_same_outputs(tmp_path, uninterrupted, stage, when):
    job = write_job(tmp_path, RULES)
    _kill(job, stage, when)
    leftovers = list(tmp_path.glob(".out.staging-*"))
    assert len(leftovers) == 1 and not (tmp_path / "out").exists()
    result = Job.from_yaml(job).run(resume=True)
    result.close()
    tables, quality = _outputs(tmp_path / "out")
    for table, frame in uninterrupted[0].items():
        pd.testing.assert_frame_equal(tables[table], frame, obj=table)
    assert quality == uninterrupted[1]
    resumed = json.loads((tmp_path / "out" / "quality.json").read_text())["run"]["resumed_after"]
    assert resumed == list(STAGES[:STAGES.index(stage)]), "the finished stages were not run again"
    assert not list(tmp_path.glob(".out.staging-*")), "the staging folder was taken over and committed"


def test_a_second_kill_of_a_resumed_run_resumes_again_and_history_is_appended_once(tmp_path, uninterrupted):
    job = write_job(tmp_path, RULES)
    _kill(job, "rules", "start")
    _kill(job, "quality", "start", resume="resume")
    result = Job.from_yaml(job).run(resume=True)
    try:
        assert result.quality["run"]["resumed_after"] == list(STAGES[:STAGES.index("quality")])
        assert result.connection().execute("SELECT run FROM history__runs").fetchall() == [(1,)]
    finally:
        result.close()
    assert _outputs(tmp_path / "out")[1] == uninterrupted[1]


def test_changed_inputs_or_no_leftover_mean_a_fresh_run(tmp_path, uninterrupted):
    job = write_job(tmp_path, RULES)
    _kill(job, "flows", "start")
    with (tmp_path / "visas.csv").open("a") as extra:
        extra.write("V9,Ada,Lund,1970-01-01,F,visit,2021-01-01,2021-02-01\n")
    result = Job.from_yaml(job).run(resume=True)
    try:
        assert result.quality["run"]["resumed_after"] == [], "other inputs: nothing is resumed"
        assert result.quality["inputs"]["visas"]["rows"] == 4
    finally:
        result.close()
    shutil.rmtree(tmp_path / "out")
    for folder in tmp_path.glob(".out.staging-*"):
        shutil.rmtree(folder)
    fresh = Job.from_yaml(job).run(resume=True)   # nothing to resume: a normal run
    fresh.close()
    assert _outputs(tmp_path / "out")[0]["links"].shape[0] > 0


def test_the_cli_resumes_a_killed_run(tmp_path, uninterrupted):
    from typer.testing import CliRunner

    from spine.cli import app

    job = write_job(tmp_path, RULES)
    _kill(job, "history", "start")
    ran = CliRunner().invoke(app, ["run", str(job), "--quiet", "--resume"])
    assert ran.exit_code == 0, ran.output
    assert _outputs(tmp_path / "out")[1] == uninterrupted[1]
    assert json.loads((tmp_path / "out" / "quality.json").read_text())["run"]["resumed_after"] == \
        list(STAGES[:STAGES.index("history")])


def test_a_leftover_named_with_this_process_id_is_resumed(tmp_path):
    """In a container every run may have the same process id: the killed run's staging folder
    then carries the id of the run that resumes it, and must still be taken over."""
    import os

    job = write_job(tmp_path, RULES)
    _kill(job, "rules", "start")
    (leftover,) = tmp_path.glob(".out.staging-*")
    os.replace(leftover, tmp_path / f".out.staging-{os.getpid()}")
    result = Job.from_yaml(job).run(resume=True)
    assert result.quality["run"]["resumed_after"] == ["load", "standardise", "link", "resolve"]
    result.close()


def test_a_leftover_written_by_other_code_is_started_again_not_continued(tmp_path, uninterrupted, monkeypatch):
    """A store a killed run left, when the toolkit (or DuckDB, or Splink) changed since: its tables
    and checkpoint states may not be what this code expects, so the run starts from the beginning."""
    from spine import checkpoints

    job = write_job(tmp_path, RULES)
    _kill(job, "rules", "start")
    assert list(tmp_path.glob(".out.staging-*"))
    monkeypatch.setattr(checkpoints, "code_fingerprint", lambda: "other code")
    result = Job.from_yaml(job).run(resume=True)
    assert result.quality["run"]["resumed_after"] == []
    result.close()
    assert not list(tmp_path.glob(".out.staging-*"))
    tables, quality = _outputs(tmp_path / "out")
    expected_tables, expected_quality = uninterrupted
    assert quality == expected_quality
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, expected_tables[name])


def test_the_code_fingerprint_changes_with_any_module_and_only_then(tmp_path):
    from spine.checkpoints import code_fingerprint

    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("X = 1\n")
    (package / "sub" / "b.py").write_text("Y = 2\n")
    (package / "notes.txt").write_text("not code")
    first = code_fingerprint.__wrapped__((package,))
    (package / "notes.txt").write_text("still not code")
    assert code_fingerprint.__wrapped__((package,)) == first
    (package / "sub" / "b.py").write_text("Y = 3\n")
    assert code_fingerprint.__wrapped__((package,)) != first
