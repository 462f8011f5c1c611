"""Plausibility diagnostics: figures that a statistician reads before trusting the flows, each with
a threshold past which the run warns and names the rule to look at.

A run that imputes most of its emigrations, or whose events mostly belong to people with no
recorded movement, or whose enlarged persons mostly rest on a single record, may be right, but it
rests on the rules' assumptions rather than on recorded evidence: the report shows every figure,
`quality.json` `plausibility` holds them, and ``spine run`` prints a warning for each past its
threshold. The thresholds are where the healthy worlds of the robustness benchmark stay well
below and broken ones go past (docs/rules.md: *Plausibility diagnostics*). Aggregates only.

Each source is judged too (``<check>.<source>``, with a ``message`` naming its YAML path): a
source that fails whole, without any error, shows here: most records rejected (every crossing
outside the observation window), far fewer links than its national ids promise (ids stored as
numbers, another format), many invalid or implausible values, and what reading it warned of
(docs/reliability.md).
"""

from __future__ import annotations

from typing import Any


from linkage._sql import columns_of, quote_ident, sql_literal
from spine.config import JobConfig
from spine.engine import Engine
from spine.groups import citizenship_group_sql
from spine.sources import SOURCE_WARNINGS, std_table

#: Sources of departures that nobody recorded (rules.signs_of_life, rules.visa_ends).
IMPUTED_DEPARTURES = ("signs_of_life", "signs_of_life_provisional", "deregistration", "visa_end")

#: name -> (threshold, the setting to look at, what passing it means)
CHECKS: dict[str, tuple[float, str, str]] = {
    "imputed_emigration_share": (
        0.5, "rules.signs_of_life, rules.visas",
        "most emigrations of a citizenship group are dated at a departure nobody recorded (silence, "
        "deregistration or a visa's end), not at a recorded exit"),
    "events_without_recorded_movement_share": (
        0.3, "rules.signs_of_life, rules.family",
        "many events belong to people with no recorded border crossing at all"),
    "imputed_per_recorded_emigration": (
        0.5, "rules.signs_of_life, rules.visas",
        "for every two emigrations at a recorded exit, more than one is at a departure nobody recorded"),
    "family_events_per_claimant": (
        3.0, "rules.family",
        "each parent passes on more events than a family has children"),
    "enlarged_single_record_share": (
        0.5, "enlargement, sources.<name>.enlarge",
        "most enlarged persons rest on a single record: records of one person may not be grouped "
        "(a key or comparison on a field a source lacks?)"),
}


def plausibility(db: Engine, job: JobConfig) -> dict[str, Any]:
    """Every diagnostic with its value, threshold and whether it warns (``quality.json`` ``plausibility``)."""
    group = citizenship_group_sql("p.nationality", job.home_country)
    imputed = ", ".join(f"'{s}'" for s in IMPUTED_DEPARTURES)
    emigrations = db.run(f"""
        WITH e AS (
            SELECT {group} AS citizenship_group,
                   EXISTS (SELECT 1 FROM movements AS m WHERE m.person_id = e.person_id AND m.date = e.date
                           AND m.direction = 'out' AND m.flag = 'imputed' AND m.source IN ({imputed})) AS imputed
            FROM events AS e JOIN persons AS p USING (person_id)
            WHERE e.event = 'emigration' AND e.derived_via = 'self')
        SELECT citizenship_group, count(*) FILTER (WHERE imputed), count(*) FROM e GROUP BY 1 ORDER BY 1""")
    by_group = {g: {"imputed": k, "emigrations": n, "share": round(k / n, 4)} for g, k, n in emigrations if n}
    counted = [v for v in by_group.values() if v["emigrations"] >= 20]      # a share of 3 events says little
    events, without = db.run("""
        SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM movements AS m WHERE m.person_id = e.person_id
                                                            AND m.kept AND m.record_id IS NOT NULL))
        FROM events AS e""")[0]
    imputed_n, recorded_n = db.run(f"""
        SELECT count(*) FILTER (WHERE m.flag = 'imputed' AND m.source IN ({imputed})),
               count(*) FILTER (WHERE m.record_id IS NOT NULL)
        FROM events AS e JOIN movements AS m ON m.person_id = e.person_id AND m.date = e.date AND m.direction = 'out'
        WHERE e.event = 'emigration' AND e.derived_via = 'self'""")[0]
    family_events, claimants = db.run(
        "SELECT count(*), count(DISTINCT parent_person_id) FROM events WHERE derived_via = 'family'")[0]
    enlarged, single = db.run("""
        SELECT count(*), count(*) FILTER (WHERE n = 1) FROM (
            SELECT l.person_id, count(*) AS n FROM links AS l JOIN persons AS p USING (person_id)
            WHERE p.origin = 'enlarged' GROUP BY 1)""")[0]
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
    result.update(source_checks(db, job))
    return result


#: Per-source checks: name -> (threshold, what passing it means).
SOURCE_CHECKS: dict[str, tuple[float, str]] = {
    "rejected_share": (0.5, "most of the source's records are rejected (a window, a date format, a mapping)"),
    "id_not_linked_share": (
        0.5, "fewer than half of the records with a national id link, though the id should find its person "
             "(ids stored as numbers, another format, a wrong column?)"),
    "invalid_value_share": (0.1, "many values of a field could not be used (unparseable or impossible: set NULL)"),
    "implausible_value_share": (0.1, "many values of a field are odd but kept (a birth before 1900, a date "
                                     "more than a year ahead)"),
}
#: Fewer records than this say little about a source's link rate or its values.
MIN_RECORDS = 20


def source_checks(db: Engine, job: JobConfig) -> dict[str, Any]:
    """The per-source diagnostics (``<check>.<source>``) and the warnings reading the sources gave."""
    result: dict[str, Any] = {}
    if "status" not in columns_of(db, "links"):
        return result
    counts: dict[str, dict[str, int]] = {}   # source -> rejection reason (or status) -> records: one pass
    for name, key, n in db.run(
            "SELECT source, CASE WHEN status = 'rejected' THEN reason ELSE '' END, count(*) FROM links "
            "GROUP BY ALL ORDER BY 1, 3 DESC, 2"):
        counts.setdefault(name, {})[key] = n
    for name, source in job.sources.items():
        std = std_table(name)
        if not columns_of(db, std) or not counts.get(name):
            continue
        records = sum(counts[name].values())
        reasons = {k: n for k, n in counts[name].items() if k}
        rejected = sum(reasons.values())
        top = next(iter(reasons), "")
        look = (f"sources.{name}.columns.event_date and observation" if top == "date_outside_observation" else
                f"sources.{name}.columns.{top.split('_', 1)[1]}" if "_" in top else f"sources.{name}")
        _add(result, "rejected_share", name, rejected, records, look, {"records": records, "rejected": rejected,
                                                                        "reasons": reasons},
             f"{_pct(rejected, records)} of its {records:,} records are rejected ({_counts(reasons)})")
        ids = getattr(source.linkage, "id_fields", None) or []
        if "national_id" in ids and name != job.base:
            with_id, linked = db.run(f"""
                SELECT count(*), count(*) FILTER (WHERE l.status = 'linked')
                FROM {quote_ident(std)} AS s JOIN links AS l ON l.source = {sql_literal(name)} AND l.record_id = s.record_id
                WHERE s.national_id IS NOT NULL AND s.reject_reason IS NULL""")[0]
            if with_id >= MIN_RECORDS:
                filled = with_id / records
                _add(result, "id_not_linked_share", name, with_id - linked, with_id,
                     f"sources.{name}.columns.national_id", {"records": records, "with_national_id": with_id,
                                                             "linked_with_national_id": linked},
                     f"{linked:,} of the {with_id:,} records with a national id ({filled:.0%} of its records) "
                     "link; an id should find its person")
        if records >= MIN_RECORDS:
            found: dict[str, dict[str, int]] = {"invalid_fields": {}, "implausible_fields": {}}
            for column, field, n in db.run(
                    f"SELECT k, f, count(*) FROM (SELECT unnest(['invalid_fields', 'implausible_fields']) AS k, "
                    f"unnest([invalid_fields, implausible_fields]) AS v FROM {quote_ident(std)} "
                    "WHERE invalid_fields IS NOT NULL OR implausible_fields IS NOT NULL), "
                    "unnest(string_split(v, ',')) AS t(f) GROUP BY ALL ORDER BY 1, 3 DESC, 2"):
                found[column][field] = n
            for check, column, what in (("invalid_value_share", "invalid_fields", "could not be used (set NULL)"),
                                        ("implausible_value_share", "implausible_fields", "are implausible (kept)")):
                by_field = found[column]
                field, n = next(iter(by_field.items()), (None, 0))
                _add(result, check, name, n, records,
                     f"sources.{name}.columns.{field}" if field else f"sources.{name}", {"by_field": by_field},
                     f"{_pct(n, records)} of the {field} values of its {records:,} records {what}")
    if columns_of(db, SOURCE_WARNINGS):
        for i, (name, look_at, message) in enumerate(db.run(
                f"SELECT source, look_at, message FROM {SOURCE_WARNINGS}")):
            result[f"source_warning.{name}.{i + 1}"] = {
                "value": None, "threshold": None, "warn": True, "look_at": look_at, "meaning": message,
                "message": f"{look_at}  {message}"}
    return result


def _add(result: dict[str, Any], check: str, source: str, part: int, whole: int, look_at: str,
         detail: dict[str, Any], text: str) -> None:
    threshold, meaning = SOURCE_CHECKS[check]
    value = _share(part, whole)
    warn = value is not None and value > threshold
    result[f"{check}.{source}"] = {"value": value, "threshold": threshold, "warn": warn, "look_at": look_at,
                                   "meaning": meaning, **detail,
                                   "message": f"{look_at}  {text} ({check} = {value}, threshold {threshold})"
                                   if warn else None}


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "0%"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items())


def warnings(checks: dict[str, Any]) -> list[str]:
    """One line per diagnostic past its threshold (for the CLI); a source's names its YAML path."""
    return [c.get("message") or f"{name} = {c['value']} (threshold {c['threshold']}): {c['meaning']}; "
            f"look at {c['look_at']}" for name, c in checks.items() if c.get("warn")]


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
