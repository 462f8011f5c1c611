"""The true population of a synthetic universe: who lives here, when they came and left, their
families, identifiers and documents.

Everything is vectorised with numpy over persons: the only Python loops run over the six name
groups. The main random stream draws the baseline universe in a fixed order; each behaviour a
regime adds draws from a stream of its own (:meth:`Universe.stream`), so the baseline stays
byte-identical (a regime is not a paired comparison: a change in how many records a source has
shifts the main stream's later draws).
"""

from __future__ import annotations

import zlib

import numpy as np

from spine._names import GROUPS
from spine.synthetic.regimes import Regime
from spine.synthetic.vocabulary import Vocabulary, zipf_pick

NATIVE, FOREIGN_RESIDENT, IMMIGRANT, DEPENDANT, VISITOR, SEASONAL, NO_SHOW = range(7)
KIND_NAMES = np.array(["native", "foreign_resident", "immigrant", "dependant", "visitor", "seasonal", "no_show"],
                      dtype=object)
#: Shares of natives, foreign residents, immigrants and dependants among persons who are neither
#: visitors nor seasonal workers (with the default 7% visitors: 0.70, 0.08, 0.12, 0.03).
RESIDENT_KIND_SHARES = np.array([0.70, 0.08, 0.12, 0.03])
#: Kinds who may live here (the others only visit, or never come).
LIVING_KINDS = (NATIVE, FOREIGN_RESIDENT, IMMIGRANT, DEPENDANT)
HOME = "XSY"
YEAR = 365.25
NONE = -1  # "no date" in day arrays
#: Stays and absences the generator makes short stay at most this long, long ones at least
#: LONG_DAYS: nothing falls near the 12-month line, so the truth does not hang on a day.
SHORT_MAX_DAYS, LONG_DAYS = 330, 400


def scrambled_numbers(n: int, width: int, multiplier: int, offset: int, first: int = 0) -> np.ndarray:
    """Unique, random-looking fixed-width numbers: positions ``first`` to ``first + n - 1`` of an affine
    permutation of 0..10**width-1. Series that must never share a number (a person's first and
    second passport) take disjoint positions of one permutation."""
    values = ((np.arange(n, dtype=np.int64) + first) * multiplier + offset) % (10 ** width)
    return np.char.zfill(values.astype(str), width).astype(object)


def in_spell(day: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Whether ``day`` falls in [start, end) (end NONE = open)."""
    return (start != NONE) & (start <= day) & ((end == NONE) | (day < end))


def year_start(year: np.ndarray) -> np.ndarray:
    return (np.asarray(year) - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)


class Universe:
    """Person-level arrays of the true population (one entry per person)."""

    def __init__(self, n: int, seed: int, rng: np.random.Generator, regime: Regime, start: int, end: int,
                 vocab: Vocabulary) -> None:
        self.n, self.seed, self.rng, self.regime = n, seed, rng, regime
        self.start, self.end, self.vocab = start, end, vocab
        self.kind = self._kinds()
        self.sex = rng.integers(0, 2, size=n)  # 0 female, 1 male
        groups = list(GROUPS)
        group = np.where(self.kind == NATIVE, 0, rng.integers(1, len(groups), size=n))
        self.group = group
        nationality = np.empty(n, dtype=object)
        first = np.zeros(n, dtype=np.int64)
        surname = np.zeros(n, dtype=np.int64)
        for g, name in enumerate(groups):  # loop over six groups
            in_group = group == g
            codes = GROUPS[name][0]
            nationality[in_group] = np.array(codes, dtype=object)[rng.integers(0, len(codes), in_group.sum())]
            surname[in_group] = zipf_pick(rng, vocab.surnames[name], int(in_group.sum()))
            for sex in (0, 1):
                chosen = in_group & (self.sex == sex)
                first[chosen] = zipf_pick(rng, vocab.first[(name, sex)], int(chosen.sum()))
        self.nationality = nationality
        self.first, self.surname = first, surname
        self._timeline()
        self._families()
        self._identifiers()
        self._documents()
        self._long_absences()
        self._emigrant_visits()

    def stream(self, name: str) -> np.random.Generator:
        """The random stream of one behaviour: the same for a seed whatever else the regime sets."""
        return np.random.default_rng([self.seed, 1000, zlib.crc32(name.encode())])

    def _kinds(self) -> np.ndarray:
        r = self.regime
        visitors, seasonal = r.visitor_share, r.seasonal_share
        if (visitors, seasonal) == (0.07, 0.0):
            shares = [0.70, 0.08, 0.12, 0.03, 0.07, 0.0]   # the baseline's, exactly
        else:
            shares = [*(RESIDENT_KIND_SHARES * (1 - visitors - seasonal) / RESIDENT_KIND_SHARES.sum()),
                      visitors, seasonal]
        kind = self.rng.choice(6, size=self.n, p=shares)
        kind[:5] = np.arange(5)  # every kind present, however small n is
        kind[5:8] = IMMIGRANT    # parents for dependants
        return kind

    # ---------------------------------------------------------------- when people live here

    def _timeline(self) -> None:
        n, rng, S, E, kind, r = self.n, self.rng, self.start, self.end, self.kind, self.regime
        span = E - S
        dob = np.zeros(n, dtype=np.int64)
        arrival = np.full(n, NONE, dtype=np.int64)      # start of first stay (birth for natives)
        departure = np.full(n, NONE, dtype=np.int64)    # departure that ends it
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
        scale = r.emigration_scale
        adult_native = native & (dob < E - 18 * YEAR)
        leaves = adult_native & (rng.random(n) < 0.05 * scale)
        earliest = np.maximum(S, dob + int(18 * YEAR))
        departure[leaves] = earliest[leaves] + (rng.random(leaves.sum()) * (E - earliest[leaves])).astype(np.int64)
        leaves_f = foreign & (rng.random(n) < 0.15 * scale)
        departure[leaves_f] = S + rng.integers(0, span, leaves_f.sum())
        leaves_i = immigrant & (rng.random(n) < 0.30 * scale)
        departure[leaves_i] = arrival[leaves_i] + rng.integers(LONG_DAYS, 1800, leaves_i.sum())
        planned_departure = departure.copy()            # kept beyond the window: the truth needs it
        departure[departure > E] = NONE
        dies = native & (departure == NONE) & (dob < S - 60 * YEAR) & (rng.random(n) < 0.08 * r.mortality)
        death[dies] = S + rng.integers(0, span, dies.sum())
        returns = (departure != NONE) & native & (rng.random(n) < 0.2)
        ret[returns] = departure[returns] + rng.integers(LONG_DAYS, 1500, returns.sum())
        ret[ret > E] = NONE

        self.dob, self.arrival, self.departure, self.death, self.ret = dob, arrival, departure, death, ret
        self.planned_departure = planned_departure
        self.born_here = native.copy()
        self._seasonal_workers()
        self._no_shows_asylum_and_early_leavers()
        self._foreign_deaths()

    def _seasonal_workers(self) -> None:
        """Seasonal workers come for 2-5 months in most years and are never resident."""
        seasonal = np.flatnonzero(self.kind == SEASONAL)
        self.seasons = (np.zeros(0, np.int64),) * 3
        if not len(seasonal):
            return
        g = self.stream("seasonal")
        self.dob[seasonal] = (self.start - g.uniform(20, 55, len(seasonal)) * YEAR).astype(np.int64)
        years = np.arange(_year(self.start), _year(self.end) + 1)
        person = np.repeat(seasonal, len(years))
        year = np.tile(years, len(seasonal))
        comes = g.random(len(person)) < 0.85
        person, year = person[comes], year[comes]
        arrive = year_start(year) + g.integers(60, 150, len(person))
        leave = arrive + g.integers(60, 150, len(person))
        self.seasons = (person, arrive, leave)

    def _no_shows_asylum_and_early_leavers(self) -> None:
        r, n = self.regime, self.n
        immigrant = self.kind == IMMIGRANT
        no_show = immigrant & (self.stream("no_show").random(n) < r.visa_no_show)
        no_show[5:8] = False                     # the parents kept for dependants
        self.kind[no_show] = NO_SHOW
        self.departure[no_show] = self.planned_departure[no_show] = NONE
        immigrant &= ~no_show
        g = self.stream("asylum")
        self.asylum = immigrant & (g.random(n) < r.asylum_share)
        self.official_dob = self.dob.copy()      # the date of birth the authorities recorded
        jan_first = self.asylum & (g.random(n) < r.asylum_dob_1_january)
        self.official_dob[jan_first] = year_start(self.dob[jan_first].astype("datetime64[D]").astype(
            "datetime64[Y]").astype(np.int64) + 1970)
        # early leavers: a stay of 1-11 months on a long-term visa, so never a long-term migrant
        g = self.stream("early_leavers")
        early = immigrant & ~self.asylum & (g.random(n) < r.early_leavers)
        self.planned_departure[early] = self.arrival[early] + g.integers(30, SHORT_MAX_DAYS, early.sum())
        self.departure[early] = np.where(self.planned_departure[early] > self.end, NONE, self.planned_departure[early])
        self.ret[early] = NONE

    def _foreign_deaths(self) -> None:
        """Foreign-born residents aged 50 or more who die here, a year or more after they came."""
        if self.regime.foreign_deaths == 0:
            return
        g = self.stream("foreign_deaths")
        n = self.n
        candidate = np.isin(self.kind, [FOREIGN_RESIDENT, IMMIGRANT]) & (self.planned_departure == NONE)
        earliest = np.maximum.reduce([np.full(n, self.start), self.arrival + LONG_DAYS, self.dob + int(50 * YEAR)])
        candidate &= earliest < self.end
        dies = candidate & (g.random(n) < self.regime.foreign_deaths)
        self.death[dies] = earliest[dies] + (g.random(dies.sum()) * (self.end - earliest[dies])).astype(np.int64)

    def long_first_stay(self) -> np.ndarray:
        """Whether the first stay is a long-term residence (12 months or more): not an early leaver's."""
        lives = np.isin(self.kind, LIVING_KINDS) & (self.arrival != NONE)
        stays = np.where(self.planned_departure != NONE, self.planned_departure - self.arrival, LONG_DAYS)
        return lives & (stays >= 365)

    # ---------------------------------------------------------------- families

    def _families(self) -> None:
        """Parents of children: native children get a native parent, dependants an immigrant one."""
        n, rng, S, kind = self.n, self.rng, self.start, self.kind
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
            self.planned_departure[dep] = self.planned_departure[p]
            self.dob[dep] = (self.arrival[p] - child_age * YEAR).astype(np.int64)
            self.official_dob[dep] = self.dob[dep]
            self.asylum[dep] = self.asylum[p]          # children of irregular arrivals came the same way
            self.group[dep] = self.group[p]
            self.nationality[dep] = self.nationality[p]
            self.surname[dep] = self.surname[p]
            for g, name in enumerate(GROUPS):  # first names of the child's group
                for sex in (0, 1):
                    chosen = dep[(self.group[dep] == g) & (self.sex[dep] == sex)]
                    self.first[chosen] = zipf_pick(rng, self.vocab.first[(name, sex)], len(chosen))
            self._dependants_follow_and_stay(dep, p)
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
        self.claim_only = (kind == DEPENDANT) & (rng.random(n) < self.regime.child_only_on_claim)
        self.country_of_birth = np.where(kind == NATIVE, HOME, self.nationality).astype(object)
        self._children_born_abroad()

    def _dependants_follow_and_stay(self, dep: np.ndarray, p: np.ndarray) -> None:
        """Families who follow months later; grown-up children who stay when their parents leave."""
        r = self.regime
        if r.family_follow_days:
            g = self.stream("family_follow")
            delay = g.integers(0, r.family_follow_days + 1, len(dep))
            stay = np.where(self.planned_departure[p] != NONE, self.planned_departure[p] - self.arrival[p], 10 ** 6)
            # the child's stay stays long (or the family's short): nothing near the 12-month line
            self.arrival[dep] += np.minimum(delay, np.maximum(stay - LONG_DAYS, 0))
        if r.adult_children_stay:
            g = self.stream("adult_children_stay")
            leaving = self.planned_departure[dep] != NONE
            adult = (self.planned_departure[dep] - self.dob[dep]) >= 18 * YEAR
            stays = leaving & adult & (g.random(len(dep)) < r.adult_children_stay)
            self.departure[dep[stays]] = self.planned_departure[dep[stays]] = NONE

    def _children_born_abroad(self) -> None:
        """Returning emigrants who bring back a child born abroad: a native who immigrates."""
        returners = np.flatnonzero((self.ret != NONE) & (self.kind == NATIVE))
        if not self.regime.births_abroad or not len(returners):
            return
        g = self.stream("births_abroad")
        # a child born abroad while the parent was 20-45, at least a day after leaving, a month before coming back
        earliest = np.maximum(self.departure[returners] + 1, self.dob[returners] + int(20 * YEAR))
        latest = np.minimum(self.ret[returners] - 31, self.dob[returners] + int(45 * YEAR))
        can = (latest > earliest) & (g.random(len(returners)) < self.regime.births_abroad)
        parents, earliest, latest = returners[can], earliest[can], latest[can]
        m = len(parents)
        born = earliest + (g.random(m) * (latest - earliest)).astype(np.int64)
        sex = g.integers(0, 2, m)
        first = np.zeros(m, dtype=np.int64)
        for s in (0, 1):
            first[sex == s] = zipf_pick(g, self.vocab.first[("native", s)], int((sex == s).sum()))
        codes = np.array([c for group, (cs, *_) in GROUPS.items() if group != "native" for c in cs], dtype=object)
        new = {"kind": np.full(m, NATIVE), "sex": sex, "group": np.zeros(m, np.int64),
               "nationality": np.full(m, HOME, dtype=object), "first": first, "surname": self.surname[parents],
               "dob": born, "official_dob": born, "arrival": self.ret[parents], "departure": np.full(m, NONE),
               "planned_departure": np.full(m, NONE), "death": np.full(m, NONE), "ret": np.full(m, NONE),
               "born_here": np.zeros(m, bool), "country_of_birth": codes[g.integers(0, len(codes), m)],
               "asylum": np.zeros(m, bool), "parent": parents,
               "claim_only": np.zeros(m, bool)}
        for name, values in new.items():
            setattr(self, name, np.concatenate([getattr(self, name), values.astype(getattr(self, name).dtype)]))
        self.n += m

    # ---------------------------------------------------------------- identifiers and documents

    def _identifiers(self) -> None:
        n, rng, r, kind = self.n, self.rng, self.regime, self.kind
        # registration: natives and foreign residents always; immigrants late or never
        registered = np.isin(kind, [NATIVE, FOREIGN_RESIDENT, IMMIGRANT, DEPENDANT])
        registered &= ~self.claim_only
        newcomer = np.isin(kind, [IMMIGRANT, DEPENDANT])
        never = newcomer & (rng.random(n) < r.never_registered)
        registered &= ~never
        lag = np.where(rng.random(n) < r.late_registration, rng.integers(60, r.registration_lag_days, n),
                       rng.integers(0, 15, n))
        reg_date = np.where(newcomer, self.arrival + lag, np.maximum(self.arrival, self.dob))
        dependants = np.flatnonzero(kind == DEPENDANT)
        has_parent = self.parent[dependants] != NONE
        reg_date[dependants[has_parent]] = np.maximum(reg_date[self.parent[dependants[has_parent]]],
                                                      self.arrival[dependants[has_parent]])
        too_late = (reg_date > self.end) | ((self.departure != NONE) & (reg_date >= self.departure))
        too_late |= (self.death != NONE) & (reg_date >= self.death)
        registered &= ~(newcomer & too_late)
        self.registered = registered
        self.reg_date = reg_date
        self.national_id = np.where(registered, scrambled_numbers(n, 11, 7919, 1_000_003), None)
        self.passport = scrambled_numbers(n, 8, 104_729, 12_345)
        self.passport = np.char.add(np.where(self.kind == NATIVE, "XS", "P"), self.passport.astype(str)).astype(object)
        # marriage: a share of native women change surname at a date in the window
        woman = (kind == NATIVE) & (self.sex == 0) & (self.dob < self.end - 22 * YEAR) & (self.dob > self.start - 45 * YEAR)
        marries = woman & (rng.random(n) < r.marriage_surname_change)
        self.marriage = np.full(n, NONE, dtype=np.int64)
        self.marriage[marries] = self.start + rng.integers(0, self.end - self.start, marries.sum())
        self.married_surname = self.surname.copy()
        self.married_surname[marries] = zipf_pick(rng, self.vocab.surnames["native"], int(marries.sum()))
        self.postcode = np.char.add(
            np.char.add("XS", rng.integers(1, 10, n).astype(str)),
            np.char.add(" ", np.char.add(rng.integers(1, 10, n).astype(str),
                                         np.array(list("ABDEFGHJLNPQRSTUWXYZ"))[rng.integers(0, 20, n)]))).astype(object)
        self.register_duplicate = registered & (rng.random(n) < r.register_duplicate)
        self.second_national_id = scrambled_numbers(n, 11, 6007, 55_555_555)
        # returning emigrants registered anew under a new number
        g = self.stream("returner_new_id")
        self.new_id_on_return = registered & (self.ret != NONE) & (g.random(n) < r.returner_new_id)
        self.returner_national_id = scrambled_numbers(n, 11, 7919, 1_000_003, first=2 * n)   # never another's

    def _documents(self) -> None:
        """Passports renewed under a new number; naturalisations (a home passport and nationality)."""
        n, r = self.n, self.regime
        self.passport_change = np.full(n, NONE, dtype=np.int64)
        self.new_passport = self.passport.copy()
        self.naturalised = np.full(n, NONE, dtype=np.int64)
        g = self.stream("naturalisation")
        settled = np.isin(self.kind, [FOREIGN_RESIDENT, IMMIGRANT]) & self.long_first_stay() & self.registered
        day = np.maximum(self.arrival + int(5 * YEAR), self.start) + g.integers(0, 3 * 365, n)
        until = np.where(self.departure != NONE, self.departure, np.where(self.death != NONE, self.death, self.end))
        naturalises = settled & (day < until) & (g.random(n) < r.naturalisation)
        self.naturalised[naturalises] = day[naturalises]
        self.passport_change[naturalises] = day[naturalises]
        numbers = scrambled_numbers(n, 8, 104_729, 12_345, first=2 * n).astype(str)   # never another's
        self.new_passport[naturalises] = np.char.add("XS", numbers[naturalises]).astype(object)
        g = self.stream("passport_renewal")
        renews = ~naturalises & (g.random(n) < r.passport_renewal)
        self.passport_change[renews] = self.start + g.integers(0, self.end - self.start, renews.sum())
        died_first = (self.death != NONE) & (self.passport_change >= self.death)
        self.passport_change[renews & died_first] = NONE        # no passport is issued after death
        renews &= ~died_first
        prefix = np.where(self.kind == NATIVE, "XS", "P")
        renewed = np.char.add(prefix, scrambled_numbers(n, 8, 104_729, 12_345, first=n).astype(str)).astype(object)
        self.new_passport[renews] = renewed[renews]

    def passport_on(self, person: np.ndarray, day: np.ndarray | int) -> np.ndarray:
        """The passport number each person travels on that day."""
        change = self.passport_change[person]
        return np.where((change != NONE) & (day >= change), self.new_passport[person], self.passport[person])

    def nationality_on(self, person: np.ndarray, day: np.ndarray | int) -> np.ndarray:
        """Each person's citizenship on that day (home after a naturalisation)."""
        nat = self.naturalised[person]
        return np.where((nat != NONE) & (day >= nat), HOME, self.nationality[person]).astype(object)

    def national_id_on(self, person: np.ndarray, day: np.ndarray | int | None) -> np.ndarray:
        """Each person's national id that day (a returner registered anew has a new one after return)."""
        ids = self.national_id[person]
        if day is None or not self.new_id_on_return.any():
            return ids.copy()
        anew = self.new_id_on_return[person] & (day >= self.ret[person])
        return np.where(anew, self.returner_national_id[person], ids)

    # ---------------------------------------------------------------- time abroad and visits

    def _long_absences(self) -> None:
        """Adult residents who spend 3-11 months abroad once (study, a posting, family): at least
        400 days from either end of their stay, so the stay around it stays long."""
        n, r = self.n, self.regime
        self.away_out = np.full(n, NONE, dtype=np.int64)
        self.away_in = np.full(n, NONE, dtype=np.int64)
        if not r.long_absence_share:
            return
        g = self.stream("long_absence")
        length = g.integers(90, SHORT_MAX_DAYS, n)
        lo = np.maximum.reduce([self.arrival + LONG_DAYS, np.full(n, self.start), self.dob + int(18 * YEAR)])
        end = self.spell_end()
        hi = np.where(end != NONE, end - LONG_DAYS, self.end - 30) - length
        hi = np.minimum(hi, self.end - 30 - length)
        chosen = self.long_first_stay() & ~self.claim_only & (hi > lo) & (g.random(n) < r.long_absence_share)
        out = lo + (g.random(n) * (hi - lo)).astype(np.int64)
        self.away_out[chosen] = out[chosen]
        self.away_in[chosen] = out[chosen] + length[chosen]

    def away_on(self, person: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Whether each person is on a long absence abroad that day."""
        return in_spell(day, self.away_out[person], self.away_in[person])

    def _emigrant_visits(self) -> None:
        """Emigrants who come home for 1-4 weeks in most years while they live abroad."""
        self.home_visits = (np.zeros(0, np.int64),) * 3
        left = np.flatnonzero((self.departure != NONE) & self.long_first_stay() & ~self.claim_only)
        if not self.regime.emigrant_visits_home or not len(left):
            return
        g = self.stream("emigrant_visits")
        left = left[g.random(len(left)) < self.regime.emigrant_visits_home]
        years = np.arange(_year(self.start), _year(self.end) + 1)
        person = np.repeat(left, len(years))
        year = np.tile(years, len(left))
        arrive = year_start(year) + g.integers(0, 330, len(person))
        leave = arrive + g.integers(7, 29, len(person))
        back_for_good = np.where(self.ret[person] != NONE, self.ret[person], self.end + 10 ** 6)
        adult = arrive - self.dob[person] >= 18 * YEAR          # children come home with their parents
        keep = ((arrive > self.departure[person] + 60) & (leave < back_for_good - 60) & (leave <= self.end)
                & adult & (g.random(len(person)) < 0.7))
        self.home_visits = (person[keep], arrive[keep], leave[keep])

    # ---------------------------------------------------------------- presence

    def spell_end(self) -> np.ndarray:
        return np.where(self.departure != NONE, self.departure, self.death)

    def resident_on(self, person: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Whether each person lives here on the given day (vectorised over pairs): the days that
        produce records. An early leaver's months here count; a visitor's or seasonal worker's not."""
        first = in_spell(day, self.arrival[person], self.spell_end()[person])
        second = in_spell(day, self.ret[person], np.full(len(person), NONE))
        return np.isin(self.kind[person], LIVING_KINDS) & (first | second)


def _year(day: int) -> int:
    return int(np.datetime64(int(day), "D").astype("datetime64[Y]").astype(np.int64) + 1970)
