"""People registered twice in the base register, as a job meets them: merged by default into one
person, whose two registrations are one life (spine.dedupe)."""

from __future__ import annotations

from spine import Job
from tests.spine.small_jobs import linked_source, write_small_job

#: Lars left in 2018 (deregistered for emigration) and came back in 2021, registered anew under a
#: new number; Jon and Jens are twins at one address, the same first initial (paired on it alone),
#: and Jon left quietly after 2017; Eva stayed all along; Bill Smith is registered three times, as
#: Bill, William (a nickname pair) and Wiliam (a phonetic pair with William): one chain.
REGISTER = ("id,nin,fn,sn,dob,sex,pc,reg,dereg,why\n"
            "R1,101,Lars,Berg,1970-01-01,M,A1,1970-01-01,2018-03-01,emigration\n"
            "R2,201,Lars,Berg,1970-01-01,M,A1,2021-06-01,,\n"
            "R3,103,Jon,Dahl,1990-05-05,M,B2,1990-05-05,,\n"
            "R4,104,Jens,Dahl,1990-05-05,M,B2,1990-05-05,,\n"
            "R5,105,Eva,Holm,1980-02-02,F,C3,1980-02-02,,\n"
            "R6,106,Bill,Smith,1965-06-06,M,D4,1965-06-06,,\n"
            "R7,107,William,Smith,1965-06-06,M,D4,2016-01-01,,\n"
            "R8,108,Wiliam,Smith,1965-06-06,M,D4,2019-01-01,,\n")
TAX = "id,nin,fn,sn,dob,sex,start,end\n" + "".join(
    f"T{nin}{year},{nin},{fn},{sn},{dob},{sex},{year}-01-01,{year}-12-31\n"
    for nin, fn, sn, dob, sex, years in [
        ("101", "Lars", "Berg", "1970-01-01", "M", range(2015, 2018)),
        ("201", "Lars", "Berg", "1970-01-01", "M", range(2022, 2025)),
        ("103", "Jon", "Dahl", "1990-05-05", "M", range(2015, 2018)),
        ("104", "Jens", "Dahl", "1990-05-05", "M", range(2015, 2025)),
        ("105", "Eva", "Holm", "1980-02-02", "F", range(2015, 2025)),
        ("106", "Bill", "Smith", "1965-06-06", "M", range(2015, 2025))]
    for year in years)
LIFE = {"sources": ["register", "tax"], "covers_days": {"tax": 365}}


def run_job(tmp_path, **sections):
    register_columns = {"national_id": "nin", "postcode": "pc", "end_date": "dereg", "event_type": "why"}
    sources = {"tax": linked_source("tax", {"national_id": "nin", "start_date": "start", "end_date": "end"})}
    path = write_small_job(tmp_path, {"register": REGISTER, "tax": TAX}, register_columns, sources,
                           rules={"signs_of_life": LIFE}, **sections)
    return Job.from_yaml(path).run()


def person_events(result):
    """Each register record's person, and that person's events (event, date)."""
    register = result.df("links").query("source == 'register'").set_index("record_id")
    assert set(register.index[register.reason == "merged_duplicate"]) <= {"R2", "R7", "R8"}   # later records move
    person = register.person_id
    events = result.df("events")
    return person, {rid: sorted((e.event, str(e.date)[:10]) for e in events.itertuples() if e.person_id == pid)
                    for rid, pid in person.items()}


def test_a_returner_registered_anew_is_one_person_who_left_and_came_back(tmp_path):
    result = run_job(tmp_path)
    try:
        person, events = person_events(result)
        duplicates = result.quality["linkage"]["base_duplicates"]
        persons = result.df("persons").shape[0]
    finally:
        result.close()
    assert person["R1"] == person["R2"]
    assert [e for e, _ in events["R1"]] == ["emigration", "immigration"]
    assert events["R1"][1] == ("immigration", "2021-06-01")          # back at the new registration
    assert person["R6"] == person["R7"] == person["R8"]                  # the chain: one person, R6's
    # twins paired on the first initial alone stay two persons in every respect: Jon's silence is
    # his, not bridged by his brother's tax years; the pair is reported
    assert person["R3"] != person["R4"] and events["R4"] == []
    assert [e for e, _ in events["R3"]] == ["emigration"]
    assert duplicates["pairs_not_merged"] == {"initial_surname_dob_sex_postcode": 1}
    assert [set(pair) for pair in duplicates["person_pairs"]] == [{person["R3"], person["R4"]}]
    assert duplicates["persons_merged"] == 3                           # R2, and two of R6-R8
    assert persons == 5
    assert events["R5"] == events["R6"] == []


def test_reported_duplicates_stay_two_persons_and_the_return_is_not_seen(tmp_path):
    """What merging buys: kept apart, the new registration of a person born here is no arrival."""
    result = run_job(tmp_path, base_deduplication={"action": "report"})
    try:
        person, events = person_events(result)
        duplicates = result.quality["linkage"]["base_duplicates"]
    finally:
        result.close()
    assert person["R1"] != person["R2"] and len({person["R6"], person["R7"], person["R8"]}) == 3
    assert "immigration" not in [e for e, _ in events["R2"]]
    assert events["R3"] == []                                          # his twin's activity read as his
    assert "persons_merged" not in duplicates and duplicates["pairs"] == 4 and len(duplicates["person_pairs"]) == 4


def test_a_merge_outlives_a_move_of_house_in_the_next_run(tmp_path):
    """Lars's new registration moves to another postcode before the second run: no key finds the
    pair any more, but the previous run made it one person, and it stays one under the same id.
    Without that run (a first run on the moved register) the two are two persons."""
    first = run_job(tmp_path)
    try:
        before, _ = person_events(first)
    finally:
        first.close()
    moved = REGISTER.replace("R2,201,Lars,Berg,1970-01-01,M,A1,", "R2,201,Lars,Berg,1970-01-01,M,A9,")
    assert moved != REGISTER
    (tmp_path / "register.csv").write_text(moved)
    second = Job.from_yaml(tmp_path / "job.yaml").run()
    try:
        after, events = person_events(second)
        duplicates = second.quality["linkage"]["base_duplicates"]
    finally:
        second.close()
    assert after["R1"] == after["R2"] == before["R1"]
    assert [e for e, _ in events["R2"]] == ["emigration", "immigration"]
    assert duplicates["pairs_from_the_previous_run"] == 2                # R1-R2, and R6-R8 of the chain
    assert after["R6"] == after["R7"] == after["R8"] == before["R6"]
    assert after["R3"] != after["R4"]                                     # the twins were never merged

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for name in ("register.csv", "tax.csv", "job.yaml"):
        (fresh / name).write_text((tmp_path / name).read_text())
    alone = Job.from_yaml(fresh / "job.yaml").run()
    try:
        apart, _ = person_events(alone)
        assert alone.quality["linkage"]["base_duplicates"]["pairs_from_the_previous_run"] == 0
    finally:
        alone.close()
    assert apart["R1"] != apart["R2"]
