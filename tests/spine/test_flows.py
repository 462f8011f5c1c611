"""Published flows from events and persons: cells, margins, zeros, suppression, rounding, the YAML."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from spine.config import ConfigError, JobConfig, load_job
from spine.flows import build_flows
from tests.conftest import fetch_rows, make_table
from tests.spine.test_disclosure import derivable_by_rank

DIMS = ["sex", "age_group", "citizenship_group"]
FLOWS = ["period", "event", *DIMS, "count", "suppressed", "lower", "upper"]


def job_with(**flows) -> JobConfig:
    return JobConfig.model_validate({
        "name": "t", "base": "register", "home_country": "XSY",
        "sources": {"register": {"path": "r.csv", "record_id": "id", "columns": {"first_name": "fn"}}},
        "flows": {"age_groups": [0, 18, 65], **flows}})


def events_of(con, people: list[tuple[str, str | None, date | None, str | None, int]]) -> None:
    """``people``: (event, sex, dob, nationality, how many); every event on 2023-06-30."""
    persons, events = [], []
    for event, sex, dob, nationality, n in people:
        for _ in range(n):
            pid = f"p{len(persons)}"
            persons.append((pid, sex, dob, nationality))
            events.append((pid, event, date(2023, 6, 30)))
    make_table(con, "persons", {"person_id": "VARCHAR", "sex": "VARCHAR", "dob": "DATE", "nationality": "VARCHAR"},
               persons)
    make_table(con, "events", {"person_id": "VARCHAR", "event": "VARCHAR", "date": "DATE"}, events)


def flows_rows(con) -> list[dict]:
    return [dict(zip(FLOWS, r)) for r in fetch_rows(con, "flows")]


ADULT, CHILD, OLD = date(1990, 1, 1), date(2015, 1, 1), date(1950, 1, 1)


def test_cells_margins_and_zeros(con):
    events_of(con, [("immigration", "f", ADULT, "XSY", 12), ("immigration", "m", ADULT, "ESP", 15),
                    ("immigration", "m", CHILD, "ESP", 20), ("emigration", "f", OLD, "XSY", 30)])
    figures = build_flows(con, job_with())
    rows = flows_rows(con)
    # two tables (2023 × each event): f, m (no unknown seen) × 3 age groups × 2 groups, each with its total
    assert len(rows) == 2 * 3 * 4 * 3 and figures["tables"] == 2 and figures["cells"] == len(rows)
    assert {r["sex"] for r in rows} == {"f", "m", "total"}
    assert {r["age_group"] for r in rows} == {"0-17", "18-64", "65+", "total"}
    assert {r["citizenship_group"] for r in rows} == {"national", "foreign", "total"}

    def count(event, sex, age, citizenship):
        (r,) = [r for r in rows if (r["event"], r["sex"], r["age_group"], r["citizenship_group"])
                == (event, sex, age, citizenship)]
        return r["count"]

    assert count("immigration", "total", "total", "total") == 47
    assert count("immigration", "m", "total", "foreign") == 35
    assert count("immigration", "total", "18-64", "total") == 27
    assert count("immigration", "f", "65+", "foreign") == 0          # zeros are published as 0
    assert count("emigration", "total", "total", "total") == 30
    assert {r["period"] for r in rows} == {"2023"}
    assert all(r["lower"] is None and r["upper"] is None for r in rows)
    assert figures["primary_suppressed"] == 0 and figures["check"]["passed"]


def test_unknown_category_only_when_seen(con):
    events_of(con, [("immigration", None, ADULT, None, 12), ("immigration", "f", None, "XSY", 12)])
    build_flows(con, job_with())
    rows = flows_rows(con)
    assert {r["sex"] for r in rows} == {"f", "m", "unknown", "total"}
    assert {r["age_group"] for r in rows} == {"0-17", "18-64", "65+", "unknown", "total"}
    assert {r["citizenship_group"] for r in rows} == {"national", "foreign", "unknown", "total"}


def test_small_cells_are_suppressed_and_protected(con):
    events_of(con, [("immigration", "f", ADULT, "XSY", 3), ("immigration", "f", ADULT, "ESP", 40),
                    ("immigration", "m", ADULT, "XSY", 30), ("immigration", "m", ADULT, "ESP", 50),
                    ("immigration", "f", CHILD, "ESP", 25), ("immigration", "m", CHILD, "XSY", 20)])
    figures = build_flows(con, job_with())
    rows = flows_rows(con)
    small = [r for r in rows if (r["sex"], r["age_group"], r["citizenship_group"]) == ("f", "18-64", "national")]
    assert small[0]["suppressed"] and small[0]["count"] is None
    # the cell and its margin over age groups (all 3 are adults) are primary
    assert figures["primary_suppressed"] == 2 and figures["secondary_suppressed"] >= 2
    assert all(r["count"] is None for r in rows if r["suppressed"])
    assert all(r["count"] == 0 or r["count"] >= 10 for r in rows if not r["suppressed"])
    assert derivable_by_rank(rows, ["period", "event"], DIMS) == []
    assert figures["check"] == {**figures["check"], "derivable": 0, "passed": True}


def test_rounding_to_base_5_applies_to_cells_and_margins(con):
    events_of(con, [("immigration", "f", ADULT, "XSY", 12), ("immigration", "m", ADULT, "ESP", 13),
                    ("immigration", "m", CHILD, "ESP", 24)])
    figures = build_flows(con, job_with(rounding=5))
    rows = flows_rows(con)
    published = {(r["sex"], r["age_group"], r["citizenship_group"]): r["count"] for r in rows if not r["suppressed"]}
    assert published[("f", "18-64", "national")] == 10
    assert published[("m", "18-64", "foreign")] == 15
    assert published[("m", "0-17", "foreign")] == 25
    assert published[("total", "total", "total")] == 50             # 49: rounded margins need not add up
    assert all(v % 5 == 0 for v in published.values())
    assert figures["rounding"] == 5
    true = dict(((s, a, c), n) for s, a, c, n in fetch_rows(
        con, "SELECT sex, age_group, citizenship_group, n FROM flows__cells"))
    assert all(abs(published[k] - true[k]) <= 2 for k in published)


@pytest.mark.parametrize("seed", range(4))
def test_random_events_publish_nothing_small_and_nothing_derivable(con, seed):
    rng = np.random.default_rng(100 + seed)
    groups = [(e, s, d, c) for e in ("immigration", "emigration") for s in ("f", "m", None)
              for d in (ADULT, CHILD, OLD, None) for c in ("XSY", "ESP", None)]
    sizes = rng.choice([0, 0, 1, 3, 8, 11, 25, 60], size=len(groups))
    events_of(con, [(*g, int(n)) for g, n in zip(groups, sizes)])
    figures = build_flows(con, job_with(min_cell_count=10))
    rows = flows_rows(con)
    assert all(r["count"] == 0 or r["count"] >= 10 for r in rows if not r["suppressed"])
    assert derivable_by_rank(rows, ["period", "event"], DIMS) == []
    assert figures["check"]["passed"]
    # the true counts: every margin is the sum of the cells it covers
    cells = fetch_rows(con, "SELECT event, sex, age_group, citizenship_group, n FROM flows__cells")
    interior = [c for c in cells if "total" not in c[1:4]]
    for event, sex, age, citizenship, n in cells:
        covered = sum(c[4] for c in interior if c[0] == event and all(
            want in ("total", got) for want, got in zip((sex, age, citizenship), c[1:4])))
        assert n == covered


def test_flows_options_from_yaml(tmp_path):
    (tmp_path / "job.yaml").write_text(
        'name: t\nbase: r\nhome_country: "XSY"\nsources:\n  r: {path: r.csv, record_id: id}\n'
        'flows: {period: month, min_cell_count: 5, rounding: 5}\n')
    flows = load_job(tmp_path / "job.yaml").flows
    assert (flows.period, flows.min_cell_count, flows.rounding) == ("month", 5, 5)
    assert JobConfig.model_validate({"name": "t", "base": "r", "home_country": "XSY",
                                     "sources": {"r": {"path": "r.csv", "record_id": "id"}}}).flows.rounding is None


@pytest.mark.parametrize("value,fragments", [
    ("1", ["flows.rounding", "must be at least 2", "got 1"]),
    ("five", ["flows.rounding", "got five"]),
    ("2.5", ["flows.rounding", "got 2.5"]),
])
def test_bad_rounding_is_a_clear_error(tmp_path, value, fragments):
    (tmp_path / "job.yaml").write_text(
        'name: t\nbase: r\nhome_country: "XSY"\nsources:\n  r: {path: r.csv, record_id: id}\n'
        f'flows: {{rounding: {value}}}\n')
    with pytest.raises(ConfigError) as caught:
        load_job(tmp_path / "job.yaml")
    for fragment in fragments:
        assert fragment in str(caught.value)
    assert "job.yaml:6:" in str(caught.value)
