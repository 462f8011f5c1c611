"""The identity fields of a record, as a source writes them: names with typos, nicknames,
transliterations, swaps and late marriage names; dates of birth with swapped or lost parts;
identifiers that are missing, duplicated or replaced; confusable nationality codes."""

from __future__ import annotations

import numpy as np

from spine._names import CONFUSABLE_COUNTRIES
from spine.synthetic.universe import NATIVE, NONE, Universe, year_start
from spine.synthetic.vocabulary import upper_ascii

#: Sources that learn a new surname late (the register learns it on the day).
ADMIN = ("tax", "benefits", "child_benefit_children", "crossings", "visas", "education")


class Records:
    """Builds one source's identity columns from the person's true fields and the regime's errors."""

    def __init__(self, u: Universe) -> None:
        self.u = u
        g = u.stream("marriage_lag")
        lags = g.integers(0, u.regime.marriage_lag_days + 1, len(ADMIN))
        self.marriage_lag = {source: int(lag) for source, lag in zip(ADMIN, lags)}
        self._calls: dict[str, int] = {}

    def _stream(self, what: str, source: str) -> np.random.Generator:
        key = f"{what}:{source}"
        self._calls[key] = self._calls.get(key, 0) + 1
        return self.u.stream(f"{key}:{self._calls[key]}")

    def names(self, person: np.ndarray, day: np.ndarray, *, admin: bool, error_scale: float = 1.0,
              source: str = "register") -> tuple[np.ndarray, np.ndarray]:
        u, rng, r, v = self.u, self.u.rng, self.u.regime, self.u.vocab
        m = len(person)
        first = u.first[person].copy()
        married_on = u.marriage[person] + self.marriage_lag.get(source, 0)
        surname = np.where((u.marriage[person] != NONE) & (day >= married_on),
                           u.married_surname[person], u.surname[person])
        foreign = u.group[person] != 0
        if admin:
            nick = (~foreign) & (rng.random(m) < r.nickname * error_scale)
            first[nick] = v.nickname[first[nick]]
        tl = foreign & (rng.random(m) < r.transliteration * error_scale)
        alt = rng.random(m) < 0.5
        first[tl] = np.where(alt[tl], v.translit[first[tl]], v.translit_alt[first[tl]])
        tl2 = foreign & (rng.random(m) < r.transliteration * error_scale)
        surname[tl2] = v.translit[surname[tl2]]
        for field in (first, surname):
            typo = rng.random(m) < r.typo * error_scale
            base = field[typo]
            ok = base < v.typos.shape[0]
            field[np.flatnonzero(typo)[ok]] = v.typos[base[ok], rng.integers(0, 3, ok.sum())]
        first_s, surname_s = v.strings[first], v.strings[surname]
        if source in ADMIN and r.name_swap:
            swap = self._stream("name_swap", source).random(m) < r.name_swap
            first_s, surname_s = np.where(swap, surname_s, first_s), np.where(swap, first_s, surname_s)
        if source in r.upper_ascii_sources:
            first_s, surname_s = upper_ascii(first_s), upper_ascii(surname_s)
        return first_s, surname_s

    def dob(self, person: np.ndarray, error_scale: float = 1.0, source: str = "register") -> np.ndarray:
        """Dates of birth as day numbers: the recorded one (1 January for some asylum seekers), with
        day and month swapped at the error rate; admin sources lose the day, or day and month."""
        u, rng, r = self.u, self.u.rng, self.u.regime
        dob = u.official_dob[person].copy()
        swap = rng.random(len(person)) < r.dob_day_month_swap * error_scale
        if swap.any():
            dates = dob[swap].astype("datetime64[D]")
            years = dates.astype("datetime64[Y]")
            months = (dates.astype("datetime64[M]") - years).astype(np.int64) + 1
            days = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
            can = days <= 12
            swapped = (years + (days - 1).astype("timedelta64[M]")).astype("datetime64[D]") + (months - 1)
            dob[np.flatnonzero(swap)[can]] = swapped[can].astype(np.int64)
        if source != "register" and (r.dob_day_missing or r.dob_year_only):
            draw = self._stream("dob_precision", source).random(len(person))
            dates = dob.astype("datetime64[D]")
            month_start = dates.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
            jan_first = year_start(dates.astype("datetime64[Y]").astype(np.int64) + 1970)
            dob = np.where(draw < r.dob_year_only, jan_first,
                           np.where(draw < r.dob_year_only + r.dob_day_missing, month_start, dob))
        return dob

    def national_id(self, person: np.ndarray, day: np.ndarray | None = None) -> np.ndarray:
        u, rng, r = self.u, self.u.rng, self.u.regime
        ids = u.national_id_on(person, day)
        rate = np.where(u.kind[person] == NATIVE, r.missing_national_id_native, r.missing_national_id_foreign)
        ids[rng.random(len(person)) < rate] = None
        dup = u.register_duplicate[person] & (rng.random(len(person)) < 0.5) & (ids != None)  # noqa: E711
        ids[dup] = u.second_national_id[person[dup]]
        return ids

    def nationality(self, person: np.ndarray, day: np.ndarray | int | None = None) -> np.ndarray:
        u = self.u
        codes = u.nationality[person].copy() if day is None else u.nationality_on(person, day)
        miscode = u.rng.random(len(person)) < u.regime.miscoded_country
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
