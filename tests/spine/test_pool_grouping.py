"""Grouping the enlargement pool (spine.pool_grouping): keys that never need a field a record
lacks, oversized key groups reported, and the probabilistic pool model on a world where tax has
no sex column (the case that made 3.3 times too many persons)."""

import duckdb
import pytest
import yaml

from spine.pool_grouping import MAX_KEY_GROUP, NAME_KEYS, key_edges
from tests.conftest import engine_on

COLUMNS = sorted({c for key in NAME_KEYS for c in key} | {"sex", "passport_no", "national_id"})


def pool(con, rows):
    """A pool table: rows of (pool_id, first_name, surname, dob, sex); derived keys from those."""
    con.execute("CREATE TABLE raw (pool_id VARCHAR, first_name VARCHAR, surname VARCHAR, dob DATE, sex VARCHAR)")
    con.executemany("INSERT INTO raw VALUES (?, ?, ?, ?, ?)", rows)
    con.execute("""CREATE TABLE pool AS SELECT pool_id, first_name, surname, dob, sex, 'day' AS dob_known_to,
        first_name AS first_name_canonical, left(first_name, 1) AS first_initial,
        first_name AS first_name_metaphone, surname AS surname_metaphone, surname AS surname_nysiis,
        strftime(dob, '%Y') || '-' || least(month(dob), day(dob)) || '-' || greatest(month(dob), day(dob)) AS dob_unordered,
        CAST(NULL AS VARCHAR) AS passport_no, CAST(NULL AS VARCHAR) AS national_id FROM raw""")


def groups(con, strict=False):
    edges, report = key_edges(con, "pool", strict=strict)
    pairs = con.execute(f"SELECT DISTINCT least(a, b), greatest(a, b) FROM ({edges}) WHERE a <> b").fetchall()
    # connected components in Python: a handful of rows in a test
    parent = {p: p for (p,) in con.execute("SELECT pool_id FROM pool").fetchall()}

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x
    for a, b in pairs:
        parent[find(a)] = find(b)
    found = {}
    for p in parent:
        found.setdefault(find(p), set()).add(p)
    return sorted(sorted(g) for g in found.values()), report


def test_a_record_without_sex_joins_a_key_group_whose_sexes_agree():
    """Tax has no sex column: its records of one woman join her visa (same names and dob)."""
    con = engine_on()
    pool(con, [("visa:1", "IDA", "LUND", "1985-01-01", "f"), ("tax:1", "IDA", "LUND", "1985-01-01", None),
               ("tax:2", "IDA", "LUND", "1985-01-01", None), ("visa:2", "OMAR", "HADDAD", "1990-05-06", "m")])
    found, _ = groups(con)
    assert found == [["tax:1", "tax:2", "visa:1"], ["visa:2"]]


def test_where_a_key_groups_sexes_disagree_a_record_without_sex_joins_neither():
    """A brother and a sister with the same initial, surname and dob: the initial key splits by sex,
    and a tax record with that initial and no sex is joined to neither by it."""
    con = engine_on()
    pool(con, [("visa:1", "JAN", "BERG", "2001-02-03", "m"), ("visa:2", "JANA", "BERG", "2001-02-03", "f"),
               ("tax:1", "JO", "BERG", "2001-02-03", None)])
    found, _ = groups(con)
    assert found == [["tax:1"], ["visa:1"], ["visa:2"]]


def test_the_strict_floor_under_the_model_keeps_exact_and_nickname_keys_only():
    """Under the pool model only exact (or nickname-resolved) names with the dob join by key: an
    initial alone (FATMA / FATIMA) is the model's to weigh."""
    con = engine_on()
    pool(con, [("visa:1", "FATIMA", "HADDAD", "1971-01-01", "f"), ("tax:1", "FATMA", "HADDAD", "1971-01-01", None),
               ("tax:2", "FATIMA", "HADDAD", "1971-01-01", None)])
    assert groups(con)[0] == [["tax:1", "tax:2", "visa:1"]]
    assert groups(con, strict=True)[0] == [["tax:1"], ["tax:2", "visa:1"]]


def test_an_oversized_key_group_is_reported_and_joins_nothing_on_that_key():
    con = engine_on()
    rows = [(f"tax:{i}", "JOHN", "SMITH", "1970-01-01", "m") for i in range(MAX_KEY_GROUP + 5)]
    pool(con, rows + [("visa:1", "ANNA", "BERG", "1980-01-02", "f"), ("tax:x", "ANNA", "BERG", "1980-01-02", None)])
    found, report = groups(con)
    assert ["tax:x", "visa:1"] in found
    assert sum(len(g) == 1 for g in found) == MAX_KEY_GROUP + 5       # the common key joined nobody
    oversized = report["oversized_key_groups"]
    assert oversized["first_name + surname + dob"] == {"groups": 1, "records": MAX_KEY_GROUP + 5,
                                                       "largest": MAX_KEY_GROUP + 5}
    assert "JOHN" not in str(report)                                 # the key, never its values


@pytest.mark.parametrize("method", ["probabilistic", "keys"])
def test_enlargement_where_tax_has_no_sex_makes_about_as_many_persons_as_are_absent(tmp_path, method):
    """The hard_country world (tax without sex, other fields degraded) at 3,000 persons: before the
    pool ignored missing fields, every tax year of an unregistered worker was a person (ratio 3.3
    at 20k). The persons created (enlarged and family) over the people truly absent from the
    register must be within 10%, and the pool model's choices are in quality.json."""
    from benchmarks.common import write_demo_job
    from benchmarks.robustness import adapt_job
    from spine import Job
    from spine.synthetic import generate
    from spine.synthetic.regimes import named_regime

    path = write_demo_job(tmp_path, enlarge=True)
    universe = generate(3000, 1, tmp_path / "data", regime=named_regime("hard_country"))
    adapt_job(path, universe.sources, validation=False)
    job = yaml.safe_load(path.read_text())
    job["enlargement"] = {"method": method}
    job["flows"].pop("uncertainty", None)       # linkage is what is tested: no replicates
    path.write_text(yaml.safe_dump(job))
    result = Job.from_yaml(path).run()
    try:
        con = engine_on(result.connection())
        records = f"read_csv('{universe.out_dir / 'truth' / 'records.csv'}', all_varchar = true)"
        absent = con.execute(f"""SELECT count(DISTINCT person_key) FROM {records} WHERE person_key NOT IN
                                 (SELECT person_key FROM {records} WHERE source = 'register')""").fetchone()[0]
        created = con.execute("SELECT count(*) FROM persons WHERE origin IN ('enlarged', 'family')").fetchone()[0]
        assert 0.9 <= created / absent <= 1.1, (created, absent)
        grouping = result.quality["linkage"]["enlargement"]["grouping"]
        assert grouping["method"] == method
        if method == "probabilistic":
            model = grouping["probabilistic"]
            assert model["used"] and "sex" in model["compared"] and model["fill_rates"]["sex"] < 1
            report = result.report_path.read_text(encoding="utf-8")
            assert "<h3>Enlargement</h3>" in report and "The pool model compared" in report
        tax_choice = result.quality["linkage"]["tax"]["probabilistic"]["model_choice"]
        assert tax_choice["fields"]["first_name"]["compared"] and "sex" not in tax_choice["comparisons"]
    finally:
        result.close()


def test_under_the_model_a_placeholder_date_makes_no_key():
    """Two records of WEI WANG "1 January 1972" where the source writes unknown days so: the date
    says only the year, so the exact-name key does not join them (the model weighs them)."""
    con = engine_on()
    pool(con, [("visa:1", "WEI", "WANG", "1972-01-01", "m"), ("tax:1", "WEI", "WANG", "1972-01-01", None),
               ("visa:2", "ANNA", "BERG", "1980-03-02", "f"), ("tax:2", "ANNA", "BERG", "1980-03-02", None)])
    con.execute("UPDATE pool SET dob_known_to = 'year' WHERE surname = 'WANG'")
    assert groups(con, strict=True)[0] == [["tax:1"], ["tax:2", "visa:2"], ["visa:1"]]
    assert groups(con)[0] == [["tax:1", "visa:1"], ["tax:2", "visa:2"]]    # the full cascade: pool_clusters decides
