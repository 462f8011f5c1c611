"""examples/migration/job.yaml on a small synthetic universe: the whole contract, through the API and
the CLI, scored against the universe's truth."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spine import Job
from spine.cli import app
from spine.synthetic import generate
from tests.contract import check_contract

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def universe(tmp_path_factory):
    folder = tmp_path_factory.mktemp("migration")
    shutil.copy(ROOT / "examples" / "migration" / "job.yaml", folder / "job.yaml")
    generated = generate(2_000, seed=1, out_dir=folder / "data")
    return folder, generated


@pytest.fixture(scope="module")
def result(universe):
    folder, _ = universe
    run = Job.from_yaml(folder / "job.yaml").run()
    yield run
    run.close()


def test_every_contract_table_with_its_columns_and_types(result):
    check_contract(result.connection())
    for table in ("persons", "links", "attribute_values", "movements", "events", "flows"):
        assert (result.output_dir / f"{table}.parquet").exists()
    assert (result.output_dir / "quality.json").exists() and result.report_path.exists()


def test_accounting_identity_against_the_files(result, universe):
    _, generated = universe
    con = result.connection()
    for source, path in generated.sources.items():
        rows = con.execute(f"SELECT count(*) FROM read_csv('{path}', all_varchar = true)").fetchone()[0]
        in_links = con.execute("SELECT count(*) FROM links WHERE source = ?", [source]).fetchone()[0]
        assert in_links == rows, source
    assert result.quality["accounting"]["passed"]


def test_no_raw_identifier_in_persons_or_events(result, universe):
    _, generated = universe
    con = result.connection()
    register = f"read_csv('{generated.sources['register']}', all_varchar = true)"
    leaked = con.execute(f"""
        WITH ids AS (SELECT national_id AS v FROM {register} UNION SELECT passport_no FROM {register}
                     UNION SELECT record_id FROM {register})
        SELECT count(*) FROM ids WHERE v IN (SELECT person_id FROM persons)
           OR v IN (SELECT person_id FROM events)""").fetchone()[0]
    assert leaked == 0
    text = result.report_path.read_text()
    sample = con.execute(f"SELECT national_id, surname FROM {register} LIMIT 50").fetchall()
    assert not any(nid in text or (name and len(name) > 3 and name in text) for nid, name in sample)


def test_links_agree_with_the_truth(result, universe):
    """Deterministic-ID links are exact: measured precision 1.0 on this universe."""
    _, generated = universe
    con = result.connection()
    truth = f"read_csv('{generated.truth['records']}', all_varchar = true)"
    correct, linked = con.execute(f"""
        WITH anchor AS (   -- the true person behind each spine person (its base record)
            SELECT l.person_id, t.person_key FROM links AS l
            JOIN {truth} AS t ON t.source = l.source AND t.record_id = l.record_id
            WHERE l.method = 'base')
        SELECT count(*) FILTER (WHERE t.person_key = a.person_key), count(*)
        FROM links AS l JOIN {truth} AS t ON t.source = l.source AND t.record_id = l.record_id
        JOIN anchor AS a ON a.person_id = l.person_id
        WHERE l.status = 'linked' AND l.method <> 'base'""").fetchone()
    assert linked > 0
    assert correct / linked >= 0.99
    rates = {s: m["link_rate"] for s, m in result.quality["sources"].items()}
    assert rates["tax"] > 0.5 and rates["crossings"] > 0.2
    assert rates["child_benefit_children"] == 0   # method: none in this cut


def test_events_of_both_kinds_derived(result):
    counts = result.quality["rules"]["events"]["counts"]
    assert counts.get("immigration", 0) > 0 and counts.get("emigration", 0) > 0
    flows = result.df("flows")
    assert (flows.loc[flows.suppressed, "count"].isna()).all()
    assert (flows.loc[~flows.suppressed, "count"] >= 10).all()


def test_cli_run_prints_where_outputs_are(universe, tmp_path):
    folder, _ = universe
    job = folder / "job.yaml"
    cli = CliRunner().invoke(app, ["run", "--quiet", str(job)])
    assert cli.exit_code == 0, cli.output
    assert "report:" in cli.output and str(folder / "out") in cli.output
    assert CliRunner().invoke(app, ["validate", str(job)]).exit_code == 0
