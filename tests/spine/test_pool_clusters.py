"""Groups of the enlargement pool (spine.pool_clusters): a record whose date of birth is a
placeholder joins the one person it most probably is and never makes two people one."""

import duckdb

from spine.pool_clusters import person_groups, strong_sql
from tests.conftest import engine_on


def grouped(records, edges):
    """records: (pool_id, dob_known_to); edges: (a, b, kind, probability). Returns the groups."""
    con = engine_on()
    con.execute("CREATE TABLE pool (pool_id VARCHAR, dob_known_to VARCHAR)")
    con.executemany("INSERT INTO pool VALUES (?, ?)", records)
    con.execute("CREATE TABLE raw_edges (a VARCHAR, b VARCHAR, kind VARCHAR, probability DOUBLE)")
    if edges:
        con.executemany("INSERT INTO raw_edges VALUES (?, ?, ?, ?)", edges)
    con.execute(f"CREATE TABLE edges AS {strong_sql('pool', 'raw_edges')}")
    report = person_groups(con, "pool", "edges", "groups")
    rows = con.execute("SELECT group_id, list(pool_id ORDER BY pool_id) FROM groups GROUP BY 1 ORDER BY 1").fetchall()
    assert all(group_id == members[0] for group_id, members in rows)     # a group's id is its smallest record
    return [members for _, members in rows], report


# Two Wei Wangs born in 1972 (23 November and 16 October), each with a passport, and records of
# "1 January 1972" (a placeholder) that the model links to both.
WEI_WANGS = [("a1", "day"), ("a2", "day"), ("b1", "day"), ("b2", "day")]
THEIR_OWN = [("a1", "a2", "id", None), ("b1", "b2", "model", 0.999)]


def test_a_placeholder_date_joins_the_person_it_most_probably_is_and_bridges_no_one():
    found, report = grouped([*WEI_WANGS, ("v", "year")],
                            [*THEIR_OWN, ("v", "a1", "model", 0.97), ("v", "b2", "model", 0.95)])
    assert found == [["a1", "a2", "v"], ["b1", "b2"]]
    assert report["vague_units_joined_to_a_person"] == 1


def test_where_two_persons_are_equally_probable_it_joins_neither():
    found, _ = grouped([*WEI_WANGS, ("v", "year")], [*THEIR_OWN, ("v", "a1", "model", 0.96), ("v", "b1", "model", 0.96)])
    assert found == [["a1", "a2"], ["b1", "b2"], ["v"]]


def test_a_vague_record_linked_only_to_another_vague_record_follows_it():
    """A child's benefit record (1 January) links only to her school record (the 1st of August),
    which links to her passport records: both join her, the first in the second round."""
    found, report = grouped([("p1", "day"), ("p2", "day"), ("school", "month"), ("benefit", "year")],
                            [("p1", "p2", "id", None), ("school", "p1", "model", 0.95),
                             ("benefit", "school", "model", 0.99)])
    assert found == [["benefit", "p1", "p2", "school"]]
    assert report["rounds_of_joining"] == 2


def test_vague_records_linked_to_no_dated_person_are_grouped_among_themselves():
    found, report = grouped([("x", "year"), ("y", "year"), ("z", "none"), ("w", "month")],
                            [("x", "y", "model", 0.99), ("y", "z", "model", 0.93)])
    assert found == [["w"], ["x", "y", "z"]]
    assert report["groups_of_vague_units"] == 1 and report["vague_units_alone"] == 1


def test_an_identifier_binds_a_placeholder_record_like_a_dated_one():
    """Same passport: one person whatever the date says; such a unit is anchored by its dated record."""
    found, _ = grouped([*WEI_WANGS, ("v", "year")], [*THEIR_OWN, ("v", "b1", "id", None), ("v", "a1", "model", 0.999)])
    assert found == [["a1", "a2"], ["b1", "b2", "v"]]


def test_where_every_date_is_known_to_the_day_groups_are_the_connected_components():
    found, report = grouped([("a", "day"), ("b", "day"), ("c", "day"), ("d", "day")],
                            [("a", "b", "model", 0.95), ("b", "c", "name", None)])
    assert found == [["a", "b", "c"], ["d"]]
    assert report["vague_units_joined_to_a_person"] == 0


def test_a_vague_record_waits_for_the_person_it_is_likeliest_to_be():
    """W links to B at 0.95 and to V at 0.97; V links to A at 0.99: V joins A first, then W, as
    V's; W does not take B, the only person made when it is first looked at."""
    found, _ = grouped([("a", "day"), ("b", "day"), ("v", "year"), ("w", "year")],
                       [("w", "b", "model", 0.95), ("w", "v", "model", 0.97), ("v", "a", "model", 0.99)])
    assert found == [["a", "v", "w"], ["b"]]


def test_a_key_group_is_joined_through_a_dated_record():
    """A name-key group's star is centred on a record dated to the day, so its dated records are
    one person however the placeholder record sorts (pool_grouping.key_edges)."""
    found, _ = grouped([("a:v", "year"), ("b:x", "day"), ("c:y", "day")],
                       [("a:v", "b:x", "name", None), ("c:y", "b:x", "name", None)])
    assert found == [["a:v", "b:x", "c:y"]]
