"""Benchmark: the demo job in worlds it was not written for; the worst case is the figure.

    python -m benchmarks.robustness --persons 20000 --seed 1 --random-regimes 3 --json bench-robust.json
    python -m benchmarks.robustness --persons 2000 --regimes baseline,quiet_residents --random-regimes 0

Every named regime of ``spine synth`` (spine.synthetic.REGIMES) and ``--random-regimes`` more drawn
from the full parameter ranges with ``--seed`` (so nobody can tune to them) each generate a
universe, run ``examples/migration/job.yaml`` on it end to end (``enlarge: true`` on every admin
source, as benchmarks/rules.py; a column mapping dropped only where the regime's source lacks the
column; the validation sample only when ``--validation-fraction`` > 0) and score it against the
universe's truth:

- ``event_f1``: person-level immigration and emigration events (same type, within 31 days);
- ``immigration_worst_annual_error``, ``emigration_worst_annual_error``: of the years of the run's
  reporting period (its events are final) with 10 or more true events, the signed relative error
  (derived / true - 1) largest in size; events are scored inside the reporting period only (the
  run publishes none outside it);
- ``family_f1``: family-derived events (precision against each person's true events, recall of the
  true family events against every derived event of the person); None with fewer than 30 true
  family events;
- ``cluster_f1``: pairwise F1 of the spine's clusters over every record of every source;
- ``enlarged_ratio``: persons the run created beyond the register (``enlarged`` and ``family``)
  over people truly absent from the register who have a record;
- ``interval_coverage``: share of published flow cells (>= 10 true events, complete years) whose
  interval holds the true count (None when nothing is published);
- ``published_immigration_worst_annual_error``, ``published_emigration_worst_annual_error``: the
  same for the published annual totals (flows, calibrated when the job's validation sample
  calibrates them), over the scored years whose total is published;
- ``seconds``: generation, run and scoring.

``worst`` holds, per key, the worst value over the regimes (lowest F1 and coverage, largest error
in size, ratio furthest from 1, longest time) and ``worst_regime`` which regime gave it, over the
regimes that ran and whose truth passed its checks; a regime that fails is recorded in ``failed``
and the others go on. Regimes run in ``--workers`` processes. Not a test: record the figures in
BENCHMARKS.md with the seed.
"""

from __future__ import annotations

import argparse
import logging
import math
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import yaml

from benchmarks.common import emit, write_demo_job
from benchmarks.rules import complete_years
from benchmarks.score import attach_truth, event_scores, family_event_scores
from benchmarks.uncertainty import score_seed, summarise
from linkage.evaluate import cluster_pairwise_scores
from spine import Job
from spine.engine import DuckDBEngine
from spine.synthetic import REGIMES, Regime, generate, named_regime, random_regime

#: A figure resting on fewer true events than this is reported as None (noise, not a measurement):
#: annual errors per year and event type, family F1.
MIN_TRUE_EVENTS = {"annual": 10, "family": 30}
KEYS = ("event_f1", "immigration_worst_annual_error", "emigration_worst_annual_error", "family_f1", "cluster_f1",
        "enlarged_ratio", "interval_coverage", "published_immigration_worst_annual_error",
        "published_emigration_worst_annual_error", "seconds")


def adapt_job(path: Path, sources: dict[str, Path], validation: bool) -> dict[str, list[str]]:
    """Drop the job's column mappings that a regime's files lack (and the sex codes with a missing
    sex); drop the validation sample when there is none. Returns what was dropped, per source."""
    job = yaml.safe_load(path.read_text())
    dropped: dict[str, list[str]] = {}
    with duckdb.connect() as con:
        for name, source in job["sources"].items():
            header = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_csv('{sources[name]}', "
                                                "all_varchar = true)").fetchall()}
            for field, spec in list(source["columns"].items()):
                column = spec["column"] if isinstance(spec, dict) else spec
                if column not in header:
                    del source["columns"][field]
                    dropped.setdefault(name, []).append(field)
                    if field == "sex":
                        source.pop("sex_codes", None)
    if not validation:
        job.get("flows", {}).get("uncertainty", {}).pop("validation", None)
    path.write_text(yaml.safe_dump(job))
    return dropped


def worst_annual_error(by_year: list[dict[str, Any]], event: str, end_year: int) -> float | None:
    """The signed relative error largest in size among the complete years of one event type (years
    with at least ``MIN_TRUE_EVENTS['annual']`` true events)."""
    rows = [r for r in complete_years(by_year, end_year)["years"]
            if r["event"] == event and r["truth"] >= MIN_TRUE_EVENTS["annual"]]
    return max((r["error"] for r in rows), key=abs, default=None)


def absent_from_register(con: duckdb.DuckDBPyConnection, truth: Path, base: str) -> int:
    """People with a record of some source and none in the base register."""
    records = f"read_csv('{truth / 'records.csv'}', all_varchar = true)"
    return con.execute(f"""SELECT count(DISTINCT person_key) FROM {records}
                           WHERE person_key NOT IN (SELECT person_key FROM {records} WHERE source = '{base}')""").fetchone()[0]


def run_regime(name: str, regime: Regime, persons: int, seed: int, validation_fraction: float,
               keep: Path | None = None) -> dict[str, Any]:
    """Generate one world, run the demo job on it and score it (``keep``: leave its data, job and
    outputs in ``keep/<name>``)."""
    logging.getLogger("splink").setLevel(logging.ERROR)
    started = time.perf_counter()
    if keep:
        work = keep / name
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    else:
        work = Path(tempfile.mkdtemp(prefix=f"spine-robust-{name}-"))
    try:
        path = write_demo_job(work, enlarge=True)
        universe = generate(persons, seed, work / "data", regime=regime, validation_fraction=validation_fraction)
        dropped = adapt_job(path, universe.sources, validation_fraction > 0)
        job = Job.from_yaml(path)
        result = job.run()
        con = result.connection()
        truth = universe.out_dir / "truth"
        attach_truth(con, truth)
        reporting = result.quality["reporting"]
        period = (reporting["start"], reporting["end"])
        end_year = int(reporting["end"][:4]) + 1      # complete years: those of the reporting period
        events = event_scores(con, truth, period=period)
        family = family_event_scores(con, truth, period=period)
        con.execute(f"""CREATE TEMP TABLE scored_records AS
            SELECT l.source, l.record_id, l.person_id AS predicted, t.person_key AS truth
            FROM links AS l JOIN read_csv('{truth / 'records.csv'}', all_varchar = true) AS t
            USING (source, record_id)""")
        clusters = cluster_pairwise_scores(DuckDBEngine(con), "scored_records")
        by_origin = dict(con.execute("SELECT origin, count(*) FROM persons GROUP BY 1").fetchall())
        created = by_origin.get("enlarged", 0) + by_origin.get("family", 0)
        absent = absent_from_register(con, truth, job.config.base)
        cells = score_seed(con, truth, job.config, int(reporting["start"][:4]), end_year - 1, 10)
        coverage = summarise(cells)["coverage"] if cells else None
        published = {e: max((c["count"] / c["truth"] - 1 for c in cells
                             if c["event"] == e and c["count"] is not None and c["sex"] == c["age_group"]
                             == c["citizenship_group"] == "total"), key=abs, default=None)
                     for e in ("immigration", "emigration")}
        result.close()
        return {
            "event_f1": events["f1"],
            "immigration_worst_annual_error": worst_annual_error(events["by_year"], "immigration", end_year),
            "emigration_worst_annual_error": worst_annual_error(events["by_year"], "emigration", end_year),
            "family_f1": family["f1"] if family["true"] >= MIN_TRUE_EVENTS["family"] else None,
            "cluster_f1": clusters["f1"],
            "enlarged_ratio": round(created / absent, 4) if absent else None,
            "interval_coverage": coverage,
            "published_immigration_worst_annual_error": published["immigration"],
            "published_emigration_worst_annual_error": published["emigration"],
            "seconds": round(time.perf_counter() - started, 1),
            "details": {
                "regime": regime.changed(), "truth_passed": universe.truth_passed,
                "truth_checks": universe.truth_checks, "columns_dropped_from_job": dropped,
                "persons": universe.n_persons,
                "events": {k: events[k] for k in ("precision", "recall", "predicted", "true")},
                "family": {k: family[k] for k in ("precision", "recall", "predicted", "true")},
                "complete_years": complete_years(events["by_year"], end_year)["years"],
                "persons_by_origin": by_origin, "absent_from_register": absent,
                "cells_scored": len(cells),
                "movements_imputed": result.quality["rules"].get("movements_imputed_by_source"),
            },
        }
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def run_regime_safely(name: str, *args: Any) -> dict[str, Any]:
    """:func:`run_regime`, with a failure recorded for its regime instead of stopping the benchmark."""
    try:
        return run_regime(name, *args)
    except Exception as exc:  # noqa: BLE001 - one failing world is a finding, not the end of the run
        return {**{key: None for key in KEYS}, "error": f"{type(exc).__name__}: {exc}"[:2000],
                "details": {"truth_passed": None}}


def worst(regimes: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Per key, the worst value over the regimes that ran and whose truth passed its checks, and
    the regime that gave it."""
    regimes = {name: r for name, r in regimes.items() if r["details"].get("truth_passed")}
    how = {"event_f1": min, "family_f1": min, "cluster_f1": min, "interval_coverage": min, "seconds": max,
           "immigration_worst_annual_error": "size", "emigration_worst_annual_error": "size",
           "published_immigration_worst_annual_error": "size", "published_emigration_worst_annual_error": "size",
           "enlarged_ratio": "log"}
    values, names = {}, {}
    for key in KEYS:
        present = [(name, r[key]) for name, r in regimes.items() if r.get(key) is not None]
        if not present:
            values[key], names[key] = None, None
            continue
        rule = how[key]
        if rule == "size":
            name, value = max(present, key=lambda nv: abs(nv[1]))
        elif rule == "log":
            name, value = max(present, key=lambda nv: abs(math.log(nv[1])) if nv[1] > 0 else math.inf)
        else:
            name, value = rule(present, key=lambda nv: nv[1])
        values[key], names[key] = value, name
    return values, names


def print_table(regimes: dict[str, dict[str, Any]], worst_values: dict[str, Any]) -> None:
    heads = ("regime", "ev_F1", "imm_err", "emi_err", "fam_F1", "clu_F1", "enl_ratio", "cover", "pub_imm", "pub_emi",
             "secs", "truth")
    rows = [heads]
    for name, r in [*regimes.items(), ("WORST", {**worst_values, "details": {"truth_passed": None}})]:
        cells = [name] + [("-" if r.get(k) is None else f"{r[k]:+.3f}" if "error" in k else f"{r[k]:.3f}"
                           if k != "seconds" else f"{r[k]:.0f}") for k in KEYS]
        passed = r.get("details", {}).get("truth_passed")
        rows.append((*cells, "" if passed is None else ("ok" if passed else "FAIL")))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(heads))]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))  # noqa: T201 - a benchmark prints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1, help="universe seed, and the seed of the random regimes")
    parser.add_argument("--random-regimes", type=int, default=3, help="regimes drawn from the full ranges")
    parser.add_argument("--regimes", help="named regimes to run, comma-separated (default: all)")
    parser.add_argument("--validation-fraction", type=float, default=0.05,
                        help="follow-up sample the job validates its intervals against; 0: none")
    parser.add_argument("--workers", type=int, default=2, help="regimes run at once, each in its own process")
    parser.add_argument("--keep", type=Path, help="keep each regime's data, job and outputs in KEEP/<regime>")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    names = args.regimes.split(",") if args.regimes else list(REGIMES)
    chosen = {name: named_regime(name) for name in names}
    chosen |= {f"random_{k}": random_regime(args.seed, k) for k in range(1, args.random_regimes + 1)}
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = {name: pool.submit(run_regime_safely, name, regime, args.persons, args.seed, args.validation_fraction,
                                   args.keep)
                   for name, regime in chosen.items()}
        regimes = {name: future.result() for name, future in futures.items()}
    worst_values, worst_names = worst(regimes)
    figures = {"persons": args.persons, "seed": args.seed, "random_regimes": args.random_regimes,
               "validation_fraction": args.validation_fraction, "workers": args.workers,
               "wall_seconds": round(time.perf_counter() - started, 1),
               "truth_passed": all(r["details"]["truth_passed"] for r in regimes.values()),
               "failed": {name: r["error"] for name, r in regimes.items() if "error" in r},
               "regimes": regimes, "worst": worst_values, "worst_regime": worst_names,
               "random_regime_parameters": {f"random_{k}": random_regime(args.seed, k).changed()
                                            for k in range(1, args.random_regimes + 1)}}
    emit(figures, args.json)
    print_table(regimes, worst_values)


if __name__ == "__main__":
    main()
