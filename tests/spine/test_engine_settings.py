"""The job's ``engine`` settings reach the database, are recorded with the run, and are validated."""

import pytest

from spine import Job
from spine.config import load_job
from spine.errors import ConfigError
from tests.spine.small_jobs import CROSSINGS_COLUMNS, linked_source, write_small_job

REGISTER = "id,fn,sn,dob,sex,reg\nR1,Amal,Haddad,1985-02-03,F,2018-03-20\n"
CROSSINGS = "id,fn,sn,dob,sex,date,dir\nX1,Amal,Haddad,1985-02-03,F,2018-03-01,IN\n"


def write_job(tmp_path, engine):
    return write_small_job(tmp_path, {"register": REGISTER, "crossings": CROSSINGS}, {},
                           {"crossings": linked_source("crossings", CROSSINGS_COLUMNS)}, engine=engine)


def test_memory_threads_and_spill_folder_are_applied_and_recorded(tmp_path):
    result = Job.from_yaml(write_job(tmp_path, {"memory_limit": "1GB", "threads": 1,
                                                "temp_directory": "spill"})).run()
    try:
        engine = result.quality["run"]["engine"]
        assert engine["threads"] == 1 and engine["temp_directory"] == "spill" and engine["memory_limit_set_by_job"]
        assert engine["memory_limit"] in ("1.0 GB", "953.6 MiB"), engine["memory_limit"]
        assert (tmp_path / "spill").is_dir()
    finally:
        result.close()


def test_without_a_memory_limit_the_store_takes_a_quarter_of_the_machine(tmp_path):
    import os

    result = Job.from_yaml(write_job(tmp_path, {})).run()
    try:
        engine = result.quality["run"]["engine"]
        number, unit = engine["memory_limit"].split()
        given = float(number) * {"MiB": 2**20, "GiB": 2**30, "MB": 10**6, "GB": 10**9}[unit]
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        assert given == pytest.approx(max(total / 4, 2**30), rel=0.03)   # DuckDB shows one decimal
        assert not engine["memory_limit_set_by_job"]
        # checkpoints every 1 GB written, not DuckDB's 16 MB (spine.job.CHECKPOINT_THRESHOLD)
        assert engine["checkpoint_threshold"] in ("1.0 GB", "953.6 MiB"), engine["checkpoint_threshold"]
    finally:
        result.close()


def test_a_memory_limit_that_is_not_a_size_is_refused_with_its_yaml_path(tmp_path):
    with pytest.raises(ConfigError, match="engine.memory_limit"):
        load_job(write_job(tmp_path, {"memory_limit": "1GB'; COPY x TO 'y"}))
