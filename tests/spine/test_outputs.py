"""Outputs are written atomically and the output folder is never one the user owns."""

import json

import pytest

from spine import ConfigError, Job
from tests.spine.test_bad_input import REGISTER, TAX, write_job


def test_failed_run_leaves_previous_outputs_untouched(tmp_path):
    job = write_job(tmp_path, {"register.csv": REGISTER, "tax.csv": TAX})
    Job.from_yaml(job).run().close()
    out = tmp_path / "out"
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix in (".parquet", ".json")}
    (tmp_path / "tax.csv").write_text("id,nin,dob,year\nT1,001,02/01/1980,2020\nT1,002,06/05/1990,2020\n")
    with pytest.raises(ConfigError, match="not unique"):
        Job.from_yaml(job).run()
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix in (".parquet", ".json")}
    assert after == before
    assert not list(tmp_path.glob(".out.staging-*")), "staging folder left behind"


def test_rerun_replaces_outputs_with_identical_person_ids(tmp_path):
    job = write_job(tmp_path, {"register.csv": REGISTER, "tax.csv": TAX})
    first = Job.from_yaml(job).run()
    ids_first = sorted(first.df("persons").person_id)
    first.close()
    second = Job.from_yaml(job).run()
    assert sorted(second.df("persons").person_id) == ids_first
    assert json.loads((tmp_path / "out" / "quality.json").read_text())["accounting"]["passed"]
    second.close()


def test_refuses_to_replace_a_folder_it_did_not_write(tmp_path):
    job = write_job(tmp_path, {"register.csv": REGISTER, "tax.csv": TAX}, output={"dir": "."})
    with pytest.raises(ConfigError, match="was not written by a spine run"):
        Job.from_yaml(job).run()
    assert (tmp_path / "register.csv").exists()
