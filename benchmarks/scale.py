"""Benchmark: the demo job end to end at scale, against bare Splink linking the same sources.

    python -m benchmarks.scale --persons 1000000 --json bench-scale.json [--data DIR]

The universe is generated in a child process (``spine synth``), so the peak memory measured is the
run's alone; ``--data`` reuses one written earlier with the same persons and seed. Per stage: wall
seconds and peak RSS (the process's high-water mark, reset when each stage starts). Then, in the
same process, bare Splink links the same records the run's models scored to the register (a hybrid
source's: those its identifiers left undecided and the assessment sample, ``score_only__<source>``;
a probabilistic source's: all) with Splink's own comparison library (names, date of birth, exact sex, postcode and nationality where both sides
hold them), the blocking rules the run ended up with, u from 1e6 random pairs and EM on the run's
training rules (the default ones where the run trained on identifier links), each on at most 10 M
pairs (Splink's ``max_pairs``): ``bare_splink_link_seconds`` is its training and
prediction time over all sources, to set against the run's link stage (on DuckDB, whichever
engine the run used). Event F1 is scored within the reporting period. ``--engine spark`` runs the
job on Spark ``local[2]``; peak RSS is then the Python process's plus the JVM's. Not a test:
record the figures in BENCHMARKS.md with the date and machine.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import yaml

from benchmarks.common import emit, write_demo_job
from benchmarks.score import attach_truth, event_scores, link_precision
from linkage import ProbabilisticModel
from linkage.probabilistic import rule_columns
from spine import Job
from linkage.blocking import DEFAULT_TRAINING_RULES

#: Pairs Splink's EM trains on at most: the run's own default.
TRAINING_MAX_PAIRS = ProbabilisticModel.training_max_pairs


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _descendants(pid: str = "self") -> list[str]:
    """The processes this one started, and theirs (Spark's JVM is a child of the Python process)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def _peak_mb(pid: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _reset_peak() -> None:
    """Reset the high-water mark of RSS (Linux: write 5 to clear_refs) of this process and its
    children, so a stage's peak is its own."""
    for pid in ("self", *_descendants()):
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            pass


class StagePeaks:
    """A run's Progress that records each stage's peak RSS: the Python process's plus its
    children's (on Spark, the JVM's; their peaks may fall at different moments, so the sum bounds
    the peak from above)."""

    def __init__(self) -> None:
        self.peak_rss_mb: dict[str, float] = {}

    def start(self, stage: str, total: int) -> None:
        _reset_peak()

    def advance(self, stage: str, step: int = 1) -> None:
        pass

    def finish(self, stage: str, seconds: float) -> None:
        self.peak_rss_mb[stage] = round(_rss_mb("VmHWM") + sum(_peak_mb(pid) for pid in _descendants()))


def _splink_comparisons(columns: set[str]) -> list[Any]:
    import splink.comparison_library as cl

    comparisons = [cl.NameComparison(c) for c in ("first_name", "surname") if c in columns]
    if "dob" in columns:
        comparisons.append(cl.DateOfBirthComparison("dob", input_is_string=False))
    comparisons += [cl.ExactMatch(c) for c in ("sex", "postcode", "nationality") if c in columns]
    return comparisons


def bare_splink(store: Path, quality: dict[str, Any], scratch: Path) -> dict[str, float]:
    """Seconds bare Splink takes to train and predict each probabilistic source the run linked."""
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    seconds: dict[str, float] = {}
    con = duckdb.connect(str(scratch))
    con.execute(f"ATTACH '{store}' AS run (READ_ONLY)").fetchall()
    con.execute("CREATE OR REPLACE TABLE reference AS SELECT * FROM run.spine__reference").fetchall()
    for name, metrics in quality["linkage"].items():
        model = metrics.get("probabilistic", metrics) if isinstance(metrics, dict) else None
        if not isinstance(model, dict) or "pairs_per_blocking_rule" not in model:
            continue
        rules = [r["rule"] for r in model["pairs_per_blocking_rule"] if r.get("rule")]
        # a Splink rule (SQL) runs as written, reading the columns it names
        columns_of_rules = [rule_columns(r) for r in rules]
        # EM on the run's training rules; a model trained on identifier links (labels) has none:
        # bare Splink then trains on the default ones.
        training = [r["rule"] for r in model.get("pairs_per_training_rule") or []] or [
            list(r) for r in DEFAULT_TRAINING_RULES]
        compared = set(model["comparisons"])
        needed = sorted(compared | {c for r in columns_of_rules + training for c in r})
        cols = ", ".join(["record_id", *needed])
        scored = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'run' "
                             "AND table_name = ?", [f"score_only__{name}"]).fetchall()[0][0]
        only = f" WHERE record_id IN (SELECT record_id FROM run.score_only__{name})" if scored else ""
        con.execute(f"CREATE OR REPLACE TABLE records AS SELECT {cols} FROM run.feat__{name}{only}").fetchall()
        con.execute(f"CREATE OR REPLACE TABLE register AS SELECT {cols} FROM reference").fetchall()
        cursor = con.cursor()
        db_api = DuckDBAPI(connection=cursor)
        settings = SettingsCreator(link_type="link_only", unique_id_column_name="record_id",
                                   comparisons=_splink_comparisons(compared),
                                   blocking_rules_to_generate_predictions=[r if isinstance(r, str) else block_on(*r)
                                                                          for r in rules])
        linker = Linker([db_api.register("records"), db_api.register("register")], settings, log_level=None)
        started = time.perf_counter()
        try:
            linker.training.estimate_probability_two_random_records_match(
                [block_on("first_name", "surname", "dob")], recall=0.8)
            linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
            for rule in training:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on(*rule), estimate_without_term_frequencies=True, max_pairs=TRAINING_MAX_PAIRS)
            linker.inference.predict(threshold_match_probability=0.001)
            seconds[name] = round(time.perf_counter() - started, 1)
        finally:
            linker.table_management.delete_tables_created_by_splink_from_db()
            cursor.close()
    con.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                        help="where the run's SQL runs (spark: local[2], as the job's engine settings say)")
    parser.add_argument("--data", type=Path, help="a universe written by `spine synth` with these persons and seed")
    parser.add_argument("--workdir", type=Path, help="keep the outputs here (default: a temp folder)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="spine-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    job_path = write_demo_job(work)   # reads its sources from data/ beside it
    if args.engine != "duckdb":
        job = yaml.safe_load(job_path.read_text())
        job_path.write_text(yaml.safe_dump({**job, "engine": {**job.get("engine", {}), "kind": args.engine}}))
    data = work / "data"
    if args.data:
        if data.is_symlink():
            data.unlink()
        data.symlink_to(args.data.resolve(), target_is_directory=True)
    else:
        spine_cli = Path(sys.executable).parent / "spine"
        subprocess.run([str(spine_cli), "synth", "--persons", str(args.persons), "--seed", str(args.seed),
                        "--out", str(data)], check=True, stdout=subprocess.DEVNULL)

    peaks = StagePeaks()
    started = time.perf_counter()
    result = Job.from_yaml(job_path).run(progress=peaks)
    seconds = time.perf_counter() - started
    quality = result.quality
    con = result.connection()
    truth = data / "truth"
    attach_truth(con, truth)
    reporting = quality["reporting"]
    events = event_scores(con, truth, period=(reporting["start"], reporting["end"]))
    precision = link_precision(con, truth)
    store = result.store_path
    result.close()
    bare = bare_splink(store, quality, work / "bare_splink.duckdb")
    figures = {
        "persons": args.persons, "engine": args.engine,
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
        "records": sum(m["records"] for m in quality["sources"].values()),
        "seconds": round(seconds, 1),
        "peak_rss_mb": max(peaks.peak_rss_mb.values()),
        "stages": quality["run"]["stages"],
        "stage_peak_rss_mb": peaks.peak_rss_mb,
        "link_seconds": quality["run"]["stages"]["link"],
        "bare_splink_link_seconds": round(sum(bare.values()), 1),
        "bare_splink_seconds_per_source": bare,
        "event_f1": events["f1"],
        "event_precision": events["precision"], "event_recall": events["recall"],
        "link_rate": {s: m["link_rate"] for s, m in quality["sources"].items()},
        "link_precision_vs_truth": precision,
        "blocking": {name: [r for r in (m.get("probabilistic", m) or {}).get("pairs_per_blocking_rule", [])]
                     for name, m in quality["linkage"].items() if isinstance(m, dict)
                     and (m.get("probabilistic", m) or {}).get("pairs_per_blocking_rule")},
        "engine_settings": quality["run"].get("engine"),
    }
    emit(figures, args.json)


if __name__ == "__main__":
    main()
