"""Early leavers: the share of provisional immigrations that leave before their 12 months, estimated
as if the data had ended earlier, and the weight it gives the latest provisional immigrations."""

from datetime import date

import numpy as np
import pytest

from rules import derive_long_term_events
from rules.early_leavers import EARLY_LEAVER_WEIGHTS, EARLY_LEAVERS, estimate_early_leavers
from tests.conftest import fetch_rows, make_table

MOVEMENTS = {"person_id": "VARCHAR", "source": "VARCHAR", "record_id": "VARCHAR", "date": "DATE",
             "direction": "VARCHAR", "flag": "VARCHAR", "kept": "BOOLEAN"}
END = date(2024, 12, 31)


def world(con):
    """Arrivals of mid-2023 (4 of 10 leave in March 2024, before their 12 months), of mid-2022 (2 of
    10 leave in March 2023) and of mid-2024 (5, still here at the end: provisional)."""
    rows, people = [], []
    for year, leavers, n in ((2023, 4, 10), (2022, 2, 10), (2024, 0, 5)):
        for i in range(n):
            p = f"a{year}_{i}"
            rows.append((p, "x", f"{p}i", date(year, 6, 1), "in", None, True))
            if i < leavers:
                rows.append((p, "x", f"{p}o", date(year + 1, 3, 1), "out", None, True))
            people.append((p, date(1990, 1, 1), "foreign"))
    make_table(con, "m", MOVEMENTS, rows)
    make_table(con, "who", {"person_id": "VARCHAR", "dob": "DATE", "citizenship_group": "VARCHAR"}, people)
    derive_long_term_events(con, "m", "events", data_end=END)


def derive_at(con):
    return lambda day, output: derive_long_term_events(con, "m", output, data_end=day)


def test_the_share_who_leave_early_as_if_the_data_had_ended_earlier(con):
    world(con)
    found = estimate_early_leavers(con, derive_at(con), "events", "who", data_end=END, visas=None,
                                   age_groups=[0, 16, 25, 35, 45, 65])
    assert fetch_rows(con, f"SELECT years_back, provisional, left_early FROM {EARLY_LEAVERS}", "1") == [
        (1, 10, 4), (2, 10, 2)]
    assert found["share_by_year_back"] == {"1": 0.4, "2": 0.2, "3": None, "4": None}
    assert found["level"] == pytest.approx(0.3) and found["spread"] == pytest.approx(np.std([0.4, 0.2], ddof=1), abs=1e-4)
    # one subgroup: (6 left of 20, plus 10 arrivals at the level 0.3) / 30 = 0.3; each of the 5 counts 0.7
    assert found["provisional_immigrations"] == 5 and found["expected_long_term"] == pytest.approx(3.5)
    assert {round(w, 6) for (w,) in con.execute(f"SELECT weight FROM {EARLY_LEAVER_WEIGHTS}").fetchall()} == {0.7}


def test_a_replicate_draws_the_level(con):
    world(con)
    draws = [estimate_early_leavers(con, derive_at(con), "events", "who", data_end=END, visas=None,
                                    age_groups=[0, 16], draw=np.random.default_rng([1, k]))["drawn"]
             for k in range(30)]
    assert 0.15 < np.mean(draws) < 0.45 and np.std(draws) > 0.05 and min(draws) >= 0
