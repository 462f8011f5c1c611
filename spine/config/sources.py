"""A source: where its records are and how its columns map onto standard fields."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StrictStr, model_validator

from spine._urls import holds_password, shown
from spine.config.fields import ColumnConfig, DEFAULT_DATE_FORMAT, StandardField, StrictModel
from spine.config.linkage import DERIVED_FEATURES, LinkageConfig


#: A table name as a database writes it: ``table`` or ``schema.table``.
TABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$"


class DatabaseConfig(StrictModel):
    """A table or query of a PostgreSQL server, read through ADBC in Arrow batches (spine.engine.postgres).
    Credentials come from the environment only, never from the job file."""

    #: postgresql://host:port/database, without a password: user and password come from the
    #: environment (PGUSER, PGPASSWORD, or ~/.pgpass), as for every libpq client.
    url: StrictStr | None = None
    #: Or: the name of an environment variable holding the whole URL, credentials included.
    url_env: StrictStr | None = None
    #: The table to read whole (``schema.table``)...
    table: Annotated[StrictStr, Field(pattern=TABLE_PATTERN, max_length=127)] | None = None
    #: ...or a SELECT giving the source's rows.
    query: StrictStr | None = None

    @model_validator(mode="after")
    def _one_of_each(self) -> "DatabaseConfig":
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give url (postgresql://host/database) or url_env (a variable holding the URL), "
                             "one of them")
        if (self.table is None) == (self.query is None):
            raise ValueError("give table or query, one of them")
        if self.url is not None:
            if not re.match(r"^postgres(ql)?://", self.url):
                raise ValueError("url must start with postgresql:// (PostgreSQL is the database supported)")
            if holds_password(self.url):
                raise ValueError("url holds a password: take it out and set PGPASSWORD in the environment, or "
                                 "put the whole URL in an environment variable named by url_env")
        if self.url_env is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", self.url_env):
            raise ValueError("url_env is the name of an environment variable (e.g. SPINE_TAX_DB), not the URL")
        return self

    def describe(self) -> str:
        """Where the rows come from, without credentials (messages and quality.json)."""
        what = f"table {self.table}" if self.table else "the query"
        if self.url_env:
            return f"{what} of the database in ${self.url_env}"
        return f"{what} of {shown(self.url or '')}"


class SourceConfig(StrictModel):
    """One input file or database table, how its columns map onto standard fields, and how it is linked."""

    #: CSV or Parquet file, relative to the job file (or ``database``).
    path: StrictStr | None = None
    #: A PostgreSQL table or query instead of a file.
    database: DatabaseConfig | None = None
    #: csv or parquet; None: from the file's extension.
    format: Literal["csv", "parquet"] | None = None
    #: The column that identifies a record uniquely within the source.
    record_id: StrictStr
    #: Standard field -> the source's column (or {column, format}); unmapped fields are missing, never a
    #: disagreement.
    columns: dict[StandardField, StrictStr | ColumnConfig] = Field(default_factory=dict)
    #: strptime format(s) of the source's dates, tried in order (a column may set its own).
    date_format: StrictStr | list[StrictStr] = DEFAULT_DATE_FORMAT
    #: The source's sex codes -> f or m; None: the common codes (f, female, 2, m, male, 1, ...).
    sex_codes: dict[StrictStr, Literal["f", "m"]] | None = None
    #: The source's crossing directions -> in or out; None: the common codes (in, entry, arrival, out,
    #: exit, ...).
    direction_codes: dict[StrictStr, Literal["in", "out"]] | None = None
    #: How the source links to the base: deterministic_id, match_keys, probabilistic, hybrid or none.
    linkage: LinkageConfig | None = None
    #: Unmatched records of this source create new spine persons (after deduplicating them across
    #: every enlarging source): people absent from the base register.
    enlarge: bool = False

    @model_validator(mode="after")
    def _file_or_database(self) -> "SourceConfig":
        if (self.path is None) == (self.database is None):
            raise ValueError("give path (a CSV or Parquet file) or database (a table or query), one of them")
        if self.database is not None and self.format is not None:
            raise ValueError("format is for files; a database source is read as its columns' types say")
        return self

    @property
    def input_name(self) -> str:
        """The file's name, or where in a database the rows come from (for messages)."""
        return Path(self.path).name if self.path is not None else self.database.describe()  # type: ignore[union-attr]

    def maps(self, column: str) -> bool:
        """Whether the source can supply a linkage column: a standard field it maps, or a derived
        feature (e.g. ``surname_nysiis``) whose fields it maps."""
        return all(f in self.columns for f in DERIVED_FEATURES.get(column, (column,)))

    def column_of(self, field: str) -> str | None:
        """Source column mapped onto a standard field, or None."""
        spec = self.columns.get(field)  # type: ignore[call-overload]
        if spec is None:
            return None
        return spec if isinstance(spec, str) else spec.column

    def date_formats_of(self, field: str) -> list[str]:
        """Date formats to try for a date field, the column's own first."""
        spec = self.columns.get(field)  # type: ignore[call-overload]
        own = spec.format if isinstance(spec, ColumnConfig) else None
        chosen = own if own is not None else self.date_format
        return [chosen] if isinstance(chosen, str) else list(chosen)

    @property
    def is_movement_source(self) -> bool:
        """A source whose records are border crossings (a date and a direction)."""
        return "direction" in self.columns and "event_date" in self.columns

    @model_validator(mode="after")
    def _movement_fields_together(self) -> "SourceConfig":
        has_direction = "direction" in self.columns
        has_date = "event_date" in self.columns
        if has_direction != has_date:
            missing = "event_date" if has_direction else "direction"
            raise ValueError(f"a movement source maps both direction and event_date; {missing} is missing")
        return self
