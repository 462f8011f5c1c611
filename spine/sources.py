"""Reading sources into the store and checking them before any linkage work.

Every source is read with every column as VARCHAR (ids keep their leading zeros; dates are
parsed later with the formats the job gives). Checks run as SQL over the loaded tables and
collect every problem, each naming the YAML path, the file, the column and data row numbers.

Messages never quote a value of a file (it may be a date of birth, an id, or the first line of
``/etc/shadow``): a DuckDB error is reduced to its reason and line number, values are shown by
their shape ('02/01/1980' as '99/99/9999') with their row numbers, codes only when they are
at most three characters long, and column names only when the first line looks like a header.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from linkage._sql import quote_ident, sql_literal
from linkage.standardise import DEFAULT_DIRECTION_CODES, DEFAULT_SEX_CODES, code_map_sql, date_sql
from spine.config import DATE_FIELDS, JobConfig, ObservationConfig, SourceConfig
from spine.engine import DuckDBEngine, Engine, EngineError
from spine.errors import InputError

logger = logging.getLogger(__name__)

FILE_FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}
_EXAMPLES = 3
#: Warnings found while reading the sources (``source``, ``look_at``, ``message``), for
#: quality.json's plausibility and the end of ``spine run``.
SOURCE_WARNINGS = "spine__source_warnings"
#: Fields holding identifiers: a number type has lost their leading zeros (001 is 1).
IDENTIFIER_FIELDS = ("national_id", "passport_no", "claim_id")
NAME_FIELDS = ("first_name", "surname")
#: What a column name looks like; a first line with any other "name" is data, not a header.
_HEADER_NAME = re.compile(r"[^\d\s,;:|\"'+-][\w .()\[\]/#%+&-]{0,63}")
_ROW = "__spine_row"
#: Parts of DuckDB's read errors that say why, mapped to a reason that quotes nothing of the file.
_READ_REASONS = (
    ("error when sniffing", "not a valid CSV file (could not detect its columns)"),
    ("invalid unicode", "not UTF-8 text"),
    ("expected number of columns", "a row has a different number of fields than the header"),
    ("unterminated quote", "a quoted field is not closed"),
    ("maximum line size", "a line is longer than DuckDB's maximum line size"),
    ("magic bytes", "not a Parquet file"),
    ("permission denied", "permission denied"),
    ("no such file", "file not found"),
)


def raw_table(name: str) -> str:
    """Table holding a source as read, every column VARCHAR."""
    return f"raw__{name}"


def std_table(name: str) -> str:
    """Table holding a source's standardised records."""
    return f"std__{name}"


def source_format(path: Path, source: SourceConfig) -> str | None:
    """``csv`` or ``parquet``: as configured, else from the file's extension."""
    return source.format or FILE_FORMATS.get(path.suffix.lower())


def read_source_sql(path: Path, fmt: str, *, delimiter: str | None = None,
                    columns: dict[str, str] | None = None) -> str:
    """SELECT reading a whole file with every column as VARCHAR.

    Args:
        delimiter: the CSV delimiter the sniffer found: read with it and from the first line, so
            a ragged file fails instead of being read from a later line that fits.
        columns: Parquet column -> SQL giving its text (a DATE in the job's date format);
            by default every column is cast.
    """
    if fmt == "csv":
        dialect = f", delim = {sql_literal(delimiter)}, skip = 0" if delimiter else ""
        return f"SELECT * FROM read_csv({sql_literal(str(path))}, all_varchar = true, header = true{dialect})"
    if columns:
        select = ", ".join(f"{expr} AS {quote_ident(column)}" for column, expr in columns.items())
        return f"SELECT {select} FROM read_parquet({sql_literal(str(path))})"
    return f"SELECT COLUMNS(*)::VARCHAR FROM read_parquet({sql_literal(str(path))})"


def file_read_sql(db: Engine, path: Path, fmt: str) -> tuple[str | None, str | None]:
    """SELECT reading a whole file (every column as VARCHAR) on ``db``, or why it cannot be read:
    a CSV file's dialect is sniffed first (so every engine reads it with the delimiter found)."""
    if fmt != "csv":
        if db.kind == "duckdb":
            return read_source_sql(path, fmt), None
        with _file_reader(db) as files:   # every column named: Spark has no COLUMNS(*)
            try:
                names = [r[0] for r in files.run(f"DESCRIBE SELECT * FROM read_parquet({sql_literal(str(path))})")]
            except duckdb.Error as exc:
                return None, duckdb_reason(exc)
        return read_source_sql(path, fmt, columns={n: f"CAST({quote_ident(n)} AS VARCHAR)" for n in names}), None
    with _file_reader(db) as files:
        delimiter, _, problem = _csv_dialect(files, path)
    return (None, problem) if problem else (read_source_sql(path, fmt, delimiter=delimiter), None)


def duckdb_reason(exc: BaseException) -> str:
    """Why DuckDB could not read a file: a fixed reason and the line number if it gave one.

    DuckDB's own message quotes the file (``Original Line: ...``), which may be personal data
    or a secret, so none of it is passed on.
    """
    text = str(exc)
    lower = text.lower()
    reason = next((r for key, r in _READ_REASONS if key in lower), f"DuckDB cannot read it ({type(exc).__name__})")
    line = re.search(r"CSV Error on Line: (\d+)", text)
    return f"{reason} (line {line.group(1)})" if line else reason


def header_like(name: str) -> bool:
    """Whether a column name looks like one (a first line of data has dates, ids, hashes)."""
    return bool(_HEADER_NAME.fullmatch(name))


def shape_sql(raw: str) -> str:
    """A value's shape, to show instead of the value: digits 9, capitals A, other letters a
    ('02/01/1980' -> '99/99/9999'); at most 24 characters."""
    digits = f"regexp_replace({raw}, '[0-9]', '9', 'g')"
    lower = f"regexp_replace({digits}, '[\\p{{Ll}}\\p{{Lo}}\\p{{Lm}}]', 'a', 'g')"
    upper = f"regexp_replace({lower}, '[\\p{{Lu}}\\p{{Lt}}]', 'A', 'g')"
    return f"(CASE WHEN length({upper}) > 24 THEN left({upper}, 24) || '…' ELSE {upper} END)"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _rows_text(rows: list[int], total: int | None = None) -> str:
    """``data row 3``, ``data rows 1 and 4``, ``data rows 1, 4, 9 and 2 more``."""
    total = len(rows) if total is None else total
    shown = [str(r) for r in rows]
    more = total - len(rows)
    if more > 0:
        return f"data rows {', '.join(shown)} and {more:,} more"
    return f"data row{'s' if len(shown) > 1 else ''} {_and(shown)}"


def _text_problem(path: Path) -> tuple[str | None, bytes]:
    """Why a file cannot be a CSV source, judged on its first 64 KiB (and those bytes)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(1 << 16)
    except PermissionError:
        return "cannot be opened: permission denied", b""
    except OSError as exc:
        return f"cannot be opened ({exc.strerror or type(exc).__name__})", b""
    if not head.strip():
        return "is empty: not even a header row", head
    if b"\x00" in head:
        return "is not a text file (it holds NUL bytes: binary data or UTF-16 text); a CSV source is UTF-8 text", head
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:   # not merely a character cut at the end of the block
            line = head[:exc.start].count(b"\n") + 1
            return f"is not UTF-8 text (line {line}); save it as UTF-8", head
    return None, head


def _ragged(db: Engine, path: Path, delimiter: str, skipped: int) -> str:
    """Which line first has another number of fields than the header (quotes ignored: a hint);
    empty if every line has as many and the sniffer skipped none."""
    split = f"len(string_split(line, {sql_literal(delimiter)}))"
    lines = (f"SELECT row_number() OVER () AS n, {split} AS k FROM read_csv({sql_literal(str(path))}, "
             "columns = {'line': 'VARCHAR'}, delim = '\x1f', quote = '', escape = '', header = false, "
             "auto_detect = false, strict_mode = false)")
    try:
        found = db.run(f"WITH l AS ({lines}) SELECT l.n, l.k, h.k FROM l, (SELECT k FROM l WHERE n = 1) AS h "
                       "WHERE l.k <> h.k ORDER BY l.n LIMIT 1")
    except duckdb.Error:
        found = []
    if found:
        n, k, header = found[0]
        return (f"rows do not all have the same number of fields: line {n} has {k}, the header {header} "
                "(a ragged row, a delimiter inside a value, or lines before the header)")
    if not skipped:
        return ""
    return (f"DuckDB finds a consistent table only after line {skipped}: ragged rows, or lines before the "
            "header row")


def _csv_dialect(db: Engine, path: Path) -> tuple[str | None, list[str], str | None]:
    """The delimiter, the header's names as written, or why the file is not a CSV table."""
    problem, head = _text_problem(path)
    if problem:
        return None, [], problem
    try:
        delimiter, skipped, n_columns = db.run(
            f"SELECT Delimiter, SkipRows, len(Columns) FROM sniff_csv({sql_literal(str(path))})")[0]
    except duckdb.Error as exc:
        return None, [], duckdb_reason(exc)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    first = text.splitlines()[0] if text else ""
    if skipped:
        return None, [], _ragged(db, path, delimiter, skipped)
    if n_columns == 1:   # the sniffer gave up on a delimiter the header has: ragged rows?
        candidate = max(",;|\t", key=first.count)
        if first.count(candidate):
            ragged = _ragged(db, path, candidate, 0)
            if ragged:
                return None, [], ragged
    header = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    return delimiter, header, None


def _duplicate_headers(header: list[str], names: list[str]) -> list[list[tuple[int, str, str]]]:
    """Header names written more than once (DuckDB compares them ignoring case and reads the
    later ones as ``nin_1``): for each, (position, name as written, name as read)."""
    if len(header) != len(names):
        return []
    groups: dict[str, list[tuple[int, str, str]]] = {}
    for i, (written, read) in enumerate(zip(header, names), start=1):
        groups.setdefault(written.strip().lower(), []).append((i, written, read))
    return [g for key, g in groups.items() if key and len(g) > 1]


def _mapped(name: str, source: SourceConfig) -> dict[str, str]:
    """YAML path -> column, for the record id and every mapped column."""
    paths = {f"sources.{name}.record_id": source.record_id}
    paths.update({f"sources.{name}.columns.{field}": source.column_of(field) for field in source.columns})
    return paths


def _header_findings(name: str, source: SourceConfig, file: str, header: list[str],
                     names: list[str]) -> tuple[list[str], list[str]]:
    """Duplicate header names: an error where the job maps one, else a warning."""
    problems, warnings = [], []
    for group in _duplicate_headers(header, names):
        if not all(header_like(written) for _, written, _ in group):
            continue   # not a header row; the missing columns say so
        where = [path for path, column in _mapped(name, source).items()
                 if column.strip().lower() in {w.strip().lower() for _, w, _ in group} | {r.lower() for _, _, r in group}]
        columns = _and([str(i) for i, _, _ in group])
        read_as = _and([f"'{r}'" for _, _, r in group])
        what = (f"column '{group[0][1]}' appears {len(group)} times in the header of {file} "
                f"(columns {columns}, read as {read_as})")
        if where:
            problems += [f"{path}  {what}: rename them in the file so that the job names one" for path in where]
        else:
            warnings.append(f"sources.{name}.path  {what}; the job maps none of them, but the extract may be wrong")
    return problems, warnings


def _type_kind(sql_type: str) -> str:
    """``text``, ``integer``, ``float``, ``date``, ``binary`` or ``other`` for a typed column's DuckDB type."""
    t = sql_type.upper()
    if t.endswith("]") or t.startswith(("STRUCT", "MAP", "UNION")):
        return "other"   # a list or a record: no field holds one
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
             "UBIGINT", "UHUGEINT") or re.fullmatch(r"DECIMAL\(\d+,\s*0\)", t):
        return "integer"
    if t in ("FLOAT", "DOUBLE", "REAL") or t.startswith("DECIMAL"):
        return "float"
    if t.startswith(("DATE", "TIMESTAMP")):
        return "date"
    if t.startswith(("VARCHAR", "ENUM")) or t == "UUID":
        return "text"
    if t == "BLOB":
        return "binary"
    return "other"


def _parquet_columns(db: Engine, path: Path, name: str, source: SourceConfig
                     ) -> tuple[dict[str, str] | None, list[str], list[str]]:
    """How to read each Parquet column as text, checked against the field it is mapped to."""
    try:
        types = {r[0]: r[1] for r in db.run(
            f"DESCRIBE SELECT * FROM read_parquet({sql_literal(str(path))})")}
    except duckdb.Error as exc:
        return None, [f"sources.{name}.path  cannot read {path.name} as parquet: {duckdb_reason(exc)}"], []
    return typed_columns(types, path.name, name, source)


def typed_columns(types: dict[str, str], label: str, name: str, source: SourceConfig
                  ) -> tuple[dict[str, str], list[str], list[str]]:
    """How to read each typed column (Parquet, a database table) as text, checked against the field
    it is mapped to: (column -> SQL, problems, warnings).

    A floating-point identifier has lost its leading zeros and prints 1.0: an error. An integer
    one is read as text with a warning. A DATE mapped to a date field is written in the field's
    date format, so the job's format parses it.
    """
    problems, warnings = [], []
    select = {column: f"CAST({quote_ident(column)} AS VARCHAR)" for column in types}
    fields = {"record_id": source.record_id, **{f: source.column_of(f) for f in source.columns}}
    for field, column in fields.items():
        if column not in types:
            continue   # reported as a missing column
        sql_type, kind = types[column], _type_kind(types[column])
        where = f"sources.{name}.record_id" if field == "record_id" else f"sources.{name}.columns.{field}"
        what = f"{where}  column '{column}' of {label} is {sql_type}"
        identifier = field == "record_id" or field in IDENTIFIER_FIELDS
        if kind == "float":
            problems.append(f"{what}: a floating-point number loses leading zeros and prints 1 as 1.0; export it as "
                            + ("DATE or text" if field in DATE_FIELDS else "text"))
        elif kind == "date" and field in DATE_FIELDS:
            fmt = source.date_formats_of(field)[0]
            value = quote_ident(column)
            if "TIME ZONE" in sql_type.upper():   # the day in UTC, not in this machine's time zone
                value = f"timezone('UTC', {value})"
            select[column] = f"strftime({value}, {sql_literal(fmt)})"
        elif kind == "date":
            problems.append(f"{what}, a date, but {field} is not a date field; is the mapping right?")
        elif kind == "other" or (kind == "binary" and source.database is not None):
            problems.append(f"{what}; export it as text")   # a server's binary is an extension type
        elif kind == "integer" and field in NAME_FIELDS:
            problems.append(f"{what}, a number, but names are text; is the mapping right?")
        elif kind == "integer" and identifier:
            warnings.append(f"{what}: read as text, but leading zeros may already be lost (001 is 1); "
                            "export it as text if its values can start with 0")
    return select, problems, warnings


def load_sources(db: Engine, job: JobConfig, *, as_views: bool = False,
                 problems: list[str] | None = None) -> dict[str, int]:
    """Load every source as ``raw__<name>``; return rows read per source.

    Warnings (an integer identifier, a duplicate header name no mapping uses) go to
    ``spine__source_warnings``, which quality.json's plausibility reads; ``spine validate``
    (``as_views``), which writes no quality.json, logs them.

    Args:
        as_views: read lazily (for ``spine validate``, which must not copy whole files).
        problems: where given, the problems are added to it and the sources that loaded returned,
            instead of raising (``spine validate`` goes on to check those).

    Raises:
        InputError: every source that is missing or unreadable, at once.
    """
    with _file_reader(db) as files:
        return _load_sources(db, files, job, as_views=as_views, problems=problems)


@contextmanager
def _file_reader(db: Engine) -> Iterator[Engine]:
    """The engine that looks into the source files before they are read (a CSV file's dialect,
    a Parquet file's column types): ``db`` itself, or on another engine than DuckDB an in-memory
    DuckDB, which sniffs as the checks expect (the files are then read by ``db``'s own readers)."""
    if db.kind == "duckdb":
        yield db
        return
    with DuckDBEngine.open() as files:
        yield files


def _load_sources(db: Engine, files: Engine, job: JobConfig, *, as_views: bool,
                  problems: list[str] | None) -> dict[str, int]:
    collect = problems
    problems = []
    warnings: list[tuple[str, str]] = []
    rows: dict[str, int] = {}
    for name, source in job.sources.items():
        if source.database is not None:
            loaded = _load_database(db, name, source)
            problems += loaded[1]
            warnings += [(name, w) for w in loaded[2]]
            if loaded[0] is not None:
                rows[name] = loaded[0]
            continue
        path = job.resolve(source.path)  # type: ignore[arg-type]
        where = f"sources.{name}.path"
        if not path.is_file():
            problems.append(f"{where}  file not found: {path}")
            continue
        fmt = source_format(path, source)
        if fmt is None:
            problems.append(f"{where}  cannot tell the format of {path.name}; add format: csv or format: parquet")
            continue
        kind = "VIEW" if as_views else "TABLE"
        header: list[str] = []
        if fmt == "csv":
            delimiter, header, problem = _csv_dialect(files, path)
            if problem:
                problems.append(f"{where}  cannot read {path.name} as csv: {problem}")
                continue
            sql = read_source_sql(path, fmt, delimiter=delimiter)
        else:
            columns, found, warned = _parquet_columns(files, path, name, source)
            problems += found
            warnings += [(name, w) for w in warned]
            if columns is None or found:
                continue
            sql = read_source_sql(path, fmt, columns=columns)
        try:
            db.run(f"CREATE OR REPLACE {kind} {quote_ident(raw_table(name))} AS {sql}")
            rows[name] = db.run(f"SELECT count(*) FROM {quote_ident(raw_table(name))}")[0][0]
        except (duckdb.Error, EngineError) as exc:
            problems.append(f"{where}  cannot read {path.name} as {fmt}: {duckdb_reason(exc)}")
            continue
        if header:
            names = [r[0] for r in db.run(f"DESCRIBE {quote_ident(raw_table(name))}")]
            found, warned = _header_findings(name, source, path.name, header, names)
            problems += found
            warnings += [(name, w) for w in warned]
            if found:
                rows.pop(name)
    if problems and collect is None:
        raise InputError(problems)
    if collect is not None:
        collect += problems
    _record_warnings(db, warnings, log=as_views)
    return rows


def _load_database(db: Engine, name: str, source: SourceConfig
                   ) -> tuple[int | None, list[str], list[str]]:
    """A database source into ``raw__<name>`` (every column as text, as from a file): (rows or
    None, problems, warnings). ``spine validate`` reads it too: a server cannot be read lazily."""
    from spine.engine.postgres import read_database

    fetched = f"database__{name}"
    problem = read_database(db, f"sources.{name}.database", source.database, fetched)  # type: ignore[arg-type]
    if problem:
        return None, [problem], []
    types = {r[0]: r[1] for r in db.run(f"DESCRIBE {quote_ident(fetched)}")}
    select, problems, warnings = typed_columns(types, source.input_name, name, source)
    if problems:
        return None, problems, warnings
    columns = ", ".join(f"{expr} AS {quote_ident(column)}" for column, expr in select.items())
    db.run(f"CREATE OR REPLACE TABLE {quote_ident(raw_table(name))} AS SELECT {columns} FROM {quote_ident(fetched)}")
    db.run(f"DROP TABLE {quote_ident(fetched)}")
    return db.run(f"SELECT count(*) FROM {quote_ident(raw_table(name))}")[0][0], [], warnings


def content_hash(db: Engine, name: str) -> str:
    """SHA-256 of a loaded source's rows in any order (a database source's, in quality.json: two
    runs read the same rows where it is equal): each row's MD5, sorted, hashed in 4,096 buckets
    (so no single string holds every row), and the buckets' hashes hashed in order."""
    table = quote_ident(raw_table(name))
    return db.run(f"""
        WITH r AS (SELECT md5(CAST(t AS VARCHAR)) AS h FROM {table} AS t),
             b AS (SELECT left(h, 3) AS k, sha256(string_agg(h, '' ORDER BY h)) AS bh FROM r GROUP BY 1)
        SELECT coalesce(sha256(string_agg(bh, '' ORDER BY k)), sha256('')) FROM b""")[0][0]


def _record_warnings(db: Engine, warnings: list[tuple[str, str]], *, log: bool) -> None:
    db.run(f"CREATE OR REPLACE TABLE {SOURCE_WARNINGS} (source VARCHAR, look_at VARCHAR, message VARCHAR)")
    for source, text in warnings:
        look_at, _, message = text.partition("  ")
        db.run(f"INSERT INTO {SOURCE_WARNINGS} VALUES (?, ?, ?)", [source, look_at, message])
        if log:
            logger.warning("%s", text)


def file_fingerprint(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks (input fingerprint for the run metadata)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sources(db: Engine, job: JobConfig, rows: dict[str, int]) -> None:
    """Check every loaded source: columns, record ids, and that each mapped column can be parsed.

    Raises:
        InputError: listing every problem found, each with its YAML path, column and row numbers.
    """
    problems: list[str] = []
    for name, source in job.sources.items():
        if name not in rows:   # not loaded: its problem is already reported (spine validate)
            continue
        problems.extend(_check_source(db, name, source, source.input_name, rows[name], job.observation))
    if problems:
        raise InputError(problems)


def missing_column(where: str, column: str, file: str, present: list[str]) -> str:
    """The message for a configured column the file lacks: the YAML path, the nearest column name
    if one is close, and the columns the file has, unless its first line does not look like a
    header (then it may be data, and none is shown)."""
    if len(present) == 1 and not header_like(present[0]):
        return (f"{where}  column '{column}' is not in {file}, which reads as a single column whose first line is "
                "not a header row (not shown): is it a CSV file with a header, delimited by , ; | or tab?")
    if not all(header_like(c) for c in present):
        return (f"{where}  column '{column}' is not in {file}; its first line does not look like a header row "
                f"of column names ({len(present)} columns, not shown as they may be data): a source needs one")
    by_lower = {c.lower(): c for c in present}
    close = difflib.get_close_matches(column.lower(), list(by_lower), n=1)
    hint = f"did you mean '{by_lower[close[0]]}'? " if close else ""
    return f"{where}  column '{column}' is not in {file}; {hint}columns are: {', '.join(present)}"


def _examples(db: Engine, numbered: str, bad: str, shown: str) -> str:
    """Up to three shown forms of bad values, each with the data rows holding it."""
    found = db.run(
        f"SELECT shown, list({_ROW} ORDER BY {_ROW})[1:{_EXAMPLES}], count(*) FROM "
        f"(SELECT {_ROW}, {shown} AS shown FROM {numbered} WHERE {bad}) "
        f"GROUP BY shown ORDER BY min({_ROW}) LIMIT {_EXAMPLES}")
    return ", ".join(f"'{s}' ({_rows_text(rows, n)})" for s, rows, n in found)


def _code_shown(raw: str) -> str:
    """A code as it is when it is short (codes are not personal), else its shape."""
    return f"(CASE WHEN length(trim({raw})) <= 3 THEN trim({raw}) ELSE {shape_sql(f'trim({raw})')} END)"


def _check_source(db: Engine, name: str, source: SourceConfig, file: str,
                  n_rows: int, observation: ObservationConfig | None = None) -> list[str]:
    table = quote_ident(raw_table(name))
    present = [r[0] for r in db.run(f"DESCRIBE {table}")]
    problems: list[str] = []
    if n_rows == 0:
        problems.append(f"sources.{name}  {file} has no rows (an empty source is almost always a wrong extract)")

    def missing(where: str, column: str) -> str:
        return missing_column(where, column, file, present)

    mapped = {field: source.column_of(field) for field in source.columns}
    absent = [(where, column) for where, column in _mapped(name, source).items() if column not in present]
    none_present = len(absent) == len(_mapped(name, source))   # a file saved without its header: data
    if absent and (none_present or not all(header_like(c) for c in present)):   # one message: no header
        problems.append(f"sources.{name}.path  {file} has no header row naming the columns the job maps "
                        f"({', '.join(repr(c) for _, c in absent)}): " + (
                            "it reads as a single column whose first line (not shown) has no , ; | or tab: "
                            "is it a CSV file?" if len(present) == 1 else
                            f"its first line {'names none of them' if none_present else 'does not look like column names'} "
                            f"({len(present)} columns, not shown: they may be data)"))
        return problems
    problems += [missing(where, column) for where, column in absent]
    if problems or n_rows == 0:
        return problems

    numbered = f"(SELECT row_number() OVER () AS {_ROW}, * FROM {table})"
    rid = quote_ident(source.record_id)
    parsers: dict[str, tuple[str, str, str]] = {}   # field -> (parsed SQL, what failed, hint)
    for field, column in mapped.items():
        raw = quote_ident(column)
        if field in DATE_FIELDS:
            formats = source.date_formats_of(field)
            parsers[field] = (date_sql(raw, formats), f"no value parses as a date with {formats}",
                              f"set date_format or columns.{field}.format (strptime, e.g. '%d/%m/%Y')")
        elif field == "sex":
            parsers[field] = (code_map_sql(raw, source.sex_codes or DEFAULT_SEX_CODES), "no value is a known sex code",
                              "map the codes with sex_codes: {\"1\": m, \"2\": f}")
        elif field == "direction":
            parsers[field] = (code_map_sql(raw, source.direction_codes or DEFAULT_DIRECTION_CODES),
                              "no value is a known direction", "map the codes with direction_codes: {\"A\": in, \"D\": out}")
    window = observation if observation is not None and source.is_movement_source else None
    # One pass over the source for every count the checks need.
    counts = [f"count(NULLIF(trim({rid}), ''))"]
    counts += [f"count(NULLIF(trim({quote_ident(c)}), ''))" for c in mapped.values()]
    counts += [f"count({parsed})" for parsed, _, _ in parsers.values()]
    if window is not None:
        event = parsers["event_date"][0]
        start, end = (f"DATE {sql_literal(d.isoformat())}" for d in (window.start, window.end))
        counts += [f"count({event}) FILTER (WHERE {event} BETWEEN {start} AND {end})",
                   f"count({event}) FILTER (WHERE {event} < {start})"]
    found = db.run(f"SELECT {', '.join(counts)} FROM {table}")[0]
    ids_given, given = found[0], dict(zip(mapped, found[1:1 + len(mapped)]))
    parsed_n = dict(zip(parsers, found[1 + len(mapped):1 + len(mapped) + len(parsers)]))

    if ids_given < n_rows:
        blank = [r[0] for r in db.run(
            f"SELECT {_ROW} FROM {numbered} WHERE NULLIF(trim({rid}), '') IS NULL ORDER BY 1 LIMIT {_EXAMPLES}")]
        every = " every row:" if ids_given == 0 else ""
        problems.append(f"sources.{name}.record_id  column '{source.record_id}' is blank in{every} "
                        f"{_rows_text(blank, n_rows - ids_given)} (every record needs an id to be accounted for)")
    dupes = db.run(
        f"SELECT rows[1:{_EXAMPLES}], n, count(*) OVER () FROM (SELECT list({_ROW} ORDER BY {_ROW}) AS rows, "
        f"count(*) AS n FROM {numbered} WHERE NULLIF(trim({rid}), '') IS NOT NULL GROUP BY {rid} HAVING count(*) > 1) "
        f"ORDER BY rows[1] LIMIT {_EXAMPLES}")
    if dupes:
        shown = "; ".join(_rows_text(rows, n) for rows, n, _ in dupes)
        problems.append(f"sources.{name}.record_id  {dupes[0][2]:,} id(s) in column '{source.record_id}' are not "
                        f"unique, e.g. the same id in {shown}")

    for field, column in mapped.items():
        if given[field] == 0:
            problems.append(f"sources.{name}.columns.{field}  column '{column}' of {file} is blank in every one of "
                            f"its {n_rows:,} rows: a wrong column, or an extract that left it out")
            continue
        if field not in parsers or parsed_n[field] > 0:
            continue
        parsed, what, hint = parsers[field]
        raw = quote_ident(column)
        shown = shape_sql(f"trim({raw})") if field in DATE_FIELDS else _code_shown(raw)
        examples = _examples(db, numbered, f"NULLIF(trim({raw}), '') IS NOT NULL", shown)
        kind = "values shaped " if field in DATE_FIELDS else ""
        problems.append(f"sources.{name}.columns.{field}  {what} in column '{column}' of {file}, "
                        f"e.g. {kind}{examples}; {hint}")
    if window is not None and parsed_n.get("event_date") and given.get("event_date"):
        inside, before = found[-2], found[-1]
        if inside == 0:
            side = ("before its start" if before == parsed_n["event_date"] else
                    "after its end" if before == 0 else "before its start or after its end")
            problems.append(
                f"sources.{name}.columns.event_date  none of the {parsed_n['event_date']:,} dates in column "
                f"'{mapped['event_date']}' of {file} falls inside observation ({window.start} to {window.end}): "
                f"all are {side}, so every record would be rejected; is the window or the date format right?")
    return problems
