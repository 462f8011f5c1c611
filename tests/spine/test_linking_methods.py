"""Each linkage method through the job YAML on a five-person register: what lands in links and
quality.json, and the clerical queue for identifier conflicts."""

from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from spine import Job
from spine.cli import app

REGISTER = """id,nin,fn,sn,dob,sex,pc
R1,101,Anna,Berg,1980-01-02,F,A1
R2,102,Omar,Haddad,1990-05-06,M,B2
R3,103,William,Smith,1975-03-04,M,C3
R4,104,Ole,Dahl,1960-07-08,M,D4
R5,105,Eva,Holm,2001-09-10,F,E5
"""
TAX = """id,nin,fn,sn,dob,sex,pc
T1,101,Anna,Berg,1980-01-02,F,A1
T2,,Omar,Haddad,1990-05-06,M,Z9
T3,,Bill,Smith,1975-03-04,M,C3
T4,104,Kari,Nordmann,1999-12-12,F,D4
T5,XYZ,Eva,Holm,2001-09-10,F,
T6,,Ida,Lund,1985-01-01,F,F6
"""
COLUMNS = {"national_id": "nin", "first_name": "fn", "surname": "sn", "dob": "dob", "sex": "sex", "postcode": "pc"}


def run(tmp_path: Path, linkage: dict):
    (tmp_path / "register.csv").write_text(REGISTER)
    (tmp_path / "tax.csv").write_text(TAX)
    job = {"name": "t", "base": "register", "home_country": "XSY", "demo": True, "sources": {
        "register": {"path": "register.csv", "record_id": "id", "columns": COLUMNS},
        "tax": {"path": "tax.csv", "record_id": "id", "columns": COLUMNS, "linkage": linkage}},
        "output": {"keep_intermediate": True}}   # the tests look into the working tables
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    result = Job.from_yaml(path).run()
    return path, result


def tax_links(result) -> dict[str, tuple]:
    rows = result.connection().execute(
        "SELECT l.record_id, r.record_id, l.status, l.method, l.reason FROM links AS l "
        "LEFT JOIN links AS r ON r.person_id = l.person_id AND r.source = 'register' "
        "WHERE l.source = 'tax'").fetchall()
    return {rec: rest for rec, *rest in rows for rest in [tuple(rest)]}


def test_match_keys_cascade_through_the_job(tmp_path):
    _, result = run(tmp_path, {"method": "match_keys"})
    try:
        links = tax_links(result)
        assert links["T1"] == ("R1", "linked", "deterministic", None)          # full key
        assert links["T2"] == ("R2", "linked", "deterministic", None)          # postcode differs
        assert links["T3"] == ("R3", "linked", "deterministic", None)          # BILL = WILLIAM
        assert links["T4"][1] == "unlinked" and links["T6"][1] == "unlinked"
        per_key = result.quality["linkage"]["tax"]["links_per_key"]
        assert per_key == {"full": 1, "name_dob_sex": 2, "nickname_dob_sex": 1}
    finally:
        result.close()


def test_identifier_conflict_goes_to_review_and_invalid_ids_are_named(tmp_path):
    path, result = run(tmp_path, {"method": "deterministic_id", "id_fields": ["national_id"],
                                  "id_patterns": {"national_id": "[0-9]{3}"},
                                  "id_check": {"action": "review"}})
    try:
        links = tax_links(result)
        assert links["T1"] == ("R1", "linked", "deterministic_id", None)
        assert links["T4"] == (None, "review", None, "id_conflict")    # 104 is Ole's, but dob and sex differ
        assert links["T5"] == (None, "unlinked", None, "invalid_id")
        assert links["T2"] == (None, "unlinked", None, "missing_id")
        metrics = result.quality["linkage"]["tax"]
        assert metrics["id_conflicts"] == 1 and metrics["reasons"]["invalid_id"] == 1
    finally:
        result.close()
    exported = tmp_path / "review.csv"
    cli = CliRunner().invoke(app, ["review", "export", str(path), "--out", str(exported)])
    assert cli.exit_code == 0, cli.output
    pairs = pd.read_csv(exported, dtype=str)
    assert pairs[["record_id", "person_first_name", "record_first_name"]].values.tolist() == [["T4", "OLE", "KARI"]]


def test_hybrid_one_to_one_never_gives_a_person_two_records(tmp_path):
    """Few labels (two identifier links) and a one-to-one constraint: the model must not hand a
    person taken by an identifier link to another record."""
    _, result = run(tmp_path, {"method": "hybrid", "id_fields": ["national_id"], "constraint": "one_to_one",
                               "threshold": 0.5})
    try:
        links = tax_links(result)
        assert links["T1"][:3] == ("R1", "linked", "deterministic_id")
        persons = [v[0] for v in links.values() if v[1] == "linked"]
        assert len(persons) == len(set(persons))
        assert len(links) == 6 and result.quality["accounting"]["passed"]
        assert result.quality["linkage"]["tax"]["labels"] == 1
    finally:
        result.close()


def test_hybrid_scores_identifier_links_only_in_its_assessment_sample(tmp_path):
    """The records identifiers leave undecided are scored and decided as when every record is;
    an identifier link outside the sample is not scored and has no match probability."""
    outcomes = {}
    for sample in (None, 0, 1):
        folder = tmp_path / f"sample_{sample}"
        folder.mkdir()
        _, result = run(folder, {"method": "hybrid", "id_fields": ["national_id"], "threshold": 0.5,
                                 "assessment_sample": sample})
        try:
            con = result.connection()
            scored = {r[0] for r in con.execute("SELECT DISTINCT left_id FROM scored__tax").fetchall()}
            probability = con.execute("SELECT match_probability FROM links WHERE record_id = 'T1'").fetchall()[0][0]
            outcomes[sample] = (tax_links(result), scored, probability,
                                result.quality["linkage"]["tax"]["assessment_on_id_links"])
        finally:
            result.close()
    (links_all, scored_all, p_all, assessed_all), (links_none, scored_none, p_none, assessed_none), sampled = (
        outcomes.values())
    assert links_none == links_all and links_all["T1"][:3] == ("R1", "linked", "deterministic_id")
    assert "T1" in scored_all and scored_none == scored_all - {"T1"} and "T2" in scored_none
    assert p_all is not None and p_none is None
    assert assessed_all["assessed_records"] == assessed_all["id_linked_records"] == 1
    assert assessed_none["assessed_records"] == 0 and assessed_none["id_linked_records"] == 1
    assert sampled[:3] == (links_all, scored_all, p_all) and sampled[3]["assessed_records"] == 1


REGISTER_WITH_DUPLICATE = REGISTER + "R6,106,Bill,Smith,1975-03-04,M,C3\nR7,107,Anna,Berg,1980-01-02,F,Q9\n"


def run_with_register(tmp_path: Path, register: str, **job_changes):
    (tmp_path / "register.csv").write_text(register)
    (tmp_path / "tax.csv").write_text(TAX)
    job = {"name": "t", "base": "register", "home_country": "XSY", "demo": True, **job_changes, "sources": {
        "register": {"path": "register.csv", "record_id": "id", "columns": COLUMNS},
        "tax": {"path": "tax.csv", "record_id": "id", "columns": COLUMNS,
                "linkage": {"method": "match_keys"}}}}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return Job.from_yaml(path).run()


def test_people_registered_twice_are_merged_or_reported_when_asked(tmp_path):
    """R6 is William Smith (R3) again under a nickname; R7 is another Anna Berg born the same day
    but living elsewhere: a namesake, never paired."""
    (tmp_path / "a").mkdir()
    report = run_with_register(tmp_path / "a", REGISTER_WITH_DUPLICATE, base_deduplication={"action": "report"})
    try:
        found = report.quality["linkage"]["base_duplicates"]
        assert found["pairs"] == 1 and found["pairs_per_key"] == {"nickname_dob_sex_postcode": 1}
        assert report.df("persons").shape[0] == 7
        assert tax_links(report)["T3"][:2] == ("R6", "linked")          # Bill Smith: the R6 registration
    finally:
        report.close()
    (tmp_path / "b").mkdir()
    merged = run_with_register(tmp_path / "b", REGISTER_WITH_DUPLICATE)   # the default
    try:
        assert merged.quality["linkage"]["base_duplicates"]["persons_merged"] == 1
        assert merged.quality["linkage"]["base_duplicates"]["pairs_not_merged"] == {}
        assert merged.df("persons").shape[0] == 6
        links = merged.df("links").set_index("record_id")
        assert links.loc["R3", "person_id"] == links.loc["R6", "person_id"]
        assert links.loc["R6", "reason"] == "merged_duplicate"
        assert links.loc["T3", "person_id"] == links.loc["R3", "person_id"]   # one person, both records
        assert merged.quality["accounting"]["passed"]
    finally:
        merged.close()


VISAS = "id,nin,fn,sn,dob,sex,pc\nV1,,Ida,Lund,1985-01-01,F,\nV2,,Zed,Nobody,1970-01-01,M,\n"


def write_enlarging_job(folder: Path, register: str = REGISTER, tax: str = TAX, visas: str = VISAS) -> Path:
    """The five-person register with tax and visas linked on match-keys, both enlarging."""
    (folder / "register.csv").write_text(register)
    (folder / "tax.csv").write_text(tax)
    (folder / "visas.csv").write_text(visas)
    enlarging = {"record_id": "id", "columns": COLUMNS, "enlarge": True, "linkage": {"method": "match_keys"}}
    # the visas file has no national id or postcode values: a column blank in every row is an error
    visa_columns = {field: column for field, column in COLUMNS.items() if field not in ("national_id", "postcode")}
    sources = {"register": {"path": "register.csv", "record_id": "id", "columns": COLUMNS},
               "tax": {"path": "tax.csv", **enlarging},
               "visas": {"path": "visas.csv", **enlarging, "columns": visa_columns}}
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "base": "register", "home_country": "XSY", "demo": True,
                                    "sources": sources}))
    return path


def test_unregistered_person_seen_in_two_sources_becomes_one_enlarged_person(tmp_path):
    """T6 (Ida Lund) is in no register record; her tax record and her visa (same names, dob, sex)
    make one new person. Records that match nobody stay unlinked where the source does not enlarge."""
    path = write_enlarging_job(tmp_path)
    result = Job.from_yaml(path).run()
    try:
        links = result.df("links").set_index("record_id")
        assert links.loc["T6", "method"] == "enlarged" and links.loc["V1", "method"] == "enlarged"
        assert links.loc["T6", "person_id"] == links.loc["V1", "person_id"]
        assert links.loc["V2", "method"] == "enlarged" and links.loc["V2", "person_id"] != links.loc["V1", "person_id"]
        persons = result.df("persons")
        assert (persons.origin == "enlarged").sum() == 3          # Ida, Zed, and Kari (T4, no match)
        assert persons.loc[persons.person_id == links.loc["T6", "person_id"], "first_name"].item() == "IDA"
        assert result.quality["linkage"]["enlargement"]["persons"] == 3
        assert result.quality["accounting"]["passed"]
    finally:
        result.close()


def test_the_base_register_cannot_enlarge_itself(tmp_path):
    from spine.config import ConfigError, load_job
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "base": "register", "home_country": "XSY", "sources": {
        "register": {"path": "register.csv", "record_id": "id", "columns": COLUMNS, "enlarge": True}}}))
    with pytest.raises(ConfigError, match="sources.register.enlarge  the base register is the spine"):
        load_job(path)


def test_base_deduplication_key_on_an_unmapped_field_is_a_clear_error(tmp_path):
    from spine.config import ConfigError, load_job
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "base": "register", "home_country": "XSY", "sources": {
        "register": {"path": "register.csv", "record_id": "id", "columns": {"first_name": "fn"}}},
        "base_deduplication": {"keys": [{"name": "k", "fields": ["first_name", "passport_no"]}]}}))
    with pytest.raises(ConfigError, match=r"base_deduplication.keys\[0\].*uses passport_no, which source 'register'"):
        load_job(path)


def test_a_merged_persons_pairs_count_once_with_the_best_of_its_register_records():
    """Person P was merged from register records r1 and r2 (spine.dedupe); Q has one record. Tax
    record t1 was scored against r1, r2 and q1: its candidates are P once (the better of r1 and
    r2, the smaller id on a tie) and Q; t2's pairs with r1 and r2 tie."""
    from spine.linking import candidate_pairs_sql
    from tests.conftest import engine_on, fetch_rows, make_table
    con = engine_on()
    make_table(con, "scored", {"left_id": "VARCHAR", "right_id": "VARCHAR", "match_probability": "DOUBLE",
                               "match_weight": "DOUBLE", "gamma_dob": "INTEGER"},
               [("t1", "r1", 0.6, 1.0, 1), ("t1", "r2", 0.9, 3.0, 2), ("t1", "q1", 0.2, -2.0, 0),
                ("t2", "r2", 0.8, 2.0, 1), ("t2", "r1", 0.8, 2.0, 3)])
    make_table(con, "reference", {"record_id": "VARCHAR", "entity_id": "VARCHAR"},
               [("r1", "P"), ("r2", "P"), ("q1", "Q")])
    assert fetch_rows(con, candidate_pairs_sql("scored", "reference"), "record_id, entity_id") == [
        ("t1", "P", 0.9, 3.0, 2), ("t1", "Q", 0.2, -2.0, 0), ("t2", "P", 0.8, 2.0, 3)]
