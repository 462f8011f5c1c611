"""Run the post-linkage rules on the linked spine: movements after itinerary checks, departures
imputed from signs of life, then events (with the ablation: events without signs of life)."""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb

from linkage._sql import materialise, quote_ident, sql_literal
from rules import derive_long_term_events, flag_itineraries
from rules.signs_of_life import add_imputed_departures
from spine.config import JobConfig
from spine.linking import link_table
from spine.sources import std_table

MOVEMENT_INPUT = "rules__movement_input"
PRESENCE = "rules__presence"
EVENTS_WITHOUT_SIGNS_OF_LIFE = "rules__events_without_signs_of_life"


def data_end(con: duckdb.DuckDBPyConnection, job: JobConfig, linked_records: str) -> date:
    """Last day the data covers: the observation end if configured, else the last movement."""
    if job.observation is not None:
        return job.observation.end
    found = con.execute(f"SELECT max(event_date) FROM {linked_records} WHERE direction IS NOT NULL").fetchone()[0]
    return found or date.today()


def build_presence(con: duckdb.DuckDBPyConnection, job: JobConfig) -> str:
    """Materialise the evidence of presence: registrations of the base register, activity of the
    other signs-of-life sources (one row per linked record with a start date)."""
    life = job.rules.signs_of_life
    parts = ["SELECT CAST(NULL AS VARCHAR) AS person_id, CAST(NULL AS VARCHAR) AS source, "
             "CAST(NULL AS VARCHAR) AS kind, CAST(NULL AS DATE) AS start_date, CAST(NULL AS DATE) AS end_date, "
             "CAST(NULL AS VARCHAR) AS reason, FALSE AS exempt WHERE FALSE"]
    types = ", ".join(sql_literal(t) for t in life.exempt_event_types) or "NULL"
    for name in life.sources if life.enabled else []:
        kind = "registration" if name == job.base else "activity"
        covers = life.covers_days.get(name)
        end = (f"coalesce(s.end_date, s.start_date + INTERVAL {int(covers) - 1} DAY)" if covers and kind == "activity"
               else "s.end_date")
        parts.append(f"""
            SELECT l.entity_id, {sql_literal(name)}, {sql_literal(kind)}, s.start_date, CAST({end} AS DATE),
                   s.event_type, {sql_literal(name in life.exempt_sources)} OR coalesce(s.event_type IN ({types}), FALSE)
            FROM {quote_ident(std_table(name))} AS s JOIN {quote_ident(link_table(name))} AS l USING (record_id)
            WHERE l.status = 'linked' AND s.start_date IS NOT NULL""")
    return materialise(con, PRESENCE, " UNION ALL ".join(parts))


def build_movements_and_events(con: duckdb.DuckDBPyConnection, job: JobConfig,
                               linked_records: str) -> tuple[date, dict[str, Any]]:
    """Materialise ``movements`` and ``events``; return the data end used and the rules' counts."""
    movement_sources = [name for name, s in job.sources.items() if s.is_movement_source]
    in_list = ", ".join(sql_literal(n) for n in movement_sources) or "NULL"
    materialise(con, MOVEMENT_INPUT, f"""
        SELECT person_id, source, record_id, event_date AS date, direction
        FROM {linked_records} WHERE source IN ({in_list}) AND direction IS NOT NULL""")
    flag_itineraries(con, MOVEMENT_INPUT, "movements", enabled=job.rules.itinerary.enabled)
    end = data_end(con, job, linked_records)
    life = job.rules.signs_of_life
    presence = build_presence(con, job)
    events = job.rules.events
    derive_long_term_events(con, "movements", EVENTS_WITHOUT_SIGNS_OF_LIFE, data_end=end, min_days=events.min_days,
                            tolerance_days=events.tolerance_days)
    if life.enabled and life.sources:
        add_imputed_departures(con, "movements", presence, data_end=end, window_days=life.window_days,
                                         emigration_codes=tuple(life.emigration_codes),
                                         death_codes=tuple(life.death_codes))
    derive_long_term_events(con, "movements", "events", data_end=end, min_days=events.min_days,
                            tolerance_days=events.tolerance_days,
                            presence=presence if life.enabled and life.sources else None)
    counts = {"signs_of_life": {
        "enabled": bool(life.enabled and life.sources),
        "imputed_departures": dict(con.execute(
            "SELECT source, count(*) FROM movements WHERE flag = 'imputed' GROUP BY 1 ORDER BY 1").fetchall()),
        "presence_rows": con.execute(f"SELECT count(*) FROM {PRESENCE}").fetchall()[0][0],
        "events_with": _event_counts(con, "events"),
        "events_without": _event_counts(con, EVENTS_WITHOUT_SIGNS_OF_LIFE)}}
    return end, counts


def _event_counts(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, int]:
    return dict(con.execute(f"SELECT event, count(*) FROM {quote_ident(table)} GROUP BY 1 ORDER BY 1").fetchall())
