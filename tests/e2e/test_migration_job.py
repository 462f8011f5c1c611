"""examples/migration/job.yaml on a small synthetic universe: the whole contract, through the API and
the CLI, scored against the universe's truth."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from spine import Job
from spine.cli import app
from spine.errors import ConfigError, SpineError
from tests.conftest import engine_on
from tests.contract import check_contract
from tests.e2e.pages import without_library

pytestmark = pytest.mark.e2e


def test_every_contract_table_with_its_columns_and_types(result):
    check_contract(result.connection())
    for table in ("persons", "links", "attribute_values", "movements", "events", "flows"):
        assert (result.output_dir / f"{table}.parquet").exists()
    assert (result.output_dir / "quality.json").exists() and result.report_path.exists()


def test_a_finished_run_opens_in_a_new_process_without_running_again(result, universe):
    """spine.open on the output folder (its manifest names the job) or on the job file: the same
    tables and quality.json, read-only, nothing run (the store is not touched)."""
    import subprocess
    import sys

    folder, _ = universe
    store_mtime = result.store_path.stat().st_mtime_ns
    script = ("import sys, spine\n"
              "for where in sys.argv[1:]:\n"
              "    run = spine.open(where)\n"
              "    print(run.df('persons').shape[0], run.table('links').count('*').fetchall()[0][0],\n"
              "          run.quality['accounting']['passed'])\n"
              "    run.close()\n")
    shown = subprocess.run([sys.executable, "-c", script, str(result.output_dir), str(folder / "job.yaml")],
                           capture_output=True, text=True, check=True, timeout=120).stdout.split("\n")
    expected = f"{len(result.df('persons'))} {len(result.df('links'))} True"
    assert shown[:2] == [expected, expected]
    assert result.store_path.stat().st_mtime_ns == store_mtime


def test_the_store_keeps_what_later_commands_read_and_the_estimates_not_the_working_tables(result):
    """The demo job sets no ``output.keep_intermediate``: its store was rewritten with the tables
    later runs, ``spine review``, ``JobResult.linker`` and the docs read, and nothing else."""
    said = result.quality["run"]["store"]
    assert said["intermediate_tables"] == "dropped" and said["tables_dropped"] > said["tables_kept"] > 40
    assert said["megabytes"] < said["megabytes_before"] / 2
    tables = {r[0] for r in result.connection().execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'store'").fetchall()}
    assert {"links", "flows", "history__links", "history__runs", "review__pairs", "spine__reference", "std__tax",
            "feat__tax", "rules__silence_estimates", "rules__events_all", "flows__uncalibrated",
            "uncertainty__replicate_counts", "validation__records"} <= tables
    assert not tables & {"spine__linked_records", "link__tax", "candidates__tax", "raw__tax", "rules__presence",
                         "spine__checkpoints", "rules__movements_without_visa_rules"}
    assert len(tables) == said["tables_kept"]


def test_opening_a_folder_with_no_finished_run_says_so(tmp_path):
    import spine
    from spine.errors import ConfigError

    with pytest.raises(ConfigError, match="not the output folder of a finished run"):
        spine.open(tmp_path)


def test_accounting_identity_against_the_files(result, universe):
    _, generated = universe
    con = engine_on(result.connection())
    for source, path in generated.sources.items():
        rows = con.execute(f"SELECT count(*) FROM read_csv('{path}', all_varchar = true)").fetchone()[0]
        in_links = con.execute("SELECT count(*) FROM links WHERE source = ?", [source]).fetchone()[0]
        assert in_links == rows, source
    assert result.quality["accounting"]["passed"]


def test_no_raw_identifier_in_persons_or_events(result, universe):
    _, generated = universe
    con = engine_on(result.connection())
    register = f"read_csv('{generated.sources['register']}', all_varchar = true)"
    leaked = con.execute(f"""
        WITH ids AS (SELECT national_id AS v FROM {register} UNION SELECT passport_no FROM {register}
                     UNION SELECT record_id FROM {register})
        SELECT count(*) FROM ids WHERE v IN (SELECT person_id FROM persons)
           OR v IN (SELECT person_id FROM events)""").fetchone()[0]
    assert leaked == 0
    text = without_library(result.report_path.read_text())   # the inlined Vega library is checked apart
    sample = con.execute(f"SELECT national_id, surname FROM {register} LIMIT 50").fetchall()
    assert not any(nid in text or (name and len(name) > 3 and name in text) for nid, name in sample)


def _scores_by_source(con, truth: str) -> dict[str, tuple[float, float]]:
    """Per source: (precision, recall) of its links against the truth (recall over records whose
    person is in the register)."""
    rows = con.execute(f"""
        WITH t AS (SELECT * FROM {truth}),
        anchor AS (SELECT l.person_id, t.person_key FROM links AS l JOIN t USING (source, record_id)
                   WHERE l.method = 'base'),
        scored AS (
            SELECT l.source, l.status, t.person_key, a.person_key AS linked_key,
                   t.person_key IN (SELECT person_key FROM t WHERE source = 'register') AS registered
            FROM links AS l JOIN t USING (source, record_id) LEFT JOIN anchor AS a USING (person_id)
            WHERE l.source <> 'register' AND l.method IS DISTINCT FROM 'family')   -- new persons, not links
        SELECT source, count(*) FILTER (WHERE status = 'linked' AND linked_key = person_key)
                           / count(*) FILTER (WHERE status = 'linked'),
               count(*) FILTER (WHERE status = 'linked' AND linked_key = person_key) / count(*) FILTER (WHERE registered)
        FROM scored GROUP BY source""").fetchall()
    return {source: (precision, recall) for source, precision, recall in rows}


def test_links_agree_with_the_truth(result, universe):
    """Hybrid sources: measured precision >= 0.998 and recall >= 0.99 on this universe (2,000 persons);
    the probabilistic-only children's source precision 0.99, recall lower (its band goes to review)."""
    _, generated = universe
    scores = _scores_by_source(result.connection(), f"read_csv('{generated.truth['records']}', all_varchar = true)")
    for source in ("tax", "benefits", "crossings", "visas", "education"):
        precision, recall = scores[source]
        assert precision >= 0.995 and recall >= 0.98, (source, precision, recall)
    precision, recall = scores["child_benefit_children"]
    assert precision >= 0.98 and recall >= 0.5, (precision, recall)


def test_hybrid_reports_its_model_against_the_identifier_links(result):
    linkage = result.quality["linkage"]
    tax = linkage["tax"]
    assert tax["method"] == "hybrid" and tax["m_from"] == "labels" and tax["labels"] > 100
    assessed = tax["assessment_on_id_links"]
    assert assessed["id_linked_records"] == tax["identifiers"]["links_per_field"]["national_id"]
    assert assessed["identifier_weights_removed"] == ["national_id"]   # not circular
    assert assessed["precision"] > 0.99 and 0.9 < assessed["recall"] < 1
    assert tax["probabilistic"]["parameters"]["dob"][0] == {"level": "exact match", "m": pytest.approx(1, abs=0.05),
                                                           "u": pytest.approx(0, abs=0.01)}
    assert tax["probabilistic"]["pairs_per_blocking_rule"] and tax["probabilistic"]["seconds"]["predict"] >= 0
    methods = dict(result.connection().execute(
        "SELECT method, count(*) FROM links WHERE source = 'tax' AND status = 'linked' GROUP BY 1").fetchall())
    assert methods["deterministic_id"] > 0 and methods["probabilistic"] > 0


def test_review_band_exported_and_decisions_override_the_model(universe, result, tmp_path):
    """The review round trip on the demo job through the CLI: export the last run's band, decide,
    import, and run again (`spine run`, which prints where everything is)."""
    folder, _ = universe
    job = folder / "job.yaml"
    exported = tmp_path / "review.csv"
    cli = CliRunner().invoke(app, ["review", "export", str(job), "--out", str(exported)])
    assert cli.exit_code == 0, cli.output
    import pandas as pd
    pairs = pd.read_csv(exported, dtype=str)
    assert len(pairs) > 0 and (pairs.source == "child_benefit_children").all()
    assert {"record_first_name", "person_first_name", "waterfall", "decision"} <= set(pairs.columns)
    assert pairs.waterfall.str.contains("dob=").all()
    pairs.loc[pairs.index[0], "decision"] = "match"
    pairs.loc[pairs.index[1:], "decision"] = "non_match"
    pairs.to_csv(exported, index=False)
    cli = CliRunner().invoke(app, ["review", "import", str(job), str(exported)])
    assert cli.exit_code == 0, cli.output
    try:
        cli = CliRunner().invoke(app, ["run", "--quiet", str(job)])
        assert cli.exit_code == 0, cli.output
        assert "report:" in cli.output and str(folder / "out") in cli.output
        assert CliRunner().invoke(app, ["validate", str(job)]).exit_code == 0
        assert json.loads((folder / "out" / "quality.json").read_text())["linkage"]["clerical_decisions"] == len(pairs)
        with duckdb.connect(str(folder / "out" / "migration_demo.duckdb"), read_only=True) as con:
            rows = {r[0]: r[1:] for r in con.execute(
                "SELECT record_id, status, method, reason, person_id FROM links "
                "WHERE source = 'child_benefit_children'").fetchall()}
    finally:
        (folder / "review" / "decisions.csv").unlink()
    first = pairs.record_id.iloc[0]
    assert rows[first][:3] == ("linked", "clerical", None)
    # a rejected child is not the register person the clerk saw: it stays unlinked, or becomes a
    # person of its own through its parent's claim (family association)
    for _, pair in pairs.iloc[1:].iterrows():
        status, method, reason, person = rows[pair.record_id]
        assert (status, reason) == ("unlinked", "clerical_non_match") or method == "family", (status, method, reason)
        assert person != pair.person_id


def test_events_of_both_kinds_derived(result):
    counts = result.quality["rules"]["events"]["counts"]
    assert counts.get("immigration", 0) > 0 and counts.get("emigration", 0) > 0
    flows = result.df("flows")
    assert (flows.loc[flows.suppressed, "count"].isna()).all()
    published = flows.loc[~flows.suppressed, "count"]
    assert ((published == 0) | (published >= 10)).all()
    assert (flows.loc[flows.suppressed, ["sex", "age_group", "citizenship_group"]] == "total").any(axis=None)
    assert result.quality["flows"]["check"]["passed"]


def test_report_shows_years_as_years_seconds_as_seconds_and_the_ablation(result):
    text = result.report_path.read_text()
    assert "<td>2016</td>" in text and "2,016" not in text
    stages = text[text.index("<th>stage</th>"):text.index("<th>input</th>")]
    assert "%" not in stages
    assert "Ablation" in text and "signs_of_life" in text


def test_events_and_flows_only_for_the_reporting_period(result):
    """The evidence is the whole observation window; events and flows are published for the reporting
    period only (a year of history, then up to the last year whose events have 12 months of follow-up)."""
    reporting = result.quality["reporting"]
    assert (reporting["start"], reporting["end"]) == ("2016-01-01", "2023-12-31")
    con = engine_on(result.connection())
    first, last = con.execute("SELECT min(date), max(date) FROM events").fetchone()
    assert date(2016, 1, 1) <= first <= last <= date(2023, 12, 31)
    assert sorted(p for (p,) in con.execute("SELECT DISTINCT period FROM flows WHERE period <> 'total'").fetchall()) \
        == [str(y) for y in range(2016, 2024)]
    outside = con.execute("SELECT count(*) FROM rules__events_all WHERE date < DATE '2016-01-01' "
                          "OR date > DATE '2023-12-31'").fetchone()[0]
    assert outside == reporting["events_outside"] > 0 and not reporting["provisional_published"]
    assert not con.execute("SELECT bool_or(provisional) FROM events").fetchone()[0]


def test_the_demo_job_killed_inside_its_linkage_models_resumes_to_the_same_outputs(universe, result, tmp_path):
    """SIGKILL while Splink trains and scores (after two sources were linked), then ``resume``: the
    outputs of the uninterrupted first run of the same universe."""
    from tests.spine.test_resume import _kill, _outputs

    folder, _ = universe
    shutil.copy(folder / "job.yaml", tmp_path / "job.yaml")
    (tmp_path / "data").symlink_to(folder / "data", target_is_directory=True)
    _kill(tmp_path / "job.yaml", "link", "middle3")
    resumed = Job.from_yaml(tmp_path / "job.yaml").run(resume=True)
    resumed.close()
    assert resumed.quality["run"]["resumed_after"] == ["load", "standardise"]
    tables, quality = _outputs(tmp_path / "out")
    expected_tables, expected_quality = _outputs(folder / "first_run_outputs")
    for table, frame in expected_tables.items():
        pd.testing.assert_frame_equal(tables[table], frame, obj=table)
    assert quality == expected_quality


def test_splink_warnings_of_the_demo_are_in_quality_json_and_the_report(result, universe):
    folder, _ = universe
    said = result.quality["run"]["splink_warnings"]
    assert said and all(w["times"] >= 1 and w["message"] for w in said)
    assert any("not observed" in w["message"] for w in said)
    assert "Splink's warnings while the models trained" in (folder / "out" / "report.html").read_text()


def test_each_trained_model_is_saved_and_opens_as_a_splink_linker(result, universe):
    """models/<source>.json is Splink's own JSON (no record's value); the finished run hands a
    Splink linker with it over the store's records, for Splink's charts."""
    import spine

    folder, _ = universe
    saved = result.quality["models"]
    assert set(saved) == {"visas", "crossings", "tax", "benefits", "child_benefit_children", "education"}
    model = json.loads((folder / "out" / saved["tax"]).read_text())
    assert model["link_type"] == "link_only" and 0 < model["probability_two_random_records_match"] < 1
    assert "splink_model" not in json.dumps(result.quality)
    linker = spine.open(folder / "out").linker("tax")
    chart = linker.visualisations.match_weights_chart()
    spec = json.dumps(chart.chart_dict, default=str)
    assert "log2_bayes_factor" in spec and "first_name" in spec   # the trained weights, per field
    assert linker.misc.save_model_to_json()["comparisons"] == model["comparisons"]
    with pytest.raises(SpineError, match="only probabilistic and hybrid sources"):
        result.linker("register")


def _register_and_tax_job(folder, name: str, **tax_linkage) -> Path:
    """The demo job with the register and tax alone (the demo's rules name the other sources), tax's
    linkage settings changed, no replicates: written to ``<name>.yaml``, outputs in ``out_<name>``."""
    import yaml

    job = yaml.safe_load((folder / "job.yaml").read_text())
    job["sources"] = {name: job["sources"][name] for name in ("register", "tax")}
    job["rules"] = {"signs_of_life": {"sources": ["register", "tax"], "covers_days": {"tax": 365}}}
    job["sources"]["tax"]["linkage"].update(tax_linkage)
    job["output"] = {"dir": f"out_{name}"}
    job["flows"] = {"uncertainty": {"replicates": 0}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def test_a_job_reusing_a_saved_model_trains_nothing_and_links_as_the_run_that_trained_it(result, universe):
    folder, _ = universe
    # only tax's links are compared
    reused = Job.from_yaml(_register_and_tax_job(folder, "reused", model="first_run_outputs/models/tax.json")).run()
    try:
        tax = reused.quality["linkage"]["tax"]
        model = tax.get("probabilistic", tax)
        assert model["trained"] is False and model["seconds"]["m"] < 0.5
        links = "SELECT record_id, person_id, status, round(match_weight, 9) FROM links WHERE source = 'tax' ORDER BY 1"
        assert reused.connection().execute(links).fetchall() == result.connection().execute(links).fetchall()
    finally:
        reused.close()
    other = _register_and_tax_job(folder, "reused", model="first_run_outputs/models/visas.json")   # other comparisons
    with pytest.raises(ConfigError, match="sources.tax.linkage.model  visas.json: the saved model compares"):
        Job.from_yaml(other).run()


def test_a_splink_blocking_rule_in_the_job_runs_as_written(universe):
    """A Splink rule in the YAML (SQL over l. and r., here one no column list can say: a birth year
    one off) blocks beside column rules: Splink counts its pairs, quality.json and the report show
    its SQL, and the linkage is as good."""
    folder, _ = universe
    year_off = "l.surname_soundex = r.surname_soundex AND abs(l.birth_year - r.birth_year) <= 1"
    job = _register_and_tax_job(folder, "splink_rule", blocking_rules=[["dob"], ["first_name", "postcode"], year_off])
    run = Job.from_yaml(job).run()
    try:
        tax = run.quality["linkage"]["tax"]
        model = tax.get("probabilistic", tax)
        counted = {str(r["rule"]): r for r in model["pairs_per_blocking_rule"]}
        assert counted[year_off]["pairs"] > 0 and counted[year_off]["estimated"] is False
        assert model["model_choice"]["blocking_rules"][-1] == year_off
        assert run.quality["sources"]["tax"]["link_rate"] > 0.95
        assert "abs(l.birth_year - r.birth_year) &lt;= 1" in (folder / "out_splink_rule" / "report.html").read_text()
    finally:
        run.close()
