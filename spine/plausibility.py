"""Plausibility diagnostics: figures that a statistician reads before trusting the flows, each with
a threshold past which the run warns and names the rule to look at.

A run that imputes most of its emigrations, or whose events mostly belong to people with no
recorded movement, or whose enlarged persons mostly rest on a single record, may be right, but it
rests on the rules' assumptions rather than on recorded evidence: the report shows every figure,
`quality.json` `plausibility` holds them, and ``spine run`` prints a warning for each past its
threshold. The thresholds are where the healthy worlds of the robustness benchmark stay well
below and broken ones go past (docs/rules.md: *Plausibility diagnostics*). Aggregates only.
"""

from __future__ import annotations

from typing import Any

import duckdb

from spine.config import JobConfig
from spine.groups import citizenship_group_sql

#: Sources of departures that nobody recorded (rules.signs_of_life).
IMPUTED_DEPARTURES = ("signs_of_life", "signs_of_life_provisional", "deregistration")

#: name -> (threshold, the setting to look at, what passing it means)
CHECKS: dict[str, tuple[float, str, str]] = {
    "imputed_emigration_share": (
        0.5, "rules.signs_of_life",
        "most emigrations of a citizenship group are dated at a departure nobody recorded (silence or "
        "deregistration), not at a recorded exit"),
    "events_without_recorded_movement_share": (
        0.3, "rules.signs_of_life, rules.family",
        "many events belong to people with no recorded border crossing at all"),
    "imputed_per_recorded_emigration": (
        0.5, "rules.signs_of_life",
        "for every two emigrations at a recorded exit, more than one is at a departure nobody recorded"),
    "family_events_per_claimant": (
        3.0, "rules.family",
        "each parent passes on more events than a family has children"),
    "enlarged_single_record_share": (
        0.5, "enlargement, sources.<name>.enlarge",
        "most enlarged persons rest on a single record: records of one person may not be grouped "
        "(a key or comparison on a field a source lacks?)"),
}


def plausibility(con: duckdb.DuckDBPyConnection, job: JobConfig) -> dict[str, Any]:
    """Every diagnostic with its value, threshold and whether it warns (``quality.json`` ``plausibility``)."""
    group = citizenship_group_sql("p.nationality", job.home_country)
    imputed = ", ".join(f"'{s}'" for s in IMPUTED_DEPARTURES)
    emigrations = con.execute(f"""
        WITH e AS (
            SELECT {group} AS citizenship_group,
                   EXISTS (SELECT 1 FROM movements AS m WHERE m.person_id = e.person_id AND m.date = e.date
                           AND m.direction = 'out' AND m.flag = 'imputed' AND m.source IN ({imputed})) AS imputed
            FROM events AS e JOIN persons AS p USING (person_id)
            WHERE e.event = 'emigration' AND e.derived_via = 'self')
        SELECT citizenship_group, count(*) FILTER (WHERE imputed), count(*) FROM e GROUP BY 1 ORDER BY 1""").fetchall()
    by_group = {g: {"imputed": k, "emigrations": n, "share": round(k / n, 4)} for g, k, n in emigrations if n}
    counted = [v for v in by_group.values() if v["emigrations"] >= 20]      # a share of 3 events says little
    events, without = con.execute("""
        SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM movements AS m WHERE m.person_id = e.person_id
                                                            AND m.kept AND m.record_id IS NOT NULL))
        FROM events AS e""").fetchall()[0]
    imputed_n, recorded_n = con.execute(f"""
        SELECT count(*) FILTER (WHERE m.flag = 'imputed' AND m.source IN ({imputed})),
               count(*) FILTER (WHERE m.record_id IS NOT NULL)
        FROM events AS e JOIN movements AS m ON m.person_id = e.person_id AND m.date = e.date AND m.direction = 'out'
        WHERE e.event = 'emigration' AND e.derived_via = 'self'""").fetchall()[0]
    family_events, claimants = con.execute(
        "SELECT count(*), count(DISTINCT parent_person_id) FROM events WHERE derived_via = 'family'").fetchall()[0]
    enlarged, single = con.execute("""
        SELECT count(*), count(*) FILTER (WHERE n = 1) FROM (
            SELECT l.person_id, count(*) AS n FROM links AS l JOIN persons AS p USING (person_id)
            WHERE p.origin = 'enlarged' GROUP BY 1)""").fetchall()[0]
    values = {
        "imputed_emigration_share": (max((v["share"] for v in counted), default=None), {"by_citizenship_group": by_group}),
        "events_without_recorded_movement_share": (_share(without, events), {"events": events, "without": without}),
        "imputed_per_recorded_emigration": (_share(imputed_n, recorded_n),
                                            {"imputed": imputed_n, "recorded": recorded_n}),
        "family_events_per_claimant": (_share(family_events, claimants),
                                       {"family_events": family_events, "claimants": claimants}),
        "enlarged_single_record_share": (_share(single, enlarged), {"enlarged_persons": enlarged, "single_record": single}),
    }
    result = {}
    for name, (value, detail) in values.items():
        threshold, look_at, meaning = CHECKS[name]
        result[name] = {"value": value, "threshold": threshold, "warn": value is not None and value > threshold,
                        "look_at": look_at, "meaning": meaning, **detail}
    return result


def warnings(checks: dict[str, Any]) -> list[str]:
    """One line per diagnostic past its threshold (for the CLI)."""
    return [f"{name} = {c['value']} (threshold {c['threshold']}): {c['meaning']}; look at {c['look_at']}"
            for name, c in checks.items() if c.get("warn")]


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
