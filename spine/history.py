"""Longitudinal updates: a rerun updates the spine rather than rebuilding it.

A run reads the previous run's ``links`` and ``persons`` and the link history from the store it
replaces. Person ids are stable by construction where they hash a stable anchor (a base record
id); enlarged persons, whose anchor is their first record, take over the previous id of the person
most of their records belonged to (see ``carried_ids_sql``). The store keeps the history of every
record's link as validity intervals over run numbers (``history__links``: one row per record and
link state, ``valid_to`` NULL while current), and ``changes__records`` lists what this run changed.

Person ids are only comparable between runs under the same key: a key check (the keyed hash of a
fixed text, which does not reveal the key) is kept per run; after a key change nothing is carried
over and the change report says so.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from linkage._sql import materialise, sql_literal
from spine.engine import DuckDBEngine, Engine
from spine.errors import ConfigError

PREVIOUS_LINKS = "previous__links"
PREVIOUS_PERSONS = "previous__persons"
HISTORY_LINKS = "history__links"
HISTORY_RUNS = "history__runs"
CHANGED_RECORDS = "changes__records"
_KEY_CHECK_TEXT = b"migration-spine key check"
_ALIAS = "spine__previous_store"   # the catalog name must differ from the run's own store's (the job name)

_EMPTY = {
    PREVIOUS_LINKS: "source VARCHAR, record_id VARCHAR, person_id VARCHAR, status VARCHAR, method VARCHAR",
    PREVIOUS_PERSONS: "person_id VARCHAR, origin VARCHAR",
    HISTORY_LINKS: "source VARCHAR, record_id VARCHAR, person_id VARCHAR, status VARCHAR, method VARCHAR, "
                   "valid_from INTEGER, valid_to INTEGER",
    HISTORY_RUNS: "run INTEGER, started TIMESTAMP, key_check VARCHAR, records BIGINT, persons BIGINT",
}


def key_check(key: bytes) -> str:
    """The keyed hash of a fixed text: equal under the same key, and says nothing about the key."""
    return hmac.new(key, _KEY_CHECK_TEXT, hashlib.sha256).hexdigest()


def ensure_history_tables(db: Engine) -> None:
    """Create the (empty) history tables if no run has: a spine built outside ``run_job``."""
    for table, columns in _EMPTY.items():
        db.run(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")


def load_previous(db: Engine, store: Path, current_key_check: str) -> dict[str, Any]:
    """Copy the previous run's links, persons and history into this run's store.

    Returns what is known of the previous run: ``None`` values on a first run. When the key
    differs from the previous run's, the previous links are not copied (ids are not comparable).

    Raises:
        ConfigError: the store exists but cannot be read as a DuckDB database.
    """
    for table, columns in _EMPTY.items():
        db.run(f"CREATE OR REPLACE TABLE {table} ({columns})")
    info: dict[str, Any] = {"run": None, "started": None, "key_changed": False}
    if not store.exists():
        return info
    try:
        previous = _previous_store(db, store)
    except duckdb.Error as err:
        first_line = str(err).splitlines()[0]
        if "lock" in first_line.lower():
            raise ConfigError(f"output.store: the previous store {store} is open in another program ({first_line}); "
                              "close it there and run again: the run needs its link history") from None
        raise ConfigError(f"output.store: the previous store {store} cannot be read ({first_line}); "
                          "move it away to start a new history") from None
    try:
        tables = {row[0] for row in previous.run(
            f"SELECT table_name FROM information_schema.tables WHERE table_catalog = '{_ALIAS}'")}
        if HISTORY_RUNS in tables:
            _copy(db, previous, HISTORY_RUNS,
                  f"SELECT run, started, key_check, records, persons FROM {_ALIAS}.history__runs")
            _copy(db, previous, HISTORY_LINKS, f"SELECT {_columns(HISTORY_LINKS)} FROM {_ALIAS}.history__links")
        last = db.run(f"SELECT run, started, key_check FROM {HISTORY_RUNS} ORDER BY run DESC LIMIT 1")
        if last:
            info.update(run=last[0][0], started=str(last[0][1]), key_changed=last[0][2] != current_key_check)
        elif {"links", "persons"} <= tables:
            info["previous_store_without_history"] = True   # written before histories were kept
        if {"links", "persons"} <= tables and last and not info["key_changed"]:
            _copy(db, previous, PREVIOUS_LINKS,
                  f"SELECT source, record_id, person_id, status, method FROM {_ALIAS}.links")
            _copy(db, previous, PREVIOUS_PERSONS, f"SELECT person_id, origin FROM {_ALIAS}.persons")
    finally:
        if previous is db:
            db.run(f"DETACH {_ALIAS}")
        else:
            previous.close()
    return info


def _previous_store(db: Engine, store: Path) -> Engine:
    """An engine reading the previous store as ``_ALIAS``: the run's own DuckDB, with the store
    attached; on another engine (Spark), a DuckDB of its own (the store is a DuckDB file).

    Raises:
        duckdb.Error: the store cannot be attached (locked, not a DuckDB file).
    """
    reader = db if db.kind == "duckdb" else DuckDBEngine.open()
    try:
        reader.run(f"ATTACH {sql_literal(str(store))} AS {_ALIAS} (READ_ONLY)")
    except duckdb.Error:
        if reader is not db:
            reader.close()
        raise
    return reader


def _copy(db: Engine, previous: Engine, table: str, select: str) -> None:
    """Rows of the previous store into ``table`` (through Arrow where the run is on another engine)."""
    if previous is db:
        db.run(f"INSERT INTO {table} {select}")
        return
    with db.registered(f"{table}__previous", previous.arrow(select)) as rows:
        db.run(f"INSERT INTO {table} SELECT * FROM {rows}")


def _columns(table: str) -> str:
    return ", ".join(part.split()[0] for part in _EMPTY[table].split(", "))


def carried_ids_sql(groups: str, fresh_ids: str) -> str:
    """SQL giving each new group (``group_id``, ``pool_id`` in ``groups``) its person id.

    A group takes the previous id that most of its records carried, unless a group holding more of
    that id's records chose it first too (ties: the smaller id, the smaller group id). Other groups
    keep their fresh id from ``fresh_ids`` (``group_id``, ``person_id``; ``enlarge`` re-keys a fresh
    id that an earlier run gave someone, so two people never share an id across runs).
    """
    return f"""
        WITH votes AS (
            SELECT g.group_id, p.person_id AS previous_id, count(*) AS n
            FROM {groups} AS g JOIN {PREVIOUS_LINKS} AS p ON p.source || ':' || p.record_id = g.pool_id
            WHERE p.status = 'linked' AND p.method = 'enlarged'
            GROUP BY ALL),
        firsts AS (   -- each group's first choice
            SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY group_id ORDER BY n DESC, previous_id) AS choice
                           FROM votes) WHERE choice = 1),
        heirs AS (    -- each previous id to the group, of those choosing it first, holding most of its records
            SELECT *, row_number() OVER (PARTITION BY previous_id ORDER BY n DESC, group_id) AS heir FROM firsts)
        SELECT f.group_id, coalesce(r.previous_id, f.person_id) AS person_id, r.previous_id IS NOT NULL AS carried
        FROM {fresh_ids} AS f
        LEFT JOIN heirs AS r ON r.group_id = f.group_id AND r.heir = 1"""


def record_history(db: Engine, previous: dict[str, Any], started: datetime,
                   current_key_check: str) -> dict[str, Any]:
    """Add this run to the link history, list changed records; return the change report."""
    run = (previous["run"] or 0) + 1
    db.run(f"""UPDATE {HISTORY_LINKS} AS h SET valid_to = {run - 1}
                    WHERE valid_to IS NULL AND NOT EXISTS (
                        SELECT 1 FROM links AS l WHERE l.source = h.source AND l.record_id = h.record_id
                          AND l.status = h.status AND l.person_id IS NOT DISTINCT FROM h.person_id)""")
    db.run(f"""INSERT INTO {HISTORY_LINKS}
                    SELECT l.source, l.record_id, l.person_id, l.status, l.method, {run}, NULL FROM links AS l
                    ANTI JOIN (SELECT * FROM {HISTORY_LINKS} WHERE valid_to IS NULL) AS h
                         ON l.source = h.source AND l.record_id = h.record_id""")
    db.run(f"""INSERT INTO {HISTORY_RUNS} SELECT {run}, {sql_literal(started.replace(tzinfo=None, microsecond=0).isoformat())},
                    {sql_literal(current_key_check)}, (SELECT count(*) FROM links),
                    (SELECT count(*) FROM persons)""")
    comparable = previous["run"] is not None and not previous["key_changed"]
    materialise(db, CHANGED_RECORDS, f"""
        SELECT coalesce(l.source, p.source) AS source, coalesce(l.record_id, p.record_id) AS record_id,
               p.person_id AS previous_person_id, l.person_id, p.status AS previous_status, l.status,
               CASE WHEN p.record_id IS NULL THEN 'new_record'
                    WHEN l.record_id IS NULL THEN 'removed_record'
                    WHEN p.status = 'linked' AND l.status = 'linked' THEN 'relinked'
                    WHEN l.status = 'linked' THEN 'newly_linked'
                    WHEN p.status = 'linked' THEN 'no_longer_linked'
                    ELSE 'status_changed' END AS change
        FROM links AS l FULL JOIN {PREVIOUS_LINKS} AS p USING (source, record_id)
        WHERE ({str(comparable).upper()}) AND (p.record_id IS NULL OR l.record_id IS NULL OR l.status <> p.status
           OR l.person_id IS DISTINCT FROM p.person_id)""")
    report: dict[str, Any] = {"run": run, "previous_run": previous["run"], "previous_started": previous["started"],
                              "key_changed": previous["key_changed"]}
    if previous.get("previous_store_without_history"):
        report["previous_store_without_history"] = True
    if not comparable:
        return report
    report["records"] = dict(db.run(f"SELECT change, count(*) FROM {CHANGED_RECORDS} GROUP BY 1 ORDER BY 1"))
    report["persons"] = _person_changes(db)
    return report


def _person_changes(db: Engine) -> dict[str, int]:
    """New and retired persons; merges (one person now holds records of several previous persons)
    and splits (one previous person's records now in several persons), by records seen in both runs."""
    row = db.run(f"""
        WITH both_runs AS (
            SELECT p.person_id AS before, l.person_id AS after
            FROM links AS l JOIN {PREVIOUS_LINKS} AS p USING (source, record_id)
            WHERE l.status = 'linked' AND p.status = 'linked'),
        merged AS (SELECT after FROM both_runs GROUP BY after HAVING count(DISTINCT before) > 1),
        split AS (SELECT before FROM both_runs GROUP BY before HAVING count(DISTINCT after) > 1),
        now_registered AS (
            SELECT DISTINCT b.before FROM both_runs AS b
            JOIN {PREVIOUS_PERSONS} AS pp ON pp.person_id = b.before AND pp.origin = 'enlarged'
            JOIN persons AS n ON n.person_id = b.after AND n.origin = 'base')
        SELECT (SELECT count(*) FROM persons WHERE person_id NOT IN (SELECT person_id FROM {PREVIOUS_PERSONS})),
               (SELECT count(*) FROM {PREVIOUS_PERSONS} WHERE person_id NOT IN (SELECT person_id FROM persons)),
               (SELECT count(*) FROM persons WHERE person_id IN (SELECT person_id FROM {PREVIOUS_PERSONS})),
               (SELECT count(*) FROM merged), (SELECT count(*) FROM split), (SELECT count(*) FROM now_registered)
        """)[0]
    names = ("new", "retired", "continuing", "merged", "split", "enlarged_now_registered")
    return dict(zip(names, (int(v) for v in row)))

