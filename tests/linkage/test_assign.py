"""Rank-based assignment of scored pairs: constraints, review band, ties, every record accounted for."""

import pytest

from linkage import LinkageError, assign_links
from tests.conftest import fetch_rows, make_table

PAIRS = {"record_id": "VARCHAR", "entity_id": "VARCHAR", "match_probability": "DOUBLE", "match_weight": "DOUBLE"}


@pytest.fixture
def records(con):
    return make_table(con, "recs", {"record_id": "VARCHAR"}, [(r,) for r in ("r1", "r2", "r3", "r4", "r5", "r6")])


@pytest.fixture
def candidates(con):
    return make_table(con, "cand", PAIRS, [
        ("r1", "p1", 0.99, 9.0), ("r1", "p2", 0.60, 1.0),   # clear best
        ("r2", "p1", 0.98, 8.0),                           # p1 again: fine many-to-one, not one-to-one
        ("r2", "p3", 0.95, 5.0),
        ("r3", "p4", 0.70, 2.0),                           # in the band
        ("r4", "p5", 0.20, -3.0),                          # below
        ("r5", "p6", 0.97, 6.0), ("r5", "p7", 0.97, 6.0),  # tie
        # r6: no candidate at all
    ])


def test_many_to_one_takes_each_records_best(con, records, candidates):
    assign_links(con, candidates, records, "out", threshold=0.9)
    assert fetch_rows(con, "SELECT record_id, entity_id, status, reason FROM out", "record_id") == [
        ("r1", "p1", "linked", None),
        ("r2", "p1", "linked", None),
        ("r3", None, "unlinked", "below_threshold"),
        ("r4", None, "unlinked", "below_threshold"),
        ("r5", None, "unlinked", "tied_candidates"),
        ("r6", None, "unlinked", "no_candidate"),
    ]


def test_review_band_sends_the_middle_to_clerks(con, records, candidates):
    assign_links(con, candidates, records, "out", threshold=0.9, review_band=(0.5, 0.96))
    assert fetch_rows(con, "SELECT record_id, entity_id, status, reason FROM out", "record_id") == [
        ("r1", "p1", "linked", None),
        ("r2", "p1", "linked", None),
        ("r3", "p4", "review", "review_band"),
        ("r4", None, "unlinked", "below_threshold"),
        ("r5", "p6", "review", "tied_candidates"),
        ("r6", None, "unlinked", "no_candidate"),
    ]


def test_one_to_one_is_mutual_best_in_rounds(con, records, candidates):
    assign_links(con, candidates, records, "out", threshold=0.9, constraint="one_to_one")
    rows = fetch_rows(con, "SELECT record_id, entity_id, status FROM out", "record_id")
    assert rows[:2] == [("r1", "p1", "linked"), ("r2", "p3", "linked")]   # r2 falls back to p3 in round 2
    assert [r[2] for r in rows] == ["linked", "linked", "unlinked", "unlinked", "unlinked", "unlinked"]
    linked = [r[1] for r in rows if r[2] == "linked"]
    assert len(linked) == len(set(linked))


def test_one_to_one_loser_is_explained(con, records):
    make_table(con, "cand", PAIRS, [("r1", "p1", 0.99, 9.0), ("r2", "p1", 0.95, 5.0)])
    assign_links(con, "cand", records, "out", threshold=0.9, constraint="one_to_one")
    assert fetch_rows(con, "SELECT record_id, status, reason FROM out WHERE record_id IN ('r1', 'r2')",
                      "record_id") == [("r1", "linked", None), ("r2", "unlinked", "taken_by_better_match")]


@pytest.mark.parametrize("threshold,band,message", [
    (1.0, None, "threshold must be between 0 and 1"),
    (0.0, None, "threshold must be between 0 and 1"),
    (0.9, (0.95, 0.99), r"review band \[0.95, 0.99\] must contain the threshold 0.9"),
    (0.9, (0.95, 0.5), "review band must be two probabilities low < high"),
])
def test_bad_decision_settings_are_clear_errors(con, records, candidates, threshold, band, message):
    with pytest.raises(LinkageError, match=message):
        assign_links(con, candidates, records, "out", threshold=threshold, review_band=band)


def test_ties_can_be_broken_reproducibly_when_asked(con, records, candidates):
    assign_links(con, candidates, records, "out", threshold=0.9, on_tie="first")
    assert fetch_rows(con, "SELECT entity_id, status FROM out WHERE record_id = 'r5'") == [("p6", "linked")]
    with pytest.raises(LinkageError, match="on_tie must be 'flag' or 'first'"):
        assign_links(con, candidates, records, "out", threshold=0.9, on_tie="random")


def test_one_to_one_follows_a_long_chain_of_second_choices(con):
    # r_i prefers e_i, but r_{i+1} wants e_i more: each round frees the next record's second choice.
    n = 12
    rows = []
    for i in range(n):
        rows.append((f"r{i:02d}", f"e{i:02d}", 0.99, 20.0 - i))            # first choice
        if i + 1 < n:
            rows.append((f"r{i + 1:02d}", f"e{i:02d}", 0.99, 30.0 - i))    # r_{i+1} wants e_i more
    make_table(con, "cand", PAIRS, rows)
    make_table(con, "recs", {"record_id": "VARCHAR"}, [(f"r{i:02d}",) for i in range(n)])
    assign_links(con, "cand", "recs", "out", threshold=0.9, constraint="one_to_one")
    got = fetch_rows(con, "SELECT record_id, entity_id, status FROM out", "record_id")
    assert [r[2] for r in got].count("linked") == n - 1     # one record must lose: n records, n entities,
    assert len({r[1] for r in got if r[2] == "linked"}) == n - 1  # but e_{n-1} is wanted by r_{n-1} only


def test_one_to_one_ties_on_either_side_are_flagged(con):
    make_table(con, "cand", PAIRS, [
        ("r1", "p1", 0.95, 5.0), ("r1", "p2", 0.95, 5.0),    # r1 cannot choose
        ("r2", "p3", 0.95, 5.0), ("r3", "p3", 0.95, 5.0),    # p3 cannot choose
    ])
    make_table(con, "recs", {"record_id": "VARCHAR"}, [("r1",), ("r2",), ("r3",)])
    assign_links(con, "cand", "recs", "out", threshold=0.9, constraint="one_to_one")
    assert fetch_rows(con, "SELECT record_id, status, reason FROM out", "record_id") == [
        ("r1", "unlinked", "tied_candidates"), ("r2", "unlinked", "tied_candidates"),
        ("r3", "unlinked", "tied_candidates")]
    assign_links(con, "cand", "recs", "banded", threshold=0.9, review_band=(0.5, 0.99), constraint="one_to_one")
    assert {r[0] for r in fetch_rows(con, "SELECT status FROM banded")} == {"review"}


def test_one_to_one_losers_of_a_taken_entity_are_not_tied(con):
    """p1 is r1's: r2 and r3, equally far behind, both lost it; neither is a tie for a clerk."""
    make_table(con, "cand", PAIRS, [("r1", "p1", 0.99, 9.0), ("r2", "p1", 0.7, 2.0), ("r3", "p1", 0.7, 2.0)])
    make_table(con, "recs", {"record_id": "VARCHAR"}, [("r1",), ("r2",), ("r3",)])
    assign_links(con, "cand", "recs", "out", threshold=0.9, review_band=(0.5, 0.95), constraint="one_to_one")
    assert fetch_rows(con, "SELECT record_id, status, reason FROM out", "record_id") == [
        ("r1", "linked", None), ("r2", "unlinked", "taken_by_better_match"), ("r3", "unlinked", "taken_by_better_match")]


def test_score_pairs_output_is_taken_as_it_is(con, records, candidates):
    """score_pairs writes left_id (the record to decide) and right_id (its candidate entity): the
    same decisions as from record_id and entity_id; anything else is refused, naming the columns."""
    assign_links(con, candidates, records, "expected", threshold=0.9)
    con.execute("CREATE TABLE scored AS SELECT record_id AS left_id, entity_id AS right_id, match_weight, "
                "match_probability FROM cand")
    assign_links(con, "scored", records, "out", threshold=0.9)
    assert fetch_rows(con, "out", "record_id") == fetch_rows(con, "expected", "record_id")
    con.execute("CREATE TABLE odd AS SELECT record_id AS a, entity_id AS b FROM cand")
    with pytest.raises(LinkageError, match="odd: candidate pairs need record_id.*it has a, b"):
        assign_links(con, "odd", records, "out", threshold=0.9)
    with pytest.raises(LinkageError, match="missing: .*no such table"):
        assign_links(con, "missing", records, "out", threshold=0.9)
