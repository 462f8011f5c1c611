"""Reading sources into the store and checking them before any linkage work.

Every source is read with every column as VARCHAR (ids keep their leading zeros; dates are
parsed later with the formats the job gives). Checks run as SQL over the loaded tables and
collect every problem, each naming the YAML path, the file and example values.
"""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path

import duckdb

from linkage._sql import quote_ident, sql_literal
from linkage.standardise import DEFAULT_DIRECTION_CODES, DEFAULT_SEX_CODES, code_map_sql, date_sql
from spine.config import DATE_FIELDS, JobConfig, SourceConfig
from spine.errors import InputError

FILE_FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}
_EXAMPLES = 3


def raw_table(name: str) -> str:
    """Table holding a source as read, every column VARCHAR."""
    return f"raw__{name}"


def std_table(name: str) -> str:
    """Table holding a source's standardised records."""
    return f"std__{name}"


def source_format(path: Path, source: SourceConfig) -> str | None:
    """``csv`` or ``parquet``: as configured, else from the file's extension."""
    return source.format or FILE_FORMATS.get(path.suffix.lower())


def read_source_sql(path: Path, fmt: str) -> str:
    """SELECT reading a whole file with every column as VARCHAR."""
    if fmt == "csv":
        return f"SELECT * FROM read_csv({sql_literal(str(path))}, all_varchar = true, header = true)"
    return f"SELECT COLUMNS(*)::VARCHAR FROM read_parquet({sql_literal(str(path))})"


def load_sources(con: duckdb.DuckDBPyConnection, job: JobConfig, *, as_views: bool = False) -> dict[str, int]:
    """Load every source as ``raw__<name>``; return rows read per source.

    Args:
        as_views: read lazily (for ``spine validate``, which must not copy whole files).

    Raises:
        InputError: every source that is missing or unreadable, at once.
    """
    problems: list[str] = []
    rows: dict[str, int] = {}
    for name, source in job.sources.items():
        path = job.resolve(source.path)
        where = f"sources.{name}.path"
        if not path.is_file():
            problems.append(f"{where}  file not found: {path}")
            continue
        fmt = source_format(path, source)
        if fmt is None:
            problems.append(f"{where}  cannot tell the format of {path.name}; add format: csv or format: parquet")
            continue
        kind = "VIEW" if as_views else "TABLE"
        try:
            con.execute(f"CREATE OR REPLACE {kind} {quote_ident(raw_table(name))} AS {read_source_sql(path, fmt)}")
            rows[name] = con.execute(f"SELECT count(*) FROM {quote_ident(raw_table(name))}").fetchone()[0]
        except duckdb.Error as exc:
            first_line = str(exc).strip().splitlines()[0]
            problems.append(f"{where}  cannot read {path.name} as {fmt}: {first_line}")
    if problems:
        raise InputError(problems)
    return rows


def file_fingerprint(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks (input fingerprint for the run metadata)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _examples(values: list[object]) -> str:
    return ", ".join(repr(v) for v in values[:_EXAMPLES])


def check_sources(con: duckdb.DuckDBPyConnection, job: JobConfig, rows: dict[str, int]) -> None:
    """Check every loaded source: columns, record ids, and that each mapped column can be parsed.

    Raises:
        InputError: listing every problem found, each with its YAML path and example values.
    """
    problems: list[str] = []
    for name, source in job.sources.items():
        problems.extend(_check_source(con, name, source, job.resolve(source.path).name, rows[name]))
    if problems:
        raise InputError(problems)


def missing_column(where: str, column: str, file: str, present: list[str]) -> str:
    """The message for a configured column the file lacks: the YAML path, the nearest column name
    if one is close, and the columns the file has."""
    by_lower = {c.lower(): c for c in present}
    close = difflib.get_close_matches(column.lower(), list(by_lower), n=1)
    hint = f"did you mean '{by_lower[close[0]]}'? " if close else ""
    return f"{where}  column '{column}' is not in {file}; {hint}columns are: {', '.join(present)}"


def _check_source(con: duckdb.DuckDBPyConnection, name: str, source: SourceConfig, file: str,
                  n_rows: int) -> list[str]:
    table = quote_ident(raw_table(name))
    present = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    problems: list[str] = []
    if n_rows == 0:
        problems.append(f"sources.{name}  {file} has no rows (an empty source is almost always a wrong extract)")

    def missing(where: str, column: str) -> str:
        return missing_column(where, column, file, present)

    if source.record_id not in present:
        problems.append(missing(f"sources.{name}.record_id", source.record_id))
    mapped = {field: source.column_of(field) for field in source.columns}
    for field, column in mapped.items():
        if column not in present:
            problems.append(missing(f"sources.{name}.columns.{field}", column))
    if problems or n_rows == 0:
        return problems

    rid = quote_ident(source.record_id)
    blank = con.execute(
        f"SELECT n FROM (SELECT row_number() OVER () AS n, {rid} AS v FROM {table}) "
        f"WHERE NULLIF(trim(v), '') IS NULL ORDER BY n LIMIT {_EXAMPLES}").fetchall()
    if blank:
        rows_text = ", ".join(str(r[0]) for r in blank)
        problems.append(f"sources.{name}.record_id  column '{source.record_id}' is blank in data rows {rows_text}"
                        " (every record needs an id to be accounted for)")
    dupes = con.execute(
        f"SELECT {rid}, count(*) FROM {table} WHERE NULLIF(trim({rid}), '') IS NOT NULL "
        f"GROUP BY 1 HAVING count(*) > 1 ORDER BY 2 DESC, 1 LIMIT {_EXAMPLES}").fetchall()
    if dupes:
        n_dupes = con.execute(
            f"SELECT count(*) FROM (SELECT {rid} FROM {table} GROUP BY 1 HAVING count(*) > 1)").fetchone()[0]
        shown = ", ".join(f"{v!r} ({n} times)" for v, n in dupes)
        problems.append(f"sources.{name}.record_id  {n_dupes} id(s) in column '{source.record_id}' are not unique, e.g. {shown}")

    for field, column in mapped.items():
        raw = quote_ident(column)
        if field in DATE_FIELDS:
            formats = source.date_formats_of(field)
            parsed = date_sql(raw, formats)
            hint = f"set date_format or columns.{field}.format (strptime, e.g. '%d/%m/%Y')"
            what = f"no value parses as a date with {formats}"
        elif field == "sex":
            parsed = code_map_sql(raw, source.sex_codes or DEFAULT_SEX_CODES)
            hint = "map the codes with sex_codes: {\"1\": m, \"2\": f}"
            what = "no value is a known sex code"
        elif field == "direction":
            parsed = code_map_sql(raw, source.direction_codes or DEFAULT_DIRECTION_CODES)
            hint = "map the codes with direction_codes: {\"A\": in, \"D\": out}"
            what = "no value is a known direction"
        else:
            continue
        n_given, n_parsed = con.execute(
            f"SELECT count(NULLIF(trim({raw}), '')), count({parsed}) FROM {table}").fetchone()
        if n_given > 0 and n_parsed == 0:
            examples = [r[0] for r in con.execute(
                f"SELECT DISTINCT {raw} FROM {table} WHERE NULLIF(trim({raw}), '') IS NOT NULL "
                f"ORDER BY 1 LIMIT {_EXAMPLES}").fetchall()]
            problems.append(f"sources.{name}.columns.{field}  {what} in column '{column}' of {file}, "
                            f"e.g. {_examples(examples)}; {hint}")
    return problems
