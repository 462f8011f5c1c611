"""Pairwise scoring, cluster pairs, threshold sweeps and multiple links, on hand-made tables."""

import pytest

from linkage.errors import LinkageError
from linkage.evaluate import (
    pairs_from_clusters,
    pairwise_scores,
    records_linked_more_than_once,
    threshold_sweep,
)
from tests.conftest import fetch_rows, make_table

PAIR = {"left_id": "VARCHAR", "right_id": "VARCHAR"}
SCORED = {"left_id": "VARCHAR", "right_id": "VARCHAR", "match_probability": "DOUBLE"}


def test_counts_and_ratios_with_a_duplicate_prediction(con):
    make_table(con, "truth", PAIR, [("a1", "b1"), ("a2", "b2"), ("a3", "b3"), ("a4", "b4")])
    make_table(
        con,
        "pred",
        PAIR,
        [
            ("a1", "b1"),
            ("a1", "b1"),  # duplicate counts once
            ("a2", "b2"),
            ("a3", "b9"),  # wrong
        ],
    )
    s = pairwise_scores(con, "pred", "truth")
    assert (s["true_positives"], s["false_positives"], s["false_negatives"]) == (2, 1, 2)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(1 / 2)
    assert s["f1"] == pytest.approx(2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2))


def test_link_pairs_are_ordered_but_dedupe_pairs_are_not(con):
    make_table(con, "truth", PAIR, [("1", "2"), ("3", "4")])
    make_table(con, "pred", PAIR, [("2", "1"), ("3", "4"), ("4", "3")])
    linked = pairwise_scores(con, "pred", "truth")
    assert (linked["true_positives"], linked["false_positives"], linked["false_negatives"]) == (
        1,
        2,
        1,
    )
    deduped = pairwise_scores(con, "pred", "truth", dedupe=True)
    assert (deduped["true_positives"], deduped["false_positives"], deduped["false_negatives"]) == (
        2,
        0,
        0,
    )
    assert deduped["precision"] == deduped["recall"] == deduped["f1"] == 1.0


def test_nothing_predicted_gives_undefined_precision(con):
    make_table(con, "truth", PAIR, [("a", "b")])
    make_table(con, "pred", PAIR, [])
    s = pairwise_scores(con, "pred", "truth")
    assert s == {
        "true_positives": 0,
        "false_positives": 0,
        "false_negatives": 1,
        "precision": None,
        "recall": 0.0,
        "f1": None,
    }


def test_all_wrong_gives_zero_f1(con):
    make_table(con, "truth", PAIR, [("a", "b")])
    make_table(con, "pred", PAIR, [("a", "c")])
    s = pairwise_scores(con, "pred", "truth")
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, 0.0, 0.0)


def test_integer_ids_are_compared_as_text(con):
    make_table(con, "truth", PAIR, [("1", "2")])
    make_table(con, "pred", {"left_id": "INTEGER", "right_id": "INTEGER"}, [(1, 2)])
    assert pairwise_scores(con, "pred", "truth")["true_positives"] == 1


def test_clusters_give_every_within_cluster_pair_once(con):
    make_table(
        con,
        "clusters",
        {"record_id": "VARCHAR", "cluster_id": "VARCHAR"},
        [
            ("r1", "c1"),
            ("r2", "c1"),
            ("r3", "c1"),  # 3 records -> 3 pairs
            ("r4", "c2"),
            ("r5", "c2"),  # 2 records -> 1 pair
            ("r6", "c3"),  # singleton -> none
            ("r7", None),  # unclustered -> none
        ],
    )
    out = pairs_from_clusters(con, "clusters", "pairs")
    assert out == "pairs"
    assert fetch_rows(con, "SELECT left_id, right_id FROM pairs", "left_id, right_id") == [
        ("r1", "r2"),
        ("r1", "r3"),
        ("r2", "r3"),
        ("r4", "r5"),
    ]


def test_sweep_scores_each_threshold_and_precision_rises_as_recall_falls(con):
    make_table(con, "truth", PAIR, [("a1", "b1"), ("a2", "b2"), ("a3", "b3")])
    make_table(
        con,
        "scored",
        SCORED,
        [
            ("a1", "b1", 0.99),
            ("a2", "b2", 0.80),
            ("a4", "b4", 0.60),  # false
            ("a3", "b3", 0.40),
            ("a5", "b5", 0.20),  # false
        ],
    )
    sweep = threshold_sweep(con, "scored", "truth", [0.1, 0.5, 0.9, 1.0])
    assert [r["threshold"] for r in sweep] == [0.1, 0.5, 0.9, 1.0]
    assert [(r["true_positives"], r["false_positives"], r["false_negatives"]) for r in sweep] == [
        (3, 2, 0),
        (2, 1, 1),
        (1, 0, 2),
        (0, 0, 3),
    ]
    recalls = [r["recall"] for r in sweep]
    assert recalls == sorted(recalls, reverse=True)
    precisions = [r["precision"] for r in sweep[:-1]]
    assert precisions == sorted(precisions)
    assert sweep[-1]["precision"] is None
    # each threshold agrees with pairwise_scores on the filtered pairs
    con.execute(
        "CREATE TABLE at_half AS SELECT left_id, right_id FROM scored "
        "WHERE match_probability >= 0.5"
    ).fetchall()
    assert {k: v for k, v in sweep[1].items() if k != "threshold"} == pairwise_scores(
        con, "at_half", "truth"
    )


def test_sweep_on_dedupe_pairs_matches_either_orientation(con):
    make_table(con, "truth", PAIR, [("1", "2")])
    make_table(con, "scored", SCORED, [("2", "1", 0.7), ("1", "2", 0.3)])
    sweep = threshold_sweep(con, "scored", "truth", [0.5], dedupe=True)
    assert (sweep[0]["true_positives"], sweep[0]["false_positives"]) == (1, 0)


def test_records_linked_more_than_once(con):
    make_table(
        con,
        "links",
        PAIR,
        [
            ("a1", "p1"),
            ("a1", "p2"),  # a1 twice
            ("a2", "p1"),
            ("a2", "p1"),  # duplicate pair: once
            ("a3", "p3"),
        ],
    )
    assert records_linked_more_than_once(con, "links") == 1
    assert records_linked_more_than_once(con, "links", "right_id") == 1  # p1 has a1 and a2


@pytest.mark.parametrize(
    "call",
    [
        lambda con: pairwise_scores(con, "bad", "truth"),
        lambda con: pairwise_scores(con, "truth", "bad"),
        lambda con: threshold_sweep(con, "truth", "truth", [0.5]),  # no match_probability
        lambda con: pairs_from_clusters(con, "bad", "out"),
        lambda con: records_linked_more_than_once(con, "bad"),
    ],
)
def test_missing_column_is_a_linkage_error_naming_it(con, call):
    make_table(con, "truth", PAIR, [("a", "b")])
    make_table(con, "bad", {"left_id": "VARCHAR", "other": "VARCHAR"}, [("a", "b")])
    with pytest.raises(
        LinkageError, match=r"lacks column\(s\) (right_id|match_probability|record_id)"
    ):
        call(con)


def test_missing_table_and_bad_id_column_are_linkage_errors(con):
    make_table(con, "truth", PAIR, [("a", "b")])
    with pytest.raises(LinkageError, match="'nope' does not exist"):
        pairwise_scores(con, "nope", "truth")
    with pytest.raises(LinkageError, match="got 'record_id'"):
        records_linked_more_than_once(con, "truth", "record_id")


def test_pairs_without_two_records_are_not_predictions(con):
    make_table(con, "pred", {"left_id": "VARCHAR", "right_id": "VARCHAR"},
               [("a", "b"), ("b", None), ("c", "c")])
    make_table(con, "truth", {"left_id": "VARCHAR", "right_id": "VARCHAR"}, [("a", "b")])
    scores = pairwise_scores(con, "pred", "truth", dedupe=True)
    assert (scores["true_positives"], scores["false_positives"]) == (1, 0)


def test_cluster_pairwise_scores_count_pairs_from_cluster_sizes(con):
    """a, b, c are one true person and d another; the run put a, b and d together and left c alone:
    predicted pairs ab, ad, bd (one true), true pairs ab, ac, bc (one found)."""
    from linkage.evaluate import cluster_pairwise_scores
    make_table(con, "r", {"record": "VARCHAR", "predicted": "VARCHAR", "truth": "VARCHAR"},
               [("a", "P1", "X"), ("b", "P1", "X"), ("c", None, "X"), ("d", "P1", "Y")])
    scores = cluster_pairwise_scores(con, "r")
    assert (scores["true_positives"], scores["false_positives"], scores["false_negatives"]) == (1, 2, 2)
    assert scores["precision"] == pytest.approx(1 / 3) and scores["recall"] == pytest.approx(1 / 3)
