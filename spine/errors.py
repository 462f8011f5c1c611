"""Errors a user can act on, and the CLI's exit codes.

Every error here is shown as one clear message (never a traceback unless ``--debug``).
"""

from __future__ import annotations

import re
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Exit codes of the ``spine`` CLI (as dbt's: success, check failed, usage, runtime)."""

    OK = 0
    CHECK_FAILED = 1
    USAGE = 2
    RUNTIME = 3


class SpineError(Exception):
    """Root of the errors raised by the spine package."""

    exit_code = ExitCode.RUNTIME


class ConfigError(SpineError):
    """The job file or its inputs are wrong; nothing has been run or written."""

    exit_code = ExitCode.USAGE

    def __init__(self, problems: list[str] | str, *, file: str | None = None, job: Any = None):
        from spine._urls import hide_passwords

        # A database URL typed with its password where a path or mapping was expected, quoted back.
        self.problems = [hide_passwords(p) for p in ([problems] if isinstance(problems, str) else problems)]
        self.file = file
        self.job = job   # the job without the parts in error, where that is valid (spine.config.load_job)
        head = f"{file}: " if file else ""
        if len(self.problems) == 1:
            only = self.problems[0]
            named = file and only.startswith(file.rsplit("/", 1)[-1] + ":")
            message = only if named else head + only
        else:
            lines = "\n".join(f"  {p}" for p in self.problems)
            message = f"{head}{len(self.problems)} problems\n{lines}"
        super().__init__(message)


class InputError(ConfigError):
    """A source file is missing, unreadable, empty or breaks a rule every row must keep."""


class CheckFailed(SpineError):
    """The job ran but a check on its results failed (e.g. the accounting identity)."""

    exit_code = ExitCode.CHECK_FAILED


class UsageError(SpineError):
    """A command was called with arguments it cannot use; nothing has been run or written."""

    exit_code = ExitCode.USAGE


def without_values(exc: BaseException) -> str:
    """The first line of an unexpected error with anything quoted masked: DuckDB quotes the value it
    could not convert, which may be a name or a date of birth."""
    first = next(iter(str(exc).strip().splitlines()), "")
    return re.sub(r"'.*'|\".*\"", "'…'", first)   # greedy: a value may hold a quote (O'Brien)
