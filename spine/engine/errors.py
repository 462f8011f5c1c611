"""A failed statement, named by where it ran and what it was, never by the values it touched.

The engine re-raises the database's own error as a subclass of both its type and
:class:`EngineError`, so a caller that handles ``duckdb.Error`` still does, and a user sees the
stage and the statement's shape (its verb and tables) next to the database's message.
"""

from __future__ import annotations

import re

#: How much of a statement's shape is shown: enough to find it in the code, not the whole query.
SHAPE_CHARS = 160


class EngineError(Exception):
    """A statement failed in the engine. ``stage``: the stage running it (None outside one);
    ``statement``: its shape (see :func:`statement_shape`)."""

    stage: str | None = None
    statement: str = ""

    def __reduce__(self) -> tuple:
        """Picklable (a worker process's error reaches its parent): rebuilt from the database's
        error type, the message and the two attributes."""
        original = next((b for b in type(self).__bases__ if b is not EngineError), Exception)
        return _rebuilt, (original, str(self), self.stage, self.statement)

    @property
    def where(self) -> str:
        """Where the statement ran, in one line: ``stage rules: CREATE TABLE movements ← linked_records``."""
        return f"stage {self.stage}: {self.statement}" if self.stage else self.statement


_WRAPPED: dict[type, type] = {}


def wrapped(exc: BaseException, stage: str | None, sql: str) -> BaseException:
    """``exc`` as an :class:`EngineError` of the same type (kept, so handlers of the database's
    errors still catch it), its message followed by the stage and the statement's shape."""
    shape = statement_shape(sql)
    return _rebuilt(type(exc), f"{exc}\n  in {f'stage {stage}: ' if stage else ''}{shape}", stage, shape)


def _rebuilt(original: type, message: str, stage: str | None, statement: str) -> BaseException:
    if original not in _WRAPPED:
        _WRAPPED[original] = type(original.__name__, (EngineError, original), {"__module__": original.__module__})
    try:
        error = _WRAPPED[original](message)
    except Exception:  # noqa: BLE001 - a type that will not take a message (Spark's): same name, no longer its type
        error = type(original.__name__, (EngineError, RuntimeError), {})(message)
    error.stage = stage
    error.statement = statement
    return error


_KEYWORDS = re.compile(r"^\s*(CREATE(?: OR REPLACE)?(?: TEMP(?:ORARY)?)? (?:TABLE|VIEW)|INSERT INTO|UPDATE|DELETE FROM"
                       r"|DROP (?:TABLE|VIEW)(?: IF EXISTS)?|COPY|ATTACH|DETACH|DESCRIBE|SELECT|WITH|SET|USE|PRAGMA"
                       r"|ALTER TABLE|CHECKPOINT)\b\s*", re.IGNORECASE)


def statement_shape(sql: str) -> str:
    """A statement's verb, the table it writes and the tables it reads, without a literal: what
    the statement was, safe to show (a literal may be a name or a date of birth)."""
    text = " ".join(_without_literals(sql).split())
    verb_match = _KEYWORDS.match(text)
    word = re.match(r"[A-Za-z]+", text)
    verb = verb_match.group(1).upper() if verb_match else (word.group(0).upper() if word else "")
    rest = text[verb_match.end():] if verb_match else text
    target = ""
    if verb and verb.split()[0] in ("CREATE", "INSERT", "UPDATE", "DELETE", "DROP", "COPY", "DESCRIBE", "ALTER"):
        first = re.match(r'("(?:[^"]|"")+"|[\w.]+)', rest)
        target = first.group(1).strip('"') if first else ""
    read = []
    for name in re.findall(r'(?<!DISTINCT )\b(?:FROM|JOIN)\s+("(?:[^"]|"")+"|[A-Za-z_][\w.]*)', text, re.IGNORECASE):
        name = name.strip('"')
        if name.lower() not in ("select", "lateral", "unnest", "range", "generate_series") and name not in read \
                and name != target:
            read.append(name)
    shape = " ".join(part for part in (verb, target) if part)
    if read:
        shape += " ← " + ", ".join(read)
    return shape if len(shape) <= SHAPE_CHARS else shape[:SHAPE_CHARS - 1] + "…"


def _without_literals(sql: str) -> str:
    """``sql`` with comments gone and each string literal a ``?``, in one pass (so a quote inside a
    comment or a quoted name does not turn the text after it into a literal, or a literal into text)."""
    def keep(match: re.Match[str]) -> str:
        token = match.group(0)
        return "" if token.startswith("--") else "?" if token.startswith("'") else token
    return re.sub(r"--[^\n]*|'(?:[^']|'')*'?|\"(?:[^\"]|\"\")*\"?", keep, sql)
