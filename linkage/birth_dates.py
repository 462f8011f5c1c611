"""Dates of birth written with a placeholder day or month, read from each source's own data.

Where the day of birth is unknown, registers and most visa and asylum files write the 1st of the
month, and where the month is unknown too, 1 January. Births fall almost evenly over the calendar,
so in a source where the 1st of a month (or 1 January) is much commoner than the calendar gives,
many of those dates are placeholders: if the observed share is ``s`` and the calendar's ``c``,
about ``1 - c / s`` of them are. Where that is more than half (``s > 2c``, and not by chance:
``z > MIN_Z`` against the calendar's binomial), every such date of the source is read as known
only to the month (or the year). A date read so says the year (and month) and nothing more: it
may join a person whose date agrees as far as it goes, but it is too weak to make two people one
(spine.pool_clusters).
"""

from __future__ import annotations

import math
from typing import Any


from linkage._sql import Engine, quote_ident

#: The calendar's share of 1 January among dates of birth.
CALENDAR_JANUARY_FIRST = 1 / 365.25
#: The calendar's share of the 1st of February to December among dates that are not 1 January.
CALENDAR_FIRST_OF_MONTH = 11 / 364.25
#: How far above the calendar's binomial an observed share must be before it is read as written
#: with placeholders (three standard errors: about one source in a thousand by chance).
MIN_Z = 3.0
#: Precision of a date of birth: the day known, only the month, only the year, or no date.
PRECISIONS = ("day", "month", "year", "none")


def _test(count: int, n: int, calendar: float) -> dict[str, Any]:
    share = count / n if n else 0.0
    z = (count - n * calendar) / math.sqrt(n * calendar * (1 - calendar)) if n else 0.0
    return {"dates": int(n), "count": int(count), "share": round(share, 5), "calendar_share": round(calendar, 5),
            "share_placeholders": round(max(0.0, 1 - calendar / share), 3) if share else 0.0,
            "read_as_placeholder": bool(share > 2 * calendar and z > MIN_Z)}


def placeholder_days(db: Engine, table: str, column: str = "dob") -> dict[str, Any]:
    """Whether ``table`` writes unknown days (the 1st) and unknown months (1 January) of ``column``.

    ``january_first`` tests 1 January among all dates; ``first_of_month`` the 1st of the other
    months among the dates that are not 1 January (so 1 January placeholders do not make the 1st
    of every month look like one).
    """
    c = quote_ident(column)
    n, jan_first, other_first, n_other = db.run(f"""
        SELECT count({c}), count(*) FILTER (WHERE month({c}) = 1 AND day({c}) = 1),
               count(*) FILTER (WHERE day({c}) = 1 AND month({c}) <> 1),
               count(*) FILTER (WHERE NOT (month({c}) = 1 AND day({c}) = 1))
        FROM {quote_ident(table)}""")[0]
    return {"january_first": _test(jan_first, n, CALENDAR_JANUARY_FIRST),
            "first_of_month": _test(other_first, n_other, CALENDAR_FIRST_OF_MONTH)}


def precision_sql(column: str, found: dict[str, Any]) -> str:
    """SQL of a date's precision (one of :data:`PRECISIONS`) as ``found`` by :func:`placeholder_days`."""
    c = column
    january = found["january_first"]["read_as_placeholder"]
    first = found["first_of_month"]["read_as_placeholder"]
    cases = [f"WHEN {c} IS NULL THEN 'none'"]
    if january:
        cases.append(f"WHEN month({c}) = 1 AND day({c}) = 1 THEN 'year'")
    if first:
        cases.append(f"WHEN day({c}) = 1 THEN 'month'")
    return f"CASE {' '.join(cases)} ELSE 'day' END"
