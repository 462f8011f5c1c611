"""Disclosure control of count tables with margins: primary and secondary cell suppression.

A *table* is one value of the key columns (for flows: one period × event). Its cells form a
hypercube over the dimensions, each dimension's categories extended by ``total``, so every
sub-total along every dimension is a cell too. Cells are numbered in C order over the extended
shape (``total`` last in each dimension): ``cell = ((i0 * (k1 + 1)) + i1) * (k2 + 1) + i2``.

- **Primary**: a cell with ``0 < n < threshold`` is suppressed. Zeros are published.
- **Secondary, hypercube rule**: while a line along some dimension (the cells that differ only in
  that dimension, its total included) holds exactly one suppressed cell, one more published
  non-zero cell on such a line is suppressed: per table and round one cell, the one that mends
  the most such lines, the smallest among those, the table's grand total only when nothing else
  will do (users need it); to a fixed point.
- **Secondary, rank check**: a suppressed cell can be derived exactly from the published cells iff
  its unit vector lies in the row space of the additivity constraints restricted to the suppressed
  cells, i.e. iff the null space of that matrix is zero in its coordinate. Where a cell is
  derivable, the smallest published non-zero cell on a line through a derivable cell is
  suppressed, the hypercube rule runs again, and so on until no cell is derivable.

Tables share no margins (no cell sums over keys), so each is protected on its own.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from linkage._sql import quote_ident, sql_literal
from spine.engine import Engine
from spine.errors import SpineError

logger = logging.getLogger(__name__)

TOTAL = "total"


@dataclass
class SuppressionResult:
    """What secondary suppression did: rounds, cells added by each step, and the final check."""

    hypercube_added: int = 0
    rank_check_added: int = 0
    rounds: int = 0
    derivable_after_hypercube: int = 0
    derivable: int = 0
    tables_checked: int = 0
    seconds: float = 0.0


def cube_sql(counts: str, keys: list[str], categories: dict[str, list[str]], threshold: int) -> str:
    """Every cell and margin of each table, with its count and primary suppression.

    Args:
        counts: table of non-zero interior counts: ``keys``, one column per dimension, ``n``.
        keys: columns that name a table (for flows ``period``, ``event``).
        categories: per dimension, its categories in publication order (without ``total``); every
            value in ``counts`` must be one of them, else margins would not add up.
        threshold: cells with ``0 < n < threshold`` are suppressed.

    Returns:
        A SELECT. Grain: one row per table (a key seen in ``counts``) × every combination of the
        categories and ``total`` in each dimension. Columns: ``keys``, the dimensions, ``tbl``
        (0-based table number in key order), ``cell`` (see the module docstring), ``n`` (BIGINT,
        0 where no count), ``n_totals`` (how many dimensions are ``total``), ``is_primary``,
        ``suppressed`` (BOOLEAN), ``suppressed_by`` (``primary`` or NULL; secondary suppression
        sets ``hypercube`` or ``rank_check``), ``suppression_round`` (0 for primary).
    """
    dims = list(categories)
    key_cols = ", ".join(quote_ident(k) for k in keys)
    ctes = [f"table_keys AS (SELECT {key_cols}, CAST(dense_rank() OVER (ORDER BY {key_cols}) - 1 AS INTEGER) AS tbl "
            f"FROM (SELECT DISTINCT {key_cols} FROM {quote_ident(counts)}))"]
    for d, dim in enumerate(dims):
        values = ", ".join(f"({sql_literal(v)}, {i})" for i, v in enumerate([*categories[dim], TOTAL]))
        ctes.append(f"cat_{d}(value, i) AS (VALUES {values})")
    joins = " CROSS JOIN ".join(f"cat_{d}" for d in range(len(dims)))
    cell = "0"
    for d, dim in enumerate(dims):
        cell = f"({cell}) * {len(categories[dim]) + 1} + cat_{d}.i"
    grid_cols = ", ".join(f"cat_{d}.value AS {quote_ident(dim)}" for d, dim in enumerate(dims))
    ctes.append(f"grid AS (SELECT k.*, {grid_cols}, CAST({cell} AS INTEGER) AS cell, "
                f"CAST({' + '.join(f'CAST(cat_{d}.value = {sql_literal(TOTAL)} AS INTEGER)' for d in range(len(dims)))} "
                f"AS INTEGER) AS n_totals FROM table_keys AS k CROSS JOIN {joins})")
    on = " AND ".join([*(f"c.{quote_ident(k)} = g.{quote_ident(k)}" for k in keys),
                       *(f"(g.{quote_ident(dim)} = {sql_literal(TOTAL)} OR c.{quote_ident(dim)} = g.{quote_ident(dim)})"
                         for dim in dims)])
    ctes.append(f"summed AS (SELECT g.*, CAST(coalesce(sum(c.n), 0) AS BIGINT) AS n FROM grid AS g "
                f"LEFT JOIN {quote_ident(counts)} AS c ON {on} GROUP BY ALL)")
    primary = f"n > 0 AND n < {int(threshold)}"
    return (f"WITH {', '.join(ctes)}\n"
            f"SELECT *, {primary} AS is_primary, {primary} AS suppressed, "
            f"CASE WHEN {primary} THEN 'primary' END AS suppressed_by, "
            f"CASE WHEN {primary} THEN 0 END AS suppression_round "
            f"FROM summed ORDER BY tbl, cell")


def hypercube_picks_sql(cube: str, dims: list[str]) -> str:
    """Cells to suppress next by the hypercube rule: per table, among the published non-zero cells
    lying on a line (along any dimension) that holds exactly one suppressed cell, the one on the
    most such lines, and of those the smallest (then the one with fewer totals, then the first).

    Grain: at most one row per table. Columns: ``tbl``, ``cell``.
    """
    counts = []
    for d, dim in enumerate(dims):
        others = ", ".join(["tbl", *(quote_ident(o) for o in dims if o != dim)])
        counts.append(f"sum(CAST(suppressed AS INTEGER)) OVER (PARTITION BY {others}) AS s_{d}")
    lonely = " OR ".join(f"s_{d} = 1" for d in range(len(dims)))
    fixes = " + ".join(f"CAST(s_{d} = 1 AS INTEGER)" for d in range(len(dims)))
    return f"""
        SELECT tbl, cell FROM (
            SELECT tbl, cell, row_number() OVER (PARTITION BY tbl ORDER BY n_totals = {len(dims)}, {fixes} DESC, n, n_totals, cell) AS rk
            FROM (SELECT *, {', '.join(counts)} FROM {quote_ident(cube)}) AS lines
            WHERE NOT suppressed AND n > 0 AND ({lonely})
        ) AS ranked WHERE rk = 1"""


def line_picks_sql(cube: str, derivable: str, dims: list[str]) -> str:
    """Cells to suppress so that derivable cells stop being derivable: per table with a derivable
    cell, the smallest published non-zero cell on a line through one of them (else, if there is
    none, the table's smallest published non-zero cell).

    Grain: at most one row per table. Columns: ``tbl``, ``cell``.
    """
    same = " + ".join(f"CAST(c.{quote_ident(dim)} = d.{quote_ident(dim)} AS INTEGER)" for dim in dims)
    return f"""
        SELECT tbl, cell FROM (
            SELECT tbl, cell, row_number() OVER (PARTITION BY tbl ORDER BY n_totals = {len(dims)}, on_line DESC, n, n_totals, cell) AS rk
            FROM (
                SELECT c.tbl, c.cell, c.n, c.n_totals, max(CAST({same} = {len(dims) - 1} AS INTEGER)) AS on_line
                FROM {quote_ident(cube)} AS c
                JOIN (SELECT t.* FROM {quote_ident(cube)} AS t JOIN {quote_ident(derivable)} USING (tbl, cell)) AS d
                  ON c.tbl = d.tbl
                WHERE NOT c.suppressed AND c.n > 0
                GROUP BY c.tbl, c.cell, c.n, c.n_totals
            ) AS candidates
        ) AS ranked WHERE rk = 1"""


def constraint_matrix(shape: tuple[int, ...]) -> np.ndarray:
    """The additivity constraints of a table with margins, one row per line.

    ``shape`` is the extended shape (categories + 1 per dimension, ``total`` last). Each row holds
    +1 on a line's cells and -1 on its total, so ``A @ x == 0`` for the table's cells ``x``
    (numbered in C order, as ``cell``).
    """
    index = np.arange(int(np.prod(shape))).reshape(shape)
    blocks = []
    for d, size in enumerate(shape):
        lines = np.moveaxis(index, d, -1).reshape(-1, size)
        block = np.zeros((lines.shape[0], index.size))
        rows = np.arange(lines.shape[0])[:, None]
        block[rows, lines[:, :-1]] = 1.0
        block[rows[:, 0], lines[:, -1]] = -1.0
        blocks.append(block)
    return np.vstack(blocks)


def derivable_cells(matrix: np.ndarray, suppressed: np.ndarray) -> np.ndarray:
    """Suppressed cells whose value follows exactly from the published cells.

    With the published values known, the suppressed ones ``x_S`` solve ``A_S x_S = b``; a cell is
    determined iff every vector of the null space of ``A_S`` is zero in its coordinate (the same
    as: its unit vector lies in the row space of ``A_S``).

    Args:
        matrix: the constraints (``constraint_matrix``).
        suppressed: boolean mask over the cells.

    Returns:
        Indices of the derivable cells (a subset of the suppressed ones).
    """
    cols = np.flatnonzero(suppressed)
    if cols.size == 0:
        return cols
    sub = matrix[:, cols]
    _, singular, vt = np.linalg.svd(sub, full_matrices=True)
    tol = singular.max(initial=0.0) * max(sub.shape) * np.finfo(float).eps
    rank = int((singular > tol).sum())
    null = vt[rank:]
    return cols[np.linalg.norm(null, axis=0) < 1e-9]


def find_derivable(db: Engine, cube: str, shape: tuple[int, ...],
                   changed_since: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Run the rank check on the tables of ``cube`` (those with a cell suppressed in round
    ``changed_since`` or later, if given): (tbl, cell) of each derivable cell, and the number of
    tables checked (those with a suppressed cell)."""
    only = "" if changed_since is None else (
        f" AND tbl IN (SELECT tbl FROM {quote_ident(cube)} WHERE suppression_round >= {int(changed_since)})")
    rows = np.array(db.run(f"SELECT tbl, cell FROM {quote_ident(cube)} WHERE suppressed{only}"),
                    dtype=np.int64).reshape(-1, 2)
    tbl, cell = rows[:, 0], rows[:, 1]
    if tbl.size == 0:
        return tbl, cell, 0
    matrix = constraint_matrix(shape)
    tables = np.unique(tbl)
    masks = np.zeros((tables.size, matrix.shape[1]), dtype=bool)
    masks[np.searchsorted(tables, tbl), cell] = True
    found = [(t, derivable_cells(matrix, mask)) for t, mask in zip(tables, masks)]
    out_tbl = np.concatenate([np.full(c.size, t, dtype=np.int64) for t, c in found])
    out_cell = np.concatenate([c for _, c in found]).astype(np.int64)
    return out_tbl, out_cell, int(tables.size)


def _suppress(db: Engine, cube: str, picks_sql: str, step: str, round_no: int) -> int:
    """Mark the picked cells suppressed by ``step`` in round ``round_no``; return how many."""
    picks = f"{cube}__picks"
    db.run(f"CREATE OR REPLACE TEMP TABLE {quote_ident(picks)} AS {picks_sql}")
    n = db.run(f"SELECT count(*) FROM {quote_ident(picks)}")[0][0]
    if n:
        db.run(f"""UPDATE {quote_ident(cube)} AS c SET suppressed = TRUE, suppressed_by = {sql_literal(step)},
                        suppression_round = {round_no}
                        FROM {quote_ident(picks)} AS p WHERE c.tbl = p.tbl AND c.cell = p.cell""")
        logger.debug("round %d: %s suppressed %d cells", round_no, step, n)
    return n


def apply_secondary_suppression(db: Engine, cube: str, categories: dict[str, list[str]]) -> SuppressionResult:
    """Suppress more cells of ``cube`` (from ``cube_sql``, updated in place) until no suppressed cell
    can be derived: the hypercube rule to a fixed point, then the rank check, in rounds; at the
    end the rank check of every table is returned (run once more if the rank check suppressed
    cells, else the first one, which saw every table as it is).

    Raises:
        SpineError: if a derivable cell remains and no cell is left to suppress (cannot happen:
            with every non-zero cell suppressed the constraints are homogeneous and nothing is
            determined; kept as a guard).
    """
    dims = list(categories)
    shape = tuple(len(categories[d]) + 1 for d in dims)
    result = SuppressionResult()
    changed_since: int | None = None
    started = time.perf_counter()
    while True:
        while (added := _suppress(db, cube, hypercube_picks_sql(cube, dims), "hypercube", result.rounds + 1)):
            result.rounds += 1
            result.hypercube_added += added
        tbl, cell, checked = find_derivable(db, cube, shape, changed_since)
        if changed_since is None:
            result.derivable_after_hypercube = int(tbl.size)
        if tbl.size == 0:
            break
        logger.info("rank check: %d derivable cells in %d tables", tbl.size, np.unique(tbl).size)
        derivable = f"{cube}__derivable"
        db.run(f"CREATE OR REPLACE TEMP TABLE {quote_ident(derivable)} AS "
               "SELECT unnest(?::INTEGER[]) AS tbl, unnest(?::INTEGER[]) AS cell",
               [tbl.tolist(), cell.tolist()])
        changed_since = result.rounds + 1
        added = _suppress(db, cube, line_picks_sql(cube, derivable, dims), "rank_check", changed_since)
        if not added:
            raise SpineError(f"secondary suppression: {tbl.size} cells stay derivable and no cell is left to suppress")
        result.rounds += 1
        result.rank_check_added += added
    if changed_since is not None:   # the rank check suppressed cells: check every table again
        tbl, _, checked = find_derivable(db, cube, shape)
    result.tables_checked, result.derivable = checked, int(tbl.size)
    result.seconds = time.perf_counter() - started
    logger.info("secondary suppression: %d cells by the hypercube rule, %d after the rank check, %d rounds, %.2fs",
                result.hypercube_added, result.rank_check_added, result.rounds, result.seconds)
    return result
