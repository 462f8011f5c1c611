"""Uncertainty replicates that re-run the rules only for the persons a draw re-linked
(spine.replicate_rules), on the demo job's universe with every working table kept."""

from __future__ import annotations

import shutil
from datetime import date

import duckdb
import pytest

from linkage._sql import materialise
from rules._sql import ESTIMATES, estimate, pinned_estimates
from rules.early_leavers import EARLY_LEAVER_WEIGHTS
from spine import Job
from spine.config import load_job, with_rule_value
from spine.events_stage import EVENTS_ALL
from spine.family import DEPENDANTS
from spine.replicate_rules import (CHANGED_COLUMNS, TOUCHED, TOUCHED_ALL, build_ties, close_over_ties,
                                   reference_after_the_runs_repair, reference_of_the_run, rerun_rules, restrict_links,
                                   run_reference, take_replicate)
from spine.uncertainty import REPLICATE_COUNTS, replicate_flow_counts, rule_values
from tests.conftest import engine_on


@pytest.fixture(scope="module")
def kept(universe, tmp_path_factory):
    """The demo job run on the shared universe with ``keep_intermediate`` (the candidates and link
    tables the replicates draw from), publishing the last year too (provisional immigrations, so
    the early leavers' weights are drawn): the job and its store."""
    folder, _ = universe
    tmp = tmp_path_factory.mktemp("replicates")
    text = (folder / "job.yaml").read_text()
    text = text.replace("  dir: out ", "  keep_intermediate: true\n  dir: out ", 1)
    text = text.replace("\nobservation: {start: 2015-01-01, end: 2024-12-31}\n",
                        "\nobservation: {start: 2015-01-01, end: 2024-12-31}\nreporting: {end: 2024-12-31}\n", 1)
    assert "keep_intermediate: true" in text and "reporting: {end: 2024-12-31}" in text
    (tmp / "job.yaml").write_text(text)
    (tmp / "data").symlink_to(folder / "data", target_is_directory=True)
    result = Job.from_yaml(tmp / "job.yaml").run()
    quality = result.quality
    result.close()
    job = load_job(tmp / "job.yaml")
    return job, job.store_path, quality


def _copy(store, tmp_path):
    copy = tmp_path / "store.duckdb"
    shutil.copy(store, copy)
    return engine_on(duckdb.connect(str(copy)))


def _differing_rows(db, a, b):
    return db.run(f"SELECT count(*) FROM ((SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b}) "
                  f"UNION ALL (SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a}))")[0][0]


def test_rerunning_any_persons_with_the_runs_links_gives_the_reference_events_exactly(kept, tmp_path):
    """Nothing re-linked, a random third of the persons re-run: every event and early-leaver weight
    is the reference's. An estimate left unpinned, or a tie left out, would change some."""
    job, store, _ = kept
    db = _copy(store, tmp_path)
    with db.shadowing("spine_uncertainty") as (rep, stored):
        materialise(rep, "persons", f"SELECT * FROM {stored('persons')}")
        reference = run_reference(rep, job, 0)
        assert len(reference.estimates) >= 15 and DEPENDANTS in reference.kept
        materialise(rep, "reference_weights", f"SELECT * FROM {EARLY_LEAVER_WEIGHTS}")
        assert rep.run("SELECT count(*) FROM reference_weights")[0][0] > 0
        build_ties(rep, job, [reference], stored)
        nothing_changed = materialise(rep, "changed", "SELECT " + ", ".join(
            f"CAST(NULL AS {'INTEGER' if c == 'replicate' else 'BOOLEAN' if c == 'run_linked' else 'VARCHAR'}) AS {c}"
            for c in CHANGED_COLUMNS.split(", ")) + " WHERE FALSE")
        for seed in ("a", "b"):
            materialise(rep, TOUCHED_ALL, f"SELECT 0 AS replicate, person_id FROM persons "
                                          f"WHERE hash(person_id || '{seed}') % 3 = 0")
            chosen = rep.run(f"SELECT count(*) FROM {TOUCHED_ALL}")[0][0]
            close_over_ties(rep, job, stored, nothing_changed)
            restrict_links(rep, job, stored, nothing_changed)
            take_replicate(rep, job, 0)
            assert rep.run(f"SELECT count(*) FROM {TOUCHED}")[0][0] > chosen   # claimants, children, duplicates
            assert rep.run(f"""SELECT count(*) FROM {reference.copy_of(DEPENDANTS)} AS d
                                JOIN {TOUCHED} AS t ON t.person_id = d.child_person_id
                                WHERE d.parent_person_id NOT IN (SELECT person_id FROM {TOUCHED})""")[0][0] == 0
            rerun_rules(rep, job, reference, 0)
            assert rep.run(f"SELECT count(*) FROM {EVENTS_ALL}")[0][0] > 100
            assert _differing_rows(rep, EVENTS_ALL, reference.copy_of(EVENTS_ALL)) == 0
            assert _differing_rows(rep, EARLY_LEAVER_WEIGHTS, "reference_weights") == 0


def test_every_table_the_run_wrote_is_declared(kept):
    """spine.tables is the store's data dictionary (docs/store.md): a table a run writes and it does not
    declare would be dropped from the store unexplained, or kept by no rule."""
    from spine.config import ProbabilisticConfig
    from spine.tables import declared

    job, store, _ = kept
    with duckdb.connect(str(store), read_only=True) as con:
        written = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    scored = {name for name, s in job.sources.items() if isinstance(s.linkage, ProbabilisticConfig)}
    assert len(written) > 150
    assert sorted(t for t in written if declared(t, list(job.sources), scored) is None) == []


def test_the_runs_rules_stage_is_the_reference_for_its_own_settings(kept, tmp_path):
    """The reference taken from the run's tables is, table for table, the one the rules give when
    run again over everyone with the run's links and settings (what the replicates drawing the
    job's own settings used to wait for)."""
    job, store, quality = kept
    db = _copy(store, tmp_path)
    with db.shadowing("spine_uncertainty") as (rep, stored):
        materialise(rep, "persons", f"SELECT * FROM {stored('persons')}")
        from_the_run = reference_of_the_run(rep, stored, 0, date.fromisoformat(quality["data_end"]))
        again = run_reference(rep, job, 1)
        assert from_the_run.data_end == again.data_end
        assert from_the_run.kept == again.kept and EVENTS_ALL in again.kept
        assert set(again.estimates) <= set(from_the_run.estimates) and len(again.estimates) >= 15
        for name in again.estimates + again.kept:
            assert _differing_rows(rep, from_the_run.copy_of(name), again.copy_of(name)) == 0, name
        assert rep.run(f"SELECT count(*) FROM {from_the_run.copy_of(EVENTS_ALL)}")[0][0] > 100


def test_a_reference_for_a_later_acting_setting_started_from_the_runs_repair_is_the_full_one(kept, tmp_path):
    """A reference for other imputation settings started from the run's movements after the repair
    gives, table for table, what the rules give when run over everyone from the linked records,
    without building again what comes before the repair."""
    job, store, _ = kept
    db = _copy(store, tmp_path)
    other = with_rule_value(job, "signs_of_life.provisional_days", 180)
    assert other.rules != job.rules
    with db.shadowing("spine_uncertainty") as (rep, stored):
        materialise(rep, "persons", f"SELECT * FROM {stored('persons')}")
        from_the_repair = reference_after_the_runs_repair(rep, other, 0)   # first: reads the store's tables
        own = {r[0] for r in rep.run("SELECT table_name FROM duckdb_tables() "
                                     "WHERE database_name = 'spine_uncertainty'")}
        assert "movements" in own and EVENTS_ALL in own
        assert not own & {"rules__presence", "rules__movement_input", "spine__linked_records", DEPENDANTS}
        again = run_reference(rep, other, 1)
        assert from_the_repair.data_end == again.data_end and from_the_repair.kept == again.kept
        assert set(again.estimates) <= set(from_the_repair.estimates) and len(again.estimates) >= 15
        for name in again.estimates + again.kept:
            assert _differing_rows(rep, from_the_repair.copy_of(name), again.copy_of(name)) == 0, name
        assert rep.run(f"SELECT count(*) FROM {from_the_repair.copy_of(EVENTS_ALL)}")[0][0] > 100


def test_replicates_rerun_a_few_persons_and_count_as_rerunning_everyone_does(kept, tmp_path):
    """The same draws re-run for the re-linked persons and for everyone: the same counts in all
    but a few cells (estimates re-estimated under the re-links move a handful of events)."""
    job, store, quality = kept
    section = quality["uncertainty"]
    # window_days drawn from three values: the run's own (730) is its rules stage, the others run
    assert section["reference_runs"] == 2 and section["references_from_the_run"] == 1
    assert section["reference_runs_from_the_repair"] == 2   # window_days acts after the repair
    persons = quality["uncertainty"]["persons_rerun_per_replicate"]
    db = _copy(store, tmp_path)
    everyone = db.run("SELECT count(*) FROM persons")[0][0]
    assert 0 < persons["mean"] <= persons["max"] < everyone / 4
    _, measured = replicate_flow_counts(db, job, replicates=6, seed=5)
    db.run(f"CREATE TABLE few AS SELECT * FROM {REPLICATE_COUNTS}")
    _, all_measured = replicate_flow_counts(db, job, replicates=6, seed=5, rerun_everyone=True)
    assert all_measured["rules_rerun_for"] == "everyone" and measured["reference_runs"] == 3
    totals = db.run(f"""
        SELECT coalesce(a.n, 0), coalesce(b.n, 0) FROM few AS a FULL JOIN {REPLICATE_COUNTS} AS b
        USING (replicate, period, event, sex, age_group, citizenship_group)
        WHERE period = 'total' AND event = 'total' AND sex = 'total' AND age_group = 'total'
          AND citizenship_group = 'total'""")
    assert len(totals) == 6 and all(n > 0 for _, n in totals)
    assert all(abs(a - b) <= max(2, 0.005 * b) for a, b in totals), totals


def test_an_estimate_is_named_and_refused_when_a_rerun_did_not_pin_it(con):
    con.execute("CREATE TABLE m AS SELECT 1 AS x")
    with pytest.raises(ValueError, match="not one of"):
        estimate(con, "rules__something_new", "SELECT 1 AS x")
    estimate(con, ESTIMATES[0], "SELECT 2 AS x")
    with pinned_estimates(con, ESTIMATES[:1]):
        estimate(con, ESTIMATES[0], "SELECT 3 AS x")   # pinned: left as it is
        with pytest.raises(RuntimeError, match=ESTIMATES[1]):
            estimate(con, ESTIMATES[1], "SELECT 4 AS x")
    assert con.execute(f"SELECT x FROM {ESTIMATES[0]}").fetchall() == [(2,)]
    estimate(con, ESTIMATES[0], "SELECT 5 AS x")   # unpinned again after the block
    assert con.execute(f"SELECT x FROM {ESTIMATES[0]}").fetchall() == [(5,)]


def test_rule_alternatives_with_a_setting_left_unset_start_from_the_repair(kept, tmp_path):
    """``provisional_days: [365, null]`` (null: no provisional departures): a setting left unset
    among the values drawn, both references started from the run's repair."""
    job, store, _ = kept
    uncertainty = job.flows.uncertainty.model_copy(update={"rule_alternatives": {
        "signs_of_life.provisional_days": [365, None]}})
    job = job.model_copy(update={"flows": job.flows.model_copy(update={"uncertainty": uncertainty})})
    key = "signs_of_life.provisional_days"
    seed = next(s for s in range(50) if len({rule_values(job, s, r)[key] for r in range(4)}) == 2)
    db = _copy(store, tmp_path)
    _, measured = replicate_flow_counts(db, job, replicates=4, seed=seed)
    assert measured["reference_runs"] == 2 and measured["reference_runs_from_the_repair"] == 2
    assert set(measured["rule_values_used"][key]) == {"365", "None"}


def test_replicates_drawn_together_count_as_drawn_one_by_one(kept, tmp_path, monkeypatch):
    """Replicates are drawn, closed over their ties and cut from the link tables in batches: a batch
    of one and a batch of five give the same counts in every cell (a join that let one replicate's
    re-links reach another's persons would not)."""
    import spine.uncertainty as uncertainty

    job, store, _ = kept
    db = _copy(store, tmp_path)
    _, together = replicate_flow_counts(db, job, replicates=6, seed=7)
    assert together["persons_relinked_per_replicate"]["mean"] > 0
    db.run(f"CREATE TABLE together AS SELECT * FROM {REPLICATE_COUNTS}")
    monkeypatch.setattr(uncertainty, "REPLICATES_AT_ONCE", 1)
    _, alone = replicate_flow_counts(db, job, replicates=6, seed=7)
    assert alone["persons_rerun_per_replicate"] == together["persons_rerun_per_replicate"]
    assert db.run(f"SELECT count(*) FROM {REPLICATE_COUNTS}")[0][0] > 100
    assert _differing_rows(db, "together", REPLICATE_COUNTS) == 0
