"""Enlargement: the pooling keys through a job, and the hold-back on tiny tables."""

from spine import Job
from spine.enlarge import GROUPS, HELD_BACK, POOL, _hold_back
from spine.history import ensure_history_tables
from tests.conftest import fetch_rows, make_table
from tests.spine.test_linking_methods import TAX, write_enlarging_job


def test_typo_tolerant_keys_pool_one_person_and_keep_a_twin_apart(tmp_path):
    """Maja Soto's tax record, a visa with her surname misspelt (STOO) and one with day and month
    of birth swapped become one person; her twin Eva (same surname, dob and sex) stays another."""
    tax = TAX + "T7,,Maja,Soto,1983-04-07,F,\nT8,,Eva,Soto,1983-04-07,F,\n"
    visas = "id,nin,fn,sn,dob,sex,pc\nV5,,Maja,Stoo,1983-04-07,F,\nV6,,Maja,Soto,1983-07-04,F,\n"
    path = write_enlarging_job(tmp_path, tax=tax, visas=visas)
    result = Job.from_yaml(path).run()
    try:
        ids = dict(result.connection().execute("SELECT record_id, person_id FROM links").fetchall())
    finally:
        result.close()
    assert ids["T7"] == ids["V5"] == ids["V6"] is not None
    assert ids["T8"] not in (None, ids["T7"])


def test_hold_back_keeps_near_misses_out_but_not_clerical_non_matches_or_established_persons(con):
    """g1: a candidate at weight 0 for one of its two scored records (held back; its record of a
    source without a model does not vote). g2: the only weight is a pair a clerk rejected (not
    held). g3: a near miss, but the group holds a person enlarged in the previous run (not held).
    g4: a far candidate at -3 and a record with none (not held). g5: one near record of four, the
    others scored against nobody (not held: the group is mostly someone new)."""
    ensure_history_tables(con)
    make_table(con, POOL, {"pool_id": "VARCHAR", "match_weight": "DOUBLE", "reason": "VARCHAR"},
               [("t:1", 0.0, "below_threshold"), ("t:2", None, "no_candidate"),
                ("t:3", 2.5, "clerical_non_match"),
                ("t:4", 0.5, "below_threshold"), ("t:5", None, "no_candidate"),
                ("t:6", -3.0, "below_threshold"), ("t:7", None, "no_candidate"), ("t:12", None, "missing_id"),
                ("t:8", 1.0, "below_threshold"), ("t:9", None, "no_candidate"), ("t:10", -4.0, "below_threshold"),
                ("t:11", None, "no_candidate")])
    make_table(con, GROUPS, {"pool_id": "VARCHAR", "group_id": "VARCHAR"},
               [("t:1", "g1"), ("t:2", "g1"), ("t:3", "g2"), ("t:4", "g3"), ("t:5", "g3"),
                ("t:6", "g4"), ("t:7", "g4"), ("t:12", "g1"), ("t:8", "g5"), ("t:9", "g5"), ("t:10", "g5"),
                ("t:11", "g5")])
    con.execute("INSERT INTO previous__links VALUES ('t', '5', 'P', 'linked', 'enlarged')")
    held = _hold_back(con, -1.0)
    assert held == {"weight": -1.0, "groups": 1, "records": 3}
    assert fetch_rows(con, HELD_BACK, "pool_id") == [("t:1",), ("t:12",), ("t:2",)]
    assert {g for (g,) in fetch_rows(con, f"SELECT DISTINCT group_id FROM {GROUPS}")} == {"g2", "g3", "g4", "g5"}
    assert _hold_back(con, None)["groups"] == 0
