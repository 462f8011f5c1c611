"""The house rules: imports run one way, and no per-row Python loops in the packages."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    """linkage and rules import neither spine nor each other (import-linter contracts in pyproject)."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_no_row_loops_over_sources():
    offenders = []
    for package in ("linkage", "rules", "spine"):
        for path in (ROOT / package).rglob("*.py"):
            for i, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(r"\.iterrows\(|\.apply\(|\.itertuples\(", line):
                    offenders.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_no_print_in_packages():
    offenders = [str(p.relative_to(ROOT)) for pkg in ("linkage", "rules", "spine")
                 for p in (ROOT / pkg).rglob("*.py") if re.search(r"^\s*print\(", p.read_text(), re.M)]
    assert not offenders


#: What running SQL or opening a database looks like in Python (DuckDB's and the DB-API's calls).
SQL_CALLS = re.compile(r"\.(execute|executemany|sql|query|fetchall|fetchone|fetchdf|fetchnumpy|from_df|from_arrow)\("
                       r"|(?<!\bpa)\.table\(|duckdb\.connect\(")


def test_sql_runs_only_in_the_engine():
    """Every statement goes through spine.engine (docs/engine.md): the packages build SQL and name
    tables, the engine runs it, so a second engine can stand behind the same calls."""
    offenders = []
    for package in ("linkage", "rules", "spine"):
        for path in (ROOT / package).rglob("*.py"):
            if (ROOT / "spine" / "engine") in path.parents:
                continue
            for i, line in enumerate(path.read_text().splitlines(), 1):
                if SQL_CALLS.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
