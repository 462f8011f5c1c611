"""Records a source's own linked records taught the spine an identifier for link on it."""

from __future__ import annotations

import duckdb

from spine.config import HybridConfig
from spine.linking import SPINE_IDENTIFIERS, SPINE_REFERENCE, _link_on_learnt_identifiers
from tests.conftest import engine_on, fetch_rows, make_table

LINKS = {"record_id": "VARCHAR", "entity_id": "VARCHAR", "status": "VARCHAR", "method": "VARCHAR",
         "matched_on": "VARCHAR", "match_probability": "DOUBLE", "match_weight": "DOUBLE", "reason": "VARCHAR"}


def test_unlinked_records_follow_their_passport_unless_ambiguous_or_a_different_person():
    """x1 linked P (the model was sure); x2, x3 and x9 carry the same passport but were below the
    threshold: x2 (a birth date known to the year only) links to P. x3 is a child on the parent's
    passport (another birth year): not linked; nor is x9, born the same year as P but on another
    day (a namesake whose number one false link taught). x5 and x6's passport led to two persons:
    ambiguous, never linked on. x7's passport is nobody's. x8 was refused by the identifier stage's
    own check: not linked back on the same number. In a one-to-one source nothing is linked (the
    record that taught a number already holds its person)."""
    con = engine_on()
    make_table(con, "feat__crossings", {"record_id": "VARCHAR", "passport_no": "VARCHAR", "dob": "DATE",
                                        "sex": "VARCHAR", "birth_year": "INTEGER"},
               [("x1", "A1", "1983-06-15", "m", 1983), ("x2", "A1", "1983-01-01", None, 1983),
                ("x3", "A1", "2013-06-15", "f", 2013), ("x9", "A1", "1983-11-12", "m", 1983),
                ("x8", "A1", "1983-06-15", "m", 1983), ("x4", "B2", "1990-03-03", "f", 1990),
                ("x5", "B2", "1990-03-03", "f", 1990), ("x6", "B2", "1990-03-03", "f", 1990),
                ("x7", "C3", "1970-01-02", "m", 1970)])
    make_table(con, "stage", LINKS, [
        ("x1", "P", "linked", "probabilistic", None, 0.99, 8.0, None),
        ("x2", None, "unlinked", None, None, 0.81, 2.1, "below_threshold"),
        ("x3", None, "unlinked", None, None, 0.2, -2.0, "below_threshold"),
        ("x9", None, "unlinked", None, None, 0.3, -1.0, "below_threshold"),
        ("x4", "Q", "linked", "probabilistic", None, 0.97, 5.0, None),
        ("x5", "R", "linked", "probabilistic", None, 0.96, 4.6, None),
        ("x6", None, "unlinked", None, None, 0.5, 0.0, "below_threshold"),
        ("x7", None, "unlinked", None, None, None, None, "no_candidate"),
        ("x8", None, "unlinked", None, None, None, None, "id_conflict")])
    make_table(con, SPINE_IDENTIFIERS, {"entity_id": "VARCHAR", "field": "VARCHAR", "value": "VARCHAR"},
               [("P", "passport_no", "OLD1")])
    make_table(con, SPINE_REFERENCE, {"entity_id": "VARCHAR", "dob": "DATE", "sex": "VARCHAR", "birth_year": "INTEGER"},
               [("P", "1983-06-15", "m", 1983), ("Q", "1990-03-03", "f", 1990), ("R", "1990-03-03", "f", 1990)])
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
        ("x8", None, "unlinked", None, None, None),
        ("x9", None, "unlinked", None, None, 0.3)]
    assert metrics["linked"] == 1 and metrics["refused_dob_or_sex"] == 2
    assert metrics["reasons_left"] == {"ambiguous_id": 1, "id_conflict": 2, "no_match": 1}
    one_to_one = HybridConfig(method="hybrid", id_fields=["passport_no"], constraint="one_to_one")
    assert _link_on_learnt_identifiers(con, "crossings", one_to_one, "stage", "out2")["linked"] == 0
    assert fetch_rows(con, "SELECT count(*) FROM out2 WHERE status = 'linked'") == [(3,)]


def test_a_number_another_source_taught_needs_the_persons_birth_date_and_sex():
    """P's register holds passport OLD1; a crossing linked to P taught the spine NEW1. A visa on
    the register's number links with another birth date (the configured check wants both birth
    date and sex to differ); on the taught number only with P's birth date as far as it is known
    (v2 without its day, v3 day and month swapped): v4, born the same year on another day, is a
    namesake whose number a false link taught, v5 has the other sex and v6 another year one digit
    away (a child on a parent's passport)."""
    from spine.linking import _link_on_ids

    con = engine_on()
    make_table(con, "feat__visas", {"record_id": "VARCHAR", "passport_no": "VARCHAR", "dob": "DATE", "sex": "VARCHAR",
                                    "birth_year": "INTEGER"},
               [("v1", "OLD1", "1983-11-12", "m", 1983), ("v2", "NEW1", "1983-06-01", "m", 1983),
                ("v3", "NEW1", "1983-03-06", None, 1983), ("v4", "NEW1", "1983-11-12", "m", 1983),
                ("v5", "NEW1", "1983-06-03", "f", 1983), ("v6", "NEW1", "1993-06-03", "m", 1993)])
    make_table(con, SPINE_IDENTIFIERS, {"entity_id": "VARCHAR", "field": "VARCHAR", "value": "VARCHAR",
                                        "from_base": "BOOLEAN"},
               [("P", "passport_no", "OLD1", True), ("P", "passport_no", "NEW1", False)])
    make_table(con, SPINE_REFERENCE, {"entity_id": "VARCHAR", "dob": "DATE", "sex": "VARCHAR", "birth_year": "INTEGER"},
               [("P", "1983-06-03", "m", 1983)])
    metrics = _link_on_ids(con, "visas", HybridConfig(method="hybrid", id_fields=["passport_no"]), "ids")
    assert fetch_rows(con, "SELECT record_id, entity_id, status, reason FROM ids", "record_id") == [
        ("v1", "P", "linked", None), ("v2", "P", "linked", None), ("v3", "P", "linked", None),
        ("v4", None, "unlinked", "id_conflict"), ("v5", None, "unlinked", "id_conflict"),
        ("v6", None, "unlinked", "id_conflict")]
    assert metrics["refused_taught_numbers"] == 3 and metrics["id_conflicts"] == 0
    review = HybridConfig(method="hybrid", id_fields=["passport_no"], id_check={"action": "review"})
    _link_on_ids(con, "visas", review, "ids_review")
    assert fetch_rows(con, "SELECT record_id, entity_id, status, reason FROM ids_review WHERE record_id = 'v4'") == [
        ("v4", "P", "review", "id_conflict")]   # where the job sends conflicts to the clerks, these go too
