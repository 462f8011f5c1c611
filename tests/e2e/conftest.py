"""The demo job on a small synthetic universe, run once for every end-to-end test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from spine import Job
from spine.synthetic import generate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def universe(tmp_path_factory):
    folder = tmp_path_factory.mktemp("migration")
    shutil.copy(ROOT / "examples" / "migration" / "job.yaml", folder / "job.yaml")
    generated = generate(2_000, seed=1, out_dir=folder / "data")
    return folder, generated


@pytest.fixture(scope="session")
def result(universe):
    folder, _ = universe
    run = Job.from_yaml(folder / "job.yaml").run()
    # the first run's outputs as written (later tests run the job again into the same folder)
    shutil.copytree(folder / "out", folder / "first_run_outputs", ignore=shutil.ignore_patterns("*.duckdb*"))
    yield run
    run.close()
