"""Bad input files: one clear message naming the source, column and data rows (values only by their
shape, never as they are), nothing written;
row-level problems become `rejected` rows in links, never silent drops."""

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from spine import Job
from spine.cli import app

REGISTER = "id,nin,fn,dob,sex\nR1,001,Anna,1980-01-02,F\nR2,002,Omar,1990-05-06,M\n"
TAX = "id,nin,dob,year\nT1,001,02/01/1980,2020\nT2,002,06/05/1990,2020\nT3,,31/02/1990,2021\n"


def write_job(tmp_path: Path, files: dict[str, str], **changes) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    job = {
        "name": "t", "base": "register", "home_country": "XSY", "demo": True,
        "sources": {
            "register": {"path": "register.csv", "record_id": "id",
                         "columns": {"national_id": "nin", "first_name": "fn", "dob": "dob", "sex": "sex"}},
            "tax": {"path": "tax.csv", "record_id": "id", "date_format": "%d/%m/%Y",
                    "columns": {"national_id": "nin", "dob": "dob"},
                    "linkage": {"method": "deterministic_id", "id_fields": ["national_id"]}},
        },
    }
    for dotted, value in changes.items():
        target = job
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[part]
        target[last] = value
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def validate(job: Path):
    return CliRunner().invoke(app, ["validate", str(job)])


CASES = [
    # (description, files, changes, fragments in the message)
    ("missing file", {"register.csv": REGISTER}, {}, ["sources.tax.path", "file not found", "tax.csv"]),
    ("misspelt column", {"register.csv": REGISTER, "tax.csv": TAX},
     {"sources__tax__columns": {"national_id": "nino", "dob": "dob"}},
     ["sources.tax.columns.national_id", "column 'nino' is not in tax.csv", "did you mean 'nin'?"]),
    ("misspelt record id column", {"register.csv": REGISTER, "tax.csv": TAX}, {"sources__tax__record_id": "ID"},
     ["sources.tax.record_id", "column 'ID'", "did you mean 'id'?"]),
    ("unparseable dates", {"register.csv": REGISTER, "tax.csv": TAX}, {"sources__tax__date_format": "%Y-%m-%d"},
     ["sources.tax.columns.dob", "no value parses as a date", "'99/99/9999' (data rows 1, 2 and 3)", "date_format"]),
    ("duplicate record id", {"register.csv": REGISTER + "R1,003,Eve,1970-01-01,F\n", "tax.csv": TAX}, {},
     ["sources.register.record_id", "not unique", "the same id in data rows 1 and 3"]),
    ("blank record id", {"register.csv": REGISTER + ",003,Eve,1970-01-01,F\n", "tax.csv": TAX}, {},
     ["sources.register.record_id", "blank in data row 3"]),
    ("empty source", {"register.csv": REGISTER, "tax.csv": "id,nin,dob,year\n"}, {},
     ["sources.tax", "tax.csv has no rows"]),
    ("unknown sex codes", {"register.csv": REGISTER.replace(",F\n", ",B\n").replace(",M\n", ",A\n"), "tax.csv": TAX}, {},
     ["sources.register.columns.sex", "no value is a known sex code", "'B' (data row 1), 'A' (data row 2)",
      "sex_codes"]),
    ("not a CSV", {"register.csv": REGISTER, "tax.csv": TAX}, {"sources__tax__path": "tax.xlsx"},
     ["sources.tax.path", "cannot tell the format of tax.xlsx"]),
]


@pytest.mark.parametrize("description,files,changes,fragments", CASES, ids=[c[0] for c in CASES])
def test_validate_names_source_column_and_examples(tmp_path, description, files, changes, fragments):
    if description == "not a CSV":
        (tmp_path / "tax.xlsx").write_text("x")
    job = write_job(tmp_path, files, **changes)
    result = validate(job)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output
    for value in ("02/01/1980", "1980-01-02", "Anna", "'R1'"):   # rows and shapes, never values
        assert value not in result.output
    assert not (tmp_path / "out").exists(), "validate must write nothing"


@pytest.mark.parametrize("description,files,changes,fragments", CASES[:3], ids=[c[0] for c in CASES[:3]])
def test_run_stops_before_writing_on_bad_input(tmp_path, description, files, changes, fragments):
    job = write_job(tmp_path, files, **changes)
    result = CliRunner().invoke(app, ["run", "--quiet", str(job)])
    assert result.exit_code == 2
    assert not (tmp_path / "out").exists()


def test_missing_person_key_stops_a_real_job(tmp_path, monkeypatch):
    monkeypatch.delenv("SPINE_PERSON_KEY", raising=False)
    job = write_job(tmp_path, {"register.csv": REGISTER, "tax.csv": TAX}, demo=False)
    result = validate(job)
    assert result.exit_code == 2
    assert "SPINE_PERSON_KEY is not set" in result.output


def test_row_level_problems_are_rejected_rows_not_drops(tmp_path):
    crossings = "id,nin,date,dir\nX1,001,2020-01-01,IN\nX2,001,2020-13-45,OUT\nX3,001,,IN\nX4,001,2020-03-01,up\n"
    job = write_job(tmp_path, {"register.csv": REGISTER, "tax.csv": TAX, "crossings.csv": crossings})
    spec = yaml.safe_load(job.read_text())
    spec["sources"]["crossings"] = {
        "path": "crossings.csv", "record_id": "id",
        "columns": {"national_id": "nin", "event_date": "date", "direction": "dir"},
        "linkage": {"method": "deterministic_id", "id_fields": ["national_id"]}}
    job.write_text(yaml.safe_dump(spec))
    result = Job.from_yaml(job).run()
    links = result.df("links").set_index(["source", "record_id"])
    assert len(links.loc["crossings"]) == 4
    assert links.loc[("crossings", "X1"), "status"] == "linked"
    assert links.loc[("crossings", "X2"), ["status", "reason"]].tolist() == ["rejected", "invalid_event_date"]
    assert links.loc[("crossings", "X3"), ["status", "reason"]].tolist() == ["rejected", "missing_event_date"]
    assert links.loc[("crossings", "X4"), ["status", "reason"]].tolist() == ["rejected", "invalid_direction"]
    # an impossible dob (31 Feb) keeps the record, with the value NULL and the problem counted
    assert links.loc[("tax", "T3"), ["status", "reason"]].tolist() == ["unlinked", "missing_id"]
    assert result.quality["sources"]["tax"]["invalid_values"] == {"dob": 1}
    assert result.quality["accounting"]["passed"]
    result.close()
