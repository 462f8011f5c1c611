"""The visa rules on the linked spine: the linked visas, visitors, exits imputed at visa ends,
in-country grants as presence, stays started at a transition from a visit visa, and arrivals
imputed from visa starts."""

from __future__ import annotations

from datetime import date
from typing import Any


from linkage._sql import materialise, quote_ident, sql_literal
from rules.silence import RECORDING_RATES_AT_VISA_ENDS, estimate_recording_rates
from rules.visa_ends import add_visa_end_exits
from rules.visas import (ARRIVAL_LAGS, MIN_LAG_ARRIVALS, add_imputed_arrivals, apply_visa_transitions, find_visitors,
                         in_country_grants_sql)
from spine.config import JobConfig
from spine.engine import Engine
from spine.linking import link_table
from spine.sources import std_table

VISAS = "rules__visas"
VISITORS = "rules__visitors"
VISA_GRANTS = "rules__visa_grants_in_country"
#: Presence with the in-country grants added (kind ``visa_grant``).
PRESENCE = "rules__presence"


def find_visa_visitors(db: Engine, job: JobConfig, presence: str) -> str | None:
    """Materialise the linked visas and the visitors (only ever on visit visas, no presence);
    None without visa rules."""
    source = job.rules.visas.source
    if source is None:
        return None
    materialise(db, VISAS, f"""
        SELECT l.entity_id AS person_id, s.event_type AS visa_type, s.start_date, s.end_date
        FROM {quote_ident(std_table(source))} AS s JOIN {quote_ident(link_table(source))} AS l USING (record_id)
        WHERE l.status = 'linked'""")
    find_visitors(db, VISAS, presence, VISITORS, visit_types=tuple(job.rules.visas.visit_types))
    return VISITORS


def apply_visa_rules(db: Engine, job: JobConfig, movements: str, presence: str, *,
                     data_end: date) -> dict[str, Any]:
    """Impute exits at visa ends (first: a holder who left is not here when the next visa starts,
    so it was granted abroad), arrivals from visa starts, then find the in-country grants (an
    imputed arrival makes a later renewal one), add them to a copy of ``presence`` (``PRESENCE``)
    and start stays at transitions from a visit visa. Grants are always found: an in-country grant
    never imputes an arrival, whether or not ``in_country_grants`` uses them as presence. Returns
    the counts."""
    visas, life = job.rules.visas, job.rules.signs_of_life
    visit_types = tuple(visas.visit_types)
    ends: dict[str, Any] = {"enabled": visas.departures_at_end}
    if visas.departures_at_end:
        ends |= add_visa_end_exits(
            db, VISAS, movements, presence, data_end=data_end,
            exit_recording=estimate_recording_rates(db, movements, RECORDING_RATES_AT_VISA_ENDS)["exit_recording"],
            min_gap_days=job.rules.events.tolerance_days, min_probability=life.min_departure_probability,
            not_presence_types=tuple(life.exempt_event_types))
    grants_sql = in_country_grants_sql(VISAS, movements, visit_types=visit_types)
    arrivals = 0
    if visas.impute_arrivals:
        materialise(db, VISA_GRANTS, grants_sql)
        arrivals = add_imputed_arrivals(
            db, VISAS, VISA_GRANTS, movements, presence,
            data_start=job.observation.start if job.observation else date.min, visit_types=visit_types,
            no_arrival_types=tuple(visas.no_arrival_types))
    materialise(db, VISA_GRANTS, grants_sql if visas.in_country_grants else f"SELECT * FROM ({grants_sql}) WHERE FALSE")
    materialise(db, PRESENCE, f"""
        SELECT * FROM {quote_ident(presence)}
        UNION ALL
        SELECT person_id, {sql_literal(visas.source)}, 'visa_grant', start_date, start_date, visa_type,
               TRUE   -- exempt: a later sign of life for someone with activity, never the start of a silence
        FROM {VISA_GRANTS}""")
    moved = apply_visa_transitions(db, VISA_GRANTS, VISAS, movements, visit_types=visit_types)
    n_grants = db.run(f"SELECT count(*) FROM {VISA_GRANTS}")[0][0]
    lags = (dict(db.run(f"SELECT coalesce(visa_type, 'all types'), days FROM {ARRIVAL_LAGS} "
                        f"WHERE arrivals >= {MIN_LAG_ARRIVALS} ORDER BY 1"))
            if visas.impute_arrivals else {})
    return {"departures_at_end": ends, "in_country_grants": n_grants, "stays_started_at_transition": moved, "imputed_arrivals": arrivals,
            "arrival_lag_days": lags}
