"""Benchmark: synthetic universe generation and the example job, end to end, at a given size.

    python -m benchmarks.pipeline --persons 1000000 --json bench-pipeline.json

Prints wall seconds per stage, rows per source, link precision and event precision/recall/F1
against the universe's truth, and peak memory (RSS of this process, which runs
both the generator and DuckDB). Not a test: run it by hand and record the figures in
BENCHMARKS.md with the date and machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.score import attach_truth, event_scores, link_precision
from spine import Job
from spine.synthetic import generate

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--workdir", type=Path, help="keep data and outputs here (default: a temp folder)")
    parser.add_argument("--data", type=Path, help="use this universe (written by `spine synth --persons N "
                        "--seed S`) instead of generating one: peak memory is then the run's alone")
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="spine-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "examples" / "migration" / "job.yaml", work / "job.yaml")

    started = time.perf_counter()
    if args.data:
        (work / "data").unlink(missing_ok=True)
        (work / "data").symlink_to(args.data.resolve(), target_is_directory=True)
        truth = args.data / "truth"
    else:
        truth = generate(args.persons, args.seed, work / "data").out_dir / "truth"
    generate_seconds = time.perf_counter() - started
    generate_rss = peak_rss_mb()

    result = Job.from_yaml(work / "job.yaml").run()
    q = result.quality
    figures = {
        "persons": args.persons,
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
        "generate_seconds": round(generate_seconds, 1),
        "generate_peak_rss_mb": round(generate_rss),
        "run_seconds": q["run"]["seconds"],
        "run_stages": q["run"]["stages"],
        "peak_rss_mb": round(peak_rss_mb()),
        "rows": {s: m["records"] for s, m in q["sources"].items()},
        "link_rate": {s: m["link_rate"] for s, m in q["sources"].items()},
        "events": q["rules"]["events"]["counts"],
        "accounting_passed": q["accounting"]["passed"],
    }
    con = result.connection()
    attach_truth(con, truth)
    figures["link_precision_vs_truth"] = link_precision(con, truth)
    # scored over the reporting period, as the run publishes no event outside it
    figures["events_vs_truth"] = event_scores(con, truth, period=(q["reporting"]["start"], q["reporting"]["end"]))
    result.close()
    text = json.dumps(figures, indent=2)
    print(text)  # noqa: T201 - a benchmark prints its figures
    if args.json:
        args.json.write_text(text)
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
