"""Exits imputed at a visa's end (rules.visa_ends), each case on a few dozen rows."""

from datetime import date, timedelta

from rules.visa_ends import ENDED_COVERS, add_visa_end_exits
from tests.conftest import fetch_rows, make_table

VISAS = {"person_id": "VARCHAR", "visa_type": "VARCHAR", "start_date": "DATE", "end_date": "DATE"}
MOVEMENTS = {"person_id": "VARCHAR", "source": "VARCHAR", "record_id": "VARCHAR", "date": "DATE",
             "direction": "VARCHAR", "flag": "VARCHAR", "kept": "BOOLEAN"}
PRESENCE = {"person_id": "VARCHAR", "source": "VARCHAR", "kind": "VARCHAR", "start_date": "DATE", "end_date": "DATE",
            "reason": "VARCHAR", "exempt": "BOOLEAN"}
END = date(2024, 12, 31)


def _seasons(person: str, years: range, *, entries: bool = True, exits: bool = True):
    """A seasonal worker's visas (April to October) and recorded crossings (in on 10 April, out
    a month before the visa ends)."""
    visas, moves = [], []
    for y in years:
        visas.append((person, "seasonal", date(y, 4, 1), date(y, 10, 31)))
        if entries:
            moves.append((person, "crossings", f"{person}-{y}-in", date(y, 4, 10), "in", None, True))
        if exits:
            moves.append((person, "crossings", f"{person}-{y}-out", date(y, 10, 1), "out", None, True))
    return visas, moves


def _world(con, extra_visas=(), extra_moves=(), presence=()):
    visas, moves = [], []
    for i in range(40):   # known leavers: every exit recorded, a month before the visa ends
        v, m = _seasons(f"k{i}", range(2020, 2022))
        visas += v
        moves += m
    make_table(con, "visas", VISAS, visas + list(extra_visas))
    make_table(con, "movements", MOVEMENTS, moves + list(extra_moves))
    make_table(con, "presence", PRESENCE, list(presence))


def _imputed(con):
    return fetch_rows(con, "SELECT person_id, CAST(date AS VARCHAR) FROM movements WHERE source = 'visa_end'",
                      "person_id, 2")


def _run(con, exit_recording):
    return add_visa_end_exits(con, "visas", "movements", "presence", data_end=END, exit_recording=exit_recording,
                              min_gap_days=90, min_probability=0.5)


def test_a_seasonal_worker_whose_exit_and_next_entry_went_unrecorded_left_when_holders_leave(con):
    """s entered in April 2020 and was next recorded leaving in October 2021: both seasons and the
    winter between would be one stay of 18 months. Holders of seasonal visas leave a month before
    the end, so s gets an exit on 1 October 2020; her 2021 season, with no entry, is left alone."""
    v, m = _seasons("s", range(2020, 2022))
    _world(con, v, [row for row in m if row[2] in ("s-2020-in", "s-2021-out")])
    found = _run(con, 0.8)
    assert _imputed(con) == [("s", "2020-10-01")]
    assert found["imputed"] == 1
    assert found["offsets"]["seasonal"]["days"] == -30
    assert found["offsets"]["seasonal"]["share_within_a_month"] == 1.0
    (group,) = found["groups"]
    assert (group["known_leavers"], group["candidates"], group["probability"]) == (80, 1, 1.0)


def test_no_exit_is_imputed_where_every_exit_is_recorded_or_the_rate_is_unknown(con):
    """Where the border records every exit, a holder with none stayed; with no estimate of the
    rate, nothing is imputed on no evidence."""
    v, m = _seasons("s", range(2020, 2021), exits=False)
    for rate in (1.0, None):
        _world(con, v, m)
        found = _run(con, rate)
        assert _imputed(con) == []
        assert found["groups"][0]["candidates"] == 1 and found["groups"][0]["probability"] == 0.0


def test_holders_who_leave_at_any_time_of_a_long_visa_get_no_exit_at_its_end(con):
    """Work visas run eight years and their known leavers left at all times of them: no day dates
    a departure at the end, so the work-visa holder w gets none, while the seasonal worker s does."""
    visas, moves = [], []
    for i in range(40):
        visas.append((f"w{i}", "work", date(2015, 1, 1), date(2022, 12, 31)))
        moves.append((f"w{i}", "crossings", f"w{i}-in", date(2015, 1, 20), "in", None, True))
        moves.append((f"w{i}", "crossings", f"w{i}-out", date(2015, 6, 1) + timedelta(days=70 * i), "out", None, True))
    visas.append(("w", "work", date(2015, 1, 1), date(2022, 12, 31)))
    moves.append(("w", "crossings", "w-in", date(2015, 1, 20), "in", None, True))
    v, m = _seasons("s", range(2020, 2021), exits=False)
    _world(con, visas + v, moves + m)
    found = _run(con, 0.8)
    assert _imputed(con) == [("s", "2020-10-01")]
    assert found["offsets"]["work"]["share_within_a_month"] < 0.5


def test_a_holder_seen_after_the_end_is_weighed_against_known_leavers_who_were_seen(con):
    """Known leavers fall silent after their visa. Twenty holders who were not recorded leaving
    began working after their visa ended (naturalised, say): none of the known leavers was seen so,
    so they are taken to have stayed; the one silent holder left."""
    visas, moves, presence = [], [], []
    for i in range(20):
        v, m = _seasons(f"n{i}", range(2020, 2021), exits=False)
        visas += v
        moves += m
        presence.append((f"n{i}", "tax", "activity", date(2021, 1, 1), date(2021, 12, 31), None, False))
    v, m = _seasons("s", range(2020, 2021), exits=False)
    _world(con, visas + v, moves + m, presence)
    found = _run(con, 0.8)
    assert _imputed(con) == [("s", "2020-10-01")]
    seen = [g for g in found["groups"] if g["seen"]]
    assert seen == [{"visa_type": "seasonal", "seen": True, "known_leavers": 0, "candidates": 20,
                     "expected_unrecorded": 0.0, "probability": 0.0}]


def test_a_renewal_is_not_an_end(con):
    """A visa renewed within the gap (15 days) joins the next into one cover: its end is no end."""
    _world(con, [("r", "work", date(2019, 1, 1), date(2020, 12, 31)), ("r", "work", date(2021, 1, 15), date(2029, 1, 1))],
           [("r", "crossings", "r-in", date(2019, 2, 1), "in", None, True)])
    _run(con, 0.8)
    assert fetch_rows(con, f"SELECT count(*) FROM {ENDED_COVERS} WHERE person_id = 'r'") == [(0,)]
    assert _imputed(con) == []


def test_no_exit_without_the_types_own_usual_day_nor_for_an_overstayer_a_late_entry_or_at_the_data_end(con):
    """Seasonal holders leave a month before the end (the 80 known leavers). No exit is imputed for:
    t, whose visa type nobody was seen leaving on (no usual day of its own) or which has no type
    (u, v: once each, not once per untyped visa); o, recorded leaving two years after her visa with
    no new visa before (she stayed on); l, who entered a week before her visa ended (after the
    usual day: her renewal is not in the data); e, on a visa whose 40 known leavers left 100 days
    after its end, which ended too near the data end for her exit to show yet."""
    v, m = [], []
    for person, visa_type in (("t", "spouse"), ("u", None), ("v", None)):
        v.append((person, visa_type, date(2020, 4, 1), date(2020, 10, 31)))
        m.append((person, "crossings", f"{person}-in", date(2020, 4, 10), "in", None, True))
    v.append(("v", None, date(2020, 6, 1), date(2020, 6, 30)))
    v.append(("o", "seasonal", date(2020, 4, 1), date(2020, 10, 31)))
    m += [("o", "crossings", "o-in", date(2020, 4, 10), "in", None, True),
          ("o", "crossings", "o-out", date(2022, 11, 1), "out", None, True)]
    v.append(("l", "seasonal", date(2020, 4, 1), date(2020, 10, 31)))
    m.append(("l", "crossings", "l-in", date(2020, 10, 24), "in", None, True))
    for i in range(40):
        v.append((f"g{i}", "grace", date(2020, 1, 1), date(2020, 6, 30)))
        m += [(f"g{i}", "crossings", f"g{i}-in", date(2020, 1, 10), "in", None, True),
              (f"g{i}", "crossings", f"g{i}-out", date(2020, 10, 8), "out", None, True)]
    v.append(("e", "grace", date(2024, 3, 1), date(2024, 9, 20)))
    m.append(("e", "crossings", "e-in", date(2024, 3, 10), "in", None, True))
    _world(con, v, m)
    found = _run(con, 0.8)
    assert _imputed(con) == []
    assert fetch_rows(con, f"SELECT person_id, candidate FROM {ENDED_COVERS} WHERE person_id IN ('o', 'l', 'e', 't')",
                      "1") == [("e", True), ("l", True), ("o", False), ("t", True)]
    assert found["imputed"] == 0 and found["offsets"]["grace"]["days"] == 100
