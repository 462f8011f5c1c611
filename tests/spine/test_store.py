"""The store after a run: only what later runs, commands and readers of the numbers need."""

from __future__ import annotations

import duckdb

from spine.config import load_job
from spine.store import compact_store, kept_tables
from tests.spine.small_jobs import CROSSINGS_COLUMNS, linked_source, write_small_job

KEPT = ["links", "history__links", "review__pairs", "std__register", "std__crossings", "rules__silence_estimates",
        "rules__recording_rates_by_group", "residence_spells", "flows__uncalibrated", "uncertainty__replicate_counts"]
DROPPED = ["link__crossings", "candidates__crossings", "raw__crossings", "rules__presence", "spine__linked_records",
           "spine__checkpoints", "flows__cells__picks", "rules__movements_without_visa_rules"]


def _job(tmp_path, linkage):
    tmp_path.mkdir(exist_ok=True)
    files = {"register": "id,fn,sn,dob,sex,reg\n", "crossings": "id,fn,sn,dob,sex,date,dir\n"}
    crossings = {**linked_source("crossings", CROSSINGS_COLUMNS), "linkage": linkage}
    return load_job(write_small_job(tmp_path, files, {}, {"crossings": crossings}))


def test_the_store_is_rewritten_with_the_tables_it_keeps_and_a_killed_copy_is_replaced(tmp_path):
    job = _job(tmp_path, {"method": "match_keys"})
    store = tmp_path / "run_store.duckdb"   # a job may be called so: its catalog's name then too
    with duckdb.connect(str(store)) as con:
        for table in KEPT + DROPPED:
            con.execute(f"CREATE TABLE {table} AS SELECT range AS n FROM range(20000)")
    (tmp_path / "run_store.duckdb.compact").write_text("what a killed run left")
    said = compact_store(store, job)
    with duckdb.connect(str(store), read_only=True) as con:
        left = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert con.execute("SELECT sum(n) FROM links").fetchall() == [(sum(range(20000)),)]
    assert left == set(KEPT) and not (tmp_path / "run_store.duckdb.compact").exists()
    assert said["tables_kept"] == len(KEPT) and said["tables_dropped"] == len(DROPPED)
    assert said["megabytes"] < said["megabytes_before"]


def test_the_features_are_kept_only_where_a_model_scored_them(tmp_path):
    have = {"feat__crossings", "links", "link__crossings"}
    assert kept_tables(_job(tmp_path / "keys", {"method": "match_keys"}), have) == ["links"]
    probabilistic = _job(tmp_path / "model", {"method": "probabilistic"})
    assert kept_tables(probabilistic, have) == ["links", "feat__crossings"]


def test_a_rewrite_that_fails_keeps_the_whole_store_and_the_run(tmp_path, monkeypatch):
    from spine import Job

    files = {"register": "id,fn,sn,dob,sex,reg\nR1,Ann,Lee,1980-01-02,F,2015-03-01\n",
             "crossings": "id,fn,sn,dob,sex,date,dir\nC1,Ann,Lee,1980-01-02,F,2016-05-01,out\n"}
    path = write_small_job(tmp_path, files, {}, {"crossings": linked_source("crossings", CROSSINGS_COLUMNS)})

    def full_disk(*args, **kwargs):
        raise OSError("No space left on device")
    monkeypatch.setattr("spine.job.compact_store", full_disk)
    result = Job.from_yaml(path).run()
    try:
        assert result.quality["run"]["store"] == {"intermediate_tables": "kept", "rewrite_failed": "OSError"}
        tables = {r[0] for r in result.connection().execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert {"links", "link__crossings", "spine__linked_records"} <= tables
    finally:
        result.close()


def test_every_estimate_is_declared_and_kept_and_the_dictionary_is_the_one_in_docs():
    from pathlib import Path

    from rules._sql import ESTIMATES
    from spine.tables import TABLES, declared, markdown

    for name in ESTIMATES:
        table = declared(name, [])
        assert table is not None and table.kind == "explains" and table.name == name, name
    assert len({(t.name, t.scored_sources_only) for t in TABLES}) == len(TABLES), "a table declared twice"
    committed = (Path(__file__).parents[2] / "docs" / "store.md").read_text()
    assert committed == markdown(), "run: spine tables > docs/store.md"


def test_a_per_source_name_matches_only_the_jobs_sources():
    from spine.tables import declared

    assert declared("link__crossings__ids_raw", ["crossings"]).name == "link__{source}__{table}"
    assert declared("std__child_benefit_children", ["child_benefit_children"]).kind == "command"
    assert declared("std__elsewhere", ["crossings"]) is None
    assert declared("feat__tax", ["tax"], scored={"tax"}).kind == "command"
    assert declared("feat__tax", ["tax"], scored=set()).kind == "working"
