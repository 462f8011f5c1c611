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
from rules.signs_of_life import (PROVISIONAL_SOURCE, add_imputed_departures, add_imputed_returns,
                                 never_active_sql)
from rules.family import add_family_events
from rules.visas import (ARRIVAL_SOURCE, TRANSITION_SOURCE, add_imputed_arrivals, apply_visa_transitions,
                         find_visitors, in_country_grants_sql)
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
VISA_GRANTS = "rules__visa_grants_in_country"
MOVEMENTS_WITHOUT_VISAS = "rules__movements_without_visa_rules"
PRESENCE_WITHOUT_VISAS = "rules__presence_without_visa_rules"
RESIDENCE_SPELLS = "residence_spells"
EVENTS_WITHOUT_REPAIR = "rules__events_without_itinerary_repair"
MOVEMENTS_WITHOUT_REPAIR = "rules__movements_without_itinerary_repair"
VISITORS = "rules__visitors"
NEVER_ACTIVE = "rules__never_active"


def data_end(con: duckdb.DuckDBPyConnection, job: JobConfig, linked_records: str) -> date:
    """Last day the data covers: the observation end if configured, else the last movement."""
    if job.observation is not None:
        return job.observation.end
    found = con.execute(f"SELECT max(event_date) FROM {linked_records} WHERE direction IS NOT NULL").fetchone()[0]
    return found or date.today()


def build_presence(con: duckdb.DuckDBPyConnection, job: JobConfig, grants: str | None = None) -> str:
    """Materialise the evidence of presence: registrations of the base register, activity of the
    other signs-of-life sources (one row per linked record with a start date), and visas granted in
    the country (``grants``, one row on each grant's start)."""
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
        if kind == "activity":
            end = _with_grace(end, name, life.grace_days)
        parts.append(f"""
            SELECT l.entity_id, {sql_literal(name)}, {sql_literal(kind)}, s.start_date, CAST({end} AS DATE),
                   s.event_type, {sql_literal(name in life.exempt_sources)} OR coalesce(s.event_type IN ({types}), FALSE)
            FROM {quote_ident(std_table(name))} AS s JOIN {quote_ident(link_table(name))} AS l USING (record_id)
            WHERE l.status = 'linked' AND s.start_date IS NOT NULL""")
    if grants is not None and life.enabled:
        parts.append(f"""
            SELECT person_id, {sql_literal(job.rules.visas.source)}, 'activity', start_date, start_date,
                   visa_type, TRUE   -- exempt: keeps a person resident, never starts a silence
            FROM {quote_ident(grants)}""")
    return materialise(con, PRESENCE, " UNION ALL ".join(parts))


def _with_grace(end: str, source: str, grace_days: dict[str, int]) -> str:
    """The end of a piece of evidence plus its grace period (by source name, else by record type)."""
    if source in grace_days:
        return f"coalesce({end}, s.start_date) + INTERVAL {int(grace_days[source])} DAY"
    if not grace_days:
        return end
    by_type = " ".join(f"WHEN {sql_literal(t)} THEN {int(d)}" for t, d in grace_days.items())
    types = ", ".join(sql_literal(t) for t in grace_days)
    return (f"CASE WHEN s.event_type IN ({types}) THEN coalesce({end}, s.start_date) + "
            f"to_days(CAST(CASE s.event_type {by_type} END AS INTEGER)) ELSE {end} END")


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
    life, events, visa_rules = job.rules.signs_of_life, job.rules.events, job.rules.visas
    grants = _visa_tables(con, job)
    presence = build_presence(con, job, grants)
    visitors = _visitors(con, job, presence)
    visa_counts = _visa_movements(con, job, grants, presence, end)
    with_life = bool(life.enabled and life.sources)

    def derive(output: str, *, signs_of_life: bool = True, visa_rules: bool = True,
               movements: str = "movements") -> None:
        if not visa_rules and visitors is not None:
            movements = _without_visa_rules(con, movements, grants)
        derive_long_term_events(con, movements, output, data_end=end, min_days=events.min_days,
                                tolerance_days=events.tolerance_days,
                                presence=(presence if visa_rules else PRESENCE_WITHOUT_VISAS)
                                if signs_of_life and with_life else None,
                                visitors=visitors if visa_rules else None,
                                provisional_source=PROVISIONAL_SOURCE, definition=events.definition,
                                window_days=events.window_days)

    repair = job.rules.itinerary.repair if job.rules.itinerary.enabled else "none"
    repaired = repair_itineraries(con, "movements", repair, presence if with_life else None,
                                  midpoint=job.rules.itinerary.midpoint)
    derive(EVENTS_WITHOUT_SIGNS_OF_LIFE, signs_of_life=False)   # before departures are imputed
    dependants = _dependants(con, job)
    if with_life:
        add_imputed_departures(con, "movements", presence, data_end=end, window_days=life.window_days,
                               emigration_codes=tuple(life.emigration_codes), death_codes=tuple(life.death_codes),
                               provisional_days=life.provisional_days,
                               dependants=dependants if life.children_follow_parents else None)
        add_imputed_returns(con, "movements", presence)   # after: a deregistered leaver can come back
    derive(EVENTS_WITHOUT_VISAS, visa_rules=False)
    derive("events")
    con.execute(f"CREATE OR REPLACE VIEW {MOVEMENTS_WITHOUT_REPAIR} AS "
                "SELECT * FROM movements WHERE source IS DISTINCT FROM 'itinerary'").fetchall()
    derive(EVENTS_WITHOUT_REPAIR, movements=MOVEMENTS_WITHOUT_REPAIR)
    family = _family_events(con, job, presence, dependants)
    never_active = None
    if with_life and life.never_active_not_resident:
        never_active = materialise(con, NEVER_ACTIVE, never_active_sql(
            presence, "movements", "persons", data_end=end, min_age=life.never_active_min_age))
    build_residence_spells(con, "events", presence, RESIDENCE_SPELLS, death_codes=tuple(life.death_codes),
                           never_resident=never_active)
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
            "never_active_not_resident": con.execute(f"SELECT count(*) FROM {NEVER_ACTIVE}").fetchall()[0][0]
            if never_active else None,
            "events_with": _event_counts(con, "events", "self"),
            "events_without": _event_counts(con, EVENTS_WITHOUT_SIGNS_OF_LIFE, "self")},
        "visas": {
            "enabled": visitors is not None,
            "visitors": con.execute(f"SELECT count(*) FROM {VISITORS}").fetchall()[0][0] if visitors else 0,
            **visa_counts,
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


def _dependants(con: duckdb.DuckDBPyConnection, job: JobConfig) -> str | None:
    """Materialise the children on linked claimants' claims (with their date of birth); None
    without family association."""
    if job.rules.family.children_source is None:
        return None
    return materialise(con, DEPENDANTS, f"""
        SELECT d.child_person_id, d.parent_person_id, p.dob AS child_dob
        FROM ({claims_sql(job)}) AS d LEFT JOIN persons AS p ON p.person_id = d.child_person_id""")


def _family_events(con: duckdb.DuckDBPyConnection, job: JobConfig, presence: str,
                   dependants: str | None) -> dict[str, Any]:
    """Give dependants without movements their parent's events; return the counts."""
    if dependants is None:
        return {"enabled": False}
    added = add_family_events(con, dependants, "events", "movements", presence)
    return {"enabled": True, "dependants": con.execute(f"SELECT count(*) FROM {dependants}").fetchall()[0][0],
            "events_added": added, "events_by_type": _event_counts(con, "events", "family")}


def _visa_tables(con: duckdb.DuckDBPyConnection, job: JobConfig) -> str | None:
    """Materialise the linked visas and those granted in the country; return the grants' table
    (None without visa rules, or with in-country grants off: then an empty table)."""
    source = job.rules.visas.source
    if source is None:
        return None
    materialise(con, VISAS, f"""
        SELECT l.entity_id AS person_id, s.event_type AS visa_type, s.start_date, s.end_date
        FROM {quote_ident(std_table(source))} AS s JOIN {quote_ident(link_table(source))} AS l USING (record_id)
        WHERE l.status = 'linked'""")
    sql = in_country_grants_sql(VISAS, "movements", visit_types=tuple(job.rules.visas.visit_types))
    return materialise(con, VISA_GRANTS, sql if job.rules.visas.in_country_grants else f"SELECT * FROM ({sql}) WHERE FALSE")


def _visitors(con: duckdb.DuckDBPyConnection, job: JobConfig, presence: str) -> str | None:
    """Materialise the visitors (people only ever on visit visas, with no presence); None without visa rules."""
    if job.rules.visas.source is None:
        return None
    find_visitors(con, VISAS, presence, VISITORS, visit_types=tuple(job.rules.visas.visit_types))
    con.execute(f"CREATE OR REPLACE VIEW {PRESENCE_WITHOUT_VISAS} AS SELECT * FROM {PRESENCE} "
                f"WHERE source IS DISTINCT FROM {sql_literal(job.rules.visas.source)}").fetchall()
    return VISITORS


def _visa_movements(con: duckdb.DuckDBPyConnection, job: JobConfig, grants: str | None, presence: str,
                    end: date) -> dict[str, Any]:
    """Start stays at in-country transitions from a visit visa; impute arrivals from visa starts."""
    visas = job.rules.visas
    if grants is None:
        return {}
    visit_types = tuple(visas.visit_types)
    moved = apply_visa_transitions(con, grants, VISAS, "movements", visit_types=visit_types) \
        if visas.in_country_grants else 0
    arrivals = add_imputed_arrivals(
        con, VISAS, grants, "movements", presence,
        data_start=job.observation.start if job.observation else date.min, visit_types=visit_types,
        no_arrival_types=tuple(visas.no_arrival_types)) if visas.impute_arrivals else 0
    n_grants = con.execute(f"SELECT count(*) FROM {quote_ident(grants)}").fetchall()[0][0]
    return {"in_country_grants": n_grants, "stays_started_at_transition": moved, "imputed_arrivals": arrivals}


def _without_visa_rules(con: duckdb.DuckDBPyConnection, movements: str, grants: str | None) -> str:
    """A view of ``movements`` as it was before the visa rules: their entries out, entries made as
    visitors back."""
    entries = f"{movements}__visitor_entries"
    restore = (f"OR (m.direction = 'in' AND EXISTS (SELECT 1 FROM {quote_ident(entries)} AS e "
               "WHERE e.person_id = m.person_id AND e.entry_date = m.date))"
               if grants is not None and _exists(con, entries) else "")
    con.execute(f"""
        CREATE OR REPLACE VIEW {MOVEMENTS_WITHOUT_VISAS} AS
        SELECT * REPLACE (kept {restore} AS kept) FROM {quote_ident(movements)} AS m
        WHERE source IS DISTINCT FROM {sql_literal(TRANSITION_SOURCE)}
          AND source IS DISTINCT FROM {sql_literal(ARRIVAL_SOURCE)}""").fetchall()
    return MOVEMENTS_WITHOUT_VISAS


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]).fetchall()[0][0])


def _event_counts(con: duckdb.DuckDBPyConnection, table: str, derived_via: str) -> dict[str, int]:
    return dict(con.execute(f"SELECT event, count(*) FROM {quote_ident(table)} WHERE derived_via = "
                            f"{sql_literal(derived_via)} GROUP BY 1 ORDER BY 1").fetchall())
