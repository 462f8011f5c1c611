"""Benchmark: do the flows' uncertainty intervals contain the true counts?

    python -m benchmarks.uncertainty --persons 20000 --seeds 1,2,3 --replicates 100 --json bench-unc.json
    python -m benchmarks.uncertainty --persons 20000 --seeds 1 --replicates 50 \\
        --vary signs_of_life.window_days=548,730,913 --vary signs_of_life.provisional_days=183,365,null

For each seed: generates the synthetic universe, runs ``examples/migration/job.yaml`` with
enlargement (as benchmarks/rules.py does) and a ``flows.uncertainty`` block, and counts the true
events (``truth/events.csv`` with the true person's date of birth, sex and nationality from
``truth/persons.csv``) per flow cell, grouped by the same SQL as the flows (spine.groups).

Scored cells: true count >= ``--min-true`` (default 10), in complete years (from the observation
start to the year before the data end: the last year's events cannot all be confirmed yet).
A scored cell is *covered* when it is published with an interval and lower <= truth <= upper;
a cell the run did not publish (no events derived, or suppressed) has no interval and counts as
not covered in ``coverage_all`` (reported apart as ``unpublished``). Reports coverage overall,
per seed and per event type; the interval widths; how often the published count itself is the
truth; and the time per replicate. Not a test.
"""

from __future__ import annotations

import argparse
import csv
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import emit, write_demo_job
from spine import Job
from spine.flows import CELL_KEYS as KEYS
from spine.flows import cell_keys_sql, margin_labels_sql
from spine.synthetic import generate


def true_cells_sql(truth: Path, job: Any) -> str:
    """True events per flow cell and per margin (``total``), grouped as spine.flows groups the derived ones."""
    keys = cell_keys_sql(job, sex="p.sex", dob="p.dob", nationality="p.nationality", date="e.date")
    return f"""
        WITH e AS (SELECT person_key, event, CAST(date AS DATE) AS date
                   FROM read_csv('{truth / 'events.csv'}', all_varchar = true)),
             p AS (SELECT person_key, nullif(sex, '') AS sex, CAST(nullif(dob, '') AS DATE) AS dob,
                          nullif(nationality, '') AS nationality
                   FROM read_csv('{truth / 'persons.csv'}', all_varchar = true)),
             cells AS (SELECT e.event, {keys} FROM e JOIN p USING (person_key))
        SELECT {margin_labels_sql()}, count(*) AS truth FROM cells GROUP BY CUBE ({', '.join(KEYS)})"""


def score_seed(con: Any, truth: Path, job: Any, first_year: int, last_year: int, min_true: int) -> list[dict]:
    """One row per scored cell: truth, published count, interval."""
    rows = con.execute(f"""
        WITH t AS ({true_cells_sql(truth, job)})
        SELECT t.period, t.event, t.sex, t.age_group, t.citizenship_group, t.truth, f.count, f.suppressed,
               f.lower, f.upper
        FROM t LEFT JOIN flows AS f USING (period, event, sex, age_group, citizenship_group)
        WHERE t.truth >= {int(min_true)} AND t.period <> 'total' AND t.event <> 'total'
          AND CAST(left(t.period, 4) AS INTEGER) BETWEEN {first_year} AND {last_year}
        ORDER BY ALL""").fetchall()
    keys = ("period", "event", "sex", "age_group", "citizenship_group", "truth", "count", "suppressed", "lower", "upper")
    cells = [dict(zip(keys, r)) for r in rows]
    for c in cells:
        c["margin"] = any(c[k] == "total" for k in KEYS)
    return cells


def summarise(cells: list[dict]) -> dict[str, Any]:
    """Coverage, widths and point accuracy of a list of scored cells."""
    with_interval = [c for c in cells if c["lower"] is not None]
    covered = [c for c in with_interval if c["lower"] <= c["truth"] <= c["upper"]]
    widths = sorted(c["upper"] - c["lower"] for c in with_interval)
    relative = sorted((c["upper"] - c["lower"]) / c["truth"] for c in with_interval)
    errors = sorted((c["count"] - c["truth"]) / c["truth"] for c in with_interval)
    below = sum(1 for c in with_interval if c["truth"] < c["lower"])

    def median(xs: list[float]) -> float | None:
        return round(xs[len(xs) // 2], 4) if xs else None

    return {
        "cells": len(cells), "with_interval": len(with_interval),
        "unpublished": len(cells) - len(with_interval),
        "coverage": round(len(covered) / len(with_interval), 4) if with_interval else None,
        "coverage_all": round(len(covered) / len(cells), 4) if cells else None,
        "truth_below_interval": below, "truth_above_interval": len(with_interval) - len(covered) - below,
        "width_median": median(widths), "width_max": widths[-1] if widths else None,
        "relative_width_median": median(relative),
        "zero_width_cells": sum(1 for w in widths if w == 0),
        "published_equals_truth": sum(1 for c in with_interval if c["count"] == c["truth"]),
        "relative_error_median": median(errors),
        "relative_error_abs_median": median(sorted(abs(e) for e in errors)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seeds", default="1,2,3", help="universe seeds, comma-separated")
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--enlarge", action=argparse.BooleanOptionalAction, default=True,
                        help="run with enlargement on every admin source (as benchmarks/rules.py), or the demo job as is")
    parser.add_argument("--replicate-seed", type=int, default=1)
    parser.add_argument("--sampling-unit", choices=("identity", "record"), default="identity")
    parser.add_argument("--min-true", type=int, default=10, help="score cells with at least this many true events")
    parser.add_argument("--vary", action="append", default=[], metavar="RULE.KEY=V1,V2,...",
                        help="rule_alternatives entry, e.g. signs_of_life.window_days=548,730,913 (null allowed "
                             "for provisional_days); repeatable")
    parser.add_argument("--fast-linkage", action="store_true",
                        help="identifier and match-key linkage only (nothing to re-draw): to check the script quickly")
    parser.add_argument("--validation-fraction", type=float, default=0.05,
                        help="share of people in the follow-up sample the job validates against; 0: no validation")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", type=Path, help="keep the cells scored per seed in this folder (CSV)")
    args = parser.parse_args()
    logging.getLogger("splink").setLevel(logging.ERROR)

    alternatives: dict[str, list[Any]] = {}
    for item in args.vary:
        key, _, values = item.partition("=")
        if not (key and values):
            parser.error(f"--vary {item!r}: write RULE.KEY=V1,V2")
        alternatives[key] = [yaml.safe_load(v) for v in values.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    figures: dict[str, Any] = {"persons": args.persons, "enlarge": args.enlarge,
                               "validation_fraction": args.validation_fraction, "seeds": seeds, "replicates": args.replicates,
                               "replicate_seed": args.replicate_seed, "sampling_unit": args.sampling_unit,
                               "rule_alternatives": alternatives, "min_true": args.min_true, "per_seed": {}}
    everything: list[dict] = []
    for seed in seeds:
        work = Path(tempfile.mkdtemp(prefix="spine-unc-"))
        path = write_demo_job(work, enlarge=args.enlarge, fast_linkage=args.fast_linkage)
        job_yaml = yaml.safe_load(path.read_text())
        job_yaml.setdefault("flows", {})["uncertainty"] = {
            "replicates": args.replicates, "seed": args.replicate_seed, "sampling_unit": args.sampling_unit,
            **({"rule_alternatives": alternatives} if alternatives else {})}
        if args.validation_fraction > 0:
            job_yaml["flows"]["uncertainty"]["validation"] = {"path": "data/validation.csv"}
        path.write_text(yaml.safe_dump(job_yaml))
        universe = generate(args.persons, seed, work / "data", file_format="csv",
                            validation_fraction=args.validation_fraction)
        started = time.perf_counter()
        job = Job.from_yaml(path)
        result = job.run()
        seconds = time.perf_counter() - started
        con = result.connection()
        reporting = result.quality["reporting"]
        end_year = int(reporting["end"][:4]) + 1        # the reporting period's years are scored
        first_year = int(reporting["start"][:4])
        cells = score_seed(con, universe.out_dir / "truth", job.config, first_year, end_year - 1, args.min_true)
        for c in cells:
            c["seed"] = seed
        everything += cells
        unc = result.quality["uncertainty"]
        figures["per_seed"][seed] = {
            **summarise(cells),
            "by_event": {e: summarise([c for c in cells if c["event"] == e]) for e in ("immigration", "emigration")},
            "cells_only": summarise([c for c in cells if not c["margin"]]),
            "margins_only": summarise([c for c in cells if c["margin"]]),
            "validation": unc.get("validation"),
            "years": [first_year, end_year - 1],
            "run_seconds": round(seconds, 1), "uncertainty_seconds": result.quality["run"]["stages"]["uncertainty"],
            "rules_seconds": result.quality["run"]["stages"]["rules"],
            "seconds_per_replicate": unc.get("seconds_per_replicate"),
            "records_redrawn": unc.get("records_redrawn"),
            "records_with_an_uncertain_candidate": unc.get("records_with_an_uncertain_candidate"),
            "rule_values_used": unc.get("rule_values_used"),
        }
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            with (args.keep / f"cells_seed{seed}.csv").open("w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(cells[0]))
                writer.writeheader()
                writer.writerows(cells)
        result.close()
        shutil.rmtree(work, ignore_errors=True)
    figures["overall"] = summarise(everything)
    figures["by_event"] = {e: summarise([c for c in everything if c["event"] == e])
                           for e in ("immigration", "emigration")}
    figures["cells_only"] = summarise([c for c in everything if not c["margin"]])
    figures["margins_only"] = summarise([c for c in everything if c["margin"]])
    emit(figures, args.json)


if __name__ == "__main__":
    main()
