"""Benchmark: the spine's clusters against the synthetic universe's true persons.

    python -m benchmarks.spine --persons 100000 --enlarge --update --rerun --json bench-spine.json

Runs ``examples/migration/job.yaml`` on a generated universe and scores the clusters it makes:
predicted cluster = the records sharing a ``person_id`` (an unlinked record is a cluster of one);
true cluster = the records of one true person. Pairwise precision, recall and F1 count pairs of
records in the same cluster, computed from cluster sizes in SQL (no pair is enumerated): overall
over every record of every source, and per source over that source's records together with the
register's. Also: people absent from the register in the truth against persons the run created by
enlargement (``--enlarge`` turns it on for every admin source), and wall time per stage.
``--update`` first runs on the extracts as they were a year earlier, then on the full ones into
the same store, and counts the person ids kept; ``--rerun`` runs the same inputs once more and
counts ids that differ (there should be none). Not a test.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from benchmarks.common import emit, write_demo_job
from linkage.evaluate import cluster_pairwise_scores
from spine import Job
from spine.engine import DuckDBEngine
from spine.synthetic import generate



#: The earlier extract holds what was known a year before the end of the synthetic window.
UPDATE_CUTOFF = "2023-12-31"
#: Per file, the column that dates a record (ISO text, or a year): later records are not in the
#: earlier extract. Children on claims have no date: all are kept.
DATED_BY = {"register": "registration_date", "crossings": "crossing_date", "visas": "start_date",
            "benefits": "start_date", "education": "start_date", "tax": "tax_year"}


def _earlier_extract(full: Path, out: Path, cutoff: str) -> dict[str, int]:
    """Write into ``out`` the extracts as they were at ``cutoff``; return rows per file."""
    rows = {}
    with duckdb.connect() as con:
        for name, column in DATED_BY.items():
            source = full / f"{name}.csv"
            bound = cutoff[:4] if column == "tax_year" else cutoff
            select = f"SELECT * FROM read_csv('{source}', all_varchar = true) WHERE {column} IS NULL OR {column} <= '{bound}'"
            if name == "register":   # a departure after the cut-off was not known yet
                select = (f"SELECT * REPLACE (CASE WHEN deregistration_date <= '{cutoff}' THEN deregistration_date "
                          f"END AS deregistration_date) FROM ({select})")
            con.execute(f"COPY ({select}) TO '{out / source.name}' (HEADER, FORMAT csv)").fetchall()
            rows[name] = con.execute(f"SELECT count(*) FROM read_csv('{out / source.name}', all_varchar = true)"
                                     ).fetchall()[0][0]
    return rows


def _update_stability(con: duckdb.DuckDBPyConnection, work: Path) -> dict[str, Any]:
    """Person ids of records linked in both runs: kept or changed, by the person's origin before and after."""
    con.execute(f"""CREATE TEMP TABLE both_runs AS
        SELECT a.source, a.record_id, a.person_id AS before, b.person_id AS after, s.truth,
               pa.origin AS origin_before, pb.origin AS origin_after
        FROM read_parquet('{work / "earlier_links.parquet"}') AS a
        JOIN links AS b USING (source, record_id)
        JOIN scored_records AS s USING (source, record_id)
        JOIN read_parquet('{work / "earlier_persons.parquet"}') AS pa ON pa.person_id = a.person_id
        JOIN persons AS pb ON pb.person_id = b.person_id
        WHERE a.status = 'linked' AND b.status = 'linked'""").fetchall()
    changed = con.execute("""SELECT origin_before || ' -> ' || origin_after, count(*) FROM both_runs
                             WHERE before <> after GROUP BY 1 ORDER BY 1""").fetchall()
    records, kept = con.execute("SELECT count(*), count(*) FILTER (WHERE before = after) FROM both_runs").fetchall()[0]
    people, people_kept = con.execute("""SELECT count(*), count(*) FILTER (WHERE all_kept) FROM (
        SELECT truth, bool_and(before = after) AS all_kept FROM both_runs GROUP BY truth)""").fetchall()[0]
    return {"records_linked_in_both_runs": records, "records_same_person_id": kept,
            "records_changed_by_origin": dict(changed),
            "true_persons_in_both_runs": people, "true_persons_all_ids_kept": people_kept}


def _rerun(work: Path) -> dict[str, Any]:
    """Run the job again on the same inputs and store: every person id should be the same."""
    job = Job.from_yaml(work / "job.yaml")
    first = work / "first_links.parquet"
    shutil.copy(job.config.output_dir / "links.parquet", first)
    started = time.perf_counter()
    result = job.run()
    seconds = time.perf_counter() - started
    differ, records = result.connection().execute(f"""
        SELECT count(*) FILTER (a.person_id IS DISTINCT FROM b.person_id), count(*)
        FROM links AS a FULL JOIN read_parquet('{first}') AS b USING (source, record_id)""").fetchall()[0]
    figures = {"run_seconds": round(seconds, 1), "records": records, "records_with_another_person_id": differ,
               "changes": result.quality["changes"],
               "accounting_passed": result.quality["accounting"]["passed"]}
    result.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--enlarge", action="store_true", help="set enlarge: true on every admin source")
    parser.add_argument("--rerun", action="store_true",
                        help="run the job a second time on the same inputs and store; compare person ids")
    parser.add_argument("--update", action="store_true",
                        help="run first on extracts cut a year earlier, then on the full ones into the same "
                             "store (a longitudinal update); compare person ids")
    args = parser.parse_args()
    logging.getLogger("splink").setLevel(logging.ERROR)   # its training advice, as the CLI does

    work = Path(tempfile.mkdtemp(prefix="spine-bench-"))
    write_demo_job(work, enlarge=args.enlarge)
    universe = generate(args.persons, args.seed, work / "data", file_format="csv")
    update: dict[str, Any] = {}
    if args.update:
        full = work / "full"
        shutil.copytree(universe.out_dir, full, ignore=shutil.ignore_patterns("truth"))
        update["earlier_extract_rows"] = _earlier_extract(full, universe.out_dir, UPDATE_CUTOFF)
        started = time.perf_counter()
        earlier = Job.from_yaml(work / "job.yaml").run()
        update["earlier_run_seconds"] = round(time.perf_counter() - started, 1)
        update["earlier_persons_by_origin"] = earlier.quality["persons"]["by_origin"]
        earlier.close()
        shutil.copy(earlier.job.output_dir / "links.parquet", work / "earlier_links.parquet")
        shutil.copy(earlier.job.output_dir / "persons.parquet", work / "earlier_persons.parquet")
        for path in full.iterdir():
            shutil.copy(path, universe.out_dir / path.name)
    started = time.perf_counter()
    result = Job.from_yaml(work / "job.yaml").run()
    seconds = time.perf_counter() - started
    con = result.connection()
    db = DuckDBEngine(con)   # the same connection, for the linkage package's scores
    truth = universe.out_dir / "truth" / "records.csv"
    con.execute(f"""CREATE TEMP TABLE scored_records AS
        SELECT l.source, l.record_id, l.person_id AS predicted, t.person_key AS truth
        FROM links AS l JOIN read_csv('{truth}', all_varchar = true) AS t USING (source, record_id)""").fetchall()
    figures: dict[str, Any] = {"persons": args.persons, "seed": args.seed, "enlarge": args.enlarge,
                               "run_seconds": round(seconds, 1),
                               "stages": result.quality["run"]["stages"],
                               "overall": cluster_pairwise_scores(db, "scored_records"), "per_source": {}}
    for source in result.job.sources:
        if source != result.job.base:
            subset = f"(SELECT * FROM scored_records WHERE source IN ('{source}', '{result.job.base}'))"
            figures["per_source"][source] = cluster_pairwise_scores(db, subset)
    figures["absent_from_register_true"] = con.execute(f"""
        SELECT count(DISTINCT person_key) FROM read_csv('{truth}', all_varchar = true)
        WHERE person_key NOT IN (SELECT person_key FROM read_csv('{truth}', all_varchar = true)
                                 WHERE source = '{result.job.base}')""").fetchall()[0][0]
    figures["persons_by_origin"] = dict(con.execute("SELECT origin, count(*) FROM persons GROUP BY 1").fetchall())
    enlargement = result.quality["linkage"]["enlargement"]
    if enlargement["sources"]:
        figures["enlargement"] = enlargement
        # references from the same run: what the pool would have made without the hold-back, and
        # without deduplicating the pool at all
        figures["enlarged_persons_references"] = {
            "this_run": enlargement["persons"],
            "without_hold_back": enlargement["persons"] + enlargement["held_back"]["groups"],
            "one_person_per_unmatched_record": enlargement["records"] + enlargement["held_back"]["records"]}
    if args.update:
        figures["update"] = {**update, **_update_stability(con, work), "changes": result.quality["changes"]}
    result.close()
    if args.rerun:
        figures["rerun"] = _rerun(work)
    emit(figures, args.json)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
