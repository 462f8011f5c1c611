"""A synthetic migration universe: a population register, administrative sources and the truth.

The fictional country has the user-assigned code ``XSY``. Persons are natives, foreigners already
resident, immigrants arriving in the window, their dependent children and short-term visitors.
Every record of every source knows its true person (``truth/records.csv``); true residence spells
and true immigration and emigration events (UN 12-month definition, from the planned length of
each stay or absence) are written beside the sources. Errors are injected at configurable rates.

Everything is vectorised with numpy over persons, person-years and records: the only Python
loops run over the small name vocabularies, the sources and the groups.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from spine._names import CONFUSABLE_COUNTRIES, GROUPS, NICKNAMES, TRANSLITERATIONS

logger = logging.getLogger(__name__)

NATIVE, FOREIGN_RESIDENT, IMMIGRANT, DEPENDANT, VISITOR = range(5)
KIND_NAMES = np.array(["native", "foreign_resident", "immigrant", "dependant", "visitor"], dtype=object)
KIND_SHARES = [0.70, 0.08, 0.12, 0.03, 0.07]
HOME = "XSY"
YEAR = 365.25
NONE = -1  # "no date" in day arrays


@dataclass(frozen=True)
class ErrorRates:
    """Error rates, each a probability per record unless it says per person."""

    typo: float = 0.02
    nickname: float = 0.05
    transliteration: float = 0.15
    marriage_surname_change: float = 0.3
    dob_day_month_swap: float = 0.01
    missing_national_id_foreign: float = 0.6
    missing_national_id_native: float = 0.02
    miscoded_country: float = 0.02
    unrecorded_exit: float = 0.1
    duplicated_entry: float = 0.01
    late_registration: float = 0.3
    never_registered: float = 0.1
    never_deregistered: float = 0.5
    register_duplicate: float = 0.002
    child_only_on_claim: float = 0.5


@dataclass(frozen=True)
class SyntheticUniverse:
    """Where a generated universe was written."""

    out_dir: Path
    sources: dict[str, Path]
    truth: dict[str, Path]
    n_persons: int
    seed: int
    #: The follow-up sample (flows.uncertainty.validation), None when not written.
    validation: Path | None = None


# ---------------------------------------------------------------- vocabulary

class _Vocabulary:
    """Every name string once, with per-name variant ids for typos, nicknames and transliterations."""

    def __init__(self, rng: np.random.Generator) -> None:
        strings: list[str] = []
        index: dict[str, int] = {}

        def intern(s: str) -> int:
            if s not in index:
                index[s] = len(strings)
                strings.append(s)
            return index[s]

        self.first = {}  # (group, sex) -> (ids, weights)
        self.surnames = {}
        for group, (_, female, male, surnames) in GROUPS.items():
            for sex, names in ((0, female), (1, male)):
                self.first[(group, sex)] = np.array([intern(s) for s in names])
            self.surnames[group] = np.array([intern(s) for s in surnames])
        base_count = len(strings)
        self.typos = np.zeros((base_count, 3), dtype=np.int64)
        self.translit = np.arange(base_count)
        self.translit_alt = np.arange(base_count)
        self.nickname = np.arange(base_count)
        for i in range(base_count):  # a loop over a few hundred names, not over records
            name = strings[i]
            for k in range(3):
                self.typos[i, k] = intern(_typo(name, rng))
            variants = TRANSLITERATIONS.get(name)
            if variants:
                self.translit[i] = intern(variants[0])
                self.translit_alt[i] = intern(variants[-1])
            nicks = NICKNAMES.get(name)
            if nicks:
                self.nickname[i] = intern(nicks[0])
        self.strings = np.array(strings, dtype=object)

    def pick(self, ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Zipf-like draw from a list of name ids."""
        weights = 1.0 / np.arange(1, len(ids) + 1) ** 0.8
        return rng.choice(ids, p=weights / weights.sum())


def _typo(name: str, rng: np.random.Generator) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    if len(name) < 3:
        return name + letters[rng.integers(26)]
    i = int(rng.integers(1, len(name) - 1))
    kind = rng.integers(3)
    if kind == 0:
        return name[:i] + letters[rng.integers(26)] + name[i + 1:]
    if kind == 1:
        return name[:i] + name[i + 1:]
    return name[:i - 1] + name[i] + name[i - 1] + name[i + 1:]


def _zipf_pick(rng: np.random.Generator, ids: np.ndarray, size: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, len(ids) + 1) ** 0.8
    return rng.choice(ids, size=size, p=weights / weights.sum())


# ---------------------------------------------------------------- helpers

def _days(iso: str) -> int:
    return int(np.datetime64(iso, "D").astype(np.int64))


def _date_strings(days: np.ndarray, fmt: str = "%Y-%m-%d") -> pa.Array:
    """Day numbers as date strings (NULL where NONE), formatted in C by pyarrow."""
    mask = days == NONE
    arr = pa.array(days.astype("datetime64[D]"), mask=mask)
    if fmt == "%Y-%m-%d":
        return pc.cast(arr, pa.string())
    return pc.strftime(pc.cast(arr, pa.timestamp("s")), format=fmt)


def _ids(prefix: str, n: int, width: int = 9) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width)).astype(object)


def _scrambled_numbers(n: int, width: int, multiplier: int, offset: int) -> np.ndarray:
    """Unique, random-looking fixed-width numbers (an affine permutation of 0..10**width-1)."""
    values = (np.arange(n, dtype=np.int64) * multiplier + offset) % (10 ** width)
    return np.char.zfill(values.astype(str), width).astype(object)


def _in_spell(day: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Whether ``day`` falls in [start, end) (end NONE = open)."""
    return (start != NONE) & (start <= day) & ((end == NONE) | (day < end))


# ---------------------------------------------------------------- the universe

class _Universe:
    """Person-level arrays of the true population (one entry per person)."""

    def __init__(self, n: int, rng: np.random.Generator, errors: ErrorRates, start: int, end: int,
                 vocab: _Vocabulary) -> None:
        self.n, self.rng, self.errors, self.start, self.end, self.vocab = n, rng, errors, start, end, vocab
        kind = rng.choice(5, size=n, p=KIND_SHARES)
        kind[:5] = np.arange(5)  # every kind present, however small n is
        kind[5:8] = IMMIGRANT    # parents for dependants
        self.kind = kind
        self.sex = rng.integers(0, 2, size=n)  # 0 female, 1 male
        groups = list(GROUPS)
        group = np.where(kind == NATIVE, 0, rng.integers(1, len(groups), size=n))
        self.group = group
        nationality = np.empty(n, dtype=object)
        first = np.zeros(n, dtype=np.int64)
        surname = np.zeros(n, dtype=np.int64)
        for g, name in enumerate(groups):  # loop over six groups
            in_group = group == g
            codes = GROUPS[name][0]
            nationality[in_group] = np.array(codes, dtype=object)[rng.integers(0, len(codes), in_group.sum())]
            surname[in_group] = _zipf_pick(rng, vocab.surnames[name], int(in_group.sum()))
            for sex in (0, 1):
                chosen = in_group & (self.sex == sex)
                first[chosen] = _zipf_pick(rng, vocab.first[(name, sex)], int(chosen.sum()))
        self.nationality = nationality
        self.first, self.surname = first, surname
        self._timeline()
        self._families()
        self._identifiers()

    def _timeline(self) -> None:
        n, rng, S, E, kind = self.n, self.rng, self.start, self.end, self.kind
        span = E - S
        dob = np.zeros(n, dtype=np.int64)
        arrival = np.full(n, NONE, dtype=np.int64)      # start of first residence spell
        departure = np.full(n, NONE, dtype=np.int64)    # long-term departure (emigration)
        death = np.full(n, NONE, dtype=np.int64)
        ret = np.full(n, NONE, dtype=np.int64)          # return of a native emigrant

        native = kind == NATIVE
        born_in_window = native & (rng.random(n) < 0.12)
        age_at_start = rng.uniform(0, 90, n)
        dob[native] = (S - age_at_start[native] * YEAR).astype(np.int64)
        dob[born_in_window] = S + rng.integers(0, span, born_in_window.sum())
        arrival[native] = dob[native]

        foreign = kind == FOREIGN_RESIDENT
        dob[foreign] = (S - rng.uniform(20, 60, foreign.sum()) * YEAR).astype(np.int64)
        arrival[foreign] = S - rng.integers(365, 3650, foreign.sum())

        immigrant = kind == IMMIGRANT
        arrival[immigrant] = S + rng.integers(0, span - 30, immigrant.sum())
        dob[immigrant] = (arrival[immigrant] - rng.uniform(18, 50, immigrant.sum()) * YEAR).astype(np.int64)

        visitor = kind == VISITOR
        dob[visitor] = (S - rng.uniform(18, 70, visitor.sum()) * YEAR).astype(np.int64)

        # long-term departures (emigration), deaths and returns
        adult_native = native & (dob < E - 18 * YEAR)
        leaves = adult_native & (rng.random(n) < 0.05)
        earliest = np.maximum(S, dob + int(18 * YEAR))
        departure[leaves] = earliest[leaves] + (rng.random(leaves.sum()) * (E - earliest[leaves])).astype(np.int64)
        leaves_f = foreign & (rng.random(n) < 0.15)
        departure[leaves_f] = S + rng.integers(0, span, leaves_f.sum())
        leaves_i = immigrant & (rng.random(n) < 0.30)
        departure[leaves_i] = arrival[leaves_i] + rng.integers(400, 1800, leaves_i.sum())
        departure[departure > E] = NONE
        dies = native & (departure == NONE) & (dob < S - 60 * YEAR) & (rng.random(n) < 0.08)
        death[dies] = S + rng.integers(0, span, dies.sum())
        returns = (departure != NONE) & native & (rng.random(n) < 0.2)
        ret[returns] = departure[returns] + rng.integers(400, 1500, returns.sum())
        ret[ret > E] = NONE

        self.dob, self.arrival, self.departure, self.death, self.ret = dob, arrival, departure, death, ret

    def _families(self) -> None:
        """Parents of children: native children get a native parent, dependants an immigrant one."""
        n, rng, S, E, kind = self.n, self.rng, self.start, self.end, self.kind
        parent = np.full(n, NONE, dtype=np.int64)
        # dependants arrive with an immigrant parent old enough to be theirs
        immigrants = np.flatnonzero((kind == IMMIGRANT) & (self.arrival - self.dob > 20 * YEAR))
        dep = np.flatnonzero(kind == DEPENDANT)
        if len(immigrants) and len(dep):
            p = immigrants[self.rng.integers(0, len(immigrants), len(dep))]
            parent[dep] = p
            parent_age = (self.arrival[p] - self.dob[p]) / YEAR
            child_age = rng.uniform(0, np.minimum(15.9, parent_age - 18))
            self.arrival[dep] = self.arrival[p]
            self.departure[dep] = self.departure[p]
            self.dob[dep] = (self.arrival[p] - child_age * YEAR).astype(np.int64)
            self.group[dep] = self.group[p]
            self.nationality[dep] = self.nationality[p]
            self.surname[dep] = self.surname[p]
            for g, name in enumerate(GROUPS):  # first names of the child's group
                for sex in (0, 1):
                    chosen = dep[(self.group[dep] == g) & (self.sex[dep] == sex)]
                    self.first[chosen] = _zipf_pick(rng, self.vocab.first[(name, sex)], len(chosen))
        # native children (under 16 at some point in the window) get a native parent 20-45 years older
        natives = np.flatnonzero(kind == NATIVE)
        order = natives[np.argsort(self.dob[natives])]
        sorted_dob = self.dob[order]
        kids = natives[self.dob[natives] > S - 16 * YEAR]
        lo = np.searchsorted(sorted_dob, self.dob[kids] - int(45 * YEAR))
        hi = np.searchsorted(sorted_dob, self.dob[kids] - int(20 * YEAR))
        has = hi > lo
        kids, lo, hi = kids[has], lo[has], hi[has]
        chosen = order[lo + (rng.random(len(kids)) * (hi - lo)).astype(np.int64)]
        parent[kids] = chosen
        self.surname[kids] = self.surname[chosen]
        self.parent = parent
        self.claim_only = (kind == DEPENDANT) & (rng.random(n) < self.errors.child_only_on_claim)

    def _identifiers(self) -> None:
        n, rng, e, kind = self.n, self.rng, self.errors, self.kind
        # registration: natives and foreign residents always; immigrants late or never
        registered = np.isin(kind, [NATIVE, FOREIGN_RESIDENT, IMMIGRANT, DEPENDANT])
        registered &= ~self.claim_only
        newcomer = np.isin(kind, [IMMIGRANT, DEPENDANT])
        never = newcomer & (rng.random(n) < e.never_registered)
        registered &= ~never
        lag = np.where(rng.random(n) < e.late_registration, rng.integers(60, 400, n), rng.integers(0, 15, n))
        reg_date = np.where(newcomer, self.arrival + lag, np.maximum(self.arrival, self.dob))
        dependants = np.flatnonzero(kind == DEPENDANT)
        has_parent = self.parent[dependants] != NONE
        reg_date[dependants[has_parent]] = reg_date[self.parent[dependants[has_parent]]]
        too_late = (reg_date > self.end) | ((self.departure != NONE) & (reg_date >= self.departure))
        registered &= ~(newcomer & too_late)
        self.registered = registered
        self.reg_date = reg_date
        self.national_id = np.where(registered, _scrambled_numbers(n, 11, 7919, 1_000_003), None)
        self.passport = _scrambled_numbers(n, 8, 104_729, 12_345)
        self.passport = np.char.add(np.where(self.kind == NATIVE, "XS", "P"), self.passport.astype(str)).astype(object)
        # marriage: a share of native women change surname at a date in the window
        woman = (kind == NATIVE) & (self.sex == 0) & (self.dob < self.end - 22 * YEAR) & (self.dob > self.start - 45 * YEAR)
        marries = woman & (rng.random(n) < e.marriage_surname_change)
        self.marriage = np.full(n, NONE, dtype=np.int64)
        self.marriage[marries] = self.start + rng.integers(0, self.end - self.start, marries.sum())
        self.married_surname = self.surname.copy()
        self.married_surname[marries] = _zipf_pick(rng, self.vocab.surnames["native"], int(marries.sum()))
        self.postcode = np.char.add(
            np.char.add("XS", rng.integers(1, 10, n).astype(str)),
            np.char.add(" ", np.char.add(rng.integers(1, 10, n).astype(str),
                                         np.array(list("ABDEFGHJLNPQRSTUWXYZ"))[rng.integers(0, 20, n)]))).astype(object)
        self.register_duplicate = registered & (rng.random(n) < e.register_duplicate)
        self.second_national_id = _scrambled_numbers(n, 11, 6007, 55_555_555)

    # ---- spells and events (truth)
    def spell_end(self) -> np.ndarray:
        return np.where(self.departure != NONE, self.departure, self.death)

    def resident_on(self, person: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Whether each person is resident on the given day (vectorised over pairs)."""
        first = _in_spell(day, self.arrival[person], self.spell_end()[person])
        second = _in_spell(day, self.ret[person], np.full(len(person), NONE))
        return (self.kind[person] != VISITOR) & (first | second)


# ---------------------------------------------------------------- records

class _Records:
    """Builds one source's columns with the person's (erroneous) identity fields."""

    def __init__(self, u: _Universe) -> None:
        self.u = u

    def names(self, person: np.ndarray, day: np.ndarray, *, admin: bool, error_scale: float = 1.0):
        u, rng, e, v = self.u, self.u.rng, self.u.errors, self.u.vocab
        m = len(person)
        first = u.first[person].copy()
        surname = np.where((u.marriage[person] != NONE) & (day >= u.marriage[person]),
                           u.married_surname[person], u.surname[person])
        foreign = u.group[person] != 0
        if admin:
            nick = (~foreign) & (rng.random(m) < e.nickname * error_scale)
            first[nick] = v.nickname[first[nick]]
        tl = foreign & (rng.random(m) < e.transliteration * error_scale)
        alt = rng.random(m) < 0.5
        first[tl] = np.where(alt[tl], v.translit[first[tl]], v.translit_alt[first[tl]])
        tl2 = foreign & (rng.random(m) < e.transliteration * error_scale)
        surname[tl2] = v.translit[surname[tl2]]
        for field in (first, surname):
            typo = rng.random(m) < e.typo * error_scale
            base = field[typo]
            ok = base < v.typos.shape[0]
            field[np.flatnonzero(typo)[ok]] = v.typos[base[ok], rng.integers(0, 3, ok.sum())]
        return v.strings[first], v.strings[surname]

    def dob(self, person: np.ndarray, error_scale: float = 1.0) -> np.ndarray:
        u, rng = self.u, self.u.rng
        dob = u.dob[person].copy()
        swap = rng.random(len(person)) < u.errors.dob_day_month_swap * error_scale
        if swap.any():
            dates = dob[swap].astype("datetime64[D]")
            years = dates.astype("datetime64[Y]")
            months = (dates.astype("datetime64[M]") - years).astype(np.int64) + 1
            days = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
            can = days <= 12
            swapped = (years + (days - 1).astype("timedelta64[M]")).astype("datetime64[D]") + (months - 1)
            dob[np.flatnonzero(swap)[can]] = swapped[can].astype(np.int64)
        return dob

    def national_id(self, person: np.ndarray) -> np.ndarray:
        u, rng, e = self.u, self.u.rng, self.u.errors
        ids = u.national_id[person].copy()
        rate = np.where(u.kind[person] == NATIVE, e.missing_national_id_native, e.missing_national_id_foreign)
        ids[rng.random(len(person)) < rate] = None
        dup = u.register_duplicate[person] & (rng.random(len(person)) < 0.5) & (ids != None)  # noqa: E711
        ids[dup] = u.second_national_id[person[dup]]
        return ids

    def nationality(self, person: np.ndarray) -> np.ndarray:
        u = self.u
        codes = u.nationality[person].copy()
        miscode = u.rng.random(len(person)) < u.errors.miscoded_country
        codes[miscode] = np.array([CONFUSABLE_COUNTRIES.get(c, c) for c in codes[miscode]], dtype=object) \
            if miscode.sum() < 1000 else _map_codes(codes[miscode])
        return codes

    def sex(self, person: np.ndarray, female: str = "F", male: str = "M") -> np.ndarray:
        return np.where(self.u.sex[person] == 0, female, male).astype(object)


def _map_codes(codes: np.ndarray) -> np.ndarray:
    keys = np.array(list(CONFUSABLE_COUNTRIES), dtype=object)
    values = np.array(list(CONFUSABLE_COUNTRIES.values()), dtype=object)
    out = codes.copy()
    for k, v in zip(keys, values):  # a dozen codes
        out[codes == k] = v
    return out


def _person_years(u: _Universe, years: np.ndarray, mask_fn) -> tuple[np.ndarray, np.ndarray]:
    """All (person, year) pairs for which ``mask_fn(person, year)`` holds, chunked by year."""
    persons, ys = [], []
    everyone = np.arange(u.n)
    for year in years:  # ten years, not records
        keep = mask_fn(everyone, np.full(u.n, year))
        persons.append(everyone[keep])
        ys.append(np.full(keep.sum(), year))
    return np.concatenate(persons), np.concatenate(ys)


def _year_start(year: np.ndarray) -> np.ndarray:
    return (year - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)


def _age(u: _Universe, person: np.ndarray, day: np.ndarray) -> np.ndarray:
    return (day - u.dob[person]) / YEAR


# ---------------------------------------------------------------- sources

def _register(u: _Universe, r: _Records) -> dict:
    person = np.flatnonzero(u.registered)
    dup = np.flatnonzero(u.register_duplicate)
    persons = np.concatenate([person, dup])
    m = len(persons)
    first, surname = r.names(persons, np.full(m, u.end), admin=False, error_scale=0.1)
    is_dup = np.arange(m) >= len(person)
    if is_dup.any():  # the duplicate registration carries a typo and a second number
        typo_first, _ = r.names(persons[is_dup], np.full(is_dup.sum(), u.end), admin=True, error_scale=5)
        first[is_dup] = typo_first
    national_id = np.where(is_dup, u.second_national_id[persons], u.national_id[persons])
    passport = u.passport[persons].copy()
    passport[(u.kind[persons] == NATIVE) & (u.rng.random(m) < 0.3)] = None
    dereg = np.full(m, NONE, dtype=np.int64)
    dead = u.death[persons] != NONE
    dereg[dead] = u.death[persons][dead]
    left = (u.departure[persons] != NONE) & (u.ret[persons] == NONE)
    tells = left & (u.rng.random(m) >= u.errors.never_deregistered)
    dereg[tells] = u.departure[persons][tells] + u.rng.integers(0, 90, tells.sum())
    dereg[dereg > u.end] = NONE
    # registers record why someone was deregistered: a death is not an emigration
    reason = np.where(dead, "death", "emigration").astype(object)
    reason[dereg == NONE] = None
    cob = np.where(u.kind[persons] == NATIVE, HOME, u.nationality[persons]).astype(object)
    cob[(u.kind[persons] == DEPENDANT) & (u.dob[persons] > u.arrival[persons])] = HOME
    return {"person": persons, "columns": {
        "national_id": national_id, "passport_no": passport, "first_name": first, "surname": surname,
        "dob": _date_strings(r.dob(persons, 0.1)), "sex": r.sex(persons),
        "nationality": u.nationality[persons], "country_of_birth": cob, "postcode": u.postcode[persons],
        "registration_date": _date_strings(u.reg_date[persons]), "deregistration_date": _date_strings(dereg),
        "deregistration_reason": reason}}


def _tax(u: _Universe, r: _Records, years: np.ndarray) -> dict:
    employed = u.rng.random(u.n) < 0.75

    def works(p, y):
        mid = _year_start(y) + 182
        age = _age(u, p, mid)
        return employed[p] & (age >= 18) & (age < 67) & u.resident_on(p, mid)

    person, year = _person_years(u, years, works)
    day = _year_start(year) + 182
    first, surname = r.names(person, day, admin=True)
    return {"person": person, "columns": {
        "national_id": r.national_id(person), "first_name": first, "surname": surname,
        "dob": _date_strings(r.dob(person), "%d/%m/%Y"), "sex": r.sex(person, "2", "1"),
        "tax_year": year.astype(np.int64), "postcode": u.postcode[person]}}


def _benefits(u: _Universe, r: _Records, years: np.ndarray) -> tuple[dict, dict]:
    def pensioner(p, y):
        mid = _year_start(y) + 182
        return (_age(u, p, mid) >= 66) & u.resident_on(p, mid)

    p_person, p_year = _person_years(u, years, pensioner)

    def child(p, y):
        mid = _year_start(y) + 182
        age = _age(u, p, mid)
        return (u.parent[p] != NONE) & (age >= 0) & (age < 16) & u.resident_on(p, mid)

    c_person, c_year = _person_years(u, years, child)
    claimant = u.parent[c_person]
    # one claim per parent (claim id), one benefit record per claim per year
    claim_years = np.unique(np.stack([claimant, c_year], axis=1), axis=0) if len(claimant) else np.zeros((0, 2), np.int64)
    cb_person, cb_year = claim_years[:, 0], claim_years[:, 1]
    person = np.concatenate([p_person, cb_person])
    year = np.concatenate([p_year, cb_year])
    kind = np.concatenate([np.full(len(p_person), "pension", dtype=object), np.full(len(cb_person), "child_benefit", dtype=object)])
    claim = np.where(kind == "child_benefit", np.char.add("C", np.char.zfill(person.astype(str), 9)).astype(object), None)
    start = _year_start(year)
    end = _year_start(year + 1) - 1
    first, surname = r.names(person, start + 182, admin=True)
    benefits = {"person": person, "columns": {
        "national_id": r.national_id(person), "first_name": first, "surname": surname,
        "dob": _date_strings(r.dob(person)), "sex": r.sex(person), "benefit_type": kind,
        "start_date": _date_strings(start), "end_date": _date_strings(end), "claim_id": claim}}
    pairs = np.unique(np.stack([claimant, c_person], axis=1), axis=0) if len(claimant) else np.zeros((0, 2), np.int64)
    kids = pairs[:, 1]
    k_first, k_surname = r.names(kids, np.full(len(kids), u.end), admin=True)
    children = {"person": kids, "columns": {
        "claim_id": np.char.add("C", np.char.zfill(pairs[:, 0].astype(str), 9)).astype(object),
        "first_name": k_first, "surname": k_surname, "dob": _date_strings(r.dob(kids)), "sex": r.sex(kids)}}
    return benefits, children


def _crossings(u: _Universe, r: _Records, years: np.ndarray) -> dict:
    rng, e = u.rng, u.errors
    travels = (~u.claim_only) & (rng.random(u.n) < 0.4)
    persons, days, directions = [], [], []

    def add(p, d, direction):
        persons.append(p)
        days.append(d)
        directions.append(np.full(len(p), direction, dtype=object))

    # residents' short trips: at most one a year, wholly inside a year of residence
    def trip_year(p, y):
        ys = _year_start(y)
        return travels[p] & u.resident_on(p, ys) & u.resident_on(p, ys + 364) & (rng.random(len(p)) < 0.6)

    t_person, t_year = _person_years(u, years, trip_year)
    leave = _year_start(t_year) + rng.integers(0, 300, len(t_person))
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
    slot = np.concatenate([np.arange(k) for k in n_visits]) if len(n_visits) else np.zeros(0, np.int64)
    v_in = u.start + slot * third + rng.integers(0, third - 100, len(v_person))
    v_out = v_in + rng.integers(3, 90, len(v_person))
    add(v_person, v_in, "IN")
    add(v_person, v_out, "OUT")
    u.visits = (v_person, v_in, v_out)

    person = np.concatenate(persons)
    day = np.concatenate(days)
    direction = np.concatenate(directions)
    keep = ((direction == "IN") | (rng.random(len(person)) >= e.unrecorded_exit)) & (day <= u.end) & (day >= u.start)
    person, day, direction = person[keep], day[keep], direction[keep]
    dup = rng.random(len(person)) < e.duplicated_entry
    person = np.concatenate([person, person[dup]])
    day = np.concatenate([day, day[dup]])
    direction = np.concatenate([direction, direction[dup]])
    order = np.lexsort((person, day))
    person, day, direction = person[order], day[order], direction[order]
    first, surname = r.names(person, day, admin=True)
    return {"person": person, "columns": {
        "passport_no": u.passport[person], "first_name": first, "surname": surname,
        "dob": _date_strings(r.dob(person)), "sex": r.sex(person), "nationality": r.nationality(person),
        "crossing_date": _date_strings(day), "direction": direction}}


def _visas(u: _Universe, r: _Records) -> dict:
    rng = u.rng
    persons, starts, ends, types, in_country = [], [], [], [], []

    def add(p, s, e, t, inside):
        persons.append(p)
        starts.append(s)
        ends.append(e)
        types.append(t)
        in_country.append(np.full(len(p), inside))

    newcomers = np.flatnonzero(np.isin(u.kind, [IMMIGRANT]))
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
    renew = newcomers[stays]
    add(renew, v_end[stays], v_end[stays] + 365 * 3,
        np.array(["work", "family"], dtype=object)[rng.integers(0, 2, len(renew))], "true")
    deps = np.flatnonzero((u.kind == DEPENDANT) & ~u.claim_only & (u.parent != NONE))
    add(deps, u.arrival[deps] - 10, u.arrival[deps] + 365 * 3, np.full(len(deps), "family", dtype=object), "false")
    foreign = np.flatnonzero(u.kind == FOREIGN_RESIDENT)
    add(foreign, u.arrival[foreign], np.full(len(foreign), u.end + 730),
        np.array(["work", "family"], dtype=object)[rng.integers(0, 2, len(foreign))], "false")
    v_person, v_in, _ = u.visits
    add(v_person, v_in - rng.integers(5, 30, len(v_person)), v_in + 150, np.full(len(v_person), "visit", dtype=object), "false")

    person = np.concatenate(persons)
    start = np.concatenate(starts)
    first, surname = r.names(person, start, admin=True)
    return {"person": person, "columns": {
        "passport_no": u.passport[person], "national_id": r.national_id(person),
        "first_name": first, "surname": surname, "dob": _date_strings(r.dob(person)), "sex": r.sex(person),
        "nationality": r.nationality(person), "visa_type": np.concatenate(types),
        "start_date": _date_strings(start), "end_date": _date_strings(np.concatenate(ends)),
        "granted_in_country": np.concatenate(in_country).astype(object)}}


def _education(u: _Universe, r: _Records, years: np.ndarray) -> dict:
    def enrolled(p, y):
        sept = _year_start(y) + 243
        age = _age(u, p, sept)
        pupil = (age >= 5) & (age < 18)
        student = u.study[p] & (sept < u.visa_end[p]) & (age >= 18)
        return (pupil | student) & ~u.claim_only[p] & u.resident_on(p, sept + 30)

    person, year = _person_years(u, years[:-1], enrolled)
    start = _year_start(year) + 243
    first, surname = r.names(person, start, admin=True)
    return {"person": person, "columns": {
        "national_id": r.national_id(person), "first_name": first, "surname": surname,
        "dob": _date_strings(r.dob(person)), "sex": r.sex(person),
        "start_date": _date_strings(start), "end_date": _date_strings(_year_start(year + 1) + 180)}}


def _truth(u: _Universe, person_key: np.ndarray) -> dict[str, pa.Table]:
    is_newcomer = np.isin(u.kind, [IMMIGRANT, DEPENDANT]) & (u.arrival >= u.start)
    ev_person = [np.flatnonzero(is_newcomer), np.flatnonzero(u.departure != NONE), np.flatnonzero(u.ret != NONE)]
    ev_day = [u.arrival[ev_person[0]], u.departure[ev_person[1]], u.ret[ev_person[2]]]
    ev_kind = ["immigration", "emigration", "immigration"]
    person = np.concatenate(ev_person)
    events = pa.table({
        "person_key": person_key[person],
        "event": np.concatenate([np.full(len(p), k, dtype=object) for p, k in zip(ev_person, ev_kind)]),
        "date": _date_strings(np.concatenate(ev_day)),
        "derived_via": np.where(u.claim_only[person], "family", "self").astype(object),
    })
    resident = np.flatnonzero(u.kind != VISITOR)
    returned = np.flatnonzero(u.ret != NONE)
    spells = pa.table({
        "person_key": np.concatenate([person_key[resident], person_key[returned]]),
        "start_date": _date_strings(np.concatenate([u.arrival[resident], u.ret[returned]])),
        "end_date": _date_strings(np.concatenate([u.spell_end()[resident], np.full(len(returned), NONE)])),
    })
    persons = pa.table({
        "person_key": person_key, "kind": KIND_NAMES[u.kind],
        "sex": np.where(u.sex == 0, "f", "m").astype(object), "dob": _date_strings(u.dob),
        "first_name": u.vocab.strings[u.first], "surname": u.vocab.strings[u.surname],
        "nationality": u.nationality,
        "country_of_birth": np.where(u.kind == NATIVE, HOME, u.nationality).astype(object),
        "in_register": np.where(u.registered, "true", "false").astype(object),
        "parent_person_key": np.where(u.parent != NONE, person_key[np.maximum(u.parent, 0)], None),
    })
    return {"persons": persons, "spells": spells, "events": events}


# ---------------------------------------------------------------- writing

def _write(table: pa.Table, path: Path, file_format: str) -> Path:
    path = path.with_suffix(".parquet" if file_format == "parquet" else ".csv")
    tmp = path.with_name(path.name + ".tmp")
    if file_format == "parquet":
        pq.write_table(table, tmp)
    else:
        pacsv.write_csv(table, tmp, pacsv.WriteOptions(quoting_style="needed"))
    tmp.replace(path)
    return path


def _as_table(record_ids: np.ndarray, columns: dict) -> pa.Table:
    arrays = {"record_id": pa.array(record_ids, pa.string())}
    for name, values in columns.items():
        if isinstance(values, pa.Array | pa.ChunkedArray):
            arrays[name] = values
        elif values.dtype.kind in "iu":
            arrays[name] = pa.array(values)
        else:
            arrays[name] = pa.array(values, pa.string(), from_pandas=True)
    return pa.table(arrays)


PREFIXES = {"register": "R", "tax": "T", "benefits": "B", "child_benefit_children": "K", "crossings": "X",
            "visas": "V", "education": "E"}


def generate(n_persons: int, seed: int, out_dir: str | Path, *, errors: ErrorRates = ErrorRates(),
             start_year: int = 2015, end_year: int = 2024,
             file_format: Literal["csv", "parquet"] = "csv", validation_fraction: float = 0.05) -> SyntheticUniverse:
    """Generate a universe of ``n_persons`` people and write its sources and truth.

    Args:
        n_persons: people in the universe (natives, foreign residents, immigrants, dependants, visitors).
        seed: the only source of randomness: the same seed gives byte-identical files.
        out_dir: folder for the source files; the truth goes to ``out_dir/truth``.
        errors: error rates injected into the sources.
        start_year, end_year: the observation window (1 Jan start_year to 31 Dec end_year).
        file_format: ``csv`` or ``parquet``.
        validation_fraction: share of the people with a record sampled into ``validation`` (their
            true moves and attributes, as a follow-up survey would give them); 0 writes none.
    """
    if n_persons < 100:
        raise ValueError(f"n_persons must be at least 100, got {n_persons}")
    if file_format not in ("csv", "parquet"):
        raise ValueError(f"file_format must be 'csv' or 'parquet', got {file_format!r}")
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    vocab = _Vocabulary(rng)
    u = _Universe(n_persons, rng, errors, _days(f"{start_year}-01-01"), _days(f"{end_year}-12-31"), vocab)
    r = _Records(u)
    years = np.arange(start_year, end_year + 1)
    person_key = np.char.add("P", np.char.zfill(np.arange(1, n_persons + 1).astype(str), 9)).astype(object)

    built = {"register": _register(u, r), "tax": _tax(u, r, years)}
    built["crossings"] = _crossings(u, r, years)   # before visas: visit visas follow the visits
    built["benefits"], built["child_benefit_children"] = _benefits(u, r, years)
    built["visas"] = _visas(u, r)
    built["education"] = _education(u, r, years)

    sources: dict[str, Path] = {}
    truth_sources, truth_ids, truth_keys = [], [], []
    for name in PREFIXES:  # seven sources
        part = built[name]
        ids = _ids(PREFIXES[name], len(part["person"]))
        sources[name] = _write(_as_table(ids, part["columns"]), out / name, file_format)
        truth_sources.append(np.full(len(ids), name, dtype=object))
        truth_ids.append(ids)
        truth_keys.append(person_key[part["person"]])
        logger.info("%s: %d records", name, len(ids))
    tables = _truth(u, person_key)
    tables["records"] = pa.table({"source": np.concatenate(truth_sources), "record_id": np.concatenate(truth_ids),
                                  "person_key": np.concatenate(truth_keys)})
    truth = {name: _write(table, out / "truth" / name, file_format) for name, table in tables.items()}
    validation = None
    if validation_fraction > 0:
        # its own random stream: the sources and truth are the same with or without it
        sample = _validation_sample(tables, validation_fraction, np.random.default_rng([seed, 2]))
        validation = _write(sample, out / "validation", file_format)
    rates = "\n".join(f"- {k}: {v}" for k, v in asdict(errors).items())
    (out / "truth" / "README.md").write_text(
        f"# Truth of a synthetic universe ({n_persons} persons, seed {seed}, {start_year}-{end_year})\n\n"
        "- persons: every person, their kind, true (birth) names and whether they are in the register\n"
        "- records: the true person of every record of every source\n"
        "- spells: true residence spells [start_date, end_date), end empty if still resident\n"
        "- events: true immigration/emigration events (UN 12 months, from planned stays)\n"
        f"- ../validation: a {validation_fraction:.0%} sample of the people with a record, named by one of "
        "their records (the register's if any), with their true sex, date of birth, nationality and moves "
        "(one row per move, one row with no event for a person without)\n\n"
        f"Error rates:\n{rates}\n")
    return SyntheticUniverse(out_dir=out, sources=sources, truth=truth, n_persons=n_persons, seed=seed,
                             validation=validation)


def _validation_sample(tables: dict[str, pa.Table], fraction: float, rng: np.random.Generator) -> pa.Table:
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
