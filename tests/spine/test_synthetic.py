"""The synthetic universe: its file contract, reproducibility and every kind of error it injects."""

from __future__ import annotations

import hashlib

import duckdb
import pytest

from spine.synthetic import Regime, generate
from tests.conftest import engine_on

COLUMNS = {
    "register": ["record_id", "national_id", "passport_no", "first_name", "surname", "dob", "sex", "nationality",
                 "country_of_birth", "postcode", "registration_date", "deregistration_date",
                 "deregistration_reason"],
    "tax": ["record_id", "national_id", "first_name", "surname", "dob", "sex", "tax_year", "postcode"],
    "benefits": ["record_id", "national_id", "first_name", "surname", "dob", "sex", "benefit_type", "start_date",
                 "end_date", "claim_id"],
    "child_benefit_children": ["record_id", "claim_id", "first_name", "surname", "dob", "sex"],
    "crossings": ["record_id", "passport_no", "first_name", "surname", "dob", "sex", "nationality",
                  "crossing_date", "direction"],
    "visas": ["record_id", "passport_no", "national_id", "first_name", "surname", "dob", "sex", "nationality",
              "visa_type", "start_date", "end_date", "granted_in_country"],
    "education": ["record_id", "national_id", "first_name", "surname", "dob", "sex", "start_date", "end_date"],
}


@pytest.fixture(scope="module")
def universe(tmp_path_factory):
    return generate(3_000, seed=7, out_dir=tmp_path_factory.mktemp("u"))


@pytest.fixture(scope="module")
def db(universe):
    con = engine_on()
    for name, path in {**universe.sources, **{f"truth_{k}": v for k, v in universe.truth.items()}}.items():
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_csv('{path}', all_varchar = true)")
    yield con
    con.close()


def one(con, sql):
    return con.execute(sql).fetchone()[0]


def test_files_and_columns(universe, db):
    assert set(universe.sources) == set(COLUMNS)
    for name, columns in COLUMNS.items():
        assert [r[0] for r in db.execute(f"DESCRIBE {name}").fetchall()] == columns, name
        assert one(db, f"SELECT count(*) FROM {name}") > 0, name
        assert one(db, f"SELECT count(*) - count(DISTINCT record_id) FROM {name}") == 0, name


def test_truth_covers_every_record_once(universe, db):
    for name in COLUMNS:
        missing = one(db, f"SELECT count(*) FROM {name} AS s ANTI JOIN truth_records AS t "
                          f"ON t.source = '{name}' AND t.record_id = s.record_id")
        assert missing == 0, name
    assert one(db, "SELECT count(*) - count(DISTINCT (source, record_id)) FROM truth_records") == 0
    total = sum(one(db, f"SELECT count(*) FROM {n}") for n in COLUMNS)
    assert one(db, "SELECT count(*) FROM truth_records") == total


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    def digest(folder):
        return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.rglob("*.csv")))).hexdigest()
    generate(300, seed=3, out_dir=tmp_path / "a")
    generate(300, seed=3, out_dir=tmp_path / "b")
    generate(300, seed=4, out_dir=tmp_path / "c")
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")


def test_foreigners_often_lack_national_id_in_admin_sources(db):
    share = one(db, "SELECT avg((national_id IS NULL)::INT) FROM visas")
    assert 0.4 < share < 0.95   # 60% missing among those who have one, plus the never-registered
    natives = one(db, "SELECT avg((t.national_id IS NULL)::INT) FROM tax AS t JOIN truth_records AS r "
                      "ON r.source = 'tax' AND r.record_id = t.record_id JOIN truth_persons AS p USING (person_key) "
                      "WHERE p.kind = 'native'")
    assert natives < 0.05


def test_name_errors_present(db):
    # transliteration: a known variant appears for a foreign name
    assert one(db, "SELECT count(*) FROM crossings WHERE first_name IN ('Muhammad', 'Mohamed', 'Yusuf', 'Irina')") > 0
    # typos and nicknames: a share of tax first names differ from the true first name
    differ = one(db, "SELECT avg((t.first_name <> p.first_name)::INT) FROM tax AS t JOIN truth_records AS r "
                     "ON r.source = 'tax' AND r.record_id = t.record_id JOIN truth_persons AS p USING (person_key)")
    assert 0.02 < differ < 0.3
    # marriage: some women's register surname differs from their birth surname
    assert one(db, "SELECT count(*) FROM register AS g JOIN truth_records AS r ON r.source = 'register' "
                   "AND r.record_id = g.record_id JOIN truth_persons AS p USING (person_key) "
                   "WHERE p.sex = 'f' AND p.kind = 'native' AND g.surname <> p.surname") > 0


def test_dates_and_codes_in_the_source_formats(db):
    assert one(db, "SELECT count(*) FROM tax WHERE NOT regexp_full_match(dob, '\\d{2}/\\d{2}/\\d{4}')") == 0
    assert one(db, "SELECT count(DISTINCT sex) FROM tax WHERE sex NOT IN ('1', '2')") == 0
    assert one(db, "SELECT count(*) FROM crossings WHERE direction NOT IN ('IN', 'OUT')") == 0
    miscoded = one(db, "SELECT count(*) FROM crossings AS c JOIN truth_records AS r ON r.source = 'crossings' "
                       "AND r.record_id = c.record_id JOIN truth_persons AS p USING (person_key) "
                       "WHERE c.nationality <> p.nationality")
    assert miscoded > 0


def test_forced_error_rates_show_up(tmp_path):
    rates = Regime(dob_day_month_swap=0.5, exit_recording=1.0, duplicate_crossing=0.2)
    u = generate(1_000, seed=2, out_dir=tmp_path, regime=rates)
    con = engine_on()
    src = lambda n: f"read_csv('{u.sources[n]}', all_varchar = true)"  # noqa: E731
    truth = f"read_csv('{u.truth['records']}', all_varchar = true)"
    persons = f"read_csv('{u.truth['persons']}', all_varchar = true)"
    swapped = one(con, f"SELECT avg((s.dob <> p.dob)::INT) FROM {src('benefits')} AS s JOIN {truth} AS r "
                       f"ON r.source = 'benefits' AND r.record_id = s.record_id JOIN {persons} AS p USING (person_key)")
    assert 0.12 < swapped < 0.25   # half the records x P(day <= 12 and day != month) ~ 0.18
    dupes = one(con, f"SELECT count(*) FROM (SELECT r.person_key, c.crossing_date, c.direction FROM {src('crossings')} AS c "
                     f"JOIN {truth} AS r ON r.source = 'crossings' AND r.record_id = c.record_id "
                     f"GROUP BY ALL HAVING count(*) > 1)")
    assert dupes > 0


def test_register_misses_never_registered_and_claim_only_children(db):
    absent = one(db, "SELECT count(*) FROM truth_persons WHERE in_register = 'false' AND kind IN ('immigrant', 'dependant')")
    assert absent > 0
    leaked = one(db, "SELECT count(*) FROM truth_persons AS p JOIN truth_records AS r USING (person_key) "
                     "WHERE p.in_register = 'false' AND r.source = 'register'")
    assert leaked == 0
    # children only on a claim: listed on a claim, no crossing, no visa, no education
    only_claim = one(db, """SELECT count(*) FROM truth_persons AS p WHERE kind = 'dependant' AND in_register = 'false'
        AND person_key IN (SELECT person_key FROM truth_records WHERE source = 'child_benefit_children')
        AND person_key NOT IN (SELECT person_key FROM truth_records WHERE source IN ('crossings', 'visas', 'education'))""")
    assert only_claim > 0


def test_truth_events_are_long_term(db):
    # every immigration is followed by >= 365 days of residence (from the spells)
    short = one(db, """SELECT count(*) FROM truth_events AS e JOIN truth_spells AS s
        ON s.person_key = e.person_key AND s.start_date = e.date
        WHERE e.event = 'immigration' AND s.end_date IS NOT NULL
          AND datediff('day', CAST(s.start_date AS DATE), CAST(s.end_date AS DATE)) < 365""")
    assert short == 0
    assert one(db, "SELECT count(*) FROM truth_events AS e JOIN truth_persons AS p USING (person_key) "
                   "WHERE p.kind = 'visitor'") == 0
    assert one(db, "SELECT count(*) FROM truth_events WHERE derived_via = 'family'") > 0
    # visa transitions in country exist, and visit visas
    assert one(db, "SELECT count(*) FROM visas WHERE granted_in_country = 'true'") > 0
    assert one(db, "SELECT count(*) FROM visas WHERE visa_type = 'visit'") > 0


def test_rejects_tiny_or_unknown_requests(tmp_path):
    with pytest.raises(ValueError, match="at least 100"):
        generate(10, seed=1, out_dir=tmp_path)
    with pytest.raises(ValueError, match="file_format"):
        generate(200, seed=1, out_dir=tmp_path, file_format="xlsx")  # type: ignore[arg-type]


def test_parquet_format(tmp_path):
    u = generate(200, seed=1, out_dir=tmp_path, file_format="parquet")
    assert all(p.suffix == ".parquet" for p in u.sources.values())
    con = engine_on()
    assert one(con, f"SELECT count(*) FROM read_parquet('{u.sources['tax']}')") > 0


def test_validation_sample_is_true_moves_of_a_sample_named_by_one_record(universe, db, tmp_path):
    db.execute(f"CREATE VIEW validation AS SELECT * FROM read_csv('{universe.validation}', all_varchar = true)")
    people = one(db, "SELECT count(DISTINCT (source, record_id)) FROM validation")
    with_records = one(db, "SELECT count(DISTINCT person_key) FROM truth_records")
    assert 0.035 * with_records < people < 0.065 * with_records          # 5% of the people with a record
    # each person once, by the register record when they have one, with their true attributes and moves
    named = """SELECT v.*, r.person_key FROM validation AS v
               JOIN truth_records AS r ON r.source = v.source AND r.record_id = v.record_id"""
    assert one(db, f"SELECT count(*) FROM ({named})") == one(db, "SELECT count(*) FROM validation")
    assert one(db, f"SELECT count(DISTINCT person_key) FROM ({named})") == people
    assert one(db, f"""SELECT count(*) FROM ({named}) AS v WHERE v.source <> 'register' AND person_key IN
                       (SELECT person_key FROM truth_records WHERE source = 'register')""") == 0
    assert one(db, f"""SELECT count(*) FROM ({named}) AS v JOIN truth_persons AS p USING (person_key)
                       WHERE v.dob <> p.dob OR v.sex IS DISTINCT FROM p.sex""") == 0
    moves = one(db, f"""SELECT count(*) FROM truth_events WHERE person_key IN
                        (SELECT person_key FROM ({named}))""")
    assert one(db, "SELECT count(event) FROM validation") == moves > 0
    assert one(db, "SELECT count(*) FROM validation WHERE event IS NULL") > 0     # people who never moved
    # its own random stream: the sources are the same without it
    bare = generate(3_000, seed=7, out_dir=tmp_path / "bare", validation_fraction=0)
    assert bare.validation is None
    for name in ("register", "crossings", "visas"):
        assert hashlib.sha256(bare.sources[name].read_bytes()).hexdigest() == \
            hashlib.sha256(universe.sources[name].read_bytes()).hexdigest()
