"""Sources in a PostgreSQL server (spine.engine.postgres), against a real server the test starts: a
throwaway cluster in a temp folder (Debian's postgresql package; `make test` installs it), with
password authentication, so credentials are really needed and really kept out of the job file."""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from spine import Job
from spine.cli import app
from spine.errors import ConfigError
from spine.synthetic import generate
from tests.conftest import engine_on

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-Pw-for-tests"
pytestmark = pytest.mark.e2e


def _server_binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    initdb = found[-1] if found else shutil.which("initdb")
    if not initdb:
        pytest.fail("no PostgreSQL server (initdb) on this machine: `make test` installs Debian's postgresql "
                    "(make database), or install it by hand")
    return Path(initdb).parent


@pytest.fixture(scope="module")
def server():
    """A PostgreSQL cluster on a Unix socket in a temp folder, user `spine` with a password."""
    bindir = _server_binaries()
    folder = Path(tempfile.mkdtemp(prefix="spine-pg-", dir="/tmp"))   # short: a socket path has 107 bytes
    as_owner: list[str] = []
    if os.geteuid() == 0:   # initdb refuses root: the cluster belongs to the postgres user
        shutil.chown(folder, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    (folder / "pw").write_text(PASSWORD)
    os.chmod(folder / "pw", 0o644)
    port = 54000 + os.getpid() % 1000   # the socket is in the folder: workers cannot collide
    stop = [*as_owner, str(bindir / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "stop"]
    atexit.register(lambda: subprocess.run(stop, capture_output=True))   # even if pytest is interrupted
    try:
        subprocess.run([*as_owner, str(bindir / "initdb"), "-D", str(folder / "data"), "-U", "spine",
                        "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", f"--pwfile={folder / 'pw'}",
                        "-E", "UTF8"], check=True, capture_output=True)
        started = subprocess.run([*as_owner, str(bindir / "pg_ctl"), "-D", str(folder / "data"), "-l",
                                  str(folder / "log"), "-w", "-o", f"-k {folder} -p {port} -c listen_addresses=''",
                                  "start"], capture_output=True, text=True)
        if started.returncode:
            log = (folder / "log").read_text() if (folder / "log").exists() else ""
            pytest.fail(f"PostgreSQL did not start: {started.stderr}\n{log}")
        yield f"postgresql://spine@/postgres?host={folder}&port={port}"
    finally:
        subprocess.run(stop, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def demo(server, tmp_path_factory):
    """The demo job's small universe as CSV files, and the same rows as text columns in the server."""
    import adbc_driver_postgresql.dbapi as postgresql

    folder = tmp_path_factory.mktemp("database")
    generated = generate(800, seed=3, out_dir=folder / "data")
    job = yaml.safe_load((ROOT / "examples" / "migration" / "job.yaml").read_text())
    job["flows"]["uncertainty"] = {"replicates": 0}
    names = list(job["sources"])
    con = engine_on()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PGPASSWORD", PASSWORD)
        with postgresql.connect(server) as conn:
            with conn.cursor() as cursor:
                for name in names:
                    path = folder / job["sources"][name]["path"]
                    rows = con.sql(f"SELECT * FROM read_csv('{path}', all_varchar = true)").arrow()
                    cursor.adbc_ingest(f"{name}_extract", rows, mode="replace")
                # a table named as a keyword is a table, not the keyword
                cursor.execute('CREATE TABLE "user" AS SELECT * FROM tax_extract')
            conn.commit()
    (folder / "files.yaml").write_text(yaml.safe_dump({**job, "output": {"dir": "out_files"}}))
    from_db = {**job, "output": {"dir": "out_database"},
               "sources": {name: {**{k: v for k, v in s.items() if k != "path"},
                                  "database": {"url": server, "table": f"{name}_extract"}}
                           for name, s in job["sources"].items()}}
    (folder / "database.yaml").write_text(yaml.safe_dump(from_db))
    return folder, generated


def _frame(result, table: str, order: list[str]) -> pd.DataFrame:
    return result.df(table).sort_values(order).reset_index(drop=True)


def test_the_demo_read_from_postgresql_gives_the_outputs_it_gives_from_files(demo, monkeypatch):
    folder, _ = demo
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    files = Job.from_yaml(folder / "files.yaml").run()
    database = Job.from_yaml(folder / "database.yaml").run()
    try:
        for table, order in (("links", ["source", "record_id"]), ("events", ["person_id", "date", "event"]),
                             ("flows", list(files.df("flows").columns)), ("persons", ["person_id"])):
            pd.testing.assert_frame_equal(_frame(files, table, order), _frame(database, table, order))
        inputs = database.quality["inputs"]["tax"]
        assert inputs["rows"] == files.quality["inputs"]["tax"]["rows"] and len(inputs["rows_sha256"]) == 64
        assert inputs["database"].startswith("table tax_extract of postgresql://spine@/postgres")
        assert PASSWORD not in (folder / "out_database" / "quality.json").read_text()
        assert PASSWORD not in (folder / "out_database" / "run.log").read_text()
    finally:
        files.close()
        database.close()


def test_validate_reads_every_database_source(demo, monkeypatch):
    folder, _ = demo
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    result = CliRunner().invoke(app, ["validate", str(folder / "database.yaml")])
    assert result.exit_code == 0, result.output
    assert "7 sources" in result.output


def _one_source_job(folder: Path, database: dict) -> Path:
    job = yaml.safe_load((folder / "database.yaml").read_text())
    job["sources"]["tax"]["database"] = database
    job["output"] = {"dir": "out_variant"}
    path = folder / "variant.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def test_a_password_in_the_job_file_is_refused_without_being_shown(demo, server):
    folder, _ = demo
    with_password = server.replace("spine@", f"spine:{PASSWORD}@")
    with pytest.raises(ConfigError) as caught:
        Job.from_yaml(_one_source_job(folder, {"url": with_password, "table": "tax_extract"}))
    assert "sources.tax.database" in str(caught.value) and "PGPASSWORD" in str(caught.value)
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize("password,database,expected", [
    (None, {"table": "tax_extract"}, "the password was refused"),
    ("wrong", {"table": "tax_extract"}, "the password was refused"),
    (PASSWORD, {"table": "no_such_extract"}, "there is no such table"),
    (PASSWORD, {"query": "SELECT record_id FROM tax_extract WHERE"}, "syntax error"),
], ids=["no-password", "wrong-password", "no-table", "bad-query"])
def test_a_database_that_cannot_be_read_is_one_clear_line(demo, server, monkeypatch, password, database, expected):
    folder, _ = demo
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/dev/null")   # a ~/.pgpass on the machine must not answer
    if password:
        monkeypatch.setenv("PGPASSWORD", password)
    result = CliRunner().invoke(app, ["validate", str(_one_source_job(folder, {"url": server, **database}))])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "sources.tax.database" in result.output and expected in result.output, result.output
    assert PASSWORD not in result.output and "wrong" not in result.output


def test_the_url_may_come_whole_from_the_environment(demo, server, monkeypatch):
    folder, _ = demo
    monkeypatch.delenv("PGPASSWORD", raising=False)
    job = _one_source_job(folder, {"url_env": "SPINE_TEST_TAX_DB", "table": "tax_extract"})
    result = CliRunner().invoke(app, ["validate", str(job)])
    assert result.exit_code == 2 and "SPINE_TEST_TAX_DB is not set" in result.output
    monkeypatch.setenv("SPINE_TEST_TAX_DB", server.replace("spine@", f"spine:{PASSWORD}@"))
    monkeypatch.setenv("PGPASSWORD", PASSWORD)   # the other sources' URL holds no password
    result = CliRunner().invoke(app, ["validate", str(job)])
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output


def test_a_table_named_as_a_keyword_is_read_as_the_table(demo, monkeypatch):
    folder, _ = demo
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    job = yaml.safe_load((folder / "database.yaml").read_text())
    job["sources"]["tax"]["database"]["table"] = "user"
    job["output"] = {"dir": "out_variant"}
    (folder / "keyword.yaml").write_text(yaml.safe_dump(job))
    _, rows = Job.validate_file(folder / "keyword.yaml")
    assert rows["tax"] == Job.validate_file(folder / "database.yaml")[1]["tax"] > 1


@pytest.mark.parametrize("where,value", [
    ("database", "postgresql://spine:{pw}@h/db"),                       # a string where a mapping goes
    ("path", "postgresql://spine:{pw}@h/db"),                           # a URL where a file goes
    ("database", {"url": "postgresql://spine@h/db?%70assword={pw}", "table": "t"}),
    ("database", {"url": "postgresql://spine@h/db?sslpassword={pw}", "table": "t"}),
], ids=["string", "path", "encoded-parameter", "ssl-key-password"])
def test_a_password_typed_anywhere_is_never_shown(demo, where, value):
    folder, _ = demo
    job = yaml.safe_load((folder / "database.yaml").read_text())
    tax = {k: v for k, v in job["sources"]["tax"].items() if k != "database"}
    filled = value.format(pw=PASSWORD) if isinstance(value, str) else {
        k: v.format(pw=PASSWORD) for k, v in value.items()}
    job["sources"]["tax"] = {**tax, where: filled}
    job["output"] = {"dir": "out_variant"}
    (folder / "typed.yaml").write_text(yaml.safe_dump(job))
    result = CliRunner().invoke(app, ["validate", str(folder / "typed.yaml")])
    assert result.exit_code == 2 and "sources.tax" in result.output, result.output
    assert PASSWORD not in result.output
