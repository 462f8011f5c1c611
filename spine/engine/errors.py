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

    @property
    def where(self) -> str:
        """Where the statement ran, in one line: ``stage rules: CREATE TABLE movements ← linked_records``."""
        return f"stage {self.stage}: {self.statement}" if self.stage else self.statement


_WRAPPED: dict[type, type] = {}


def wrapped(exc: BaseException, stage: str | None, sql: str) -> BaseException:
    """``exc`` as an :class:`EngineError` of the same type (kept, so handlers of the database's
    errors still catch it), its message followed by the stage and the statement's shape."""
    cls = type(exc)
    if cls not in _WRAPPED:
        _WRAPPED[cls] = type(cls.__name__, (EngineError, cls), {"__module__": cls.__module__})
    error = _WRAPPED[cls](f"{exc}\n  in {f'stage {stage}: ' if stage else ''}{statement_shape(sql)}")
    error.stage = stage
    error.statement = statement_shape(sql)
    return error


_KEYWORDS = re.compile(r"^\s*(CREATE(?: OR REPLACE)?(?: TEMP(?:ORARY)?)? (?:TABLE|VIEW)|INSERT INTO|UPDATE|DELETE FROM"
                       r"|DROP (?:TABLE|VIEW)(?: IF EXISTS)?|COPY|ATTACH|DETACH|DESCRIBE|SELECT|WITH|SET|USE|PRAGMA"
                       r"|ALTER TABLE|CHECKPOINT)\b\s*", re.IGNORECASE)


def statement_shape(sql: str) -> str:
    """A statement's verb, the table it writes and the tables it reads, without a literal: what
    the statement was, safe to show (a literal may be a name or a date of birth)."""
    text = " ".join(sql.split())
    verb_match = _KEYWORDS.match(text)
    verb = verb_match.group(1).upper() if verb_match else (text.split(" ", 1)[0].upper() if text else "")
    rest = text[verb_match.end():] if verb_match else text
    target = ""
    if verb and verb.split()[0] in ("CREATE", "INSERT", "UPDATE", "DELETE", "DROP", "COPY", "DESCRIBE", "ALTER"):
        first = re.match(r'("(?:[^"]|"")+"|[\w.]+)', rest)
        target = first.group(1).strip('"') if first else ""
    read = []
    for name in re.findall(r'\b(?:FROM|JOIN)\s+("(?:[^"]|"")+"|[A-Za-z_][\w.]*)', _without_literals(text),
                           re.IGNORECASE):
        name = name.strip('"')
        if name.lower() not in ("select", "lateral", "unnest", "range", "generate_series") and name not in read \
                and name != target:
            read.append(name)
    shape = " ".join(part for part in (verb, target) if part)
    if read:
        shape += " ← " + ", ".join(read)
    return shape if len(shape) <= SHAPE_CHARS else shape[:SHAPE_CHARS - 1] + "…"


def _without_literals(text: str) -> str:
    return re.sub(r"'(?:[^']|'')*'", "?", text)
