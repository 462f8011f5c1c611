"""Run the post-linkage rules on the linked spine: movements after itinerary checks, departures
imputed from signs of life, then events (with the ablation: events without signs of life)."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import duckdb

from linkage._sql import materialise, quote_ident, sql_literal
from rules import derive_long_term_events, flag_itineraries
from rules.itinerary import repair_itineraries
from rules.residence import build_residence_spells
from rules.signs_of_life import PROVISIONAL_SOURCE, add_imputed_departures, add_imputed_returns
from rules.family import add_family_events
from rules.visas import find_visitors
from spine.config import JobConfig
from spine.family import DEPENDANTS, claims_sql
from spine.linking import link_table
from spine.sources import std_table

logger = logging.getLogger(__name__)

MOVEMENT_INPUT = "rules__movement_input"
PRESENCE = "rules__presence"
EVENTS_WITHOUT_SIGNS_OF_LIFE = "rules__events_without_signs_of_life"
EVENTS_WITHOUT_VISAS = "rules__events_without_visas"
VISAS = "rules__visas"
RESIDENCE_SPELLS = "residence_spells"
EVENTS_WITHOUT_REPAIR = "rules__events_without_itinerary_repair"
MOVEMENTS_WITHOUT_REPAIR = "rules__movements_without_itinerary_repair"
VISITORS = "rules__visitors"


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
    if life.enabled and life.sources and job.base not in life.sources:
        logger.warning("rules.signs_of_life.sources leaves out the base register %r: deaths and "
                       "deregistrations are not seen, so a death after activity reads as an emigration", job.base)
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
    """Materialise ``movements`` and ``events``; return the data end used and the rules' counts.

    Each rule's ablation is measured in the same run: the events derived with every rule but that
    one (quality.json ``rules.<rule>.events_without``).
    """
    movement_sources = [name for name, s in job.sources.items() if s.is_movement_source]
    in_list = ", ".join(sql_literal(n) for n in movement_sources) or "NULL"
    materialise(con, MOVEMENT_INPUT, f"""
        SELECT person_id, source, record_id, event_date AS date, direction
        FROM {linked_records} WHERE source IN ({in_list}) AND direction IS NOT NULL""")
    flag_itineraries(con, MOVEMENT_INPUT, "movements", enabled=job.rules.itinerary.enabled)
    end = data_end(con, job, linked_records)
    life, events = job.rules.signs_of_life, job.rules.events
    presence = build_presence(con, job)
    visitors = _visitors(con, job, presence)
    with_life = bool(life.enabled and life.sources)

    def derive(output: str, *, signs_of_life: bool = True, visa_rules: bool = True,
               movements: str = "movements") -> None:
        derive_long_term_events(con, movements, output, data_end=end, min_days=events.min_days,
                                tolerance_days=events.tolerance_days,
                                presence=presence if signs_of_life and with_life else None,
                                visitors=visitors if visa_rules else None,
                                provisional_source=PROVISIONAL_SOURCE)

    repair = job.rules.itinerary.repair if job.rules.itinerary.enabled else "none"
    repaired = repair_itineraries(con, "movements", repair, presence if with_life else None,
                                  midpoint=job.rules.itinerary.midpoint)
    derive(EVENTS_WITHOUT_SIGNS_OF_LIFE, signs_of_life=False)   # before departures are imputed
    if with_life:
        add_imputed_departures(con, "movements", presence, data_end=end, window_days=life.window_days,
                               emigration_codes=tuple(life.emigration_codes), death_codes=tuple(life.death_codes),
                               provisional_days=life.provisional_days)
        add_imputed_returns(con, "movements", presence)   # after: a deregistered leaver can come back
    derive(EVENTS_WITHOUT_VISAS, visa_rules=False)
    derive("events")
    con.execute(f"CREATE OR REPLACE VIEW {MOVEMENTS_WITHOUT_REPAIR} AS "
                "SELECT * FROM movements WHERE source IS DISTINCT FROM 'itinerary'").fetchall()
    derive(EVENTS_WITHOUT_REPAIR, movements=MOVEMENTS_WITHOUT_REPAIR)
    family = _family_events(con, job, presence)
    build_residence_spells(con, "events", presence, RESIDENCE_SPELLS, death_codes=tuple(life.death_codes))
    counts = {
        "itinerary_repair": {
            "policy": repair, "movements_changed": repaired,
            "events_with": _event_counts(con, "events", "self"),
            "events_without": _event_counts(con, EVENTS_WITHOUT_REPAIR, "self") if repair == "impute" else None},
        "signs_of_life": {
            "enabled": with_life,
            "imputed_departures": dict(con.execute(
                "SELECT source, count(*) FROM movements WHERE flag = 'imputed' AND direction = 'out' "
                "GROUP BY 1 ORDER BY 1").fetchall()),
            "imputed_returns": con.execute(
                "SELECT count(*) FROM movements WHERE flag = 'imputed' AND direction = 'in'").fetchall()[0][0],
            "presence_rows": con.execute(f"SELECT count(*) FROM {PRESENCE}").fetchall()[0][0],
            "events_with": _event_counts(con, "events", "self"),
            "events_without": _event_counts(con, EVENTS_WITHOUT_SIGNS_OF_LIFE, "self")},
        "visas": {
            "enabled": visitors is not None,
            "visitors": con.execute(f"SELECT count(*) FROM {VISITORS}").fetchall()[0][0] if visitors else 0,
            "events_with": _event_counts(con, "events", "self"),
            "events_without": _event_counts(con, EVENTS_WITHOUT_VISAS, "self")},
        "family": family,
        "residence": _residence_counts(con, job.observation.start.year if job.observation else end.year - 9, end),
    }
    return end, counts


def _residence_counts(con: duckdb.DuckDBPyConnection, first_year: int, end: date) -> dict[str, Any]:
    """Spells, and the stock of residents on 1 January of each year of the observation window."""
    stock = con.execute(f"""
        SELECT y, count(s.person_id) FROM range({int(first_year)}, {end.year + 1}) AS r(y)
        LEFT JOIN {RESIDENCE_SPELLS} AS s ON s.start_date <= make_date(CAST(y AS INTEGER), 1, 1)
             AND (s.end_date IS NULL OR s.end_date > make_date(CAST(y AS INTEGER), 1, 1))
        GROUP BY y ORDER BY y""").fetchall()
    spells, persons = con.execute(f"SELECT count(*), count(DISTINCT person_id) FROM {RESIDENCE_SPELLS}").fetchall()[0]
    return {"spells": spells, "persons": persons, "stock_on_1_january": {int(y): n for y, n in stock}}


def _family_events(con: duckdb.DuckDBPyConnection, job: JobConfig, presence: str) -> dict[str, Any]:
    """Give dependants without movements their parent's events; return the counts."""
    if job.rules.family.children_source is None:
        return {"enabled": False}
    materialise(con, DEPENDANTS, f"""
        SELECT d.child_person_id, d.parent_person_id, p.dob AS child_dob
        FROM ({claims_sql(job)}) AS d LEFT JOIN persons AS p ON p.person_id = d.child_person_id""")
    added = add_family_events(con, DEPENDANTS, "events", "movements", presence)
    return {"enabled": True, "dependants": con.execute(f"SELECT count(*) FROM {DEPENDANTS}").fetchall()[0][0],
            "events_added": added, "events_by_type": _event_counts(con, "events", "family")}


def _visitors(con: duckdb.DuckDBPyConnection, job: JobConfig, presence: str) -> str | None:
    """Materialise the visitors (people only ever on visit visas, with no presence); None without visa rules."""
    source = job.rules.visas.source
    if source is None:
        return None
    materialise(con, VISAS, f"""
        SELECT l.entity_id AS person_id, s.event_type AS visa_type, s.start_date, s.end_date
        FROM {quote_ident(std_table(source))} AS s JOIN {quote_ident(link_table(source))} AS l USING (record_id)
        WHERE l.status = 'linked'""")
    find_visitors(con, VISAS, presence, VISITORS, visit_types=tuple(job.rules.visas.visit_types))
    return VISITORS


def _event_counts(con: duckdb.DuckDBPyConnection, table: str, derived_via: str) -> dict[str, int]:
    return dict(con.execute(f"SELECT event, count(*) FROM {quote_ident(table)} WHERE derived_via = "
                            f"{sql_literal(derived_via)} GROUP BY 1 ORDER BY 1").fetchall())
