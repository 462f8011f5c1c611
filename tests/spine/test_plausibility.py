"""Plausibility diagnostics on hand-made tables: each figure, and the warning past its threshold."""

from datetime import date

import pytest

from spine.config import load_job
from spine.plausibility import CHECKS, plausibility, warnings
from tests.conftest import make_table

EVENTS = {"person_id": "VARCHAR", "event": "VARCHAR", "date": "DATE", "derived_via": "VARCHAR",
          "parent_person_id": "VARCHAR"}
MOVEMENTS = {"person_id": "VARCHAR", "source": "VARCHAR", "record_id": "VARCHAR", "date": "DATE",
             "direction": "VARCHAR", "flag": "VARCHAR", "kept": "BOOLEAN"}
PERSONS = {"person_id": "VARCHAR", "origin": "VARCHAR", "nationality": "VARCHAR"}
LINKS = {"person_id": "VARCHAR", "source": "VARCHAR", "record_id": "VARCHAR"}


@pytest.fixture
def job(tmp_path):
    (tmp_path / "job.yaml").write_text("name: t\nbase: r\nhome_country: XSY\nsources:\n  r:\n    path: r.csv\n"
                                       "    record_id: id\n    columns: {first_name: fn}\n")
    return load_job(tmp_path / "job.yaml")


def world(con, *, imputed_foreign: int, recorded_foreign: int, single_enlarged: int):
    day = date(2020, 5, 1)
    events, movements, persons, links = [], [], [], []
    for i in range(imputed_foreign + recorded_foreign):
        p = f"f{i}"
        imputed = i < imputed_foreign
        events.append((p, "emigration", day, "self", None))
        movements.append((p, "signs_of_life" if imputed else "crossings", None if imputed else f"x{i}", day, "out",
                          "imputed" if imputed else None, True))
        persons.append((p, "base", "SYR"))
    for i in range(25):                        # nationals: every emigration recorded
        events.append((f"n{i}", "emigration", day, "self", None))
        movements.append((f"n{i}", "crossings", f"y{i}", day, "out", None, True))
        persons.append((f"n{i}", "base", "XSY"))
    events += [(f"c{i}", "immigration", day, "family", "f0") for i in range(4)]   # 4 children of one parent
    for i in range(10):
        persons.append((f"e{i}", "enlarged", None))
        links += [(f"e{i}", "tax", f"t{i}")] + ([] if i < single_enlarged else [(f"e{i}", "tax", f"u{i}")])
    make_table(con, "events", EVENTS, events)
    make_table(con, "movements", MOVEMENTS, movements)
    make_table(con, "persons", PERSONS, persons)
    make_table(con, "links", LINKS, links)


def test_healthy_figures_warn_nothing(con, job):
    world(con, imputed_foreign=5, recorded_foreign=20, single_enlarged=2)
    checks = plausibility(con, job)
    assert checks["imputed_emigration_share"]["value"] == 0.2
    assert checks["imputed_emigration_share"]["by_citizenship_group"]["national"] == {
        "imputed": 0, "emigrations": 25, "share": 0.0}
    assert checks["imputed_per_recorded_emigration"]["value"] == 0.1111          # 5 imputed, 45 recorded
    assert checks["events_without_recorded_movement_share"]["value"] == round(9 / 54, 4)   # 5 imputed, 4 children
    assert checks["family_events_per_claimant"]["value"] == 4.0                   # one parent, four children
    assert checks["enlarged_single_record_share"]["value"] == 0.2
    assert warnings(checks) == ["family_events_per_claimant = 4.0 (threshold 3.0): "
                                + CHECKS["family_events_per_claimant"][2] + "; look at rules.family"]


def test_mostly_imputed_emigration_and_single_record_persons_warn(con, job):
    world(con, imputed_foreign=30, recorded_foreign=10, single_enlarged=8)
    checks = plausibility(con, job)
    assert checks["imputed_emigration_share"]["value"] == 0.75 and checks["imputed_emigration_share"]["warn"]
    assert checks["imputed_per_recorded_emigration"]["value"] == round(30 / 35, 4)
    assert checks["enlarged_single_record_share"]["warn"] and checks["imputed_per_recorded_emigration"]["warn"]
    assert {line.split(" = ")[0] for line in warnings(checks)} == {
        "imputed_emigration_share", "enlarged_single_record_share", "events_without_recorded_movement_share",
        "family_events_per_claimant", "imputed_per_recorded_emigration"}
