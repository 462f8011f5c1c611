"""The validation sample (spine.validation): error rates measured on people whose moves are known,
and the intervals that carry them.

A four-person register: Ole and Per leave in 2018, Kari in 2019 (each a crossing out), Ola never
leaves; Nils, in no register, crosses out in 2018 (his crossing stays unlinked). The sample says
Ole's move is right (and names him twice, by his register record and by his crossing), Ola left in
2019 unseen (a false negative), Per is ten years older than the register says (his move lands in
the wrong age group: right at the period level, wrong at the cell level), Kari never left (a false
positive), and Nils's move is missed with him.
"""

import zlib

import duckdb
import numpy as np
import pytest
import yaml

from spine import Job
from spine.errors import ConfigError
from spine.config import load_job
from spine.validation import RATES, STRENGTHS, _best_strength, cell_parameters, prior_strengths, true_count_intervals
from tests.conftest import engine_on
from tests.spine.small_jobs import CROSSINGS_COLUMNS, linked_source, write_small_job

REGISTER = ("id,fn,sn,dob,sex,nat,reg\n"
            "R1,Ole,Dahl,1980-01-01,M,XSY,1980-01-01\n"
            "R2,Ola,Dahl,1980-01-01,F,XSY,1980-01-01\n"
            "R3,Per,Berg,1990-01-01,M,XSY,1990-01-01\n"
            "R4,Kari,Lund,1985-05-05,F,XSY,1985-05-05\n")
CROSSINGS = ("id,fn,sn,dob,sex,date,dir\n"
             "X1,Ole,Dahl,1980-01-01,M,2018-06-01,OUT\n"
             "X3,Per,Berg,1990-01-01,M,2018-07-01,OUT\n"
             "X4,Kari,Lund,1985-05-05,F,2019-02-01,OUT\n"
             "X5,Nils,Holm,1975-01-01,M,2018-03-01,OUT\n")
SAMPLE = ("source,record_id,sex,dob,nationality,event,event_date\n"
          "register,R1,m,1980-01-01,XSY,emigration,2018-06-01\n"
          "register,R2,f,1980-01-01,XSY,emigration,2019-03-01\n"
          "register,R3,m,1970-01-01,XSY,emigration,2018-07-01\n"
          "register,R4,f,1985-05-05,XSY,,\n"
          "crossings,X1,m,1980-01-01,XSY,,\n"
          "crossings,X5,m,1975-01-01,XSY,emigration,2018-03-01\n")


def write_job(tmp_path, *, sample=SAMPLE, validation=None, replicates=4, strata=()):
    (tmp_path / "sample.csv").write_text(sample)
    uncertainty = {"replicates": replicates, "seed": 2,
                   "validation": {"path": "sample.csv", "strata": list(strata), **(validation or {})}}
    return write_small_job(tmp_path, {"register": REGISTER, "crossings": CROSSINGS}, {"nationality": "nat"},
                           {"crossings": linked_source("crossings", CROSSINGS_COLUMNS)},
                           flows={"min_cell_count": 0, "uncertainty": uncertainty})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("val")
    result = Job.from_yaml(write_job(tmp, validation={"calibrate": False})).run()
    flows, quality = result.df("flows"), result.quality
    result.close()
    return flows, quality


def test_the_sample_is_compared_cell_by_cell_and_period_by_period(run):
    _, quality = run
    found = quality["uncertainty"]["validation"]
    assert found["people"] == 6 and found["people_found_in_spine"] == 5
    assert found["people_by_link_status"] == {"linked": 5, "unlinked": 1}
    # cells: Ole right (once, though named twice); Per's move in the wrong age group (a false
    # positive and a false negative); Ola's and Nils's unseen (false negatives); Kari's not made
    cell = found["by_cell"]["emigration"]
    assert (cell["true_positives"], cell["false_positives"], cell["false_negatives"]) == (1, 2, 3)
    period = found["by_period"]["emigration"]
    assert (period["true_positives"], period["false_positives"], period["false_negatives"]) == (2, 1, 2)
    assert period["precision"] == pytest.approx(2 / 3, abs=1e-4) and period["derived_over_true"] == 0.75
    assert "immigration" not in found["by_cell"]
    assert quality["inputs"]["flows.uncertainty.validation"]["people"] == 6


def test_a_stratum_borrows_from_its_event_type_at_the_same_margin_level(tmp_path):
    result = Job.from_yaml(write_job(tmp_path, strata=["age_group"], validation={"prior_events": 10})).run()
    con = engine_on(result.connection())
    rates = con.execute("""SELECT age_group, tp, fp, fn FROM uncertainty__validation_rates
                           WHERE pattern = 0 AND event = 'emigration' ORDER BY 1""").fetchall()
    assert rates == [("25-34", 0, 2, 0), ("35-44", 1, 0, 2), ("45-64", 0, 0, 1)]   # Per, Kari | Ole, Ola, Nils | Per
    con.execute("""CREATE TEMP TABLE probe AS SELECT * FROM (VALUES
        (0, '2018', 'emigration', 'm', '45-64', 'national'),
        (1, '2018', 'emigration', 'total', 'total', 'total'),
        (2, '2018', 'immigration', 'm', '45-64', 'national'))
        AS t(i, period, event, sex, age_group, citizenship_group)""")
    params, _ = cell_parameters(con, load_job(tmp_path / "job.yaml"), "probe")
    result.close()
    # a cell: its stratum (0 true positives, 0 false, 1 missed) + 10 events at the cell level's
    # emigration rates (precision 1.5 / 4, sensitivity 1.5 / 5)
    assert params[0] == pytest.approx([0.5 + 3.75, 0.5 + 6.25, 0.5 + 3.0, 1.5 + 7.0])
    # the period total: one stratum, the period level's counts (2, 1, 2) with nothing borrowed
    # (borrowing from itself would count them twice)
    assert params[1] == pytest.approx([2.5, 1.5, 2.5, 2.5])
    assert np.isnan(params[2]).all()   # no immigration in the sample: not adjusted


def test_intervals_carry_the_measured_error_and_say_so(run):
    flows, quality = run
    emigration_2018 = flows.query("period == '2018' and event == 'emigration' and sex == 'total' "
                                  "and age_group == 'total' and citizenship_group == 'total'").iloc[0]
    # 2 derived (in every replicate: nothing is probabilistic); the period level of the sample:
    # 2 true positives, 1 false, 2 missed, borrowed from nothing (one stratum)
    assert emigration_2018["count"] == 2
    expected = true_count_intervals(np.full((1, 4), 2.0), np.array([[2.5, 1.5, 2.5, 2.5]]), 0.95, seed=2,
                                     cell_seeds=np.array([zlib.crc32(b"2018|emigration|total|total|total")]))
    assert (emigration_2018["lower"], emigration_2018["upper"]) == (expected[0][0], expected[1][0])
    assert emigration_2018["lower"] < 2 < emigration_2018["upper"]
    # cells of event types the sample never saw keep the linkage-only interval (here: exact)
    immigration = flows.query("event == 'immigration' and not suppressed")
    assert (immigration["lower"] == immigration["count"]).all() and (immigration["upper"] == immigration["count"]).all()
    section = quality["uncertainty"]
    assert any("validation sample (6 people)" in x for x in section["covered"])
    assert any("validation sample cannot show" in x for x in section["not_covered"])
    assert section["validation"]["cells_adjusted"] == int((flows["event"] == "emigration").sum() -
                                                          flows.query("event == 'emigration'")["suppressed"].sum())


def test_the_prior_strength_fitted_to_the_strata_pools_alike_strata_and_separates_different_ones():
    # sensitivity 0.95 in every stratum: pool (the largest strength on the grid)
    alike = [(95, 5), (190, 10), (47, 3), (9, 1)]
    assert _best_strength(alike, 341.5 / 361) == STRENGTHS[-1]
    # children found half the time, adults 95%: each stratum keeps (nearly) its own rate
    different = [(20, 20), (190, 10), (95, 5)]
    assert _best_strength(different, 305.5 / 341) == 5.0


def test_strata_the_sample_never_saw_borrow_and_levels_without_moves_are_left_alone(tmp_path):
    """One stratum seen at the cell level still lends its event type's rate to the others; a
    level whose strata are all summed borrows nothing; an event type with true moves but none
    derived at a level is not adjusted (its rates would be guesses)."""
    job = load_job(write_job(tmp_path, strata=["age_group"], validation={"prior_events": 10}))
    con = engine_on()
    con.execute(f"""CREATE TABLE {RATES} AS SELECT * FROM (VALUES
        (0, 'emigration', '35-44', 1, 0, 2), (7, 'emigration', 'total', 2, 1, 2),
        (0, 'immigration', '25-34', 0, 0, 3)) AS t(pattern, event, age_group, tp, fp, fn)""")
    con.execute("""CREATE TABLE probe AS SELECT * FROM (VALUES
        (0, '2018', 'emigration', 'm', '45-64', 'national'), (1, '2018', 'emigration', 'total', 'total', 'total'),
        (2, '2018', 'immigration', 'f', '25-34', 'national'))
        AS t(i, period, event, sex, age_group, citizenship_group)""")
    params, seeds = cell_parameters(con, job, "probe")
    # an unseen stratum: nothing of its own, 10 events at the level's rates (precision 1.5 / 2, sensitivity 1.5 / 4)
    assert params[0] == pytest.approx([0.5 + 7.5, 0.5 + 2.5, 0.5 + 3.75, 0.5 + 6.25])
    assert params[1] == pytest.approx([2.5, 1.5, 2.5, 2.5])
    assert np.isnan(params[2]).all()
    assert seeds[1] == zlib.crc32(b"2018|emigration|total|total|total")
    # auto: one stratum seen says nothing about spread, so the most pooling the grid allows, capped
    # at the events the level's rates rest on (1 derived, 3 true)
    assert prior_strengths(con, "auto", ["age_group"])[(0, "emigration")] == (1, 3)
    assert prior_strengths(con, "auto", ["age_group"])[(7, "emigration")] == (0.0, 0.0)


def test_a_cells_interval_does_not_depend_on_the_other_cells():
    counts = np.array([[30.0] * 5, [80.0] * 5, [12.0] * 5])
    params = np.array([[50.5, 5.5, 45.5, 10.5]] * 3)
    seeds = np.array([11, 22, 33])
    whole = true_count_intervals(counts, params, 0.95, seed=4, cell_seeds=seeds)
    alone = true_count_intervals(counts[1:2], params[1:2], 0.95, seed=4, cell_seeds=seeds[1:2])
    assert (whole[0][1], whole[1][1]) == (alone[0][0], alone[1][0])


def test_true_count_draws_undo_a_known_sensitivity_and_precision():
    counts = np.full((3, 20), 100.0)
    params = np.array([[1000.5, 0.5, 500.5, 500.5],    # precision 1, sensitivity 0.5: truth ~200
                       [500.5, 500.5, 1000.5, 0.5],    # precision 0.5, sensitivity 1: truth ~50
                       [np.nan] * 4])                  # no validation data: left to the caller
    lower, upper, median = true_count_intervals(counts, params, 0.95, seed=1)
    assert 165 < lower[0] < 200 < upper[0] < 240 and abs(median[0] - 200) <= 5
    assert 35 < lower[1] < 50 < upper[1] < 65 and abs(median[1] - 50) <= 3
    assert np.isnan(lower[2]) and np.isnan(upper[2])
    again = true_count_intervals(counts, params, 0.95, seed=1)
    assert np.array_equal(again[0][:2], lower[:2]) and np.array_equal(again[1][:2], upper[:2])


def test_intervals_cover_simulated_truths_at_their_nominal_level():
    """Cells whose derived count comes from a known truth by losing and adding events, and a sample
    that measured that error: the 95% intervals contain the truth in about 95% of cells."""
    rng = np.random.default_rng(5)
    cells, precision, sensitivity = 400, 0.9, 0.8
    truth = rng.integers(10, 300, size=cells)
    found = rng.binomial(truth, sensitivity)
    derived = found + rng.binomial(np.rint(found * (1 - precision) / precision).astype(int), 0.999)
    # a sample of 300 true and derived events measured the same rates
    tp = rng.binomial(300, sensitivity)
    fn = 300 - tp
    fp = rng.binomial(tp, (1 - precision) / precision) if precision < 1 else 0
    params = np.tile([tp + 0.5, fp + 0.5, tp + 0.5, fn + 0.5], (cells, 1)).astype(float)
    lower, upper, _ = true_count_intervals(derived[:, None].astype(float).repeat(10, axis=1), params, 0.95, seed=3)
    coverage = np.mean((lower <= truth) & (truth <= upper))
    assert 0.88 <= coverage <= 0.995
    assert np.mean(derived == truth) < 0.2   # the point counts alone would miss almost every cell


@pytest.mark.parametrize(("change", "expected"), [
    ({"sample": "source,record_id,sex,dob,nationality,event,event_date\nregister,R1,m,1980-01-01,XSY,moved,2018-06-01\n"},
     "flows.uncertainty.validation.columns.event  column 'event' of sample.csv is not immigration, emigration or "
     "empty (a person with no move); 1 row(s), e.g. row 1: 'moved'"),
    ({"sample": "source,record_id,sex,dob,nationality,event,event_date\nregister,R9,m,1980-01-01,XSY,,\n"},
     "flows.uncertainty.validation.columns.record_id  1 row(s) of sample.csv name a record that is not in source "
     "'register', e.g. row 1"),
    ({"sample": "source,record_id,sex,dob,nationality,event,event_date\ntax,R1,m,1980-01-01,XSY,,\n"},
     "column 'source' of sample.csv is not a source of the job (sources: crossings, register); 1 row(s), e.g. row 1: 'tax'"),
    ({"sample": "source,record_id,sex,dob,nationality,event,event_date\nregister,R1,m,1980-01-01,XSY,emigration,1/6/18\n"},
     "column 'event_date' of sample.csv is not a date in the date_format"),
    ({"sample": "source,id,sex,dob,nationality,event,event_date\n"},
     "flows.uncertainty.validation.columns.record_id  column 'record_id' is not in sample.csv"),
    ({"sample": "source,record_id,sex,dob,nationality,event,event_date\nregister,R1,m,01/01/1980,XSY,,\n"},
     "column 'dob' of sample.csv is not a date of birth in the date_format (or is before 1880 or in the future); "
     "1 row(s), e.g. row 1: '99/99/9999'"),
    ({"sample": "source,record_id,sex,dob,nationality,event,event_date\nregister,R1,q,1980-01-01,XSY,,\n"}, "column 'sex' of sample.csv is not a known sex code"),
    ({"sample": "source,record_id,sex,dob,nationality,event,event_date\nregister,R1,m,1980-01-01,XSY,,2018-06-01\n"},
     "column 'event' of sample.csv is empty where event_date is set"),
    ({"sample": "source,record_id,sex,dob,nationality,event,event_date\nregister,R1,m,1980-01-01,XSY,emigration,2018-06-01\nregister,R1,m,1980-01-02,XSY,,\n"},
     "1 person(s) of sample.csv have rows that disagree on sex, dob or nationality (one person, one set of true "
     "attributes), e.g. register: rows 1, 2"),
    ({"sample": "source,record_id,sex,dob,nationality,event,event_date\nregister,R1,m,1980-01-01,XSY,emigration,2018-06-01\nregister,R1,m,1980-01-01,XSY,Emigration,2018-06-01\n"},
     "1 move(s) of sample.csv are given twice (same person, event and date), e.g. register emigration in rows 1, 2"),
    ({"sample": "source,record_id,sex,dob,nationality,event,event_date\n"}, "flows.uncertainty.validation.path  sample.csv has no rows"),
    ({"sample": "source,record_id,sex,dob,nationality,event,event_date\nregister,R1,m,1980-01-01,Atlantis,,\n"},
     "column 'nationality' of sample.csv is not a country the reference table knows"),
    ({"validation": {"start": "2014-01-01"}}, "is before the observation window's start 2015-01-01"),
    ({"validation": {"path": "missing.csv"}}, "flows.uncertainty.validation.path  file not found"),
    ({"replicates": 0}, "flows.uncertainty.validation  flows.uncertainty.replicates is 0, so no interval would use it"),
    ({"validation": {"strata": ["sex", "sex"]}}, "each dimension once"),
])
def test_a_bad_validation_file_or_setting_is_one_clear_message_before_anything_runs(tmp_path, change, expected):
    path = write_job(tmp_path, sample=change.get("sample", SAMPLE), validation=change.get("validation"),
                     replicates=change.get("replicates", 4))
    with pytest.raises(ConfigError) as raised:
        Job.from_yaml(path).validate()
    assert expected in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_same_seed_same_intervals_and_rounded_bounds_with_rounding(tmp_path):
    path = write_job(tmp_path)
    job = yaml.safe_load(path.read_text())
    job["flows"]["rounding"] = 5
    path.write_text(yaml.safe_dump(job))
    first = Job.from_yaml(path).run()
    bounds = first.df("flows")[["lower", "upper"]]
    first.close()
    again = Job.from_yaml(path).run()
    assert again.df("flows")[["lower", "upper"]].equals(bounds)
    again.close()
    published = bounds.dropna()
    assert len(published) > 0 and ((published % 5) == 0).all().all()
    assert (published["upper"] > published["lower"]).any()


def test_codes_the_sources_accept_are_accepted_in_the_sample(tmp_path):
    """Unknown-sex codes, country names and padded ids pass as they do in the sources."""
    sample = ("source,record_id,sex,dob,nationality,event,event_date\n"
              "register, R1 ,u,1980-01-01,Norway,emigration,2018-06-01\n"
              "register,R2,F,1980-01-01,no,,\n")
    Job.from_yaml(write_job(tmp_path, sample=sample)).validate()


def test_a_sample_calibrates_the_published_counts(tmp_path):
    """Each cell's derived count times its stratum's precision over sensitivity, rounded; margins the
    sums of the calibrated cells; the derived flows kept in the store and quality.json; intervals
    placed around the published count."""
    job_path = write_job(tmp_path)
    result = Job.from_yaml(job_path).run()
    con = engine_on(result.connection())
    cells = con.execute("""SELECT period, event, sex, age_group, citizenship_group, derived, n, factor
                           FROM uncertainty__calibrated_cells ORDER BY ALL""").fetchall()
    con.execute("""CREATE TEMP TABLE probe AS SELECT row_number() OVER (ORDER BY period, event, sex, age_group,
                   citizenship_group) - 1 AS i, * EXCLUDE (derived, n, factor) FROM uncertainty__calibrated_cells""")
    params, _ = cell_parameters(con, load_job(job_path), "probe")
    for (*_, derived, n, factor), (a_p, b_p, a_s, b_s) in zip(cells, params):
        expected = 1.0 if np.isnan(a_p) else (a_p / (a_p + b_p)) / (a_s / (a_s + b_s))
        assert factor == pytest.approx(expected) and n == round(derived * expected)
    total = "period = '2018' AND event = 'emigration' AND sex = 'total' AND age_group = 'total' " \
            "AND citizenship_group = 'total'"
    published, lower, upper = con.execute(f"SELECT count, lower, upper FROM flows WHERE {total}").fetchone()
    derived = con.execute(f"SELECT count FROM flows__uncalibrated WHERE {total}").fetchone()[0]
    assert derived == 2 and published == sum(n for p, e, *_, n, _ in cells if (p, e) == ("2018", "emigration"))
    assert lower <= published <= upper and any(factor != 1 for *_, factor in cells)
    calibration = result.quality["uncertainty"]["calibration"]
    assert calibration["published"] == "calibrated" and "disclosure" not in calibration
    assert {"period": "2018", "event": "emigration", "derived": 2, "calibrated": published} in calibration["totals"]
    result.close()


def test_rule_settings_chosen_on_the_sample_with_cross_validation(tmp_path):
    """Two settings compared on the sample: the run uses the better, and says how it held out."""
    job_path = write_job(tmp_path)
    import yaml
    job = yaml.safe_load(job_path.read_text())
    job.setdefault("rules", {})["calibrate"] = {"alternatives": {"events.tolerance_days": [0, 90]}, "folds": 2}
    job_path.write_text(yaml.safe_dump(job))
    result = Job.from_yaml(job_path).run()
    found = result.quality["rules"]["calibration"]
    result.close()
    assert found["settings"] == ["events.tolerance_days"] and len(found["combinations"]) == 2
    best = max(found["combinations"], key=lambda c: c["f1"])
    assert found["chosen"] == best["settings"] and found["chosen_f1_on_the_sample"] == best["f1"]
    assert 0 <= found["cross_validated_f1"] <= 1 and len(found["chosen_per_fold"]) == 2
    assert found["people"] == 5


def test_calibration_needs_a_sample_and_valid_values(tmp_path):
    import yaml
    job_path = write_job(tmp_path)
    job = yaml.safe_load(job_path.read_text())
    job["rules"] = {"calibrate": {"alternatives": {"signs_of_life.min_departure_probability": [0.5, 1.5]}}}
    job_path.write_text(yaml.safe_dump(job))
    with pytest.raises(ConfigError, match=r"rules.calibrate.alternatives.signs_of_life.min_departure_probability\[1\]"):
        load_job(job_path)
    del job["flows"]["uncertainty"]["validation"]
    job["rules"] = {"calibrate": {"alternatives": {"events.tolerance_days": [0, 90]}}}
    job_path.write_text(yaml.safe_dump(job))
    with pytest.raises(ConfigError, match="needs a validation sample"):
        load_job(job_path)
