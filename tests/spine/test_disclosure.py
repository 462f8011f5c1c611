"""Disclosure control of tables with margins: primary and secondary suppression, checked against an
independent rank test (written here from the rows' labels, not from the module's cell numbering)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from spine.disclosure import (TOTAL, apply_secondary_suppression, constraint_matrix, cube_sql,
                              derivable_cells)
from tests.conftest import fetch_rows, make_table


def derivable_by_rank(rows: list[dict], keys: list[str], dims: list[str]) -> list[dict]:
    """The suppressed rows whose value follows exactly from the published rows and the additivity of
    every line (a cell is derivable iff adding its unit vector to the constraints on the suppressed
    cells does not raise their rank). Independent of ``spine.disclosure``."""
    out = []
    for key, table in itertools.groupby(sorted(rows, key=lambda r: [r[k] for k in keys]),
                                        key=lambda r: [r[k] for k in keys]):
        table = list(table)
        hidden = [r for r in table if r["suppressed"]]
        if not hidden:
            continue
        position = {id(r): i for i, r in enumerate(hidden)}
        constraints = []
        for dim in dims:
            others = [d for d in dims if d != dim]
            lines: dict[tuple, list[dict]] = {}
            for r in table:
                lines.setdefault(tuple(r[o] for o in others), []).append(r)
            for line in lines.values():
                coeffs = np.zeros(len(hidden))
                for r in line:
                    if r["suppressed"]:
                        coeffs[position[id(r)]] = -1.0 if r[dim] == TOTAL else 1.0
                constraints.append(coeffs)
        a = np.array(constraints)
        rank = np.linalg.matrix_rank(a)
        for i, r in enumerate(hidden):
            unit = np.zeros(len(hidden))
            unit[i] = 1.0
            if np.linalg.matrix_rank(np.vstack([a, unit])) == rank:
                out.append(r)
    return out


def protect(con, counts: dict[tuple, int], categories: dict[str, list[str]], threshold: int = 10,
            keys: tuple[str, ...] = ("t",)):
    """Build the cube of the interior ``counts`` ((key..., category...) -> n), suppress, return rows."""
    dims = list(categories)
    columns = {**{k: "VARCHAR" for k in keys}, **{d: "VARCHAR" for d in dims}, "n": "BIGINT"}
    make_table(con, "counts", columns, [(*cell, n) for cell, n in counts.items() if n])
    con.execute(f"CREATE TABLE cube AS {cube_sql('counts', list(keys), categories, threshold)}").fetchall()
    result = apply_secondary_suppression(con, "cube", categories)
    names = [*keys, *dims, "n", "suppressed", "suppressed_by"]
    rows = [dict(zip(names, r)) for r in fetch_rows(con, f"SELECT {', '.join(names)} FROM cube")]
    return rows, result


def cell(rows, **where):
    (found,) = [r for r in rows if all(r[k] == v for k, v in where.items())]
    return found


def test_constraint_matrix_holds_for_a_table_with_margins():
    x = np.array([[1, 2, 3], [4, 5, 9]])
    full = np.zeros((3, 4))
    full[:2, :3] = x
    full[:2, 3] = x.sum(1)
    full[2, :3] = x.sum(0)
    full[2, 3] = x.sum()
    a = constraint_matrix((3, 4))
    assert a.shape == (4 + 3, 12)
    assert np.allclose(a @ full.ravel(), 0)


def test_one_suppressed_cell_in_a_row_is_derivable_two_in_a_rectangle_are_not():
    a = constraint_matrix((3, 3))          # 2 x 2 table with margins
    only = np.zeros(9, dtype=bool)
    only[0] = True
    assert derivable_cells(a, only).tolist() == [0]
    rectangle = np.zeros(9, dtype=bool)
    rectangle[[0, 1, 3, 4]] = True         # the four inner cells: every line holds two
    assert derivable_cells(a, rectangle).tolist() == []
    row = np.zeros(9, dtype=bool)
    row[[0, 1]] = True                     # two in a row, but alone in their columns
    assert derivable_cells(a, row).tolist() == [0, 1]


def test_a_single_small_cell_in_a_row_gets_a_partner_in_its_row_and_column(con):
    categories = {"row": ["a", "b"], "col": ["x", "y", "z"]}
    counts = {("1", "a", "x"): 3, ("1", "a", "y"): 40, ("1", "a", "z"): 25,
              ("1", "b", "x"): 30, ("1", "b", "y"): 50, ("1", "b", "z"): 20}
    rows, result = protect(con, counts, categories)
    assert cell(rows, row="a", col="x")["suppressed_by"] == "primary"
    # alone it would be a_total - 40 - 25: the smallest cells that mend its row and column go too
    assert cell(rows, row="a", col="z")["suppressed"] and cell(rows, row="b", col="x")["suppressed"]
    assert cell(rows, row="b", col="z")["suppressed"]        # closes the rectangle
    assert sum(r["suppressed"] for r in rows) == 4
    assert result.hypercube_added == 3 and result.derivable == 0
    assert derivable_by_rank(rows, ["t"], list(categories)) == []


def test_a_small_margin_is_suppressed_and_protected(con):
    """A column total below the threshold: its two small cells are primary too, and the line of
    totals gets a partner."""
    categories = {"row": ["a", "b"], "col": ["x", "y"]}
    counts = {("1", "a", "x"): 4, ("1", "a", "y"): 30, ("1", "b", "x"): 3, ("1", "b", "y"): 40}
    rows, result = protect(con, counts, categories)
    assert cell(rows, row=TOTAL, col="x")["suppressed_by"] == "primary"
    assert cell(rows, row=TOTAL, col="y")["suppressed"]
    assert derivable_by_rank(rows, ["t"], list(categories)) == []


def test_hypercube_rule_alone_leaves_a_derivable_cell_and_the_rank_check_catches_it(con):
    """Two rectangles of small cells joined by one more small cell (a bridge): every row and column
    holds 0 or at least 2 suppressed cells, yet the bridge is rows 0+1 minus columns 0+1."""
    categories = {"row": ["r0", "r1", "r2", "r3"], "col": ["c0", "c1", "c2", "c3"]}
    small = {(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (1, 2)}
    counts = {("1", f"r{i}", f"c{j}"): (2 + i + j if (i, j) in small else 50 + 10 * i + j)
              for i in range(4) for j in range(4)}
    rows, result = protect(con, counts, categories)
    assert result.hypercube_added == 0                  # the rule is satisfied from the start
    assert result.derivable_after_hypercube == 1        # ... but the bridge is derivable
    assert result.rank_check_added >= 1 and result.derivable == 0
    assert derivable_by_rank(rows, ["t"], list(categories)) == []
    # the independent test agrees that the primary pattern alone leaves exactly the bridge
    primary = [{**r, "suppressed": r["suppressed_by"] == "primary"} for r in rows]
    assert [(r["row"], r["col"]) for r in derivable_by_rank(primary, ["t"], list(categories))] == [("r1", "c2")]


def test_tables_are_protected_one_by_one(con):
    categories = {"row": ["a", "b"], "col": ["x", "y"]}
    counts = {("1", "a", "x"): 3, ("1", "a", "y"): 40, ("1", "b", "x"): 30, ("1", "b", "y"): 50,
              ("2", "a", "x"): 33, ("2", "a", "y"): 40, ("2", "b", "x"): 30, ("2", "b", "y"): 50}
    rows, _ = protect(con, counts, categories)
    assert not any(r["suppressed"] for r in rows if r["t"] == "2")
    assert sum(r["suppressed"] for r in rows if r["t"] == "1") == 4


@pytest.mark.parametrize("seed", range(12))
def test_random_tables_publish_nothing_small_and_nothing_derivable(con, seed):
    rng = np.random.default_rng(seed)
    categories = {f"d{d}": [f"v{i}" for i in range(rng.integers(2, 5))] for d in range(3)}
    threshold = int(rng.choice([3, 5, 10]))
    counts = {}
    for t in ("p", "q"):
        shape = [len(v) for v in categories.values()]
        # a mix of empty, small and large cells
        n = rng.choice([0, 0, 1, 2, 4, 7, 9, 12, 30, 80], size=shape) * rng.integers(1, 3, size=shape)
        for index in itertools.product(*(range(s) for s in shape)):
            counts[(t, *(categories[f"d{d}"][i] for d, i in enumerate(index)))] = int(n[index])
    rows, result = protect(con, counts, categories, threshold)
    dims = list(categories)
    assert rows and len(rows) == 2 * np.prod([len(v) + 1 for v in categories.values()])
    for r in rows:
        if not r["suppressed"]:
            assert r["n"] == 0 or r["n"] >= threshold, r
        else:
            assert r["n"] > 0, r                       # zeros are published
    assert derivable_by_rank(rows, ["t"], dims) == []
    assert result.derivable == 0
    # every row is the sum of the interior cells it covers
    for r in rows:
        covered = sum(n for key, n in counts.items()
                      if key[0] == r["t"] and all(r[d] in (TOTAL, key[1 + i]) for i, d in enumerate(dims)))
        assert r["n"] == covered, r
