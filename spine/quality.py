"""Machine-readable quality metrics behind the report (``quality.json``). Aggregates only: no names,
ids or other personal data ever enter it."""

from __future__ import annotations

from datetime import date
from typing import Any


from linkage._sql import quote_ident, sql_literal
from spine.config import JobConfig
from spine.engine import Engine
from spine.groups import age_group_sql, citizenship_group_sql, sex_group_sql
from spine.sources import std_table

STATUSES = ("linked", "unlinked", "review", "rejected")


def _status_counts(db: Engine, where: str, group: str | None = None) -> Any:
    select = f"{group} AS grp, " if group else ""
    counts = ", ".join(f"count(*) FILTER (WHERE status = '{s}') AS {s}" for s in STATUSES)
    rows = db.run(f"SELECT {select}count(*) AS records, {counts} FROM ({where}) "
                  + (f"GROUP BY {group} ORDER BY {group}" if group else ""))

    def as_dict(row: tuple) -> dict[str, Any]:
        values = dict(zip(("records", *STATUSES), row))
        values["link_rate"] = round(values["linked"] / values["records"], 6) if values["records"] else None
        return values

    if group is None:
        return as_dict(rows[0])
    return {str(r[0]): as_dict(r[1:]) for r in rows}


def source_metrics(db: Engine, job: JobConfig, name: str, at: date) -> dict[str, Any]:
    """Counts by status, overall and by sex, age group (at ``at``) and citizenship group, and
    the values that were invalid or implausible, by field."""
    records = f"""
        SELECT l.status, l.reason,
               {sex_group_sql('s.sex')} AS sex,
               {age_group_sql('s.dob', f"DATE '{at.isoformat()}'", job.flows.age_groups)} AS age_group,
               {citizenship_group_sql('s.nationality', job.home_country)} AS citizenship_group,
               s.invalid_fields, s.implausible_fields
        FROM links AS l JOIN {quote_ident(std_table(name))} AS s
          ON l.source = {sql_literal(name)} AND l.record_id = s.record_id"""
    metrics = _status_counts(db, records)
    metrics["reasons"] = dict(db.run(
        f"SELECT reason, count(*) FROM ({records}) WHERE reason IS NOT NULL GROUP BY 1 ORDER BY 1"))
    # Values set NULL (unparseable or impossible) and values kept but odd, by field (linkage.standardise).
    for key, column in (("invalid_values", "invalid_fields"), ("implausible_values", "implausible_fields")):
        metrics[key] = dict(db.run(
            f"SELECT f, count(*) FROM (SELECT unnest(string_split({column}, ',')) AS f FROM ({records}) "
            f"WHERE {column} IS NOT NULL) GROUP BY 1 ORDER BY 1"))
    metrics["by"] = {g: _status_counts(db, records, g) for g in ("sex", "age_group", "citizenship_group")}
    return metrics


def accounting(db: Engine, rows_read: dict[str, int]) -> dict[str, Any]:
    """For every source, rows read must equal rows in ``links`` (nothing silently dropped)."""
    in_links = dict(db.run("SELECT source, count(*) FROM links GROUP BY source"))
    by_source = {name: {"rows_read": n, "links": in_links.get(name, 0), "passed": in_links.get(name, 0) == n}
                 for name, n in rows_read.items()}
    duplicates = db.run(
        "SELECT count(*) FROM (SELECT source, record_id FROM links GROUP BY ALL HAVING count(*) > 1)")[0][0]
    passed = all(v["passed"] for v in by_source.values()) and duplicates == 0
    return {"passed": passed, "duplicate_link_rows": duplicates, "by_source": by_source}


def rule_metrics(db: Engine) -> dict[str, Any]:
    """Counts per rule: movements and persons flagged, events derived."""
    flagged, persons_flagged, duplicates, not_kept, total = db.run("""
        SELECT count(*) FILTER (WHERE flag = 'illogical_itinerary'),
               count(DISTINCT person_id) FILTER (WHERE flag = 'illogical_itinerary'),
               count(*) FILTER (WHERE NOT kept AND EXISTS (   -- a same-day duplicate: its twin is kept
                   SELECT 1 FROM movements AS k WHERE k.kept AND k.person_id = m.person_id
                   AND k.date = m.date AND k.direction = m.direction)),
               count(*) FILTER (WHERE NOT kept), count(*) FROM movements AS m""")[0]
    events = dict(db.run("SELECT event, count(*) FROM events GROUP BY 1 ORDER BY 1"))
    by_year = [dict(zip(("year", "event", "n"), r)) for r in db.run(
        "SELECT year(date), event, count(*) FROM events GROUP BY ALL ORDER BY 1, 2")]
    imputed = dict(db.run("SELECT source, count(*) FROM movements WHERE flag = 'imputed' "
                          "GROUP BY 1 ORDER BY 1"))
    definition, provisional = db.run(
        "SELECT any_value(rule) FILTER (WHERE derived_via = 'self'), count(*) FILTER (WHERE provisional) "
        "FROM events")[0]
    return {
        "itinerary": {"movements": total, "movements_flagged": flagged,
                      "persons_flagged": persons_flagged, "same_day_duplicates": duplicates,
                      "movements_not_kept_by_any_rule": not_kept},
        "movements_imputed_by_source": imputed,
        "events": {"definition": definition, "counts": events, "provisional": provisional, "by_year": by_year},
    }


def flow_metrics(db: Engine, disclosure: dict[str, Any]) -> dict[str, Any]:
    """Published cells and suppressed ones, with what disclosure control did (``flows.build_flows``)."""
    totals = [{"period": period, "event": event, "count": count, "suppressed": hidden, "lower": lower, "upper": upper}
              for period, event, count, hidden, lower, upper in db.run(
                  "SELECT period, event, count, suppressed, lower, upper FROM flows WHERE sex = 'total' "
                  "AND age_group = 'total' AND citizenship_group = 'total' ORDER BY period, event")]
    return {**disclosure, "published_totals": totals}


def person_metrics(db: Engine) -> dict[str, Any]:
    by_origin = dict(db.run("SELECT origin, count(*) FROM persons GROUP BY 1 ORDER BY 1"))
    return {"total": sum(by_origin.values()), "by_origin": by_origin}
