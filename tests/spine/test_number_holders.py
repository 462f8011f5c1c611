"""Links moved after enlargement to the new person who holds most records of the number they carry."""

from __future__ import annotations

import duckdb

from spine.enlarge import ENLARGED
from spine.linking import SPINE_IDENTIFIERS, SPINE_REFERENCE
from spine.number_holders import move_to_number_holders
from tests.conftest import engine_on, fetch_rows, make_table

LINKS = {"record_id": "VARCHAR", "entity_id": "VARCHAR", "status": "VARCHAR", "method": "VARCHAR",
         "matched_on": "VARCHAR", "match_probability": "DOUBLE", "match_weight": "DOUBLE", "reason": "VARCHAR"}
FEATURES = {"record_id": "VARCHAR", "passport_no": "VARCHAR", "national_id": "VARCHAR", "dob": "DATE",
            "birth_year": "INTEGER", "sex": "VARCHAR"}


def test_a_namesakes_links_follow_the_new_person_who_holds_their_passport():
    """A (registered, born 1983-06-04) got crossing x1 by the model: a year-only date, passport N1.
    Three more crossings with N1 and another birth date made the new person E: x1 moves to E.
    B's crossing x5 (N2) stays: the two records of new person F with N2 agree with B (a registered
    person's renewed passport whose other records fell to the pool). C's x8 (N3) stays: F2 holds
    as many N3 records as C. D's x10 (N4) stays: D's visa v1 carries N4 next to D's register
    national id. A clerk's link (x12, N1) stays."""
    con = engine_on()
    make_table(con, "link__crossings", LINKS, [
        ("x1", "A", "linked", "probabilistic", None, 0.95, 4.0, None),
        ("x2", "E", "linked", "enlarged", None, None, None, None),
        ("x3", "E", "linked", "enlarged", None, None, None, None),
        ("x4", "E", "linked", "enlarged", None, None, None, None),
        ("x5", "B", "linked", "probabilistic", None, 0.95, 4.0, None),
        ("x6", "F", "linked", "enlarged", None, None, None, None),
        ("x7", "F", "linked", "enlarged", None, None, None, None),
        ("x8", "C", "linked", "probabilistic", None, 0.95, 4.0, None),
        ("x9", "F2", "linked", "enlarged", None, None, None, None),
        ("x10", "D", "linked", "probabilistic", None, 0.95, 4.0, None),
        ("x11", "G", "linked", "enlarged", None, None, None, None),
        ("x13", "G", "linked", "enlarged", None, None, None, None),
        ("x14", "G", "linked", "enlarged", None, None, None, None),
        ("x12", "A", "linked", "clerical", None, None, None, None)])
    make_table(con, "feat__crossings", FEATURES, [
        ("x1", "N1", None, "1983-01-01", 1983, "f"), ("x2", "N1", None, "1983-11-12", 1983, "f"),
        ("x3", "N1", None, "1983-11-12", 1983, "f"), ("x4", "N1", None, "1983-11-12", 1983, "f"),
        ("x12", "N1", None, "1983-11-12", 1983, "f"),
        ("x5", "N2", None, "1970-02-02", 1970, "m"), ("x6", "N2", None, "1970-02-01", 1970, "m"),
        ("x7", "N2", None, "1970-02-02", 1970, "m"),
        ("x8", "N3", None, "1960-01-01", 1960, "m"), ("x9", "N3", None, "1961-05-05", 1961, "m"),
        ("x10", "N4", None, "1990-01-01", 1990, "f"), ("x11", "N4", None, "1991-05-05", 1991, "f"),
        ("x13", "N4", None, "1991-05-05", 1991, "f"), ("x14", "N4", None, "1991-05-05", 1991, "f")])
    make_table(con, "link__visas", LINKS, [("v1", "D", "linked", "deterministic_id", "national_id", None, None, None)])
    make_table(con, "feat__visas", FEATURES, [("v1", "N4", "ID-D", "1990-07-07", 1990, "f")])
    make_table(con, SPINE_IDENTIFIERS, {"entity_id": "VARCHAR", "field": "VARCHAR", "value": "VARCHAR",
                                        "from_base": "BOOLEAN"},
               [("D", "national_id", "ID-D", True), ("A", "passport_no", "N1", False)])
    make_table(con, SPINE_REFERENCE, {"entity_id": "VARCHAR", "dob": "DATE", "birth_year": "INTEGER", "sex": "VARCHAR"},
               [("A", "1983-06-04", 1983, "f"), ("B", "1970-02-02", 1970, "m"), ("C", "1960-01-01", 1960, "m"),
                ("D", "1990-07-07", 1990, "f")])
    make_table(con, ENLARGED, {"person_id": "VARCHAR"}, [("E",), ("F",), ("F2",), ("G",)])
    moved = move_to_number_holders(con, ["crossings", "visas"])
    assert moved == {"numbers": 1, "records": 1, "by_source": {"crossings": 1}}
    assert fetch_rows(con, "SELECT record_id, entity_id, method, matched_on FROM link__crossings "
                      "WHERE record_id IN ('x1', 'x5', 'x8', 'x10', 'x12')", "record_id") == [
        ("x1", "E", "enlarged", "passport_no_holder"), ("x10", "D", "probabilistic", None),
        ("x12", "A", "clerical", None), ("x5", "B", "probabilistic", None), ("x8", "C", "probabilistic", None)]
