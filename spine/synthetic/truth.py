"""The truth of a synthetic universe: true persons, residence spells, migration events and the true
itinerary, the checks that the events follow the UN 12-month definition on that itinerary, and
the follow-up sample of people with their true moves.

**The truth definition.** Each person's true itinerary is a sequence of *residence spells*, short
*absences* inside them (trips, a semester abroad) and short *visits* outside them (visitors,
seasonal workers, early leavers, emigrants visiting home). An immigration is the arrival that
begins a spell, an emigration the departure that ends one (UN 1998: a change of usual residence
for at least 12 months). :func:`check_truth` verifies on every universe, whatever its regime:

- movements alternate (in, out, in, ...) from the person's state at birth or first arrival;
- every spell begun by an arrival lasts 365 days or more (to its planned end, past the window
  if need be; a death ends a spell too);
- the gap between two spells of a person (an emigration and a return) is 366 days or more;
- every absence lies inside a spell and lasts under 365 days; every visit lies outside spells
  and lasts under 365 days;
- neither adds up to 12 months within any 16 (so no cumulative-time definition, 12-in-16
  included, would make a visitor a migrant or an absent resident an emigrant);
- every event sits on a movement that begins or ends a spell, and every such movement inside the
  window has its event.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from spine.synthetic.sources import date_strings
from spine.synthetic.universe import KIND_NAMES, LIVING_KINDS, LONG_DAYS, NONE, SHORT_MAX_DAYS, Universe

#: Sixteen months, the window of the 12-in-16 check.
SIXTEEN_MONTHS_DAYS = 487


def truth_tables(u: Universe, person_key: np.ndarray, moves: dict[str, np.ndarray]) -> dict[str, pa.Table]:
    """The truth's persons, spells, events and itinerary (``moves``: :func:`itinerary`)."""
    long_first = u.long_first_stay()
    is_newcomer = long_first & ~u.born_here & (u.arrival >= u.start) & (u.arrival <= u.end)
    ev_person = [np.flatnonzero(is_newcomer), np.flatnonzero((u.departure != NONE) & long_first),
                 np.flatnonzero(u.ret != NONE)]
    ev_day = [u.arrival[ev_person[0]], u.departure[ev_person[1]], u.ret[ev_person[2]]]
    ev_kind = ["immigration", "emigration", "immigration"]
    person = np.concatenate(ev_person)
    events = pa.table({
        "person_key": person_key[person],
        "event": np.concatenate([np.full(len(p), k, dtype=object) for p, k in zip(ev_person, ev_kind)]),
        "date": date_strings(np.concatenate(ev_day)),
        "derived_via": np.where(u.claim_only[person], "family", "self").astype(object),
    })
    resident = np.flatnonzero(long_first & (u.arrival <= u.end))
    returned = np.flatnonzero(u.ret != NONE)
    spells = pa.table({
        "person_key": np.concatenate([person_key[resident], person_key[returned]]),
        "start_date": date_strings(np.concatenate([u.arrival[resident], u.ret[returned]])),
        "end_date": date_strings(np.concatenate([u.spell_end()[resident], np.full(len(returned), NONE)])),
    })
    persons = pa.table({
        "person_key": person_key, "kind": KIND_NAMES[u.kind],
        "sex": np.where(u.sex == 0, "f", "m").astype(object), "dob": date_strings(u.dob),
        "first_name": u.vocab.strings[u.first], "surname": u.vocab.strings[u.surname],
        "nationality": u.nationality,
        "country_of_birth": u.country_of_birth,
        "in_register": np.where(u.registered, "true", "false").astype(object),
        "parent_person_key": np.where(u.parent != NONE, person_key[np.maximum(u.parent, 0)], None),
    })
    order = np.lexsort((moves["day"], moves["person"]))
    itinerary_table = pa.table({
        "person_key": person_key[moves["person"][order]], "date": date_strings(moves["day"][order]),
        "direction": moves["direction"][order], "movement": moves["movement"][order]})
    return {"persons": persons, "spells": spells, "events": events, "itinerary": itinerary_table}


def itinerary(u: Universe) -> dict[str, np.ndarray]:
    """Every true movement, recorded or not, past the window's end where a plan reaches there:
    ``person, day, direction ('in'/'out'), movement`` (arrival, departure, return, trip, absence,
    visit, season, home_visit)."""
    parts: list[tuple[np.ndarray, np.ndarray, str, str]] = []
    lives = np.isin(u.kind, LIVING_KINDS)
    arrived = np.flatnonzero(lives & (u.arrival != NONE) & ~u.born_here)
    parts.append((arrived, u.arrival[arrived], "in", "arrival"))
    left = np.flatnonzero(lives & (u.planned_departure != NONE))
    parts.append((left, u.planned_departure[left], "out", "departure"))
    back = np.flatnonzero(u.ret != NONE)
    parts.append((back, u.ret[back], "in", "return"))
    for movement, (person, start, end), outward in (
            ("trip", u.trips, True), ("absence", _absences(u), True), ("visit", u.visits, False),
            ("season", u.seasons, False), ("home_visit", u.home_visits, False)):
        parts.append((person, start, "out" if outward else "in", movement))
        parts.append((person, end, "in" if outward else "out", movement))
    return {"person": np.concatenate([p for p, *_ in parts]).astype(np.int64),
            "day": np.concatenate([d for _, d, *_ in parts]).astype(np.int64),
            "direction": np.concatenate([np.full(len(p), s, dtype=object) for p, _, s, _ in parts]),
            "movement": np.concatenate([np.full(len(p), m, dtype=object) for p, _, _, m in parts])}


def _absences(u: Universe) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    away = np.flatnonzero(u.away_out != NONE)
    return away, u.away_out[away], u.away_in[away]


def check_truth(u: Universe, events: pa.Table, built: dict[str, dict] | None = None,
                moves: dict[str, np.ndarray] | None = None) -> dict[str, int]:
    """Count the breaches of the truth definition (see the module docstring); all zero passes.

    ``events``: the truth's events table as written; ``built``: the sources as built (person and
    columns per source) for the records-after-death check; ``moves``: :func:`itinerary` if at hand.
    """
    moves = pd.DataFrame(moves if moves is not None else itinerary(u))
    moves = moves.sort_values(["person", "day", "direction"], kind="stable").reset_index(drop=True)
    same_person = moves["person"].eq(moves["person"].shift())
    starts_in = ~u.born_here[moves["person"].to_numpy()]          # born here: the first move is out
    first_ok = np.where(starts_in, moves["direction"] == "in", moves["direction"] == "out")
    out_of_order = np.where(same_person, (moves["direction"] == moves["direction"].shift())
                            | (moves["day"] == moves["day"].shift()), ~first_ok)
    spells = _spells(u)
    checks = {"movements_out_of_order": int(out_of_order.sum())}
    arrived = spells[~spells["born_here"]]
    ended = arrived["end"] != NONE
    checks["spells_under_365_days"] = int((arrived["end"][ended] - arrived["start"][ended] < 365).sum())
    returns = u.ret != NONE
    checks["gaps_under_366_days"] = int((u.ret[returns] - u.planned_departure[returns] < 366).sum())
    absences = _periods(moves, ("trip", "absence"), "out")
    visits = pd.concat([_periods(moves, ("visit", "season", "home_visit"), "in"), _short_first_stays(u)])
    inside_abs = _inside_spell(absences, spells)
    inside_vis = _inside_spell(visits, spells, touching=False)
    checks["absences_365_days_or_more"] = int((absences["end"] - absences["start"] >= 365).sum())
    checks["absences_outside_spells"] = int((~inside_abs).sum())
    checks["visits_365_days_or_more"] = int((visits["end"] - visits["start"] >= 365).sum())
    checks["visits_inside_spells"] = int(inside_vis.sum())
    checks["absences_12_in_16_months"] = _twelve_in_sixteen(absences)
    checks["visits_12_in_16_months"] = _twelve_in_sixteen(visits)
    expected, near_the_line = _events_from_moves(u, moves)
    written = _events_written(events)
    checks["stays_near_the_12_month_line"] = near_the_line
    checks["events_missing"] = len(expected - written)
    checks["events_extra"] = len(written - expected)
    checks["records_after_death"] = _records_after_death(u, built or {})
    return checks


def _spells(u: Universe) -> pd.DataFrame:
    long_first = np.flatnonzero(u.long_first_stay())
    end = np.where(u.planned_departure != NONE, u.planned_departure, u.death)
    back = np.flatnonzero(u.ret != NONE)
    return pd.DataFrame({
        "person": np.concatenate([long_first, back]),
        "start": np.concatenate([u.arrival[long_first], u.ret[back]]),
        "end": np.concatenate([end[long_first], np.full(len(back), NONE)]),
        "born_here": np.concatenate([u.born_here[long_first], np.zeros(len(back), bool)])})


def _periods(moves: pd.DataFrame, kinds: tuple[str, ...], first: str) -> pd.DataFrame:
    """Absences (``first='out'``) or visits (``'in'``): each move of those kinds that begins one,
    with the next move of the person (which ends it)."""
    nxt = moves.groupby("person")["day"].shift(-1)
    begins = moves["movement"].isin(kinds) & (moves["direction"] == first)
    return pd.DataFrame({"person": moves["person"][begins], "start": moves["day"][begins],
                         "end": nxt[begins].fillna(np.iinfo(np.int64).max // 2).astype(np.int64)})


def _short_first_stays(u: Universe) -> pd.DataFrame:
    """An early leaver's months here (a first stay under a year) are a visit."""
    short = np.isin(u.kind, LIVING_KINDS) & (u.arrival != NONE) & ~u.long_first_stay() & ~u.born_here
    who = np.flatnonzero(short)
    return pd.DataFrame({"person": who, "start": u.arrival[who], "end": u.planned_departure[who]})


def _inside_spell(periods: pd.DataFrame, spells: pd.DataFrame, touching: bool = True) -> np.ndarray:
    """Whether each period lies inside one of its person's spells (``touching=False``: overlaps one)."""
    joined = periods.reset_index().merge(spells, on="person", how="left", suffixes=("", "_spell"))
    spell_end = joined["end_spell"].where(joined["end_spell"] != NONE, np.iinfo(np.int64).max // 2)
    if touching:
        hit = (joined["start_spell"] < joined["start"]) & (joined["end"] < spell_end)
    else:
        hit = (joined["start_spell"] < joined["end"]) & (joined["start"] < spell_end)
    return hit.groupby(joined["index"]).any().reindex(periods.index, fill_value=False).to_numpy()


def _twelve_in_sixteen(periods: pd.DataFrame) -> int:
    """Periods after whose start the person spends 365 days or more in such periods within 16 months."""
    if periods.empty:
        return 0
    p = periods.reset_index(drop=True).reset_index()
    pairs = p.merge(p, on="person", suffixes=("", "_other"))
    horizon = pairs["start"] + SIXTEEN_MONTHS_DAYS
    overlap = (np.minimum(pairs["end_other"], horizon) - np.maximum(pairs["start_other"], pairs["start"])).clip(lower=0)
    return int((overlap.groupby(pairs["index"]).sum() >= 365).sum())


def _events_from_moves(u: Universe, moves: pd.DataFrame) -> tuple[set[tuple[int, str, int]], int]:
    """The events the UN definition gives on the itinerary alone: an arrival or return followed by a
    stay of 365 days or more (to the person's next departure, death or beyond the horizon) is an
    immigration; a departure that ends such a stay (or a stay from birth or from before the window)
    an emigration. Also counts the stays begun in the window that last 331 to 399 days (near the
    line, which the generator avoids)."""
    big = np.iinfo(np.int64).max // 4
    long_moves = moves[moves["movement"].isin(["arrival", "return", "departure"])].reset_index(drop=True)
    person = long_moves["person"].to_numpy()
    same_next = long_moves["person"].eq(long_moves["person"].shift(-1)).to_numpy()
    next_day = np.where(same_next & (long_moves["direction"].shift(-1) == "out").to_numpy(),
                        long_moves["day"].shift(-1).fillna(0).to_numpy(np.int64), big)
    death = u.death[person]
    stay_end = np.where((death != NONE) & (death < next_day), death, next_day)
    arriving = (long_moves["direction"] == "in").to_numpy()
    stay = stay_end - long_moves["day"].to_numpy()
    long_stay = arriving & (stay >= 365)
    day = long_moves["day"].to_numpy()
    in_window = (day >= u.start) & (day <= u.end)
    near = int((arriving & in_window & (stay > SHORT_MAX_DAYS) & (stay < LONG_DAYS)).sum())
    same_prev = long_moves["person"].eq(long_moves["person"].shift(1)).to_numpy()
    stay_before = np.where(same_prev, np.roll(long_stay, 1), u.born_here[person] | (u.arrival[person] < u.start))
    leaving = ~arriving & stay_before
    expected = {(int(p), "immigration", int(d)) for p, d in zip(person[long_stay & in_window], day[long_stay & in_window])}
    expected |= {(int(p), "emigration", int(d)) for p, d in zip(person[leaving & in_window], day[leaving & in_window])}
    return expected, near


def _events_written(events: pa.Table) -> set[tuple[int, str, int]]:
    keys = events["person_key"].to_numpy(zero_copy_only=False)
    person = np.char.lstrip(keys.astype(str), "P").astype(np.int64) - 1
    days = np.asarray(events["date"].to_numpy(zero_copy_only=False), dtype="datetime64[D]").astype(np.int64)
    kinds = events["event"].to_numpy(zero_copy_only=False)
    return set(zip(person.tolist(), kinds.tolist(), days.tolist()))


#: The column that dates a record of each source (the register's records are dated by registration).
RECORD_DATES = {"register": "registration_date", "tax": "tax_year", "benefits": "start_date",
                "crossings": "crossing_date", "visas": "start_date", "education": "start_date"}


def _records_after_death(u: Universe, built: dict[str, dict]) -> int:
    """Records dated after their person's death (a deregistration for death is not such a record)."""
    breaches = 0
    for source, column in RECORD_DATES.items():
        if source not in built:
            continue
        person, values = built[source]["person"], built[source]["columns"][column]
        if column == "tax_year":
            day = (np.asarray(values, dtype=np.int64) - 1970).astype("datetime64[Y]").astype("datetime64[D]")
        else:   # ISO date strings, NULL where none (NaT: never after a death)
            day = np.asarray(values.to_numpy(zero_copy_only=False), dtype="datetime64[D]")
        day = day.astype(np.int64)
        death = u.death[person]
        breaches += int(((death != NONE) & (day > death)).sum())
    return breaches


def validation_sample(tables: dict[str, pa.Table], fraction: float, rng: np.random.Generator) -> pa.Table:
    """A follow-up survey's answers: a simple random sample of the people with a record, each named
    by one record (the register's if they have one, else their first), with their true attributes
    and every true move (one row per move; one row without an event for a person with none)."""
    records = tables["records"]
    keys = np.asarray(records["person_key"].to_numpy(zero_copy_only=False), dtype=object)
    sources = np.asarray(records["source"].to_numpy(zero_copy_only=False), dtype=object)
    ids = np.asarray(records["record_id"].to_numpy(zero_copy_only=False), dtype=object)
    rank = np.where(sources == "register", 0, 1)
    order = np.lexsort((ids, sources, rank, keys))          # per person: register first, then by source, id
    first = order[np.r_[True, keys[order][1:] != keys[order][:-1]]]
    chosen = first[rng.random(len(first)) < fraction]
    people = pa.table({"person_key": keys[chosen], "source": sources[chosen], "record_id": ids[chosen]})
    persons = tables["persons"].select(["person_key", "sex", "dob", "nationality"])
    events = tables["events"].select(["person_key", "event", "date"]).rename_columns(["person_key", "event", "event_date"])
    sample = people.join(persons, "person_key").join(events, "person_key", join_type="left outer")
    sample = sample.sort_by([("source", "ascending"), ("record_id", "ascending"), ("event_date", "ascending"),
                             ("event", "ascending")])
    return sample.select(["source", "record_id", "sex", "dob", "nationality", "event", "event_date"])
