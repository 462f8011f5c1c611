"""The whole spine on a small synthetic universe with every admin source enlarging, scored against
the truth as clusters (records sharing a person_id against records of one true person), then run
again in place: the same inputs must give the same person ids and report no change."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from linkage.evaluate import cluster_pairwise_scores
from spine import Job
from spine.synthetic import generate
from tests.conftest import engine_on

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def spine(tmp_path_factory):
    folder = tmp_path_factory.mktemp("enlarged")
    job = yaml.safe_load((ROOT / "examples" / "migration" / "job.yaml").read_text())
    for name, source in job["sources"].items():
        if name != job["base"]:
            source["enlarge"] = True
    job["flows"]["uncertainty"] = {"replicates": 0}   # what is scored here is the spine, not intervals
    (folder / "job.yaml").write_text(yaml.safe_dump(job))
    generated = generate(2_000, seed=1, out_dir=folder / "data")
    result = Job.from_yaml(folder / "job.yaml").run()
    con = engine_on(result.connection())
    truth = f"read_csv('{generated.truth['records']}', all_varchar = true)"
    con.execute(f"""CREATE TEMP TABLE scored AS
        SELECT l.source, l.record_id, l.person_id AS predicted, t.person_key AS truth
        FROM links AS l JOIN {truth} AS t USING (source, record_id)""").fetchall()
    absent = con.execute(f"""SELECT count(DISTINCT person_key) FROM {truth} WHERE person_key NOT IN
                             (SELECT person_key FROM {truth} WHERE source = 'register')""").fetchall()[0][0]
    yield folder, result, absent
    result.close()


def test_clusters_agree_with_the_true_persons(spine):
    """Measured on this universe: overall precision 0.9999, F1 0.9976; every source F1 0.993 or more.
    Asserted: the bars of the 100k benchmark (overall F1 0.98, every source 0.95)."""
    _, result, _ = spine
    con = engine_on(result.connection())
    overall = cluster_pairwise_scores(con, "scored")
    assert overall["precision"] > 0.995 and overall["f1"] > 0.98, overall
    for source in result.job.sources:
        if source != "register":
            scores = cluster_pairwise_scores(
                con, f"(SELECT * FROM scored WHERE source IN ('{source}', 'register'))")
            assert scores["f1"] > 0.95, (source, scores)


def test_enlarged_persons_are_about_the_people_absent_from_the_register(spine):
    """Measured (2026-12-04): 193 enlarged persons against 194 people absent from the register
    (-0.5%; the benchmark's bar of 5% is at 100k persons, where the count is steadier); 4 groups
    held back (23, and 186 persons, while one near record held back its whole group)."""
    _, result, absent = spine
    enlarged = result.quality["persons"]["by_origin"]["enlarged"]
    assert abs(enlarged - absent) <= 0.10 * absent, (enlarged, absent)
    held_back = result.quality["linkage"]["enlargement"]["held_back"]
    assert held_back["groups"] > 0 and held_back["weight"] == -1.0


def test_a_rerun_keeps_every_person_id_and_reports_no_change(spine):
    folder, result, _ = spine
    before = dict(result.connection().execute("SELECT source || ':' || record_id, person_id FROM links").fetchall())
    rerun = Job.from_yaml(folder / "job.yaml").run()
    try:
        after = dict(rerun.connection().execute("SELECT source || ':' || record_id, person_id FROM links").fetchall())
        changes = rerun.quality["changes"]
        assert rerun.quality["accounting"]["passed"]
    finally:
        rerun.close()
    assert after == before
    assert changes["previous_run"] == 1 and changes["records"] == {} and changes["persons"]["new"] == 0
