"""Every code block of README.md does what the README says: the Python blocks run as written, the
job file validates against data of its shape, and the two commands are Makefile targets."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from spine import Job
from spine.config import SourceConfig
from spine.synthetic import generate

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]

pytestmark = pytest.mark.e2e


def test_every_block_of_the_readme_is_one_these_tests_check():
    """Python runs below, YAML validates, sh lines are make targets; unlabelled blocks show output."""
    assert {lang for lang, _ in BLOCKS} <= {"python", "yaml", "sh", ""}
    assert len(PYTHON) >= 2 and any(lang == "yaml" for lang, _ in BLOCKS)


def test_the_two_commands_are_make_targets():
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))
    for lang, code in BLOCKS:
        if lang == "sh":
            for line in code.splitlines():
                command = line.split("#")[0].split()
                assert command[:1] == ["make"] and set(command[1:]) <= targets, line


def test_the_job_file_of_the_readme_validates_on_data_of_its_shape(tmp_path, monkeypatch):
    yaml_block = next(code for lang, code in BLOCKS if lang == "yaml")   # the job; the others are sources
    (tmp_path / "job.yaml").write_text(yaml_block)
    generate(300, seed=2, out_dir=tmp_path / "data")
    monkeypatch.setenv("SPINE_PERSON_KEY", "5" * 64)
    rows = Job.from_yaml(tmp_path / "job.yaml").validate()
    assert set(rows) == {"register", "tax", "crossings", "children"} and all(rows.values())


@pytest.mark.parametrize("index", range(len(PYTHON)))
def test_each_python_block_of_the_readme_runs_as_written(index, tmp_path, monkeypatch, capsys):
    """Run where the README's paths hold: the demo job beside a small universe written where
    ``make demo`` writes its data."""
    demo = tmp_path / "examples" / "migration"
    demo.mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "migration" / "job.yaml", demo / "job.yaml")
    if "examples/migration" in PYTHON[index]:
        generate(1_000, seed=1, out_dir=demo / "data")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(PYTHON[index], f"README.md python block {index + 1}", "exec"), namespace)
    if "result" in namespace:
        assert namespace["links"].shape[0] > 0 and namespace["result"].quality["accounting"]["passed"]
        namespace["result"].close()
    if "assign_links" in PYTHON[index]:
        statuses = dict(namespace["con"].execute("SELECT status, count(*) FROM links GROUP BY 1").fetchall())
        assert sum(statuses.values()) == 5000 and statuses["linked"] > 4500
        assert "precision" in capsys.readouterr().out


def test_every_source_fragment_of_the_readme_is_a_valid_source():
    """The README's other YAML blocks are sources (a database one): each entry validates as one."""
    fragments = [code for lang, code in BLOCKS if lang == "yaml"][1:]
    assert fragments
    for code in fragments:
        for name, source in yaml.safe_load(code).items():
            SourceConfig.model_validate(source)
