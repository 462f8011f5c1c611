"""Placeholder days and months of birth read from a source's own dates (linkage.birth_dates)."""

import datetime as dt

import duckdb

from linkage.birth_dates import placeholder_days, precision_sql
from tests.conftest import engine_on


def dates_table(con, dates):
    con.execute("CREATE OR REPLACE TABLE people (dob DATE)")
    con.executemany("INSERT INTO people VALUES (?)", [(d,) for d in dates])


def every_day(years):
    """One birth on every day of ``years``: the calendar's own shares."""
    start = dt.date(years[0], 1, 1)
    return [start + dt.timedelta(days=k) for k in range((dt.date(years[-1] + 1, 1, 1) - start).days)]


def test_dates_spread_over_the_calendar_have_no_placeholders():
    con = engine_on()
    dates_table(con, every_day(range(1960, 2000)) + [None] * 50)
    found = placeholder_days(con, "people")
    assert found["january_first"]["dates"] == 14610            # NULLs are not dates
    assert not found["january_first"]["read_as_placeholder"]
    assert not found["first_of_month"]["read_as_placeholder"]
    assert con.execute(f"SELECT DISTINCT {precision_sql('dob', found)} FROM people ORDER BY 1").fetchall() == [
        ("day",), ("none",)]


def test_a_source_writing_unknown_days_as_the_first_reads_them_as_month_or_year_only():
    con = engine_on()
    spread = every_day(range(1960, 2000))
    # one date in five: day unknown (the 1st); one in ten: day and month unknown (1 January)
    dates_table(con, spread + [d.replace(day=1) for d in spread[::5]] + [d.replace(month=1, day=1) for d in spread[::10]])
    found = placeholder_days(con, "people")
    assert found["january_first"]["read_as_placeholder"] and found["first_of_month"]["read_as_placeholder"]
    assert found["january_first"]["share_placeholders"] > 0.9
    precision = precision_sql("dob", found)
    assert con.execute(f"""SELECT {precision} FROM (VALUES (DATE '1972-01-01'), (DATE '1972-11-01'),
                           (DATE '1972-11-23')) AS t(dob)""").fetchall() == [("year",), ("month",), ("day",)]


def test_a_slight_excess_of_firsts_is_chance_or_the_calendar_not_placeholders():
    """Twice the calendar's share is the line (more than half of them placeholders): 1.5 times is not."""
    con = engine_on()
    spread = every_day(range(1960, 2000))
    firsts = [d for d in spread if d.day == 1 and d.month != 1]
    dates_table(con, spread + firsts[: len(firsts) // 2])
    found = placeholder_days(con, "people")
    assert 1.4 < found["first_of_month"]["share"] / found["first_of_month"]["calendar_share"] < 1.6
    assert not found["first_of_month"]["read_as_placeholder"]


def test_a_few_extra_1_januarys_in_a_small_source_are_not_proof():
    """Three times the calendar's share, but from three dates among 368: chance (z about 2)."""
    con = engine_on()
    dates_table(con, every_day([1990]) + [dt.date(1991, 1, 1), dt.date(1992, 1, 1)])
    found = placeholder_days(con, "people")["january_first"]
    assert found["count"] == 3 and found["share"] > 2 * found["calendar_share"]
    assert not found["read_as_placeholder"]
    dates_table(con, every_day([1990]) + [dt.date(1991 + k, 1, 1) for k in range(9)])   # ten: z about 9
    assert placeholder_days(con, "people")["january_first"]["read_as_placeholder"]
