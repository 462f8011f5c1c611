"""Longitudinal updates: reruns keep person ids, the store keeps the link history, changes are reported.

A five-person register with tax and visas enlarging: Ida Lund (T6, V1) is in no register record
and becomes an enlarged person; each test changes the extracts and reruns the job in place.
"""

from pathlib import Path

import pytest
import yaml

from spine import Job
from tests.conftest import engine_on
from tests.spine.test_linking_methods import REGISTER, TAX, VISAS
from tests.spine.test_linking_methods import write_enlarging_job as write_job

def run(path: Path) -> tuple[dict[str, str | None], dict, list[tuple]]:
    """Person id per record, the change report, and the store's link history."""
    result = Job.from_yaml(path).run()
    try:
        con = engine_on(result.connection())
        ids = dict(con.execute("SELECT source || ':' || record_id, person_id FROM links").fetchall())
        history = con.execute("SELECT source, record_id, person_id, status, valid_from, valid_to "
                              "FROM history__links ORDER BY source, record_id, valid_from").fetchall()
        return ids, result.quality["changes"], history
    finally:
        result.close()


def test_rerun_with_the_same_inputs_keeps_every_id_and_changes_nothing(tmp_path):
    path = write_job(tmp_path)
    first_ids, first_changes, _ = run(path)
    assert first_changes == {"run": 1, "previous_run": None, "previous_started": None, "key_changed": False}
    ids, changes, history = run(path)
    assert ids == first_ids
    assert changes["run"] == 2 and changes["previous_run"] == 1 and not changes["key_changed"]
    assert changes["records"] == {}
    enlarged_and_base = len({v for v in ids.values() if v})
    assert changes["persons"] == {"new": 0, "retired": 0, "continuing": enlarged_and_base, "merged": 0, "split": 0,
                                  "enlarged_now_registered": 0}
    assert len(history) == len(ids) and all(row[4:] == (1, None) for row in history)   # one state, still current


def test_an_enlarged_person_keeps_its_id_when_an_earlier_record_joins(tmp_path):
    """T0 sorts before T6, so a rebuild would anchor Ida's id on T0; the update keeps her id."""
    path = write_job(tmp_path)
    before, _, _ = run(path)
    ida = before["tax:T6"]
    write_job(tmp_path, tax=TAX + "T0,,Ida,Lund,1985-01-01,F,F6\n")
    after, changes, _ = run(path)
    assert after["tax:T0"] == after["tax:T6"] == after["visas:V1"] == ida
    assert {k: v for k, v in after.items() if k != "tax:T0"} == before
    assert changes["records"] == {"new_record": 1} and changes["persons"]["new"] == 0


def test_a_person_who_registers_leaves_enlargement_and_the_change_is_reported(tmp_path):
    path = write_job(tmp_path)
    before, _, _ = run(path)
    write_job(tmp_path, register=REGISTER + "R6,106,Ida,Lund,1985-01-01,F,F6\n")
    after, changes, history = run(path)
    assert after["tax:T6"] == after["visas:V1"] == after["register:R6"] != before["tax:T6"]
    assert changes["records"] == {"new_record": 1, "relinked": 2}
    assert changes["persons"]["enlarged_now_registered"] == 1
    assert changes["persons"]["new"] == 1 and changes["persons"]["retired"] == 1
    ida_history = [row for row in history if row[:2] == ("tax", "T6")]
    assert ida_history == [("tax", "T6", before["tax:T6"], "linked", 1, 1),
                           ("tax", "T6", after["tax:T6"], "linked", 2, None)]


def test_a_split_person_keeps_the_id_with_most_records_and_the_other_part_gets_a_new_one(tmp_path):
    """Run 1: Ida's T6, V1, V3 are one person anchored on T6. Run 2: T6's date of birth is corrected to
    another day, so it parts from the visas; the visas keep the id, and T6, whose own hash is that id,
    gets a different one: two people must never share an id across runs."""
    path = write_job(tmp_path, visas=VISAS + "V3,,Ida,Lund,1985-01-01,F,\n")
    before, _, _ = run(path)
    ida = before["tax:T6"]
    assert before["visas:V1"] == before["visas:V3"] == ida
    write_job(tmp_path, tax=TAX.replace("T6,,Ida,Lund,1985-01-01", "T6,,Ida,Lund,1985-03-09"),
              visas=VISAS + "V3,,Ida,Lund,1985-01-01,F,\n")
    after, changes, _ = run(path)
    assert after["visas:V1"] == after["visas:V3"] == ida
    assert after["tax:T6"] not in (None, ida)
    assert changes["persons"]["split"] == 1 and changes["persons"]["new"] == 1
    assert changes["records"] == {"relinked": 1}


def test_a_new_key_is_reported_and_nothing_is_carried_over(tmp_path, monkeypatch):
    path = write_job(tmp_path)
    job = yaml.safe_load(path.read_text())
    job.update(demo=False, person_key_env="TEST_SPINE_KEY")
    path.write_text(yaml.safe_dump(job))
    monkeypatch.setenv("TEST_SPINE_KEY", "first key, at least thirty-two bytes")
    before, _, _ = run(path)
    monkeypatch.setenv("TEST_SPINE_KEY", "second key, at least thirty-two bytes")
    after, changes, history = run(path)
    assert changes["key_changed"] and "records" not in changes
    assert not set(before.values()) - {None} & set(after.values())
    assert {row[4] for row in history} == {1, 2}


def test_an_unreadable_previous_store_stops_the_run_before_any_work(tmp_path):
    from spine.errors import ConfigError
    path = write_job(tmp_path)
    result = Job.from_yaml(path).run()
    store = result.store_path
    result.close()
    store.write_bytes(b"not a database")
    with pytest.raises(ConfigError, match="previous store .* cannot be read"):
        Job.from_yaml(path).run()


def test_a_retired_id_is_never_given_to_another_person(tmp_path):
    """Run 1: T6, V1, V3 are Ida, id X (the hash of T6). Run 2: T6 parts (its date corrected), the
    visas keep X. Run 3: Ida registers and T6 is missing, so X retires. Run 4: T6 returns alone;
    its own hash is X, which belonged to the visas' person: it must get another id."""
    visas = VISAS + "V3,,Ida,Lund,1985-01-01,F,\n"
    moved = TAX.replace("T6,,Ida,Lund,1985-01-01,F,F6", "T6,,Ida,Lund,1985-03-09,F,")
    without_t6 = "".join(line + "\n" for line in TAX.splitlines() if not line.startswith("T6"))
    registered = REGISTER + "R6,106,Ida,Lund,1985-01-01,F,F6\n"
    path = write_job(tmp_path, visas=visas)
    x = run(path)[0]["tax:T6"]
    write_job(tmp_path, tax=moved, visas=visas)
    assert run(path)[0]["visas:V1"] == x
    write_job(tmp_path, register=registered, tax=without_t6, visas=visas)
    assert run(path)[0]["visas:V1"] != x
    write_job(tmp_path, register=registered, tax=moved, visas=visas)
    fourth, _, history = run(path)
    assert fourth["tax:T6"] not in (None, x)
    assert {(row[0], row[1]) for row in history if row[2] == x} == {("tax", "T6"), ("visas", "V1"), ("visas", "V3")}


def test_an_id_goes_to_the_group_that_chose_it_when_its_largest_heir_took_another(con):
    """Previous P = {a, b, c} and Q = {d, e, f, g}; now {a, b, d, e, f, g} is one group (it takes Q,
    four records against two) and c is alone: c keeps P rather than a new id."""
    from spine.history import carried_ids_sql, load_previous
    load_previous(con, Path("/nonexistent/store.duckdb"), "check")
    rows = [("t", r, "P") for r in "abc"] + [("t", r, "Q") for r in "defg"]
    con.executemany("INSERT INTO previous__links VALUES (?, ?, ?, 'linked', 'enlarged')", rows)
    con.execute("CREATE TABLE g (pool_id VARCHAR, group_id VARCHAR)")
    con.executemany("INSERT INTO g VALUES (?, ?)", [("t:c", "t:c")] + [(f"t:{r}", "t:a") for r in "abdefg"])
    con.execute("CREATE TABLE f AS SELECT DISTINCT group_id, 'fresh ' || group_id AS person_id FROM g")
    assert con.execute(carried_ids_sql("g", "f") + " ORDER BY 1").fetchall() == [("t:a", "Q", True), ("t:c", "P", True)]


def test_a_store_without_history_is_said_so_and_starts_one(tmp_path):
    import duckdb
    path = write_job(tmp_path)
    result = Job.from_yaml(path).run()
    store = result.store_path
    result.close()
    with duckdb.connect(str(store)) as con:
        con.execute("DROP TABLE history__runs; DROP TABLE history__links")
    _, changes, history = run(path)
    assert changes["previous_store_without_history"] and changes["run"] == 1 and "records" not in changes
    assert {row[4] for row in history} == {1}


def test_a_store_in_a_subfolder_of_the_output_folder_is_refused(tmp_path):
    from spine.errors import ConfigError
    path = write_job(tmp_path)
    job = yaml.safe_load(path.read_text())
    job["output"] = {"dir": "out", "store": "out/db/t.duckdb"}
    path.write_text(yaml.safe_dump(job))
    with pytest.raises(ConfigError, match="output.store .* subfolder of the output folder"):
        Job.from_yaml(path).run()
