"""Clerical review: pairs in the review band out to reviewers, their decisions back into the run.

A run keeps every pair it put in the clerical band in the store (``review__pairs``), with each
comparison's partial match weight (the waterfall). ``export_review`` writes them with both
records' fields for a reviewer; ``import_decisions`` checks a reviewed file and saves it as the
job's decisions file (``review.decisions`` in the YAML, by default ``review/decisions.csv`` next
to the job file). On the next run ``apply_decisions`` lets those decisions override the model:
``match`` links the record to the named person (method ``clerical``), ``non_match`` leaves it
unlinked (reason ``clerical_non_match``).

The export holds personal data by design (a reviewer must see the names); it is written only
on request, never into the run's outputs or logs.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import duckdb

from linkage._sql import materialise, quote_ident, sql_literal
from spine.config import JobConfig
from spine.errors import ConfigError, InputError
from spine.sources import std_table

REVIEW_PAIRS = "review__pairs"
DECISIONS = "review__decisions"
DECISION_COLUMNS = ("source", "record_id", "person_id", "decision")
DECISION_VALUES = ("match", "non_match")
FIELDS = ("first_name", "surname", "dob", "sex", "nationality", "country_of_birth", "postcode")


def create_review_pairs(con: duckdb.DuckDBPyConnection) -> None:
    """An empty review table; each probabilistic source appends its band pairs."""
    con.execute(f"""CREATE OR REPLACE TABLE {REVIEW_PAIRS} (source VARCHAR, record_id VARCHAR,
        person_id VARCHAR, match_probability DOUBLE, match_weight DOUBLE, waterfall VARCHAR)""").fetchall()


def add_review_pairs(con: duckdb.DuckDBPyConnection, source: str, links: str, candidates: str | None,
                     weight_columns: list[str]) -> None:
    """Keep the pairs a source sent to review, with their partial weights as ``name=weight;...``
    (no waterfall for a deterministic source's identifier conflicts)."""
    if candidates is None:
        con.execute(f"""INSERT INTO {REVIEW_PAIRS}
            SELECT {sql_literal(source)}, record_id, entity_id, match_probability, match_weight, NULL
            FROM {quote_ident(links)} WHERE status = 'review'""").fetchall()
        return
    if weight_columns:
        parts = ", ".join(f"'{c.removeprefix('mw_')}=' || round(c.{quote_ident(c)}, 2)" for c in weight_columns)
        waterfall = f"concat_ws('; ', {parts})"
    else:
        waterfall = "CAST(NULL AS VARCHAR)"
    con.execute(f"""INSERT INTO {REVIEW_PAIRS}
        SELECT {sql_literal(source)}, l.record_id, l.entity_id, l.match_probability, l.match_weight, {waterfall}
        FROM {quote_ident(links)} AS l
        LEFT JOIN {quote_ident(candidates)} AS c ON c.record_id = l.record_id AND c.entity_id = l.entity_id
        WHERE l.status = 'review'
        QUALIFY row_number() OVER (PARTITION BY l.record_id ORDER BY c.match_probability DESC NULLS LAST) = 1
    """).fetchall()


def decisions_path(job: JobConfig) -> Path:
    """Where the job's clerical decisions live (outside the output folder, which runs replace)."""
    return job.resolve(job.review.decisions)


def load_decisions(con: duckdb.DuckDBPyConnection, job: JobConfig) -> int:
    """Read the decisions file (if any) into ``review__decisions``; bad rows are one clear error."""
    path = decisions_path(job)
    con.execute(f"CREATE OR REPLACE TABLE {DECISIONS} (source VARCHAR, record_id VARCHAR, "
                "person_id VARCHAR, decision VARCHAR)").fetchall()
    if not path.exists():
        return 0
    _check_decision_file(path, job)
    con.execute(f"""INSERT INTO {DECISIONS}
        SELECT source, record_id, person_id, decision FROM read_csv({sql_literal(str(path))}, all_varchar = true,
             header = true)
        QUALIFY row_number() OVER (PARTITION BY source, record_id) = 1""").fetchall()
    return con.execute(f"SELECT count(*) FROM {DECISIONS}").fetchall()[0][0]


def _check_decision_file(path: Path, job: JobConfig) -> None:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in DECISION_COLUMNS if c not in header]
        if missing:
            raise InputError([f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(DECISION_COLUMNS)}"])
        problems = []
        for i, row in enumerate(reader, start=2):
            if row["source"] not in job.sources:
                problems.append(f"{path}:{i}: unknown source {row['source']!r}")
            elif row["decision"] not in DECISION_VALUES:
                problems.append(f"{path}:{i}: decision {row['decision']!r}; expected match or non_match")
            elif not row["record_id"] or not row["person_id"]:
                problems.append(f"{path}:{i}: record_id and person_id are both required")
            if len(problems) >= 5:
                break
        if problems:
            raise InputError(problems)


def check_decision_ids(con: duckdb.DuckDBPyConnection, job: JobConfig) -> None:
    """Every decision names a record of its source and a person of the spine."""
    problems = []
    for name in job.sources:
        rows = con.execute(f"""
            SELECT d.record_id FROM {DECISIONS} AS d
            WHERE d.source = {sql_literal(name)}
              AND d.record_id NOT IN (SELECT record_id FROM {quote_ident(std_table(name))}) LIMIT 3""").fetchall()
        problems += [f"{decisions_path(job)}: source {name!r} has no record {r[0]!r}" for r in rows]
    rows = con.execute(f"""SELECT d.source, d.record_id FROM {DECISIONS} AS d WHERE d.decision = 'match'
        AND d.person_id NOT IN (SELECT entity_id FROM spine__reference) LIMIT 3""").fetchall()
    problems += [f"{decisions_path(job)}: {s} record {r!r} names a person who is not in the spine" for s, r in rows]
    if problems:
        raise InputError(problems)


def apply_decisions(con: duckdb.DuckDBPyConnection, source: str, links: str) -> int:
    """Let clerical decisions override the model's status for a source; return how many applied."""
    before = con.execute(f"SELECT count(*) FROM {quote_ident(links)}").fetchall()[0][0]
    materialise(con, links, f"""   -- rewritten in place: DuckDB reads the old table first
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
        LEFT JOIN (SELECT * FROM {DECISIONS} WHERE source = {sql_literal(source)}) AS d
            ON d.record_id = l.record_id AND l.status <> 'rejected'   -- a clerk cannot link an unusable record""")
    applied = con.execute(f"SELECT count(*) FROM {DECISIONS} WHERE source = {sql_literal(source)}").fetchall()[0][0]
    after = con.execute(f"SELECT count(*) FROM {quote_ident(links)}").fetchall()[0][0]
    assert before == after, "clerical decisions must not change the number of records"
    return int(applied)


def export_review(job: JobConfig, out: Path) -> int:
    """Write the last run's review pairs with both records' fields; return the number of pairs."""
    store = job.store_path
    if not store.exists():
        raise ConfigError([f"{store}: no store yet; run the job first"])
    with duckdb.connect(str(store), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if REVIEW_PAIRS not in tables:
            raise ConfigError([f"{store}: this run kept no review pairs (no source has a review_band)"])
        sources = [r[0] for r in con.execute(f"SELECT DISTINCT source FROM {REVIEW_PAIRS} ORDER BY 1").fetchall()]
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
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(",".join([*DECISION_COLUMNS]) + "\n")
            return 0
        sql = " UNION ALL ".join(parts) + " ORDER BY source, match_probability DESC, record_id"
        out.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY ({sql}) TO {sql_literal(str(out))} (HEADER, DELIMITER ',')").fetchall()
        return con.execute(f"SELECT count(*) FROM {REVIEW_PAIRS}").fetchall()[0][0]


def import_decisions(job: JobConfig, reviewed: Path) -> dict[str, Any]:
    """Check a reviewed file and merge its decided rows into the job's decisions file."""
    if not reviewed.exists():
        raise ConfigError([f"{reviewed}: no such file"])
    _check_rows_decided(reviewed, job)
    target = decisions_path(job)
    target.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        new = f"read_csv({sql_literal(str(reviewed))}, all_varchar = true, header = true)"
        old = (f"SELECT source, record_id, person_id, decision, 1 AS age FROM read_csv({sql_literal(str(target))}, "
               "all_varchar = true, header = true)" if target.exists() else
               "SELECT NULL AS source, NULL AS record_id, NULL AS person_id, NULL AS decision, 1 AS age WHERE FALSE")
        merged = f"""
            SELECT source, record_id, person_id, decision FROM (
                SELECT source, record_id, person_id, decision, 0 AS age FROM {new}
                WHERE decision IN ('match', 'non_match')
                UNION ALL {old})
            QUALIFY row_number() OVER (PARTITION BY source, record_id ORDER BY age) = 1
            ORDER BY source, record_id"""
        temp = target.with_suffix(".tmp")
        con.execute(f"COPY ({merged}) TO {sql_literal(str(temp))} (HEADER, DELIMITER ',')").fetchall()
        temp.replace(target)
        counts = dict(con.execute(f"SELECT decision, count(*) FROM read_csv({sql_literal(str(target))}, "
                                  "all_varchar = true, header = true) GROUP BY ALL").fetchall())
    return {"decisions_file": str(target), **{k: int(v) for k, v in counts.items()}}


def _check_rows_decided(path: Path, job: JobConfig) -> None:
    """The reviewed file has the decision columns, known sources, and only match/non_match/blank."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in DECISION_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError([f"{path}: missing column(s) {', '.join(missing)}"])
        problems = []
        for i, row in enumerate(reader, start=2):
            if row["decision"] and row["decision"] not in DECISION_VALUES:
                problems.append(f"{path}:{i}: decision {row['decision']!r}; expected match, non_match or blank")
            if row["source"] not in job.sources:
                problems.append(f"{path}:{i}: unknown source {row['source']!r}")
            if len(problems) >= 5:
                break
    if problems:
        raise InputError(problems)
