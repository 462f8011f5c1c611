"""What every engine does the same way, whatever runs its SQL: stages named for failures, frames
registered for a block, and closing at the end of a ``with``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

from spine.engine.errors import wrapped


class EngineBase:
    """The part of an engine that does not touch its database. A subclass runs statements
    (``_execute`` …) and implements ``register``, ``unregister`` and ``close``."""

    #: The exceptions of the database that :meth:`_naming` wraps.
    database_errors: tuple[type[BaseException], ...] = (Exception,)
    #: The rules' estimates left as they are while a replicate re-runs a few persons (rules._sql.estimate).
    pinned_estimates: frozenset[str] | None = None
    #: The rules' estimates made, while a reference run for the replicates records them.
    estimates_made: set[str] | None = None

    def __init__(self, *, stage: str | None = None) -> None:
        self._stage: list[str | None] = [stage]

    def register(self, name: str, data: Any) -> None:
        raise NotImplementedError

    def unregister(self, name: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def splink_sql(self, condition: str) -> str:
        """A comparison level's condition, written in DuckDB's SQL, as :meth:`splink_api`'s database
        runs it (DuckDB's own: unchanged)."""
        return condition

    @contextmanager
    def registered(self, name: str, data: Any) -> Iterator[str]:
        """``data`` readable as ``name`` for the ``with`` block."""
        self.register(name, data)
        try:
            yield name
        finally:
            self.unregister(name)

    @contextmanager
    def stage(self, name: str) -> Iterator[Self]:
        """Statements in the ``with`` block belong to stage ``name`` (for error messages)."""
        self._stage.append(name)
        try:
            yield self
        finally:
            self._stage.pop()

    @property
    def current_stage(self) -> str | None:
        return self._stage[-1]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _naming(self, sql: str) -> Iterator[None]:
        """A failure of the statement ``sql`` re-raised with its stage and shape (errors.wrapped)."""
        try:
            yield
        except self.database_errors as exc:
            raise wrapped(exc, self.current_stage, sql) from exc
