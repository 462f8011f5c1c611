"""Benchmark: migration events derived by the rules against the synthetic universe's true events.

    python -m benchmarks.rules --persons 100000 --json bench-rules.json
    python -m benchmarks.rules --persons 20000 --set events.definition=12_in_16

Runs ``examples/migration/job.yaml`` (with ``enlarge: true`` on every admin source unless
``--no-enlarge``: people never registered have events too) on a generated universe, maps every
spine person to a true person (its base record's, else most of its records'), and scores:

- person-level events: precision, recall and F1 (same type, dates within 31 days), all events and
  family-derived ones separately;
- annual immigration and emigration counts against the truth, with the relative error, for every
  year of the run's reporting period (a year of history before it, the 12 months of follow-up
  after it; events are scored inside it only: the run publishes none outside it);
- the same for a naive baseline measured in the same run on the same linked movements: an
  immigration at a person's first movement if it is an entry, an emigration at the last if it
  is an exit, no rules;
- wall time of the rules stage.
Not a test.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import emit, write_demo_job
from benchmarks.score import attach_truth, event_scores
from spine import Job
from spine.synthetic import generate


NAIVE_EVENTS = """
    CREATE OR REPLACE TEMP TABLE naive_events AS
    WITH ordered AS (
        SELECT person_id, date, direction,
               row_number() OVER (PARTITION BY person_id ORDER BY date, direction) AS first_rank,
               row_number() OVER (PARTITION BY person_id ORDER BY date DESC, direction DESC) AS last_rank
        FROM movements)
    SELECT person_id, 'immigration' AS event, date, 'self' AS derived_via FROM ordered
    WHERE first_rank = 1 AND direction = 'in'
    UNION ALL
    SELECT person_id, 'emigration', date, 'self' FROM ordered WHERE last_rank = 1 AND direction = 'out'
"""


def complete_years(by_year: list[dict[str, Any]], data_end_year: int) -> dict[str, Any]:
    """Annual counts of the complete years (all but the last) and the largest relative error."""
    rows = [r for r in by_year if r["year"] is not None and r["year"] < data_end_year and r["truth"]]
    worst = max((abs(r["error"]) for r in rows), default=None)
    return {"years": rows, "largest_abs_error": worst}


def stock_against_truth(con, truth: Path, end_year: int) -> list[dict[str, Any]]:
    """Residents on 1 January of each year, from the run's residence spells and the true spells.

    Both counted over the spine's persons mapped to true persons, and the truth also over everyone
    (people never linked have no spell in the run).
    """
    rows = con.execute(f"""
        WITH t AS (SELECT person_key, CAST(start_date AS DATE) AS s, CAST(nullif(end_date, '') AS DATE) AS e
                   FROM read_csv('{truth / 'spells.csv'}', all_varchar = true))
        SELECT y,
               (SELECT count(*) FROM residence_spells WHERE start_date <= make_date(y, 1, 1)
                  AND (end_date IS NULL OR end_date > make_date(y, 1, 1))) AS derived,
               (SELECT count(*) FROM t WHERE s <= make_date(y, 1, 1) AND (e IS NULL OR e > make_date(y, 1, 1))) AS truth
        FROM (SELECT CAST(range AS INTEGER) AS y FROM range(2015, {end_year + 1})) ORDER BY y""").fetchall()
    return [{"year": y, "derived": d, "truth": t, "error": round(d / t - 1, 4) if t else None} for y, d, t in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--no-enlarge", action="store_true", help="keep the job as committed (no enlargement)")
    parser.add_argument("--fast-linkage", action="store_true",
                        help="link on identifiers only (match-keys where a source has none): to time the "
                             "rules stage at 1M persons without the hour of probabilistic linkage")
    parser.add_argument("--set", action="append", default=[], metavar="RULE.KEY=VALUE",
                        help="a rules setting in place of the job's, e.g. events.definition=12_in_16 or "
                             "signs_of_life.never_active_not_resident=true (value read as YAML; repeatable)")
    args = parser.parse_args()
    logging.getLogger("splink").setLevel(logging.ERROR)

    settings: dict[str, dict[str, Any]] = {}
    for item in args.set:
        path, _, value = item.partition("=")
        rule, _, key = path.partition(".")
        if not (rule and key and value):
            parser.error(f"--set {item!r}: write RULE.KEY=VALUE, e.g. events.definition=12_in_16")
        settings.setdefault(rule, {})[key] = yaml.safe_load(value)
    work = Path(tempfile.mkdtemp(prefix="spine-rules-"))
    write_demo_job(work, enlarge=not args.no_enlarge, fast_linkage=args.fast_linkage, rules=settings)
    universe = generate(args.persons, args.seed, work / "data", file_format="csv")
    started = time.perf_counter()
    result = Job.from_yaml(work / "job.yaml").run()
    seconds = time.perf_counter() - started
    con = result.connection()
    truth = universe.out_dir / "truth"
    attach_truth(con, truth)
    con.execute(NAIVE_EVENTS).fetchall()
    reporting = result.quality["reporting"]
    period = (reporting["start"], reporting["end"])
    end_year = int(reporting["end"][:4]) + 1        # complete years: those of the reporting period
    figures: dict[str, Any] = {"persons": args.persons, "seed": args.seed, "enlarge": not args.no_enlarge,
                               "fast_linkage": args.fast_linkage, "rules_settings": settings,
                               "run_seconds": round(seconds, 1), "rules_seconds": result.quality["run"]["stages"]["rules"],
                               "data_end": result.quality["data_end"]}
    for arm, table in (("rules", "events"), ("naive", "naive_events")):
        scores = event_scores(con, truth, events=table, period=period)
        scores["complete_years"] = complete_years(scores.pop("by_year"), end_year)
        figures[arm] = scores
        figures[arm + "_family"] = {k: v for k, v in event_scores(con, truth, events=table, derived_via="family",
                                                                  period=period).items() if k != "by_year"}
    figures["stock_on_1_january"] = stock_against_truth(con, truth, int(figures["data_end"][:4]))
    figures["rule_counts"] = result.quality["rules"]
    result.close()
    emit(figures, args.json)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
