"""Benchmark: the spine's clusters against the synthetic universe's true persons.

    python -m benchmarks.spine --persons 100000 --json bench-spine.json

Runs ``examples/migration/job.yaml`` on a generated universe and scores the clusters it makes:
predicted cluster = the records sharing a ``person_id`` (an unlinked record is a cluster of one);
true cluster = the records of one true person. Pairwise precision, recall and F1 count pairs of
records in the same cluster, computed from cluster sizes in SQL (no pair is enumerated): overall
over every record of every source, and per source over that source's records together with the
register's. Also: people absent from the register in the truth against persons the run created
by enlargement (none until enlargement lands), and wall time per stage. Not a test.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import yaml

from spine import Job
from spine.synthetic import generate

ROOT = Path(__file__).resolve().parents[1]


def pairwise_from_clusters(con: duckdb.DuckDBPyConnection, records: str) -> dict[str, Any]:
    """Pairwise scores of ``records`` (record, predicted cluster, true cluster) from cluster sizes."""
    tp, predicted, true = con.execute(f"""
        WITH r AS (SELECT * FROM {records}),
        both_ AS (SELECT count(*) AS n FROM r WHERE predicted IS NOT NULL GROUP BY predicted, truth),
        pred AS (SELECT count(*) AS n FROM r WHERE predicted IS NOT NULL GROUP BY predicted),
        tru AS (SELECT count(*) AS n FROM r GROUP BY truth)
        SELECT (SELECT sum(n * (n - 1) / 2) FROM both_), (SELECT sum(n * (n - 1) / 2) FROM pred),
               (SELECT sum(n * (n - 1) / 2) FROM tru)""").fetchall()[0]
    tp, predicted, true = int(tp or 0), int(predicted or 0), int(true or 0)
    precision = tp / predicted if predicted else None
    recall = tp / true if true else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
    return {"precision": precision, "recall": recall, "f1": f1, "true_pairs": true, "predicted_pairs": predicted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--enlarge", action="store_true", help="set enlarge: true on every admin source")
    args = parser.parse_args()
    logging.getLogger("splink").setLevel(logging.ERROR)   # its training advice, as the CLI does

    work = Path(tempfile.mkdtemp(prefix="spine-bench-"))
    shutil.copy(ROOT / "examples" / "migration" / "job.yaml", work / "job.yaml")
    if args.enlarge:
        job_text = yaml.safe_load((work / "job.yaml").read_text())
        for name, source in job_text["sources"].items():
            if name != job_text["base"]:
                source["enlarge"] = True
        (work / "job.yaml").write_text(yaml.safe_dump(job_text))
    universe = generate(args.persons, args.seed, work / "data", file_format="csv")
    started = time.perf_counter()
    result = Job.from_yaml(work / "job.yaml").run()
    seconds = time.perf_counter() - started
    con = result.connection()
    truth = universe.out_dir / "truth" / "records.csv"
    con.execute(f"""CREATE TEMP TABLE scored_records AS
        SELECT l.source, l.record_id, l.person_id AS predicted, t.person_key AS truth
        FROM links AS l JOIN read_csv('{truth}', all_varchar = true) AS t USING (source, record_id)""").fetchall()
    figures: dict[str, Any] = {"persons": args.persons, "seed": args.seed, "enlarge": args.enlarge,
                               "run_seconds": round(seconds, 1),
                               "stages": result.quality["run"]["stages"],
                               "overall": pairwise_from_clusters(con, "scored_records"), "per_source": {}}
    for source in result.job.sources:
        if source != result.job.base:
            subset = f"(SELECT * FROM scored_records WHERE source IN ('{source}', '{result.job.base}'))"
            figures["per_source"][source] = pairwise_from_clusters(con, subset)
    figures["absent_from_register_true"] = con.execute(f"""
        SELECT count(DISTINCT person_key) FROM read_csv('{truth}', all_varchar = true)
        WHERE person_key NOT IN (SELECT person_key FROM read_csv('{truth}', all_varchar = true)
                                 WHERE source = '{result.job.base}')""").fetchall()[0][0]
    figures["persons_by_origin"] = dict(con.execute("SELECT origin, count(*) FROM persons GROUP BY 1").fetchall())
    result.close()
    text = json.dumps(figures, indent=2)
    print(text)  # noqa: T201 - a benchmark prints its figures
    if args.json:
        args.json.write_text(text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
