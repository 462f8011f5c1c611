"""Clerical review: pairs in the review band out to reviewers, their decisions back into the run.

A run keeps every pair it put in the clerical band in the store (``review__pairs``), with each
comparison's partial match weight (the waterfall). ``export_review`` writes them with both
records' fields for a reviewer; ``import_decisions`` checks a reviewed file against the last run
and saves it as the job's decisions file (``review.decisions`` in the YAML, by default
``review/decisions.csv`` next to the job file). On the next run ``apply_decisions`` lets those
decisions override the model: ``match`` links the record to the named person (method
``clerical``), ``non_match`` leaves it unlinked (reason ``clerical_non_match``).

The export holds personal data by design (a reviewer must see the names); it is written only
on request (0600), never into the run's outputs or logs, and no message names a value from it.
Spreadsheets run a cell that starts like a formula, so the export prefixes such cells with ``'``
(OWASP's advice on CSV injection) and the import takes the prefix off again.

A saved decision can never stop a run: the import refuses a file with any problem (saving
nothing), and a decision that no longer fits the inputs (its record or person gone) is skipped at
run time and counted as stale in quality.json.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from linkage._sql import materialise, quote_ident, sql_literal
from spine.config import JobConfig
from spine.engine import DuckDBEngine, Engine
from spine.errors import ConfigError, InputError
from spine.outputs import check_write_target
from spine.sources import std_table

logger = logging.getLogger(__name__)

REVIEW_PAIRS = "review__pairs"
DECISIONS = "review__decisions"
DECISION_COLUMNS = ("source", "record_id", "person_id", "decision")
DECISION_VALUES = ("match", "non_match")
FIELDS = ("first_name", "surname", "dob", "sex", "nationality", "country_of_birth", "postcode", "house_number",
          "street", "locality")
#: Columns of an export: a header holding none of them is not a header (it may be a row of names).
EXPORT_COLUMNS = frozenset((*DECISION_COLUMNS, "match_probability", "match_weight", "waterfall",
                            *(f"record_{f}" for f in FIELDS), *(f"person_{f}" for f in FIELDS)))
#: A cell a spreadsheet would take for a formula (OWASP: = + - @, tab, carriage return), also after
#: leading blanks. Leading quotes are part of it so that adding one ``'`` is undone exactly on import.
FORMULA_START = r"^'*[\t\n\f\r ]*[=+\-@\t\r]"
#: Rows named per problem in a message (the rest are counted).
ROWS_SHOWN = 20

Problem = tuple[int, str, str]   # spreadsheet row number, column(s), what is wrong (never a value)


def create_review_pairs(db: Engine) -> None:
    """An empty review table; each probabilistic source appends its band pairs."""
    db.run(f"""CREATE OR REPLACE TABLE {REVIEW_PAIRS} (source VARCHAR, record_id VARCHAR,
        person_id VARCHAR, match_probability DOUBLE, match_weight DOUBLE, waterfall VARCHAR)""")


def add_review_pairs(db: Engine, source: str, links: str, candidates: str | None,
                     weight_columns: list[str]) -> None:
    """Keep the pairs a source sent to review, with their partial weights as ``name=weight;...``
    (no waterfall for a deterministic source's identifier conflicts)."""
    if candidates is None:
        db.run(f"""INSERT INTO {REVIEW_PAIRS}
            SELECT {sql_literal(source)}, record_id, entity_id, match_probability, match_weight, NULL
            FROM {quote_ident(links)} WHERE status = 'review'""")
        return
    if weight_columns:
        parts = ", ".join(f"'{c.removeprefix('mw_')}=' || round(c.{quote_ident(c)}, 2)" for c in weight_columns)
        waterfall = f"concat_ws('; ', {parts})"
    else:
        waterfall = "CAST(NULL AS VARCHAR)"
    db.run(f"""INSERT INTO {REVIEW_PAIRS}
        SELECT {sql_literal(source)}, l.record_id, l.entity_id, l.match_probability, l.match_weight, {waterfall}
        FROM {quote_ident(links)} AS l
        LEFT JOIN {quote_ident(candidates)} AS c ON c.record_id = l.record_id AND c.entity_id = l.entity_id
        WHERE l.status = 'review'
        QUALIFY row_number() OVER (PARTITION BY l.record_id ORDER BY c.match_probability DESC NULLS LAST) = 1
    """)


def decisions_path(job: JobConfig) -> Path:
    """Where the job's clerical decisions live (outside the output folder, which runs replace)."""
    return job.resolve(job.review.decisions)


# --- reading a reviewed file -------------------------------------------------------------------

def read_table(path: Path) -> tuple[list[str], list[tuple[int, list[str]]], str]:
    """A small CSV as a spreadsheet saves it: the header, the rows numbered as the spreadsheet shows
    them (the header is row 1), and the encoding found. Excel writes UTF-8 with a byte-order mark,
    UTF-16 ("Unicode text") or Windows-1252, separated by commas, semicolons (in countries with a
    decimal comma) or tabs; all are read, so a reviewer's save never reads as "missing column"."""
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        try:
            text, encoding = data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            raise ConfigError([f"{path}: not text in UTF-8 or Windows-1252; save it as CSV (UTF-8)"]) from None
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)   # a tie (none at all) keeps the comma
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise ConfigError([f"{path}: not a readable CSV file ({exc})"]) from None
    header = [h.strip().lower() for h in rows[0]] if rows else []
    return header, [(i, row) for i, row in enumerate(rows[1:], start=2) if any(c.strip() for c in row)], encoding


def unescape_cell(value: str) -> str:
    """Undo the export's ``'`` before a formula-like cell (exactly: see FORMULA_START)."""
    return value[1:] if value.startswith("'") and re.match(FORMULA_START, value[1:]) else value


def _decided_rows(path: Path, header: list[str], rows: list[tuple[int, list[str]]], *,
                  unescape: bool) -> tuple[list[tuple[int, str, str, str, str]], list[Problem]]:
    """The rows holding a decision, as (row, source, record_id, person_id, decision), and what is
    wrong with the others. Identical repeats count once; two different decisions for one record
    are a problem (no silent pick)."""
    missing = [c for c in DECISION_COLUMNS if c not in header]
    if missing:
        known = [h for h in header if h in EXPORT_COLUMNS]
        found = (f"the columns found: {', '.join(header)}" if known else
                 f"its first row ({len(header)} cells) is not the header of `spine review export`")
        raise ConfigError([f"{path}: missing column(s) {', '.join(missing)}; "
                           f"expected {', '.join(DECISION_COLUMNS)}; {found}"])
    at = {c: header.index(c) for c in DECISION_COLUMNS}
    decided, problems, first = [], [], {}
    for i, row in rows:
        cells = {c: row[k] if k < len(row) else "" for c, k in at.items()}
        if unescape:
            cells = {c: unescape_cell(v) for c, v in cells.items()}
        decision = cells["decision"].strip().lower()
        if not decision:
            continue
        source, record, person = cells["source"].strip(), cells["record_id"], cells["person_id"].strip()
        found = [(i, "decision", "expected match, non_match or blank")] if decision not in DECISION_VALUES else []
        found += [(i, c, "blank") for c, v in (("source", source), ("record_id", record), ("person_id", person))
                  if not v.strip()]
        if found:
            problems += found
            continue
        earlier = first.setdefault((source, record), (i, person, decision))
        if earlier[1:] != (person, decision):
            problems.append((i, "source, record_id", f"a different decision for the same record as row {earlier[0]}"))
        elif earlier[0] == i:
            decided.append((i, source, record, person, decision))
    return decided, problems


def _summary(problems: list[Problem]) -> list[str]:
    """One line per kind of problem with its rows (a reviewed file may repeat one mistake)."""
    grouped: dict[tuple[str, str], list[int]] = {}
    for row, column, what in sorted(problems):
        grouped.setdefault((column, what), []).append(row)
    lines = []
    for (column, what), rows in sorted(grouped.items(), key=lambda item: item[1][0]):
        shown = ", ".join(str(r) for r in rows[:ROWS_SHOWN]) + (f" and {len(rows) - ROWS_SHOWN} more"
                                                                 if len(rows) > ROWS_SHOWN else "")
        label = "columns" if "," in column else "column"
        lines.append(f"row{'s' if len(rows) > 1 else ''} {shown}, {label} {column}: {what}")
    return lines


def _listed(path: Path, problems: list[Problem], advice: str) -> str:
    lines = _summary(problems)
    head = f"{path}: {len(lines)} problem{'s' if len(lines) > 1 else ''}; {advice}"
    return "\n  ".join([head, *lines])


def _as_arrow(decided: list[tuple[int, str, str, str, str]]) -> pa.Table:
    names = ("row", *DECISION_COLUMNS)
    return pa.table({n: pa.array([d[k] for d in decided], type=pa.int64() if n == "row" else pa.string())
                     for k, n in enumerate(names)})


# --- at run time -------------------------------------------------------------------------------

def load_decisions(db: Engine, job: JobConfig) -> int:
    """Read the decisions file (if any) into ``review__decisions``. A row no import would save (a
    hand edit) is one clear error naming its rows; decisions that no longer fit the inputs are
    dropped later, by ``check_decision_ids``."""
    path = decisions_path(job)
    db.run(f"CREATE OR REPLACE TABLE {DECISIONS} (source VARCHAR, record_id VARCHAR, "
           "person_id VARCHAR, decision VARCHAR)")
    if not path.exists():
        return 0
    header, rows, _ = read_table(path)
    try:
        decided, problems = _decided_rows(path, header, rows, unescape=False)
    except ConfigError as exc:
        raise InputError(exc.problems) from None
    if problems:
        raise InputError(_listed(path, problems, "fix those rows by hand, or delete the file to drop every decision"))
    db.register("review__decisions_read", _as_arrow(decided))
    try:
        db.run(f"INSERT INTO {DECISIONS} SELECT source, record_id, person_id, decision "
               "FROM review__decisions_read")
    finally:
        db.unregister("review__decisions_read")
    return len(decided)


def check_decision_ids(db: Engine, job: JobConfig) -> int:
    """Drop the decisions that no longer fit the inputs (a source left the job, a record is gone or
    now rejected, a person is gone) and return how many: the inputs changed since the review, and a
    stale decision must not stop the run. A warning says how many; quality.json counts them."""
    linked = [name for name, _ in job.ordered_sources[1:]]
    parts = [f"""SELECT source, record_id, 'a source the job does not link' AS reason FROM {DECISIONS}
                 WHERE source NOT IN ({', '.join(sql_literal(n) for n in linked) or 'NULL'})"""]
    for name in linked:
        parts.append(f"""
            SELECT d.source, d.record_id, CASE WHEN s.record_id IS NULL THEN 'a record no longer in its source'
                                               ELSE 'a record now rejected' END
            FROM {DECISIONS} AS d LEFT JOIN {quote_ident(std_table(name))} AS s ON s.record_id = d.record_id
            WHERE d.source = {sql_literal(name)} AND (s.record_id IS NULL OR s.reject_reason IS NOT NULL)""")
    parts.append(f"""SELECT d.source, d.record_id, 'a person no longer in the spine' FROM {DECISIONS} AS d
                     ANTI JOIN spine__reference AS r ON r.entity_id = d.person_id""")
    materialise(db, "review__stale", " UNION ALL ".join(parts))
    reasons = dict(db.run("SELECT reason, count(DISTINCT (source, record_id)) FROM review__stale "
                          "GROUP BY ALL ORDER BY 1"))
    if not reasons:
        return 0
    materialise(db, DECISIONS, f"""   -- rewritten in place: DuckDB reads the old table first
        SELECT * FROM {DECISIONS} AS d ANTI JOIN review__stale AS s USING (source, record_id)""")
    stale = db.run("SELECT count(DISTINCT (source, record_id)) FROM review__stale")[0][0]
    logger.warning("%d saved clerical decision(s) skipped: the inputs changed since the review (%s); "
                   "quality.json linkage.clerical_decisions_stale counts them", stale,
                   ", ".join(f"{n} {reason}" for reason, n in reasons.items()))
    return int(stale)


def apply_decisions(db: Engine, source: str, links: str) -> int:
    """Let clerical decisions override the model's status for a source; return how many took
    effect: a match, or a non_match of the pair the model proposed (a non_match of a pair the model
    no longer proposes has nothing to override)."""
    before = db.run(f"SELECT count(*) FROM {quote_ident(links)}")[0][0]
    decisions = f"(SELECT * FROM {DECISIONS} WHERE source = {sql_literal(source)})"
    applied = db.run(f"""
        SELECT count(*) FROM {quote_ident(links)} AS l JOIN {decisions} AS d ON d.record_id = l.record_id
        WHERE l.status <> 'rejected' AND (d.decision = 'match' OR l.entity_id = d.person_id)""")[0][0]
    materialise(db, links, f"""   -- rewritten in place: DuckDB reads the old table first
        SELECT l.record_id,
               CASE WHEN d.decision = 'match' THEN d.person_id
                    WHEN d.decision = 'non_match' AND l.entity_id = d.person_id THEN NULL
                    ELSE l.entity_id END AS entity_id,
               CASE WHEN d.decision = 'match' THEN 'linked'
                    WHEN d.decision = 'non_match' AND l.entity_id = d.person_id THEN 'unlinked'
                    ELSE l.status END AS status,
               CASE WHEN d.decision = 'match' THEN 'clerical'
                    WHEN d.decision = 'non_match' AND l.entity_id = d.person_id THEN NULL
                    ELSE l.method END AS method,
               l.matched_on, l.match_probability, l.match_weight,
               CASE WHEN d.decision = 'match' THEN NULL
                    WHEN d.decision = 'non_match' AND l.entity_id = d.person_id THEN 'clerical_non_match'
                    ELSE l.reason END AS reason
        FROM {quote_ident(links)} AS l
        LEFT JOIN {decisions} AS d
            ON d.record_id = l.record_id AND l.status <> 'rejected'   -- a clerk cannot link an unusable record""")
    after = db.run(f"SELECT count(*) FROM {quote_ident(links)}")[0][0]
    assert before == after, "clerical decisions must not change the number of records"
    return int(applied)


# --- export and import -------------------------------------------------------------------------

def _write_private(target: Path, write: Callable[[Path], None]) -> None:
    """Write ``target`` through a private folder beside it, then rename: the file holds personal
    data (0600), and a reader never sees half of it nor an old file half replaced."""
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))   # 0700
    try:
        temp = folder / target.name
        write(temp)
        os.chmod(temp, 0o600)
        os.replace(temp, target)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _open_store(store: Path, attach: Engine | None = None) -> Engine:
    """The last run's store, read-only (one clear error if a run holds it or it is not a store)."""
    if not store.exists():
        raise ConfigError([f"{store}: no store yet; run the job first"])
    try:
        if attach is not None:
            attach.run(f"ATTACH {sql_literal(str(store))} AS run (READ_ONLY)")
            return attach
        return DuckDBEngine.open(store, read_only=True)
    except duckdb.Error as exc:
        raise ConfigError([f"{store}: cannot read the last run's store ({type(exc).__name__}); "
                           "is a run of this job still going?"]) from None


def _neutralised(column: str) -> str:
    """A text cell with ``'`` in front if a spreadsheet would run it as a formula."""
    c = quote_ident(column)
    return f"CASE WHEN regexp_matches({c}, {sql_literal(FORMULA_START)}) THEN '''' || {c} ELSE {c} END AS {c}"


def export_review(job: JobConfig, out: Path) -> int:
    """Write the last run's review pairs with both records' fields; return the number of pairs."""
    out = check_write_target(job, out, "spine review export --out", personal=True)
    store = job.store_path
    with _open_store(store) as db:
        tables = {r[0] for r in db.run("SELECT table_name FROM information_schema.tables")}
        if REVIEW_PAIRS not in tables:
            raise ConfigError([f"{store}: this run kept no review pairs (no source has a review_band)"])
        sources = [r[0] for r in db.run(f"SELECT DISTINCT source FROM {REVIEW_PAIRS} ORDER BY 1")]
        parts = []
        for name in sources:
            record_fields = ", ".join(f"s.{f} AS record_{f}" for f in FIELDS)
            person_fields = ", ".join(f"r.{f} AS person_{f}" for f in FIELDS)
            parts.append(f"""
                SELECT p.source, p.record_id, p.person_id, round(p.match_probability, 4) AS match_probability,
                       round(p.match_weight, 2) AS match_weight, p.waterfall, {record_fields}, {person_fields},
                       '' AS decision
                FROM {REVIEW_PAIRS} AS p
                JOIN {quote_ident(std_table(name))} AS s ON s.record_id = p.record_id
                JOIN spine__reference AS r ON r.entity_id = p.person_id
                WHERE p.source = {sql_literal(name)}""")
        if not parts:
            _write_private(out, lambda temp: temp.write_text(",".join(DECISION_COLUMNS) + "\n", encoding="utf-8"))
            return 0
        pairs = " UNION ALL ".join(parts)
        types = db.run(f"DESCRIBE {pairs}")
        cells = ", ".join(_neutralised(name) if kind == "VARCHAR" else quote_ident(name) for name, kind, *_ in types)
        sql = (f"WITH pairs AS ({pairs}) SELECT {cells} FROM pairs "
               "ORDER BY pairs.source, pairs.match_probability DESC, pairs.record_id, pairs.person_id, "
               + ", ".join(f"pairs.person_{f}" for f in FIELDS))
        _write_private(out, lambda temp: db.run(
            f"COPY ({sql}) TO {sql_literal(str(temp))} (HEADER, DELIMITER ',')"))
        return db.run(f"SELECT count(*) FROM ({pairs})")[0][0]


def import_decisions(job: JobConfig, reviewed: Path) -> dict[str, Any]:
    """Check every decided row of a reviewed file against the job and its last run, then merge them
    into the job's decisions file. Any problem is one error listing rows and columns (never a
    value) and nothing is saved: what is saved must never stop a later run."""
    if not reviewed.is_file():
        raise ConfigError([f"{reviewed}: no such file"])
    header, rows, encoding = read_table(reviewed)
    decided, problems = _decided_rows(reviewed, header, rows, unescape=True)
    problems += _check_against_job(job, decided)
    bad_rows = {p[0] for p in problems}
    problems += _check_against_run(job, [d for d in decided if d[0] not in bad_rows])
    if problems:
        raise ConfigError(_listed(reviewed, problems,
                                  "nothing was saved; correct those rows and import the file again"))
    target = decisions_path(job)
    kept: dict[tuple[str, str], tuple[str, str]] = {}
    if target.exists():
        old_header, old_rows, _ = read_table(target)
        if any(c not in old_header for c in DECISION_COLUMNS):
            raise ConfigError([f"{target}: the decisions file lacks column(s) of {', '.join(DECISION_COLUMNS)}; "
                               "nothing was saved"])
        at = [old_header.index(c) for c in DECISION_COLUMNS]
        for _, row in old_rows:
            source, record, person, decision = (row[k] if k < len(row) else "" for k in at)
            kept[(source, record)] = (person, decision)
    for _, source, record, person, decision in decided:
        kept[(source, record)] = (person, decision)

    def write(temp: Path) -> None:
        with temp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(DECISION_COLUMNS)
            writer.writerows((s, r, *rest) for (s, r), rest in sorted(kept.items()))

    _write_private(target, write)
    counts = {value: sum(1 for _, d in kept.values() if d == value) for value in DECISION_VALUES}
    return {"decisions_file": str(target), "imported": len(decided), "encoding": encoding, **counts}


def _check_against_job(job: JobConfig, decided: list[tuple[int, str, str, str, str]]) -> list[Problem]:
    """A decision is about a record of a source the job links to the base register."""
    linked = ", ".join(name for name, _ in job.ordered_sources[1:]) or "none"
    problems = []
    for i, source, *_ in decided:
        if source == job.base:
            problems.append((i, "source", f"the base register ({job.base}) is the spine itself: "
                                          "its records are not reviewed"))
        elif source not in job.sources:
            problems.append((i, "source", f"not a source of the job (linked sources: {linked})"))
    return problems


def _check_against_run(job: JobConfig, decided: list[tuple[int, str, str, str, str]]) -> list[Problem]:
    """Each record is a usable record of its source and each person a person of the last run."""
    if not decided:
        return []
    with DuckDBEngine.open() as db:
        _open_store(job.store_path, attach=db)
        tables = {r[0] for r in db.run("SELECT table_name FROM information_schema.tables "
                                       "WHERE table_catalog = 'run'")}
        db.register("reviewed", _as_arrow(decided))
        parts = []
        for name in sorted({d[1] for d in decided}):
            if std_table(name) not in tables:
                parts.append(f"SELECT row, 'source', 'not in the last run (run the job again first)' "
                             f"FROM reviewed WHERE source = {sql_literal(name)}")
                continue
            parts.append(f"""
                SELECT d.row, 'record_id', CASE WHEN s.record_id IS NULL
                    THEN 'no record with this id in its source in the last run (a spreadsheet may have changed '
                         || 'the id, e.g. dropped leading zeros)'
                    ELSE 'a rejected record (unusable for linkage): no decision can link it' END
                FROM reviewed AS d LEFT JOIN run.main.{quote_ident(std_table(name))} AS s ON s.record_id = d.record_id
                WHERE d.source = {sql_literal(name)} AND (s.record_id IS NULL OR s.reject_reason IS NOT NULL)""")
        parts.append("""SELECT d.row, 'person_id', 'not a person of the last run''s spine' FROM reviewed AS d
                         ANTI JOIN run.main.spine__reference AS r ON r.entity_id = d.person_id""")
        return [tuple(r) for r in db.run(" UNION ALL ".join(parts))]
