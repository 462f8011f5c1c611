"""Hybrid linkage's own steps on small tables with known answers."""

import pytest

from linkage.hybrid import assess_on_id_links, records_to_score
from tests.conftest import fetch_rows, make_table

ID_LINKS = {"record_id": "VARCHAR", "entity_id": "VARCHAR", "status": "VARCHAR"}
CANDIDATES = {"record_id": "VARCHAR", "entity_id": "VARCHAR", "match_weight": "DOUBLE", "mw_national_id": "DOUBLE"}


def test_undecided_records_and_a_fixed_sample_of_identifier_links_are_scored(con):
    linked = [(f"r{i}", f"e{i}", "linked") for i in range(50)]
    make_table(con, "ids", ID_LINKS, [*linked, ("u1", None, "unlinked"), ("v1", None, "review")])
    assert records_to_score(con, "ids", None, "chosen") is None
    records_to_score(con, "ids", 5, "chosen")
    chosen = {r[0] for r in fetch_rows(con, "chosen")}
    lowest = {r[0] for r in fetch_rows(con, "SELECT record_id FROM ids WHERE status = 'linked' "
                                            "ORDER BY md5(record_id) LIMIT 5")}
    assert chosen == {"u1", "v1"} | lowest and len(chosen) == 7
    make_table(con, "ids", ID_LINKS, [*reversed(linked), ("u1", None, "unlinked"), ("v1", None, "review")])
    records_to_score(con, "ids", 5, "again")
    assert {r[0] for r in fetch_rows(con, "again")} == chosen   # whatever the order of the rows


def test_the_model_is_judged_without_the_identifiers_weight(con):
    """r1: the model agrees without the identifier; r2: only the identifier made its pair, so
    without it the model links nobody; r3: the model prefers another person; r4: not scored."""
    make_table(con, "ids", ID_LINKS, [("r1", "e1", "linked"), ("r2", "e2", "linked"), ("r3", "e3", "linked"),
                                      ("r4", "e4", "linked"), ("u1", None, "unlinked")])
    make_table(con, "candidates", CANDIDATES, [
        ("r1", "e1", 20.0, 8.0), ("r2", "e2", 9.0, 8.0), ("r3", "e3", 12.0, 8.0), ("r3", "e9", 10.0, -2.0),
        ("u1", "e5", 15.0, 0.0)])
    make_table(con, "scored", {"record_id": "VARCHAR"}, [("r1",), ("r2",), ("r3",), ("u1",)])
    assessed = assess_on_id_links(con, "candidates", "ids", ["national_id"], 0.9, scored="scored")
    assert assessed["id_linked_records"] == 4 and assessed["assessed_records"] == 3
    assert assessed["model_linked"] == 2 and assessed["model_agrees"] == 1   # r1 right, r3 to e9
    assert assessed["precision"] == pytest.approx(0.5) and assessed["recall"] == pytest.approx(1 / 3)
    everything = assess_on_id_links(con, "candidates", "ids", ["national_id"], 0.9)
    assert everything["assessed_records"] == 4 and everything["recall"] == pytest.approx(1 / 4)
    circular = assess_on_id_links(con, "candidates", "ids", [], 0.9, scored="scored")
    assert circular["model_agrees"] == 3   # with the identifier's weight every pair agrees
