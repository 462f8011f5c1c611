"""Flow intervals under linkage uncertainty (spine.uncertainty), on a two-person job and a real store.

The job links its crossings on match-keys (no Splink on three records); the tests that need an
uncertain link then declare the crossings probabilistic and write its candidate pairs into a copy
of the store, as the probabilistic stage would have (``candidates__crossings``).
"""

import math
import shutil

import duckdb
import pytest

from spine import Job
from spine.config import ProbabilisticConfig, load_job
from spine.uncertainty import KEYS, fill_flow_intervals, flow_intervals, replicate_flow_counts
from tests.conftest import engine_on
from tests.spine.small_jobs import CROSSINGS_COLUMNS, linked_source, write_small_job

REGISTER = ("id,fn,sn,dob,sex,nat,reg\n"
            "R1,Ole,Dahl,1980-01-01,M,XSY,1980-01-01\n"
            "R2,Ola,Dahl,1980-01-01,F,XSY,1980-01-01\n")
CROSSINGS = ("id,fn,sn,dob,sex,date,dir\n"
             "X1,Ole,Dahl,1980-01-01,M,2018-06-01,OUT\n")   # Ole leaves for good in 2018


def write_job(tmp_path, uncertainty=None):
    flows = {"min_cell_count": 0, **({"uncertainty": uncertainty} if uncertainty else {})}
    return write_small_job(tmp_path, {"register": REGISTER, "crossings": CROSSINGS}, {"nationality": "nat"},
                           {"crossings": linked_source("crossings", CROSSINGS_COLUMNS)}, flows=flows,
                           output={"keep_intermediate": True})   # replicates drawn again from the candidates


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The job run once, with 5 replicates: its result and a person id per register record."""
    tmp = tmp_path_factory.mktemp("unc")
    result = Job.from_yaml(write_job(tmp, {"replicates": 5, "seed": 3})).run()
    person = result.df("links").query("source == 'register'").set_index("record_id").person_id.to_dict()
    flows = result.df("flows")
    quality = result.quality
    result.close()
    return tmp, person, flows, quality


def match_weight(p):
    """Splink's match weight of a pair of match probability ``p`` (its odds' log2); 60 for p = 1."""
    return 60.0 if p >= 1 else math.log2(p / (1 - p))


def uncertain_store(run, tmp_path, probabilities):
    """A copy of the run's store whose crossing X1 was scored against the given register records
    (record -> match probability), and the job declaring the crossings probabilistic."""
    tmp, person, _, _ = run
    store = tmp_path / "store.duckdb"
    shutil.copy(tmp / "out" / "t.duckdb", store)
    job = load_job(tmp / "job.yaml")
    crossings = job.sources["crossings"].model_copy(
        update={"linkage": ProbabilisticConfig(method="probabilistic", comparisons=["first_name", "dob"])})
    job = job.model_copy(update={"sources": {**job.sources, "crossings": crossings}})
    con = engine_on(duckdb.connect(str(store)))
    con.execute("CREATE TABLE candidates__crossings (record_id VARCHAR, entity_id VARCHAR, "
                "match_probability DOUBLE, match_weight DOUBLE)")
    for record, p in probabilities.items():
        con.execute("INSERT INTO candidates__crossings VALUES ('X1', ?, ?, ?)", [person[record], p, match_weight(p)])
    con.execute("UPDATE link__crossings SET method = 'probabilistic', match_probability = 0.5")
    return con, job


def replicate_rows(con, table):
    return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


OLE = ("2018", "emigration", "m", "35-44", "national")
OLA = ("2018", "emigration", "f", "35-44", "national")
TOTAL = ("2018", "emigration", "total", "total", "total")


def interval_of(con, key):
    where = " AND ".join(f"{k} = ?" for k in KEYS)
    return con.execute(f"SELECT count, lower, upper FROM flows WHERE {where}", list(key)).fetchall()[0]


def test_certain_links_give_zero_width_intervals_and_leave_the_run_alone(run):
    _, _, flows, quality = run
    published = flows[~flows.suppressed]
    assert len(published) > 1   # Ole's emigration in 2018, with the zeros and margins around it
    assert (published["lower"] == published["count"]).all() and (published["upper"] == published["count"]).all()
    assert published["count"].sum() > 0
    section = quality["uncertainty"]
    assert section["enabled"] and section["replicates"] == 5 and section["percentiles"] == [2.5, 97.5]
    assert section["covered"] and section["not_covered"] and section["sources"] == []
    assert section["margins"] and section["width"]["cells_wider_than_zero"] == 0


def test_probability_one_candidate_is_certain(run, tmp_path):
    con, job = uncertain_store(run, tmp_path, {"R1": 1.0})
    counts, _ = replicate_flow_counts(con, job, replicates=10, seed=1)
    fill_flow_intervals(con, flow_intervals(con, counts, 10))
    assert interval_of(con, OLE) == (1, 1.0, 1.0) and interval_of(con, TOTAL) == (1, 1.0, 1.0)
    assert con.execute("SELECT count(*) FROM flows WHERE lower IS DISTINCT FROM count OR upper <> lower"
                       ).fetchall() == [(0,)]
    con.close()


def test_a_link_the_model_cannot_tell_between_two_persons_gives_an_interval_covering_both(run, tmp_path):
    # both pairs near certain on their own: one of the two is the match, each in half the replicates
    con, job = uncertain_store(run, tmp_path, {"R1": 1 - 1e-9, "R2": 1 - 1e-9})
    before = con.execute("SELECT * FROM events").fetchall(), con.execute("SELECT * FROM flows").fetchall()
    counts, measured = replicate_flow_counts(con, job, replicates=40, seed=1)
    # each replicate gives the emigration to exactly one of them, and both happen
    by_sex = dict(con.execute(f"SELECT sex, count(DISTINCT replicate) FROM {counts} WHERE event = 'emigration' "
                              "AND age_group <> 'total' AND n > 0 GROUP BY 1").fetchall())
    assert by_sex["m"] + by_sex["f"] == 40 and by_sex["m"] > 5 and by_sex["f"] > 5
    assert measured["records_redrawn"] == {"crossings": 1}
    assert measured["records_with_an_uncertain_candidate"] == {"crossings": 1}
    # Ole's cell (1 in the run) and Ola's (0) both get [0, 1]; their total is certain
    fill_flow_intervals(con, flow_intervals(con, counts, 40))
    assert interval_of(con, OLE) == (1, 0.0, 1.0)
    assert interval_of(con, OLA) == (0, 0.0, 1.0)
    assert interval_of(con, TOTAL) == (1, 1.0, 1.0)
    # the run's events are untouched; its flows changed only in lower and upper
    assert con.execute("SELECT * FROM events").fetchall() == before[0]
    assert [r[:-2] for r in con.execute("SELECT * FROM flows").fetchall()] == [r[:-2] for r in before[1]]
    assert "spine_uncertainty" not in {r[0] for r in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
    con.close()


@pytest.mark.parametrize("probabilities, uncertain", [
    ({"R1": 0.99, "R2": 0.3}, 0),    # the namesake scored alone at 0.3 is 0.4% against the pair at 0.99
    ({"R1": 0.97}, 0),               # one candidate keeps its probability: 0.97, unlinked 0.03
    ({"R1": 0.9}, 1),                # 0.9, unlinked 0.1
])
def test_candidates_are_drawn_as_alternatives_weighed_by_their_odds(run, tmp_path, probabilities, uncertain):
    con, job = uncertain_store(run, tmp_path, probabilities)
    _, measured = replicate_flow_counts(con, job, replicates=1, seed=1)
    con.close()
    assert measured["records_redrawn"] == {"crossings": 1}
    assert measured["records_with_an_uncertain_candidate"] == {"crossings": uncertain}


def test_replicates_are_reproducible_with_a_seed_and_differ_with_another(run, tmp_path):
    con, job = uncertain_store(run, tmp_path, {"R1": 0.5, "R2": 0.3})   # odds 1 and 0.43: no link at all 0.41
    table, _ = replicate_flow_counts(con, job, replicates=30, seed=7)
    first = replicate_rows(con, table)
    replicate_flow_counts(con, job, replicates=30, seed=7)
    again = replicate_rows(con, table)
    replicate_flow_counts(con, job, replicates=30, seed=8)
    other = replicate_rows(con, table)
    con.close()
    assert first == again
    assert first != other
    with_event = {r[0] for r in first if r[2] == "emigration" and r[3] != "total" and r[-1] > 0}
    assert 0 < len(with_event) < 30   # some replicates link X1 to nobody: no event at all


def test_margin_rows_get_intervals_from_replicate_sums_and_rounding_applies(run, tmp_path):
    """A margin's interval comes from the replicates' sums, not from its cells' intervals; with
    rounding the bounds are rounded as the counts are."""
    con, job = uncertain_store(run, tmp_path, {"R1": 1 - 1e-9, "R2": 1 - 1e-9})   # one of the two, never none
    counts, measured = replicate_flow_counts(con, job, replicates=20, seed=1)
    assert measured["margins"]
    intervals = flow_intervals(con, counts, 20)
    fill_flow_intervals(con, intervals, rounding=5)
    assert interval_of(con, TOTAL)[1:] == (0.0, 0.0) and interval_of(con, OLE)[1:] == (0.0, 0.0)
    fill_flow_intervals(con, intervals)
    sex_total = ("2018", "emigration", "total", "35-44", "national")
    assert interval_of(con, sex_total)[1:] == (1.0, 1.0)   # whoever left, one 35-44 national did
    con.close()


def test_suppressed_cells_get_no_interval(run, tmp_path):
    con, job = uncertain_store(run, tmp_path, {"R1": 0.5, "R2": 0.5})
    con.execute("UPDATE flows SET suppressed = TRUE, count = NULL")
    counts, _ = replicate_flow_counts(con, job, replicates=4, seed=1)
    assert fill_flow_intervals(con, flow_intervals(con, counts, 4)) == 0
    assert con.execute("SELECT count(*) FROM flows WHERE lower IS NOT NULL OR upper IS NOT NULL").fetchall() == [(0,)]
    con.close()
