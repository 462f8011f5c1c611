"""Run the post-linkage rules on the linked spine: movements after itinerary checks, then events."""

from __future__ import annotations

from datetime import date

import duckdb

from linkage._sql import materialise, sql_literal
from rules import derive_long_term_events, flag_itineraries
from spine.config import JobConfig

MOVEMENT_INPUT = "rules__movement_input"


def data_end(con: duckdb.DuckDBPyConnection, job: JobConfig, linked_records: str) -> date:
    """Last day the data covers: the observation end if configured, else the last movement."""
    if job.observation is not None:
        return job.observation.end
    found = con.execute(f"SELECT max(event_date) FROM {linked_records} WHERE direction IS NOT NULL").fetchone()[0]
    return found or date.today()


def build_movements_and_events(con: duckdb.DuckDBPyConnection, job: JobConfig, linked_records: str) -> date:
    """Materialise ``movements`` and ``events``; return the data end used."""
    movement_sources = [name for name, s in job.sources.items() if s.is_movement_source]
    in_list = ", ".join(sql_literal(n) for n in movement_sources) or "NULL"
    materialise(con, MOVEMENT_INPUT, f"""
        SELECT person_id, source, record_id, event_date AS date, direction
        FROM {linked_records} WHERE source IN ({in_list}) AND direction IS NOT NULL""")
    flag_itineraries(con, MOVEMENT_INPUT, "movements", enabled=job.rules.itinerary.enabled)
    end = data_end(con, job, linked_records)
    derive_long_term_events(con, "movements", "events", data_end=end, min_days=job.rules.events.min_days,
                            tolerance_days=job.rules.events.tolerance_days)
    return end
