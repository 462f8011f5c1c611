"""Sources: numeric ids, blank columns, silent failures, odd values, and files that are not tables.

Each case is a defect of issue 18: a source that validated and then linked nothing (a Parquet
national id stored as DOUBLE, an all-blank id column, every crossing outside the window), a file
whose content reached the terminal (``/etc/shadow``'s first line, dates of birth, record ids),
and odd values that were counted nowhere. Every case checks the exit code, the YAML path,
column or row numbers in the message, no traceback and no value of the file on the terminal.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import duckdb
import pytest
import yaml

from linkage import create_reference_tables
from linkage.standardise import standardise_records_sql
from spine.sources import duckdb_reason
from tests.conftest import engine_on, make_table
from tests.reliability.helpers import PERSONAL_VALUES, assert_fails_cleanly, cli, small_job, snapshot
from tests.spine.test_bad_input import REGISTER, TAX

SECRET = "root:$6$S3cr3tSalt$9f8e7d6c5b4a:19000:0:99999:7:::"
SECRETS = (*PERSONAL_VALUES, "S3cr3t", "root:", "daemon", "T1,", "SECRET-ID-4711")


def validate(tmp_path: Path, files: dict[str, str | bytes], **changes):
    """``spine validate`` on the small job with some of its files replaced (bytes as written)."""
    text = {"register.csv": REGISTER, "tax.csv": TAX}
    text.update({k: v for k, v in files.items() if isinstance(v, str)})
    job = small_job(tmp_path, text, **changes)
    for name, data in files.items():
        if isinstance(data, bytes):
            (tmp_path / name).write_bytes(data)
    return cli("validate", job)


# --- files that are not a table with a header row ---------------------------------------------------

TAX_LINES = TAX.splitlines()
LONG_TAX = "\n".join([TAX_LINES[0], *[f"T{i},{i:05d},01/01/1980,2020" for i in range(25_000)],
                      "T99999,SECRET-ID-4711", ""])

FILE_CASES = [
    # (id, tax.csv content, fragments)
    ("binary file", bytes(range(256)) * 8, ["sources.tax.path", "cannot read tax.csv as csv", "not a text file"]),
    ("UTF-16 text", TAX.encode("utf-16"), ["sources.tax.path", "not a text file", "UTF-16"]),
    ("Latin-1 text", (TAX + "T4,004,01/01/1980,2020,Jos\xe9\n").replace("2020,Jos\xe9", "2020")
     .replace("T4,004", "T4,0\xe94").encode("latin-1"), ["sources.tax.path", "not UTF-8 text (line 5)"]),
    ("empty file", b"", ["sources.tax.path", "tax.csv as csv: is empty"]),
    ("blank lines only", "\n\n  \n", ["sources.tax.path", "is empty"]),
    ("header only", TAX_LINES[0] + "\n", ["sources.tax ", "tax.csv has no rows"]),
    ("short row", TAX.replace("T2,002,06/05/1990,2020", "T2,002"),
     ["sources.tax.path", "line 3 has 2", "the header 4"]),
    ("long row", TAX.replace("T2,002,06/05/1990,2020", "T2,002,06/05/1990,2020,x"),
     ["sources.tax.path", "line 3 has 5", "the header 4"]),
    ("ragged row past the sniffer's sample", LONG_TAX,
     ["sources.tax.path", "a row has a different number of fields than the header (line 25002)"]),
    ("colon-delimited", TAX.replace(",", ":"),
     ["sources.tax.path", "no header row naming the columns the job maps", "single column", "is it a CSV file?"]),
    ("/etc/shadow-like", f"{SECRET}\ndaemon:*:19000:0:99999:7:::\n",
     ["sources.tax.path", "first line (not shown)", "is it a CSV file?"]),
    ("no header row", "\n".join(TAX_LINES[1:]) + "\n",
     ["sources.tax.path", "no header row", "4 columns, not shown"]),
]


@pytest.mark.parametrize("content,fragments", [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_a_file_that_is_not_a_table_is_one_clear_error_quoting_nothing(tmp_path, content, fragments):
    result = validate(tmp_path, {"tax.csv": content})
    assert_fails_cleanly(result, 2, *fragments, personal=SECRETS)
    assert "Original Line" not in result.output and "LINE 1" not in result.output   # DuckDB's own text


@pytest.mark.parametrize("delimiter", [";", "\t", "|"], ids=["semicolon", "tab", "pipe"])
def test_other_delimiters_are_detected(tmp_path, delimiter):
    result = validate(tmp_path, {"tax.csv": TAX.replace(",", delimiter)})
    assert_fails_cleanly(result, 0, "OK")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_says_permission_denied(tmp_path):
    job = small_job(tmp_path)
    (tmp_path / "tax.csv").chmod(0)
    try:
        assert_fails_cleanly(cli("validate", job), 2, "sources.tax.path", "permission denied")
    finally:
        (tmp_path / "tax.csv").chmod(0o644)


def test_an_unreadable_file_says_permission_denied_even_as_root(tmp_path, monkeypatch):
    opened = Path.open

    def refuse(self, *args, **kwargs):
        if self.name == "tax.csv":
            raise PermissionError(13, "Permission denied", str(self))
        return opened(self, *args, **kwargs)

    job = small_job(tmp_path)
    monkeypatch.setattr(Path, "open", refuse)
    assert_fails_cleanly(cli("validate", job), 2, "sources.tax.path", "cannot be opened: permission denied")


def test_a_text_file_named_parquet_is_not_echoed(tmp_path):
    (tmp_path / "register.parquet").write_text(f"{SECRET}\nid,nin\n")
    result = validate(tmp_path, {}, sources__register__path="register.parquet")
    assert_fails_cleanly(result, 2, "sources.register.path", "cannot read register.parquet as parquet: not a Parquet file",
                         personal=SECRETS)


@pytest.mark.parametrize("message,reason", [
    ('Invalid Input Error: CSV Error on Line: 7\nOriginal Line: T9,SECRET-ID-4711\nExpected Number of Columns: 4 Found: 2',
     "a row has a different number of fields than the header (line 7)"),
    ('Invalid Input Error: Error when sniffing file "x.csv".\nIt was not possible to automatically detect the CSV '
     "parsing dialect\nLINE 1: CREATE VIEW v AS SELECT * FROM read_csv('SECRET-ID-4711')",
     "not a valid CSV file (could not detect its columns)"),
    ("Invalid Input Error: CSV Error on Line: 2\nOriginal Line: id,SECRET-ID-4711\nInvalid unicode (byte sequence "
     "mismatch) detected.", "not UTF-8 text (line 2)"),
    ("Invalid Input Error: No magic bytes found at end of file 'x.parquet'", "not a Parquet file"),
    ("Binder Error: something new: SECRET-ID-4711", "DuckDB cannot read it (BinderException)"),
], ids=["ragged", "sniffing", "unicode", "parquet", "unknown"])
def test_duckdb_errors_keep_their_reason_and_line_not_the_file(message, reason):
    kind = duckdb.BinderException if message.startswith("Binder") else duckdb.InvalidInputException
    assert duckdb_reason(kind(message)) == reason


# --- Parquet column types -------------------------------------------------------------------------

REGISTER_SQL = {"id": ["'R1'", "'R2'"], "nin": ["'001'", "'002'"], "fn": ["'Anna'", "'Omar'"],
                "dob": ["'1980-01-02'", "'1990-05-06'"], "sex": ["'F'", "'M'"]}
NUMBERS = {"id": ["1", "2"], "nin": ["1", "2"], "fn": ["1", "2"], "dob": ["19800102", "19900506"], "sex": ["2", "1"]}
TYPED = {
    "DOUBLE": {c: [f"CAST({v} AS DOUBLE)" for v in values] for c, values in NUMBERS.items()},
    "BIGINT": {c: [f"CAST({v} AS BIGINT)" for v in values] for c, values in NUMBERS.items()},
    "DATE": {c: ["DATE '1980-01-02'", "DATE '1990-05-06'"] for c in REGISTER_SQL},
}
COLUMN = {"record_id": "id", "national_id": "nin", "first_name": "fn", "dob": "dob", "sex": "sex"}
ERROR, WARNING, OK = 2, "warning", 0
PARQUET_CASES = [
    # (field, type, outcome, fragments)
    ("national_id", "DOUBLE", ERROR, ["is DOUBLE", "loses leading zeros", "prints 1 as 1.0", "export it as text"]),
    ("national_id", "BIGINT", WARNING, ["is BIGINT", "read as text", "leading zeros may already be lost"]),
    ("national_id", "DATE", ERROR, ["is DATE, a date, but national_id is not a date field"]),
    ("record_id", "DOUBLE", ERROR, ["is DOUBLE", "export it as text"]),
    ("record_id", "BIGINT", WARNING, ["is BIGINT", "leading zeros may already be lost"]),
    ("record_id", "DATE", ERROR, ["is DATE, a date, but record_id is not a date field"]),
    ("dob", "DOUBLE", ERROR, ["is DOUBLE", "export it as DATE or text"]),
    ("dob", "BIGINT", ERROR, ["no value parses as a date", "'99999999' (data row"]),
    ("dob", "DATE", OK, []),
    ("first_name", "DOUBLE", ERROR, ["is DOUBLE", "export it as text"]),
    ("first_name", "BIGINT", ERROR, ["is BIGINT, a number, but names are text"]),
    ("first_name", "DATE", ERROR, ["is DATE, a date, but first_name is not a date field"]),
    ("sex", "DOUBLE", ERROR, ["is DOUBLE"]),
    ("sex", "BIGINT", OK, []),
    ("sex", "DATE", ERROR, ["is DATE, a date, but sex is not a date field"]),
]


def write_register_parquet(folder: Path, typed: dict[str, list[str]] | None = None) -> None:
    columns = {**REGISTER_SQL, **(typed or {})}
    rows = " UNION ALL ".join("SELECT " + ", ".join(f"{v[i]} AS {c}" for c, v in columns.items()) for i in range(2))
    with duckdb.connect() as con:
        con.execute(f"COPY ({rows}) TO '{folder / 'register.parquet'}' (FORMAT parquet)")


@pytest.mark.parametrize("field,sql_type,outcome,fragments", PARQUET_CASES,
                         ids=[f"{f} {t}" for f, t, _, _ in PARQUET_CASES])
def test_parquet_column_types_are_checked_against_their_field(tmp_path, caplog, field, sql_type, outcome, fragments):
    column = COLUMN[field]
    write_register_parquet(tmp_path, {column: TYPED[sql_type][column]})
    where = "sources.register.record_id" if field == "record_id" else f"sources.register.columns.{field}"
    with caplog.at_level(logging.WARNING, logger="spine.sources"):
        result = validate(tmp_path, {}, sources__register__path="register.parquet")
    if outcome == WARNING:   # read as text; validate logs it (a run puts it in quality.json)
        assert_fails_cleanly(result, 0, "OK")
        for fragment in [where, f"column '{column}' of register.parquet", *fragments]:
            assert fragment in caplog.text
    else:
        assert_fails_cleanly(result, outcome, *([where, *fragments] if fragments else ["OK"]))


def test_a_parquet_date_of_birth_is_written_in_the_jobs_date_format(tmp_path):
    write_register_parquet(tmp_path, {"dob": TYPED["DATE"]["dob"]})
    result = validate(tmp_path, {}, sources__register__path="register.parquet",
                      sources__register__date_format="%d/%m/%Y")
    assert_fails_cleanly(result, 0, "OK")


# --- duplicate header names and blank columns -----------------------------------------------------

def test_a_duplicate_header_the_job_maps_is_an_error(tmp_path):
    tax = TAX.replace("id,nin,dob,year", "id,nin,dob,year,NIN").replace("2020\n", "2020,9\n").replace("2021\n", "2021,9\n")
    result = validate(tmp_path, {"tax.csv": tax})
    assert_fails_cleanly(result, 2, "sources.tax.columns.national_id", "column 'nin' appears 2 times in the header",
                         "columns 2 and 5", "read as 'nin' and 'NIN_1'", "rename them")


def test_a_duplicate_record_id_header_is_an_error(tmp_path):
    tax = TAX.replace("id,nin,dob,year", "id,nin,dob,id").replace(",2020\n", ",X\n").replace(",2021\n", ",Y\n")
    assert_fails_cleanly(validate(tmp_path, {"tax.csv": tax}), 2, "sources.tax.record_id", "column 'id' appears 2 times")


def test_a_duplicate_header_nobody_maps_is_a_warning(tmp_path, caplog):
    tax = TAX.replace("id,nin,dob,year", "id,nin,dob,year,Year").replace("2020\n", "2020,1\n").replace("2021\n", "2021,1\n")
    with caplog.at_level(logging.WARNING, logger="spine.sources"):
        result = validate(tmp_path, {"tax.csv": tax})
    assert_fails_cleanly(result, 0, "OK")
    assert "sources.tax.path  column 'year' appears 2 times in the header of tax.csv (columns 4 and 5" in caplog.text


BLANK_CASES = [
    ("blank national ids", {"tax.csv": "id,nin,dob,year\nT1,,02/01/1980,2020\nT2, ,06/05/1990,2020\n"},
     ["sources.tax.columns.national_id", "column 'nin' of tax.csv is blank in every one of its 2 rows"]),
    ("blank dates of birth", {"register.csv": "id,nin,fn,dob,sex\nR1,001,Anna,,F\nR2,002,Omar,,M\n"},
     ["sources.register.columns.dob", "column 'dob' of register.csv is blank in every one"]),
    ("blank record ids", {"tax.csv": "id,nin,dob,year\n,001,02/01/1980,2020\n,002,06/05/1990,2020\n"},
     ["sources.tax.record_id", "column 'id' is blank in every row: data rows 1 and 2"]),
]


@pytest.mark.parametrize("files,fragments", [c[1:] for c in BLANK_CASES], ids=[c[0] for c in BLANK_CASES])
def test_an_all_blank_mapped_column_is_an_error(tmp_path, files, fragments):
    assert_fails_cleanly(validate(tmp_path, files), 2, *fragments)


def test_an_all_null_parquet_column_is_an_error(tmp_path):
    write_register_parquet(tmp_path, {"nin": ["CAST(NULL AS VARCHAR)", "CAST(NULL AS VARCHAR)"]})
    result = validate(tmp_path, {}, sources__register__path="register.parquet")
    assert_fails_cleanly(result, 2, "sources.register.columns.national_id", "column 'nin' of register.parquet is blank")


# --- values in messages: row numbers and shapes -----------------------------------------------------

VALUE_CASES = [
    ("duplicate record ids", {"tax.csv": TAX + "T1,009,01/01/1970,2020\n"},
     ["sources.tax.record_id", "1 id(s) in column 'id' are not unique", "the same id in data rows 1 and 4"]),
    ("long unknown sex codes", {"register.csv": REGISTER.replace(",F\n", ",Femme\n").replace(",M\n", ",Homme\n")},
     ["sources.register.columns.sex", "'Aaaaa' (data rows 1 and 2)"]),
    ("short unknown sex codes", {"register.csv": REGISTER.replace(",F\n", ",Q\n").replace(",M\n", ",Z\n")},
     ["'Q' (data row 1), 'Z' (data row 2)"]),
    ("dates in another format", {"register.csv": REGISTER.replace("1980-01-02", "2 Jan 1980").replace("1990-05-06", "6 May 1990")},
     ["sources.register.columns.dob", "values shaped '9 Aaa 9999' (data rows 1 and 2)"]),
]


@pytest.mark.parametrize("files,fragments", [c[1:] for c in VALUE_CASES], ids=[c[0] for c in VALUE_CASES])
def test_messages_show_rows_and_shapes_never_values(tmp_path, files, fragments):
    result = validate(tmp_path, files)
    assert_fails_cleanly(result, 2, *fragments, personal=(*PERSONAL_VALUES, "'T1'", "Femme", "Homme", "Jan 1980"))


# --- a whole source outside the observation window --------------------------------------------------

CROSSINGS = "id,nin,date,dir\nX1,001,2001-01-01,IN\nX2,001,2002-03-01,OUT\nX3,002,2003-05-01,IN\n"


def with_crossings(job: Path, crossings: str) -> Path:
    (job.parent / "crossings.csv").write_text(crossings)
    spec = yaml.safe_load(job.read_text())
    spec["observation"] = {"start": "2015-01-01", "end": "2024-12-31"}
    spec["sources"]["crossings"] = {
        "path": "crossings.csv", "record_id": "id",
        "columns": {"national_id": "nin", "event_date": "date", "direction": "dir"},
        "linkage": {"method": "deterministic_id", "id_fields": ["national_id"]}}
    job.write_text(yaml.safe_dump(spec))
    return job


def test_every_crossing_outside_the_window_is_an_error(tmp_path):
    job = with_crossings(small_job(tmp_path), CROSSINGS)
    assert_fails_cleanly(cli("validate", job), 2, "sources.crossings.columns.event_date",
                         "none of the 3 dates in column 'date' of crossings.csv falls inside observation "
                         "(2015-01-01 to 2024-12-31): all are before its start", personal=(*PERSONAL_VALUES, "2001"))


# --- odd values: impossible ones set empty, odd ones kept, both counted ---------------------------

def test_impossible_values_are_emptied_and_odd_ones_kept_and_counted(tmp_path):
    con = engine_on()
    create_reference_tables(con)
    make_table(con, "raw", {c: "VARCHAR" for c in ("id", "fn", "dob", "reg", "dereg", "year")}, [
        ("a", "Anna", "1980-01-02", "2000-01-01", "2010-01-01", "2020"),
        ("b", "Omar", "2005-06-01", "2000-01-01", "2003-01-01", "2004"),   # born after registration and death
        ("c", "12345", "1895-03-04", "2099-01-01", "2010-01-01", "2020"),  # numeric name, old, registered in 2099
        ("d", "Eve", "2020-05-01", "2020-06-01", "2099-12-31", "2020"),    # born in the tax year; a visa-like end
        ("e", "?!", "2100-01-01", "2020-06-01", None, "2019"),             # no letters; born in the future
    ])
    sql = standardise_records_sql("raw", "id", {"first_name": "fn", "dob": "dob", "start_date": "reg",
                                                "end_date": "dereg"},
                                  date_formats={"dob": ["%Y-%m-%d"], "start_date": ["%Y-%m-%d"], "end_date": ["%Y-%m-%d"]})
    rows = con.execute(f"SELECT record_id, first_name, dob IS NULL, invalid_fields, implausible_fields FROM ({sql}) "
                       "ORDER BY 1").fetchall()
    assert rows == [
        ("a", "ANNA", False, None, None),
        ("b", "OMAR", True, "dob", None),
        ("c", None, False, "first_name", "dob,start_date"),
        ("d", "EVE", False, None, None),
        ("e", None, True, "first_name,dob", None),
    ]
    # a year-only start date stands for the whole year: a birth in it (d) is possible, after it (b) is not
    yearly = standardise_records_sql("raw", "id", {"dob": "dob", "start_date": "year"},
                                     date_formats={"dob": ["%Y-%m-%d"], "start_date": ["%Y"]})
    assert con.execute(f"SELECT record_id FROM ({yearly}) WHERE invalid_fields = 'dob' ORDER BY 1").fetchall() == [
        ("b",), ("e",)]


# --- runs: silent failures become warnings; a failed run keeps the previous outputs ------------------

def odd_world(tmp_path: Path) -> Path:
    """25 register persons with odd values, a tax source whose ids match none of theirs, a duplicate
    header nobody maps, and crossings mostly outside the window."""
    register = ["id,nin,fn,dob,sex,reg,dereg"]
    for i in range(1, 26):
        dob = "1890-05-05" if i <= 6 else "2001-01-01" if i == 7 else "1980-01-02"
        register.append(f"R{i},{i:03d},{'12345' if i == 8 else 'Anna'},{dob},F,"
                        f"{'2099-01-01' if i == 9 else '2000-01-01'},{'2000-06-01' if i == 7 else ''}")
    tax = ["id,nin,dob,year,YEAR"] + [f"T{i},X{i:04d},02/01/1980,2020,2020" for i in range(1, 26)]
    crossings = CROSSINGS + "X4,001,2020-01-01,IN\n"
    job = small_job(tmp_path, {"register.csv": "\n".join(register) + "\n", "tax.csv": "\n".join(tax) + "\n"},
                    sources__register__columns={"national_id": "nin", "first_name": "fn", "dob": "dob", "sex": "sex",
                                                "start_date": "reg", "end_date": "dereg"})
    return with_crossings(job, crossings)


def test_a_run_warns_of_sources_that_fail_silently_and_counts_odd_values(tmp_path):
    job = odd_world(tmp_path)
    result = cli("run", "--quiet", job)
    assert_fails_cleanly(
        result, 0,
        "Warning: sources.tax.columns.national_id  0 of the 25 records with a national id (100% of its records) link",
        "Warning: sources.tax.path  column 'year' appears 2 times in the header of tax.csv",
        "Warning: sources.crossings.columns.event_date and observation  75% of its 4 records are rejected "
        "(date_outside_observation 3)",
        "Warning: sources.register.columns.dob  24% of the dob values of its 25 records are implausible (kept)",
        personal=(*PERSONAL_VALUES, "12345", "2099", "1890", "X0001"))
    out = tmp_path / "out"
    quality = json.loads((out / "quality.json").read_text())
    register = quality["sources"]["register"]
    assert register["invalid_values"] == {"dob": 1, "first_name": 1}          # born after death; a number
    assert register["implausible_values"] == {"dob": 6, "start_date": 1}      # born before 1900; registered in 2099
    checks = quality["plausibility"]
    assert checks["id_not_linked_share.tax"]["warn"] and checks["id_not_linked_share.tax"]["value"] == 1.0
    assert checks["rejected_share.crossings"]["reasons"] == {"date_outside_observation": 3}
    assert not checks["rejected_share.register"]["warn"]
    report = (out / "report.html").read_text()
    for text in ("implausible values (kept)", "dob 6, start_date 1", "dob 1, first_name 1", "id not linked share",
                 "column &#x27;year&#x27; appears 2 times"):
        assert text in report, text


def test_a_failed_run_keeps_the_previous_outputs_byte_identical(tmp_path):
    job = small_job(tmp_path)
    assert_fails_cleanly(cli("run", "--quiet", job), 0)
    before = snapshot(tmp_path / "out")
    (tmp_path / "tax.csv").write_text("id,nin,dob,year\nT1,,02/01/1980,2020\nT2,,06/05/1990,2020\n")
    result = cli("run", "--quiet", job)
    assert_fails_cleanly(result, 2, "sources.tax.columns.national_id", "blank in every one of its 2 rows")
    assert snapshot(tmp_path / "out") == before


def test_a_failed_run_keeps_its_log_beside_the_outputs_until_a_run_succeeds(tmp_path):
    """The log of what a failed run did goes with its staging folder unless kept: it is kept beside
    the output folder (whose previous outputs stay as they were), named on the console, and removed
    by the next run that succeeds."""
    job = small_job(tmp_path)
    good = (tmp_path / "tax.csv").read_text()
    (tmp_path / "tax.csv").write_text("id,nin,dob,year\nT1,,02/01/1980,2020\nT2,,06/05/1990,2020\n")
    result = cli("run", "--quiet", job)
    log = tmp_path / "out.failed-run.log"
    assert_fails_cleanly(result, 2, "blank in every one of its 2 rows", f"the failed run's log: {log}")
    text = log.read_text(encoding="utf-8")
    assert "load" in text and not [v for v in PERSONAL_VALUES if v in text]
    assert not list(tmp_path.glob(".out.staging-*"))
    (tmp_path / "tax.csv").write_text(good)
    assert_fails_cleanly(cli("run", "--quiet", job), 0)
    assert not log.exists() and (tmp_path / "out" / "run.log").is_file()
