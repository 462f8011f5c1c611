"""What every reliability case asserts: the exit code, a message that names where the problem is,
no traceback, no personal value on the terminal, and previous outputs byte-identical after a failure.

The job is the small two-source job of ``tests/spine/test_bad_input.py`` (a register and a tax
file linked on the national id), which runs in about a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from spine.cli import app
from tests.spine.test_bad_input import REGISTER, TAX, write_job

#: Values in the small job's files that must never reach the terminal (names, dates of birth, ids).
PERSONAL_VALUES = ("Anna", "Omar", "1980-01-02", "1990-05-06", "02/01/1980", "06/05/1990")


def small_job(tmp_path: Path, files: dict[str, str] | None = None, **changes: Any) -> Path:
    """The small job in ``tmp_path`` (``register.csv``, ``tax.csv``), with ``changes`` as in
    ``write_job`` (``sources__tax__record_id="ID"``)."""
    return write_job(tmp_path, files if files is not None else {"register.csv": REGISTER, "tax.csv": TAX}, **changes)


def cli(*args: str) -> Result:
    """Run the ``spine`` CLI in this process (stderr kept apart from stdout)."""
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_fails_cleanly(result: Result, exit_code: int, *fragments: str,
                         personal: tuple[str, ...] = PERSONAL_VALUES) -> None:
    """One clear message: the exit code, each fragment in it, no traceback, no personal value."""
    shown = result.output
    assert result.exit_code == exit_code, f"exit {result.exit_code}, expected {exit_code}:\n{shown}"
    assert "Traceback" not in shown, shown
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    for fragment in fragments:
        assert fragment in shown, f"{fragment!r} not in:\n{shown}"
    leaked = [value for value in personal if value in shown]
    assert not leaked, f"personal values {leaked} shown:\n{shown}"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) by relative path, with its bytes."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
