"""Attribute conflict policies on a five-record person, and the conflict rates."""

import pytest

from spine.config import ConfigError, JobConfig, load_job
from spine.conflicts import build_attribute_values, conflict_rates
from tests.conftest import fetch_rows, make_table

COLS = {"person_id": "VARCHAR", "source": "VARCHAR", "source_rank": "INTEGER", "record_date": "DATE",
        "first_name": "VARCHAR", "surname": "VARCHAR", "dob": "DATE", "sex": "VARCHAR",
        "nationality": "VARCHAR", "country_of_birth": "VARCHAR"}
RECORDS = [   # one person: the register says MARIA, two tax years say MARIA JOSE, the latest visa says MARIE
    ("p", "register", 0, "2015-01-01", "MARIA", "LOPEZ", "1980-01-02", "f", "ESP", "ESP"),
    ("p", "tax", 1, "2019-01-01", "MARIA JOSE", "LOPEZ", "1980-01-02", "f", "ESP", None),
    ("p", "tax", 1, "2020-01-01", "MARIA JOSE", "LOPEZ", "1980-02-01", "f", "ESP", None),
    ("p", "visas", 2, "2023-05-01", "MARIE", "LOPEZ", "1980-01-02", "f", "MEX", None),
]


def job_with(policies: dict, default: str = "source_priority") -> JobConfig:
    return JobConfig.model_validate({
        "name": "t", "base": "register", "home_country": "XSY",
        "sources": {"register": {"path": "r.csv", "record_id": "id", "columns": {"first_name": "fn"}},
                    "tax": {"path": "t.csv", "record_id": "id", "columns": {"first_name": "fn"},
                            "linkage": {"method": "match_keys"}}},
        "conflicts": {"default": default, "attributes": policies}})


@pytest.mark.parametrize("policy,first_name,nationality", [
    ("source_priority", "MARIA", "ESP"),
    ("most_frequent", "MARIA JOSE", "ESP"),
    ("most_recent", "MARIE", "MEX"),
    ("most_complete", "MARIA JOSE", "ESP"),   # nationality: equal lengths, falls to source priority
])
def test_each_policy_chooses_as_documented(con, policy, first_name, nationality):
    make_table(con, "linked", COLS, RECORDS)
    build_attribute_values(con, "linked", job_with({}, default=policy))
    chosen = dict(fetch_rows(con, "SELECT attribute, value FROM attribute_values WHERE chosen"))
    assert chosen["first_name"] == first_name and chosen["nationality"] == nationality
    assert chosen["dob"] == "1980-01-02"   # three records against one, and the latest record agrees
    assert fetch_rows(con, "SELECT count(*) FROM attribute_values WHERE chosen") == [(6,)]   # one per attribute
    assert {p for (p,) in fetch_rows(con, "SELECT DISTINCT policy FROM attribute_values")} == {policy}


def test_policy_per_attribute_and_every_value_kept(con):
    make_table(con, "linked", COLS, RECORDS)
    build_attribute_values(con, "linked", job_with({"first_name": "most_recent"}))
    rows = fetch_rows(con, "SELECT value, source, chosen, policy, n_records FROM attribute_values "
                      "WHERE attribute = 'first_name'", "value")
    assert rows == [("MARIA", "register", False, "most_recent", 1), ("MARIA JOSE", "tax", False, "most_recent", 2),
                    ("MARIE", "visas", True, "most_recent", 1)]


def test_conflict_rates_by_attribute_and_source_pair(con):
    make_table(con, "linked", COLS, RECORDS)
    build_attribute_values(con, "linked", job_with({}))
    rates = conflict_rates(con)
    assert rates["by_attribute"]["first_name"] == {"persons": 1, "conflicting": 1, "rate": 1.0}
    assert rates["by_attribute"]["sex"]["conflicting"] == 0
    pair = {tuple(r["sources"]): r for r in rates["by_source_pair"] if r["attribute"] == "dob"}
    assert pair[("register", "tax")]["conflicting"] == 0      # tax has 1980-01-02 among its values
    assert pair[("register", "visas")]["conflicting"] == 0
    nat = {tuple(r["sources"]): r["conflicting"] for r in rates["by_source_pair"] if r["attribute"] == "nationality"}
    assert nat == {("register", "tax"): 0, ("register", "visas"): 1, ("tax", "visas"): 1}


def test_priority_naming_an_unknown_source_is_a_clear_error(tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text("name: t\nbase: register\nhome_country: \"XSY\"\nsources:\n"
                   "  register: {path: r.csv, record_id: id, columns: {first_name: fn}}\n"
                   "conflicts: {priority: [register, taxx], attributes: {dob: most_recent}}\n")
    with pytest.raises(ConfigError, match=r"conflicts.priority\[1\].*unknown source 'taxx'"):
        load_job(job)
    job.write_text(job.read_text().replace("dob: most_recent", "height: most_recent"))
    with pytest.raises(ConfigError, match="conflicts.attributes"):
        load_job(job)
