"""Each rule's ablation re-run only for the persons the rule changed (spine.ablations): the demo
job, every working table kept, on a universe where the itinerary repair matters (crossings missed)."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from rules._sql import ESTIMATES
from rules.pipeline import RuleTables
from spine import Job, ablations
from spine.config import load_job
from spine.events_stage import (EVENTS_WITHOUT_REPAIR, EVENTS_WITHOUT_VISAS, MOVEMENTS_WITHOUT_REPAIR,
                                MOVEMENTS_WITHOUT_VISAS, PEOPLE, data_end, rule_settings)
from spine.family import DEPENDANTS
from spine.presence import BASE_DUPLICATES, PRESENCE_WITHOUT_GRANTS
from spine.synthetic import generate, named_regime
from spine.visa_stage import PRESENCE, VISITORS
from tests.conftest import engine_on
from tests.e2e.conftest import ROOT


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """The demo job with ``keep_intermediate`` and two uncertainty replicates on 2,000 persons of
    ``leaky_border`` (without the repair, some 80 events change): the job, its store and quality.json."""
    tmp = tmp_path_factory.mktemp("ablations")
    generate(2_000, 1, tmp / "data", regime=named_regime("leaky_border"))
    text = (ROOT / "examples" / "migration" / "job.yaml").read_text()
    text = text.replace("  dir: out ", "  keep_intermediate: true\n  dir: out ", 1)
    text = text.replace("    replicates: 20\n", "    replicates: 2\n", 1)
    assert "keep_intermediate: true" in text and "replicates: 2" in text
    (tmp / "job.yaml").write_text(text)
    result = Job.from_yaml(tmp / "job.yaml").run()
    quality = result.quality
    result.close()
    job = load_job(tmp / "job.yaml")
    return job, job.store_path, quality


def test_an_ablation_rerun_for_the_changed_persons_is_the_one_rerun_for_everyone(kept, tmp_path, monkeypatch):
    """The events without the visa rules and without the repair, re-run for the persons each rule
    changed (closed over family and duplicate ties), equal row for row those re-run for everyone
    with the same estimates. A tie left out, or a step that reads another person's rows, would
    make them differ."""
    job, store, quality = kept
    copy = tmp_path / "store.duckdb"
    shutil.copy(store, copy)
    db = engine_on(duckdb.connect(str(copy)))
    everyone = db.run(f"SELECT count(*) FROM {PEOPLE}")[0][0]
    rules = quality["rules"]
    rerun = {rule: rules[rule]["persons_rerun_without"] for rule in ("visas", "itinerary_repair")}
    assert all(0 < n < everyone / 2 for n in rerun.values()), (rerun, everyone)
    changed = sum(abs(rules["itinerary_repair"]["events_without"][e] - rules["itinerary_repair"]["events_with"][e])
                  for e in ("immigration", "emigration"))
    assert changed > 40   # the repair matters here: a person left out of the re-run would show
    assert dict(db.run(f"SELECT ablation, count(*) FROM {ablations.ABLATION_PERSONS} GROUP BY 1")) == rerun
    # the run's self-derived events before family events are not kept: give "events" none, so the
    # re-run for everyone takes nothing from the run
    db.run("CREATE OR REPLACE TABLE events AS SELECT * FROM events WHERE FALSE")

    end = data_end(db, job, "spine__linked_records")
    settings = rule_settings(job, end)
    tables = RuleTables(people=PEOPLE, dependants=DEPENDANTS, duplicates=BASE_DUPLICATES, visitors=VISITORS)
    have = db.table_names()
    estimates = [name for name in ESTIMATES if name in have]
    monkeypatch.setattr(ablations, "RERUN_EVERYONE", True)
    ablations.events_without(db, settings, tables, "visas", estimates, movements=MOVEMENTS_WITHOUT_VISAS,
                             presence=PRESENCE_WITHOUT_GRANTS, output="everyone_without_visas", repair=True,
                             with_visitors=False)
    ablations.events_without(db, settings, tables, "itinerary_repair", estimates, movements=MOVEMENTS_WITHOUT_REPAIR,
                             presence=PRESENCE, output="everyone_without_repair", repair=False)
    for changed, everyone_table in ((EVENTS_WITHOUT_VISAS, "everyone_without_visas"),
                                    (EVENTS_WITHOUT_REPAIR, "everyone_without_repair")):
        n = db.run(f"SELECT count(*) FROM {everyone_table}")[0][0]
        assert n > 100
        differing = db.run(f"SELECT count(*) FROM ((SELECT * FROM {changed} EXCEPT ALL SELECT * FROM {everyone_table}) "
                           f"UNION ALL (SELECT * FROM {everyone_table} EXCEPT ALL SELECT * FROM {changed}))")[0][0]
        assert differing == 0, (changed, differing, n)
    db.close()


def test_an_ablation_leaves_the_runs_explaining_tables_alone(kept):
    """The candidates and chances the store keeps explain the run's imputations: the ablations'
    re-runs (of a few persons) write theirs elsewhere. Every departure the run imputed from silence
    or a deregistration is among the store's candidates, on its day."""
    job, store, quality = kept
    with duckdb.connect(str(store), read_only=True) as con:
        from_silence = ("source IN ('deregistration', 'signs_of_life', 'signs_of_life_provisional') "
                        "AND direction = 'out'")
        imputed = con.execute(f"SELECT count(*) FROM movements WHERE {from_silence}").fetchone()[0]
        outside = con.execute(f"""SELECT count(*) FROM movements AS m WHERE {from_silence}
                                 AND NOT EXISTS (SELECT 1 FROM rules__departure_candidates AS c
                                                 WHERE c.person_id = m.person_id AND c.date = m.date)""").fetchone()[0]
        persons = con.execute("SELECT count(DISTINCT person_id) FROM rules__silence_evidence").fetchone()[0]
    assert imputed > 10
    assert outside == 0
    assert persons > 2 * quality["rules"]["itinerary_repair"]["persons_rerun_without"]   # everyone's, not a re-run's
