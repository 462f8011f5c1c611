"""The linkage benchmark script still runs (its figures are recorded by hand in BENCHMARKS.md)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_linkage_benchmark_runs_and_writes_the_promised_shape(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.linkage", "--json", str(out), "--only", "febrl4",
                           "--methods", "deterministic,match_keys"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())["febrl4"]
    assert set(figures) == {"deterministic", "match_keys"}
    for method in figures.values():
        assert {"precision", "recall", "f1", "seconds", "peak_mb"} <= set(method)
    assert figures["deterministic"]["precision"] == 1.0 and 0.85 < figures["deterministic"]["recall"] < 1


def test_rules_benchmark_runs_with_a_setting_laid_over_the_job(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.rules", "--persons", "1500", "--fast-linkage",
                           "--set", "events.definition=12_in_16", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["rules_settings"] == {"events": {"definition": "12_in_16"}}
    assert figures["rule_counts"]["visas"]["enabled"] and 0.5 < figures["rules"]["f1"] <= 1
    assert {"rules", "naive", "rules_family", "stock_on_1_january"} <= set(figures)
    bad = subprocess.run([sys.executable, "-m", "benchmarks.rules", "--set", "definition"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "RULE.KEY=VALUE" in bad.stderr


def test_uncertainty_benchmark_runs_and_scores_cells(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.uncertainty", "--persons", "1500", "--seeds", "1",
                           "--replicates", "2", "--fast-linkage", "--min-true", "1",
                           "--vary", "signs_of_life.window_days=548,913", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["rule_alternatives"] == {"signs_of_life.window_days": [548, 913]}
    seed = figures["per_seed"]["1"]
    assert seed["cells"] > 0 and 0 <= seed["coverage"] <= 1 and set(seed["by_event"]) == {"immigration", "emigration"}
    assert sum(seed["rule_values_used"]["signs_of_life.window_days"].values()) == 2
