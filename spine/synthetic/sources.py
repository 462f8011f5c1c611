"""The sources of a synthetic universe, built from its true population: the population register,
tax, benefits (and the children on child-benefit claims), border crossings, visas and education.

Each builder returns ``{"person": true person per record, "columns": {name: values}}``. The
baseline's records come from the main random stream in a fixed order; what a regime adds (extra
records, recording losses, lost fields) comes from streams of its own, after the baseline's draws.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spine.synthetic.records import Records
from spine.synthetic.universe import (DEPENDANT, FOREIGN_RESIDENT, HOME, IMMIGRANT, LONG_DAYS, NATIVE, NO_SHOW,
                                      NONE, VISITOR, YEAR, Universe, year_start)


def date_strings(days: np.ndarray, fmt: str = "%Y-%m-%d") -> pa.Array:
    """Day numbers as date strings (NULL where NONE), formatted in C by pyarrow."""
    mask = days == NONE
    arr = pa.array(days.astype("datetime64[D]"), mask=mask)
    if fmt == "%Y-%m-%d":
        return pc.cast(arr, pa.string())
    return pc.strftime(pc.cast(arr, pa.timestamp("s")), format=fmt)


def person_years(u: Universe, years: np.ndarray, mask_fn) -> tuple[np.ndarray, np.ndarray]:
    """All (person, year) pairs for which ``mask_fn(person, year)`` holds, chunked by year."""
    persons, ys = [], []
    everyone = np.arange(u.n)
    for year in years:  # ten years, not records
        keep = mask_fn(everyone, np.full(u.n, year))
        persons.append(everyone[keep])
        ys.append(np.full(keep.sum(), year))
    return np.concatenate(persons), np.concatenate(ys)


def age(u: Universe, person: np.ndarray, day: np.ndarray) -> np.ndarray:
    return (day - u.dob[person]) / YEAR


def _year_of(day: np.ndarray) -> np.ndarray:
    return np.asarray(day).astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _abroad_on(u: Universe, person: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Whether each person has emigrated and lives abroad that day (not back, not dead)."""
    dep, ret, death = u.departure[person], u.ret[person], u.death[person]
    return (dep != NONE) & (dep <= day) & ((ret == NONE) | (day < ret)) & ((death == NONE) | (day < death))


def register(u: Universe, r: Records) -> dict:
    person = np.flatnonzero(u.registered)
    dup = np.flatnonzero(u.register_duplicate)
    anew = np.flatnonzero(u.new_id_on_return)     # returners registered again under a new number
    persons = np.concatenate([person, dup, anew])
    m = len(persons)
    first, surname = r.names(persons, np.full(m, u.end), admin=False, error_scale=0.1)
    position = np.arange(m)
    is_dup = (position >= len(person)) & (position < len(person) + len(dup))
    is_anew = position >= len(person) + len(dup)
    if is_dup.any():  # the duplicate registration carries a typo and a second number
        typo_first, _ = r.names(persons[is_dup], np.full(is_dup.sum(), u.end), admin=True, error_scale=5)
        first[is_dup] = typo_first
    national_id = np.where(is_dup, u.second_national_id[persons], u.national_id[persons])
    national_id = np.where(is_anew, u.returner_national_id[persons], national_id)
    passport = u.passport_on(persons, u.end)
    passport[(u.kind[persons] == NATIVE) & (u.rng.random(m) < 0.3)] = None
    dereg = np.full(m, NONE, dtype=np.int64)
    dead = u.death[persons] != NONE
    dereg[dead] = u.death[persons][dead]
    left = (u.departure[persons] != NONE) & ((u.ret[persons] == NONE) | (u.new_id_on_return[persons] & ~is_anew))
    tells = left & (u.rng.random(m) >= 1 - u.regime.deregistration)
    lag = max(u.regime.deregistration_lag_days, 1)
    dereg[tells] = u.departure[persons][tells] + u.rng.integers(0, lag, tells.sum())
    dereg[dereg > u.end] = NONE
    # registers record why someone was deregistered: a death is not an emigration
    reason = np.where(dead & (dereg == u.death[persons]), "death", "emigration").astype(object)
    reason[dereg == NONE] = None
    cob = u.country_of_birth[persons].copy()
    cob[(u.kind[persons] == DEPENDANT) & (u.dob[persons] > u.arrival[persons])] = HOME
    reg_date = u.reg_date[persons].copy()
    if is_anew.any():
        reg_date[is_anew] = u.ret[persons[is_anew]] + u.stream("register_anew").integers(0, 90, is_anew.sum())
    return {"person": persons, "columns": {
        "national_id": national_id, "passport_no": passport, "first_name": first, "surname": surname,
        "dob": date_strings(r.dob(persons, 0.1)), "sex": r.sex(persons),
        "nationality": u.nationality_on(persons, u.end), "country_of_birth": cob, "postcode": u.postcode[persons],
        "registration_date": date_strings(reg_date), "deregistration_date": date_strings(dereg),
        "deregistration_reason": reason}}


def tax(u: Universe, r: Records, years: np.ndarray) -> dict:
    reg = u.regime
    employed = u.rng.random(u.n) < reg.employment_rate
    g = u.stream("activity_gaps")
    has_gap = g.random(u.n) < reg.activity_gap_share
    gap_start = years[0] - 3 + g.integers(0, len(years) + 3, u.n)
    gap_end = gap_start + g.integers(2, reg.activity_gap_years + 1, u.n)
    retires_at = np.where(g.random(u.n) < reg.early_retirement, g.uniform(55, 65, u.n), 67.0)
    intermittent = u.stream("intermittent_work")

    def works(p, y):
        mid = year_start(y) + 182
        a = age(u, p, mid)
        working = employed[p] & (a >= 18) & (a < 67) & u.resident_on(p, mid)
        if reg.activity_gap_share or reg.early_retirement or reg.long_absence_share:
            working &= ~(has_gap[p] & (y >= gap_start[p]) & (y < gap_end[p])) & (a < retires_at[p])
            working &= ~u.away_on(p, mid)
        if reg.intermittent_work:
            working &= intermittent.random(len(p)) >= reg.intermittent_work
        return working

    person, year = person_years(u, years, works)
    after_person, after_year = _income_after_leaving(u, years)
    season_person, season_arrive, _ = u.seasons
    seasonal = np.unique(np.stack([season_person, _year_of(season_arrive)], axis=1), axis=0) \
        if len(season_person) else np.zeros((0, 2), np.int64)
    person = np.concatenate([person, after_person, seasonal[:, 0]])
    year = np.concatenate([year, after_year, seasonal[:, 1]])
    day = year_start(year) + 182
    first, surname = r.names(person, day, admin=True, source="tax")
    columns = {
        "national_id": r.national_id(person, day), "first_name": first, "surname": surname,
        "dob": date_strings(r.dob(person, source="tax"), "%d/%m/%Y"), "sex": r.sex(person, "2", "1"),
        "tax_year": year.astype(np.int64), "postcode": u.postcode[person]}
    if not reg.tax_has_sex:
        del columns["sex"]
    return {"person": person, "columns": columns}


def _income_after_leaving(u: Universe, years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tax years of emigrants still taxed here for 1-3 years after leaving (rent, a pension fund)."""
    # adults who had settled here (not early leavers, not children known only on a claim)
    left = np.flatnonzero((u.departure != NONE) & u.long_first_stay() & ~u.claim_only
                          & (u.departure - u.dob >= 18 * YEAR))
    if not u.regime.income_after_leaving or not len(left):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    g = u.stream("income_after_leaving")
    left = left[g.random(len(left)) < u.regime.income_after_leaving]
    k = g.integers(1, 4, len(left))
    person = np.repeat(left, k)
    nth = np.arange(len(person)) - np.repeat(np.cumsum(k) - k, k) + 1      # 1..k for each emigrant
    year = _year_of(u.departure[person]) + nth
    back = (u.ret[person] != NONE) & (year >= _year_of(np.maximum(u.ret[person], 0)))
    keep = (year <= years[-1]) & ~back
    return person[keep], year[keep]


def benefits(u: Universe, r: Records, years: np.ndarray) -> tuple[dict, dict]:
    reg = u.regime
    pension_abroad = u.stream("pension_abroad").random(u.n) < reg.pension_abroad
    grace = reg.child_benefit_after_emigration_days

    def pensioner(p, y):
        mid = year_start(y) + 182
        paid = u.resident_on(p, mid)
        if reg.pension_abroad:
            paid |= pension_abroad[p] & _abroad_on(u, p, mid)
        return (age(u, p, mid) >= 66) & paid

    p_person, p_year = person_years(u, years, pensioner)

    def child(p, y):
        mid = year_start(y) + 182
        a = age(u, p, mid)
        here = u.resident_on(p, mid)
        if grace:
            here |= _abroad_on(u, p, mid) & (mid - u.departure[p] < grace)
        parent = u.parent[p]
        parent_died = (parent != NONE) & (u.death[np.maximum(parent, 0)] != NONE) & (u.death[np.maximum(parent, 0)] <= mid)
        return (parent != NONE) & (a >= 0) & (a < 16) & here & ~parent_died

    c_person, c_year = person_years(u, years, child)
    claimant = u.parent[c_person]
    # one claim per parent (claim id), one benefit record per claim per year
    claim_years = np.unique(np.stack([claimant, c_year], axis=1), axis=0) if len(claimant) else np.zeros((0, 2), np.int64)
    cb_person, cb_year = claim_years[:, 0], claim_years[:, 1]
    person = np.concatenate([p_person, cb_person])
    year = np.concatenate([p_year, cb_year])
    kind = np.concatenate([np.full(len(p_person), "pension", dtype=object), np.full(len(cb_person), "child_benefit", dtype=object)])
    claim = np.where(kind == "child_benefit", np.char.add("C", np.char.zfill(person.astype(str), 9)).astype(object), None)
    start = year_start(year)
    end = year_start(year + 1) - 1
    first, surname = r.names(person, start + 182, admin=True, source="benefits")
    columns = {
        "national_id": r.national_id(person, start + 182), "first_name": first, "surname": surname,
        "dob": date_strings(r.dob(person, source="benefits")), "sex": r.sex(person), "benefit_type": kind,
        "start_date": date_strings(start), "end_date": date_strings(end), "claim_id": claim}
    if not reg.benefits_has_sex:
        del columns["sex"]
    pairs = np.unique(np.stack([claimant, c_person], axis=1), axis=0) if len(claimant) else np.zeros((0, 2), np.int64)
    kids = pairs[:, 1]
    k_first, k_surname = r.names(kids, np.full(len(kids), u.end), admin=True, source="child_benefit_children")
    children = {"person": kids, "columns": {
        "claim_id": np.char.add("C", np.char.zfill(pairs[:, 0].astype(str), 9)).astype(object),
        "first_name": k_first, "surname": k_surname, "dob": date_strings(r.dob(kids, source="child_benefit_children")),
        "sex": r.sex(kids)}}
    return {"person": person, "columns": columns}, children


def crossings(u: Universe, r: Records, years: np.ndarray) -> dict:
    """Border crossings: residents' trips, arrivals, departures and returns, visitors' visits (the
    baseline), then what a regime adds: long absences, seasonal stays, emigrants' visits home and
    children born abroad; exits, entries and children's crossings lost at the regime's rates;
    irregular arrivals never recorded. The true movements are kept in ``u.trips`` and ``u.visits``."""
    rng, reg = u.rng, u.regime
    travels = (~u.claim_only) & (rng.random(u.n) < 0.4)
    persons, days, directions = [], [], []

    def add(p, d, direction):
        persons.append(p)
        days.append(d)
        directions.append(np.full(len(p), direction, dtype=object))

    # residents' short trips: at most one a year, wholly inside a year of residence
    def trip_year(p, y):
        ys = year_start(y)
        return travels[p] & u.resident_on(p, ys) & u.resident_on(p, ys + 364) & (rng.random(len(p)) < 0.6)

    t_person, t_year = person_years(u, years, trip_year)
    leave = year_start(t_year) + rng.integers(0, 300, len(t_person))
    back = leave + rng.integers(2, 60, len(t_person))
    add(t_person, leave, "OUT")
    add(t_person, back, "IN")
    # arrivals of immigrants and dependants in the window, long-term departures and returns
    arrive = np.flatnonzero(np.isin(u.kind, [IMMIGRANT, DEPENDANT]) & ~u.claim_only & (u.arrival >= u.start))
    add(arrive, u.arrival[arrive], "IN")
    depart = np.flatnonzero((u.departure != NONE) & ~u.claim_only)
    add(depart, u.departure[depart], "OUT")
    back_home = np.flatnonzero(u.ret != NONE)
    add(back_home, u.ret[back_home], "IN")
    # visitors: one to three visits of under 90 days in separate thirds of the window
    visitors = np.flatnonzero(u.kind == VISITOR)
    n_visits = rng.integers(1, 4, len(visitors))
    third = (u.end - u.start - 120) // 3
    v_person = np.repeat(visitors, n_visits)
    slot = np.arange(len(v_person)) - np.repeat(np.cumsum(n_visits) - n_visits, n_visits)   # 0, 1, 2 per visitor
    v_in = u.start + slot * third + rng.integers(0, third - 100, len(v_person))
    v_out = v_in + rng.integers(3, 90, len(v_person))
    add(v_person, v_in, "IN")
    add(v_person, v_out, "OUT")
    u.visits = (v_person, v_in, v_out)

    person = np.concatenate(persons)
    day = np.concatenate(days)
    direction = np.concatenate(directions)
    keep = ((direction == "IN") | (rng.random(len(person)) >= 1 - reg.exit_recording)) & (day <= u.end) & (day >= u.start)
    person, day, direction = person[keep], day[keep], direction[keep]
    dup = rng.random(len(person)) < reg.duplicate_crossing
    person = np.concatenate([person, person[dup]])
    day = np.concatenate([day, day[dup]])
    direction = np.concatenate([direction, direction[dup]])
    # a long absence replaces the short trips near it (the stay around it stays long)
    near = (u.away_out[t_person] != NONE) & (back >= u.away_out[t_person] - LONG_DAYS) \
        & (leave <= u.away_in[t_person] + LONG_DAYS)
    u.trips = (t_person[~near], leave[~near], back[~near])
    if near.any():
        key = person.astype(np.int64) * 1_000_000 + day
        drop = (direction == "OUT") & np.isin(key, t_person[near] * 1_000_000 + leave[near])
        drop |= (direction == "IN") & np.isin(key, t_person[near] * 1_000_000 + back[near])
        person, day, direction = person[~drop], day[~drop], direction[~drop]
    person, day, direction = _regime_crossings(u, person, day, direction)
    order = np.lexsort((person, day))
    person, day, direction = person[order], day[order], direction[order]
    first, surname = r.names(person, day, admin=True, source="crossings")
    return {"person": person, "columns": {
        "passport_no": u.passport_on(person, day), "first_name": first, "surname": surname,
        "dob": date_strings(r.dob(person, source="crossings")), "sex": r.sex(person),
        "nationality": r.nationality(person, day), "crossing_date": date_strings(day), "direction": direction}}


def _regime_crossings(u: Universe, person, day, direction):
    """Add the movements a regime brings and lose the ones it does not record."""
    reg = u.regime
    extra_p, extra_d, extra_dir = [], [], []

    def add(p, d, side):
        extra_p.append(p)
        extra_d.append(d)
        extra_dir.append(np.full(len(p), side, dtype=object))

    away = np.flatnonzero(u.away_out != NONE)
    add(away, u.away_out[away], "OUT")
    add(away, u.away_in[away], "IN")
    s_person, s_in, s_out = u.seasons
    add(s_person, s_in, "IN")
    add(s_person, s_out, "OUT")
    h_person, h_in, h_out = u.home_visits
    add(h_person, h_in, "IN")
    add(h_person, h_out, "OUT")
    born_abroad = np.flatnonzero((u.kind == NATIVE) & ~u.born_here & (u.arrival != NONE))
    add(born_abroad, u.arrival[born_abroad], "IN")
    e_person, e_day, e_dir = np.concatenate(extra_p), np.concatenate(extra_d), np.concatenate(extra_dir)
    if len(e_person):
        g = u.stream("regime_crossings")
        kept = ((e_dir == "IN") | (g.random(len(e_person)) >= 1 - reg.exit_recording)) \
            & (e_day <= u.end) & (e_day >= u.start)
        e_person, e_day, e_dir = e_person[kept], e_day[kept], e_dir[kept]
        dup = g.random(len(e_person)) < reg.duplicate_crossing
        person = np.concatenate([person, e_person, e_person[dup]])
        day = np.concatenate([day, e_day, e_day[dup]])
        direction = np.concatenate([direction, e_dir, e_dir[dup]])
    lost = u.asylum[person] & (direction == "IN") & (day == u.arrival[person])   # irregular arrivals
    g = u.stream("recording_losses")
    lost |= (direction == "IN") & (g.random(len(person)) >= reg.entry_recording)
    lost |= (age(u, person, day) < 16) & (g.random(len(person)) >= reg.child_crossing_recording)
    return person[~lost], day[~lost], direction[~lost]


def visas(u: Universe, r: Records) -> dict:
    rng = u.rng
    persons, starts, ends, types, in_country = [], [], [], [], []

    def add(p, s, e, t, inside):
        persons.append(p)
        starts.append(s)
        ends.append(e)
        types.append(t)
        in_country.append(np.full(len(p), inside))

    newcomers = np.flatnonzero(np.isin(u.kind, [IMMIGRANT, NO_SHOW]) & ~u.asylum)
    first_type = np.array(["work", "study", "family"], dtype=object)[rng.choice(3, len(newcomers), p=[0.5, 0.25, 0.25])]
    v_start = u.arrival[newcomers] - rng.integers(0, 60, len(newcomers))
    v_end = v_start + 365 * rng.integers(2, 6, len(newcomers))
    add(newcomers, v_start, v_end, first_type, "false")
    u.study = np.zeros(u.n, dtype=bool)
    u.study[newcomers[first_type == "study"]] = True
    u.visa_end = np.full(u.n, NONE, dtype=np.int64)
    u.visa_end[newcomers] = v_end
    # still here when the first visa ends: a new visa granted in the country, no travel
    stays = (v_end < u.end) & ((u.departure[newcomers] == NONE) | (u.departure[newcomers] > v_end))
    stays &= (u.kind[newcomers] != NO_SHOW) & ((u.naturalised[newcomers] == NONE) | (u.naturalised[newcomers] > v_end))
    stays &= ((u.death[newcomers] == NONE) | (u.death[newcomers] > v_end)) & ~u.away_on(newcomers, v_end)
    renew = newcomers[stays]
    add(renew, v_end[stays], v_end[stays] + 365 * 3,
        np.array(["work", "family"], dtype=object)[rng.integers(0, 2, len(renew))], "true")
    deps = np.flatnonzero((u.kind == DEPENDANT) & ~u.claim_only & (u.parent != NONE) & ~u.asylum)
    add(deps, u.arrival[deps] - 10, u.arrival[deps] + 365 * 3, np.full(len(deps), "family", dtype=object), "false")
    foreign = np.flatnonzero(u.kind == FOREIGN_RESIDENT)
    add(foreign, u.arrival[foreign], np.full(len(foreign), u.end + 730),
        np.array(["work", "family"], dtype=object)[rng.integers(0, 2, len(foreign))], "false")
    v_person, v_in, _ = u.visits
    add(v_person, v_in - rng.integers(5, 30, len(v_person)), v_in + 150, np.full(len(v_person), "visit", dtype=object), "false")
    s_person, s_in, s_out = u.seasons
    if len(s_person):
        lead = u.stream("seasonal_visas").integers(5, 30, len(s_person))
        add(s_person, s_in - lead, s_out + 30, np.full(len(s_person), "seasonal", dtype=object), "false")

    person = np.concatenate(persons)
    start = np.concatenate(starts)
    first, surname = r.names(person, start, admin=True, source="visas")
    return {"person": person, "columns": {
        "passport_no": u.passport_on(person, start), "national_id": r.national_id(person, start),
        "first_name": first, "surname": surname, "dob": date_strings(r.dob(person, source="visas")),
        "sex": r.sex(person), "nationality": r.nationality(person, start), "visa_type": np.concatenate(types),
        "start_date": date_strings(start), "end_date": date_strings(np.concatenate(ends)),
        "granted_in_country": np.concatenate(in_country).astype(object)}}


def education(u: Universe, r: Records, years: np.ndarray) -> dict:
    def enrolled(p, y):
        sept = year_start(y) + 243
        a = age(u, p, sept)
        pupil = (a >= 5) & (a < 18)
        student = u.study[p] & (sept < u.visa_end[p]) & (a >= 18)
        here = u.resident_on(p, sept + 30)
        if u.regime.long_absence_share:
            here &= ~u.away_on(p, sept + 30)
        return (pupil | student) & ~u.claim_only[p] & here

    person, year = person_years(u, years[:-1], enrolled)
    start = year_start(year) + 243
    first, surname = r.names(person, start, admin=True, source="education")
    return {"person": person, "columns": {
        "national_id": r.national_id(person, start), "first_name": first, "surname": surname,
        "dob": date_strings(r.dob(person, source="education")), "sex": r.sex(person),
        "start_date": date_strings(start), "end_date": date_strings(year_start(year + 1) + 180)}}
