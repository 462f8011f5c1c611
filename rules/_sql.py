"""Small SQL helpers. Duplicated on purpose in ``linkage/_sql.py``: the packages share no code."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Engine(Protocol):
    """Where the SQL runs (``spine.engine.DuckDBEngine`` is one): statements in, rows out. This
    package builds SQL and names tables; it never holds a database connection."""

    def run(self, sql: str, parameters: Any = None) -> list[tuple]: ...

    def records(self, sql: str, parameters: Any = None) -> list[dict[str, Any]]: ...


def quote_ident(name: str) -> str:
    """Quote an identifier for SQL (double quotes, embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: Any) -> str:
    """Render a Python value from validated config as a SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def sql_in_list(values: Any) -> str:
    """The inside of ``IN (...)`` for validated config values; ``NULL`` (matches nothing) when empty."""
    return ", ".join(sql_literal(v) for v in values) or "NULL"


def materialise(db: Engine, name: str, sql: str) -> str:
    """Create (or replace) table ``name`` from a SELECT; log its size and time; return its name."""
    started = time.perf_counter()
    logger.debug("materialise %s:\n%s", name, sql)
    db.run(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS {sql}")
    n = db.run(f"SELECT count(*) FROM {quote_ident(name)}")[0][0]
    logger.info("%s: %d rows in %.2fs", name, n, time.perf_counter() - started)
    return name


#: Every table of estimates over everyone that the rules' per-person statements read: rates, medians,
#: lags, the silence model. An uncertainty replicate that re-runs the rules for a few persons pins
#: them (spine.replicate_rules); each is estimated at one point of the rules, under its own name.
ESTIMATES = (
    "rules__recording_rates_at_visa_ends", "rules__recording_rates", "rules__recording_rates_at_returns",
    "rules__recording_rates_by_group", "rules__deregistration_counts", "rules__silence_estimates",
    "rules__deregistration_lag", "rules__gap_counts", "rules__return_candidate_count",
    "rules__return_trip_lengths", "rules__visa_end_estimates", "rules__visa_end_offsets",
    "rules__visa_arrival_lags", "rules__registration_lag", "rules__activity_arrival_offset", "rules__trip_estimates",
    "rules__typical_trip_at_returns",
    "rules__long_absence_estimates", "rules__typical_trip_at_long_absences", "rules__typical_stays",
    "rules__typical_stays_after_imputation", "rules__early_leavers", "rules__family_follow_lag",
)


def estimate(db: Engine, name: str, sql: str) -> str:
    """Materialise ``name``, one of ``ESTIMATES``, from a SELECT over everyone; return its name.

    Where the engine pins estimates (:func:`pinned_estimates`) the table is left as it is: the
    rules are re-running a few persons, whose own data would give a wrong estimate."""
    if name not in ESTIMATES:
        raise ValueError(f"{name} is not one of rules._sql.ESTIMATES")
    pinned = getattr(db, "pinned_estimates", None)
    if pinned is None:
        made = getattr(db, "estimates_made", None)
        if made is not None:
            made.add(name)
        return materialise(db, name, sql)
    if name not in pinned:
        raise RuntimeError(f"the rules re-run for a few persons estimate {name}, which the reference did not")
    return name


def is_pinned(db: Engine, name: str) -> bool:
    """Whether ``name`` is an estimate the engine pins (skip the work that only feeds it)."""
    return name in (getattr(db, "pinned_estimates", None) or ())


@contextmanager
def recording_estimates(db: Engine) -> Iterator[set[str]]:
    """Inside the block, the names of the estimates made are added to the set yielded (and to an
    enclosing block's)."""
    outer = getattr(db, "estimates_made", None)
    made: set[str] = set()
    db.estimates_made = made   # type: ignore[attr-defined]
    try:
        yield made
    finally:
        db.estimates_made = outer   # type: ignore[attr-defined]
        if outer is not None:
            outer |= made


@contextmanager
def pinned_estimates(db: Engine, names: Iterable[str]) -> Iterator[None]:
    """Inside the block, :func:`estimate` leaves the tables ``names`` as they are (and refuses any other)."""
    db.pinned_estimates = frozenset(names)   # type: ignore[attr-defined]
    try:
        yield
    finally:
        db.pinned_estimates = None   # type: ignore[attr-defined]


def append(db: Engine, table: str, sql: str) -> int:
    """Stage the rows of a SELECT, add them to ``table`` by column name; return how many.

    Staged first so the SELECT may read ``table`` itself (imputations read the movements they add to).
    """
    staged = f"{table}__appended"
    materialise(db, staged, sql)
    db.run(f"INSERT INTO {quote_ident(table)} BY NAME SELECT * FROM {quote_ident(staged)}")
    return db.run(f"SELECT count(*) FROM {quote_ident(staged)}")[0][0]



def columns_of(db: Engine, table: str) -> list[str]:
    """A table's (or view's) column names in order; empty when it does not exist."""
    try:
        return [row[0] for row in db.run(f"DESCRIBE {quote_ident(table)}")]
    except Exception as exc:  # noqa: BLE001 - DuckDB raises CatalogException; callers name the table
        if "does not exist" in str(exc):
            return []
        raise



#: A date estimated from a typical delay should land within this many days of the truth: a month.
MONTH_DAYS = 31
#: By how many Poisson standard deviations the densest month must beat the median's.
MODE_MIN_SDS = 3


def usual_lag_sql(lags: str, by: tuple[str, ...] = ()) -> str:
    """Build the SELECT of the most common delay give or take a month, where one stands out: the
    median of the observed delays (``days``, an integer column of the SELECT ``lags``) in the
    densest window of ``MONTH_DAYS`` either side of an observed delay, per group of the ``by``
    columns (the median, so that where every delay is the same any tied window gives it). Delays
    often mix a prompt majority with a long tail (most register within days, some a year later);
    the median of such a mixture lands between the two and dates almost nobody within a month,
    this dates the prompt ones right. Where delays are spread evenly (families following a parent
    at any time in the next ten months) no month stands out, the densest one is where chance put
    it, and the overall median is taken: the densest month *stands out* when it holds more delays
    than the month either side of the median by over ``MODE_MIN_SDS`` standard deviations of the
    difference of two Poisson counts (at two, about one group in ten of evenly spread delays still
    passed, the densest of many months being picked; at three about one in a hundred, and no figure
    of the robustness benchmark moved). Counted on a histogram (one row per distinct delay), so its cost does not grow
    with the data. Columns: the ``by`` columns, ``days``, ``cases`` (delays observed in the group),
    ``mode_days``, ``median_days``, ``share_near_mode``, ``share_near_median``, ``mode_stands_out``."""
    keys = ("__group",) + tuple(by)
    cols = ", ".join(quote_ident(c) for c in keys)
    a_cols = ", ".join("a." + quote_ident(c) for c in keys)
    b_cols = ", ".join("b." + quote_ident(c) for c in keys)

    def same(x: str, y: str) -> str:
        return " AND ".join(f"{x}.{quote_ident(c)} IS NOT DISTINCT FROM {y}.{quote_ident(c)}" for c in keys)
    return f"""
WITH histogram AS (SELECT {cols}, days, count(*) AS n FROM (SELECT 1 AS __group, * FROM ({lags}))
                   WHERE days IS NOT NULL GROUP BY ALL),
near AS (
    SELECT {a_cols}, a.days, sum(b.n) AS near
    FROM histogram AS a JOIN histogram AS b ON {same('a', 'b')} AND b.days BETWEEN a.days - {MONTH_DAYS} AND a.days + {MONTH_DAYS}
    GROUP BY ALL
),
best AS (SELECT * FROM near QUALIFY row_number() OVER (PARTITION BY {cols} ORDER BY near DESC, days) = 1),
window_delays AS (   -- the delays in the best window, to take their median (ties between windows do not matter)
    SELECT {b_cols}, h.days,
           sum(h.n) OVER (PARTITION BY {b_cols} ORDER BY h.days) AS running,
           sum(h.n) OVER (PARTITION BY {b_cols}) AS total
    FROM best AS b JOIN histogram AS h ON {same('b', 'h')} AND h.days BETWEEN b.days - {MONTH_DAYS} AND b.days + {MONTH_DAYS}
),
middle AS (SELECT {cols}, min(days) FILTER (WHERE 2 * running >= total) AS days, any_value(total) AS near
           FROM window_delays GROUP BY ALL),
spread AS (          -- the overall median
    SELECT {cols}, min(days) FILTER (WHERE 2 * running >= total) AS median_days, any_value(total) AS cases
    FROM (SELECT *, sum(n) OVER (PARTITION BY {cols} ORDER BY days) AS running,
                 sum(n) OVER (PARTITION BY {cols}) AS total FROM histogram)
    GROUP BY ALL
),
near_median AS (
    SELECT {", ".join("s." + quote_ident(c) for c in keys)}, coalesce(sum(h.n), 0) AS near_median
    FROM spread AS s LEFT JOIN histogram AS h
      ON {same('s', 'h')} AND h.days BETWEEN s.median_days - {MONTH_DAYS} AND s.median_days + {MONTH_DAYS}
    GROUP BY ALL
),
judged AS (   -- the densest month beats the median's by more than chance would (Poisson sds of the difference)
    SELECT m.*, s.median_days, s.cases, m.near / s.cases AS share_near_mode, d.near_median / s.cases AS share_near_median,
           m.near - d.near_median > {MODE_MIN_SDS} * sqrt(m.near + d.near_median) AS mode_stands_out
    FROM middle AS m JOIN spread AS s ON {same('m', 's')} JOIN near_median AS d ON {same('m', 'd')}
)
SELECT {"".join(f"{quote_ident(c)}, " for c in by)}CASE WHEN mode_stands_out THEN days ELSE median_days END AS days,
       cases, days AS mode_days, median_days, round(share_near_mode, 4) AS share_near_mode,
       round(share_near_median, 4) AS share_near_median, mode_stands_out
FROM judged"""
