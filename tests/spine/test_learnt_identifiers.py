"""Records a source's own linked records taught the spine an identifier for link on it."""

from __future__ import annotations

import duckdb

from spine.config import HybridConfig
from spine.linking import SPINE_IDENTIFIERS, SPINE_REFERENCE, _link_on_learnt_identifiers
from tests.conftest import fetch_rows, make_table

LINKS = {"record_id": "VARCHAR", "entity_id": "VARCHAR", "status": "VARCHAR", "method": "VARCHAR",
         "matched_on": "VARCHAR", "match_probability": "DOUBLE", "match_weight": "DOUBLE", "reason": "VARCHAR"}


def test_unlinked_records_follow_their_passport_unless_ambiguous_or_a_different_person():
    """x1 linked P (the model was sure); x2 and x3 carry the same passport but a birth date without
    its day and a transliterated name, below the threshold: x2 links to P. x3 is a child on the
    parent's passport (another birth year): not linked. x5 and x6's passport led to two persons:
    ambiguous, never linked on. x7's passport is nobody's. x8 was refused by the identifier stage's
    own check: not linked back on the same number. In a one-to-one source nothing is linked (the
    record that taught a number already holds its person)."""
    con = duckdb.connect()
    make_table(con, "feat__crossings", {"record_id": "VARCHAR", "passport_no": "VARCHAR", "birth_year": "INTEGER",
                                        "sex": "VARCHAR"},
               [("x1", "A1", 1983, "m"), ("x2", "A1", 1983, None), ("x3", "A1", 2012, "f"), ("x8", "A1", 1983, "m"),
                ("x4", "B2", 1990, "f"), ("x5", "B2", 1990, "f"), ("x6", "B2", 1990, "f"), ("x7", "C3", 1970, "m")])
    make_table(con, "stage", LINKS, [
        ("x1", "P", "linked", "probabilistic", None, 0.99, 8.0, None),
        ("x2", None, "unlinked", None, None, 0.81, 2.1, "below_threshold"),
        ("x3", None, "unlinked", None, None, 0.2, -2.0, "below_threshold"),
        ("x4", "Q", "linked", "probabilistic", None, 0.97, 5.0, None),
        ("x5", "R", "linked", "probabilistic", None, 0.96, 4.6, None),
        ("x6", None, "unlinked", None, None, 0.5, 0.0, "below_threshold"),
        ("x7", None, "unlinked", None, None, None, None, "no_candidate"),
        ("x8", None, "unlinked", None, None, None, None, "id_conflict")])
    make_table(con, SPINE_IDENTIFIERS, {"entity_id": "VARCHAR", "field": "VARCHAR", "value": "VARCHAR"},
               [("P", "passport_no", "OLD1")])
    make_table(con, SPINE_REFERENCE, {"entity_id": "VARCHAR", "birth_year": "INTEGER", "sex": "VARCHAR"},
               [("P", 1983, "m"), ("Q", 1990, "f"), ("R", 1990, "f")])
    make_table(con, "candidates__crossings", {"record_id": "VARCHAR", "entity_id": "VARCHAR",
                                              "match_probability": "DOUBLE", "match_weight": "DOUBLE"},
               [("x2", "P", 0.81, 2.1)])
    config = HybridConfig(method="hybrid", id_fields=["passport_no"])
    metrics = _link_on_learnt_identifiers(con, "crossings", config, "stage", "out")
    assert fetch_rows(con, "SELECT record_id, entity_id, status, method, matched_on, match_probability FROM out",
                      "record_id") == [
        ("x1", "P", "linked", "probabilistic", None, 0.99),
        ("x2", "P", "linked", "deterministic_id", "passport_no_learnt", 0.81),
        ("x3", None, "unlinked", None, None, 0.2),
        ("x4", "Q", "linked", "probabilistic", None, 0.97),
        ("x5", "R", "linked", "probabilistic", None, 0.96),
        ("x6", None, "unlinked", None, None, 0.5),
        ("x7", None, "unlinked", None, None, None),
        ("x8", None, "unlinked", None, None, None)]
    assert metrics["linked"] == 1 and metrics["refused_birth_year_or_sex"] == 1
    assert metrics["reasons_left"] == {"ambiguous_id": 1, "id_conflict": 1, "no_match": 1}
    one_to_one = HybridConfig(method="hybrid", id_fields=["passport_no"], constraint="one_to_one")
    assert _link_on_learnt_identifiers(con, "crossings", one_to_one, "stage", "out2")["linked"] == 0
    assert fetch_rows(con, "SELECT count(*) FROM out2 WHERE status = 'linked'") == [(3,)]
