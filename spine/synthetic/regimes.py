"""Regimes of the synthetic universe: every behaviour of the generator as a parameter with a range.

The rules and the generator were written together, so a method measured only on the default
universe is measured on the world it was tuned to. A *regime* sets every behaviour the
administrative data of a real country varies on: how often residents show activity, which fields
a source lacks or degrades, how well the border records exits, how registers lag, money that
follows people abroad, document changes and the make-up of the population. Each parameter has a
documented plausible range; named presets combine them into worlds (``REGIMES``), and
:func:`random_regime` draws every parameter from its full range, from a seed, so that nobody can
tune a method to the worlds it is scored on.

The default value of every parameter is the universe ``spine synth`` wrote before regimes
existed (the ``baseline`` regime): its files are unchanged, byte for byte. A regime is not a paired
comparison with the baseline: a parameter that changes how many records a source has shifts the
random draws of the sources written after it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

#: Administrative sources whose names a regime may write in upper-case ASCII.
ADMIN_SOURCES = ("tax", "benefits", "child_benefit_children", "crossings", "visas", "education")


def _p(default: Any, low: Any, high: Any, group: str, doc: str) -> Any:
    """A regime parameter: its default, plausible range [low, high], group and meaning."""
    return field(default=default, metadata={"range": (low, high), "group": group, "doc": doc})


@dataclass(frozen=True)
class Regime:
    """Every behaviour of the synthetic universe. Probabilities are per record unless they say per
    person; ``*_days`` are uniform upper bounds. See docs/synthetic.md for each one."""

    # ---- activity: how often residents leave a trace in the activity sources
    employment_rate: float = _p(
        0.75, 0.45, 0.9, "activity", "share of people who file tax in every year of working age (18-66) they live here")
    activity_gap_share: float = _p(
        0.0, 0.0, 0.4, "activity",
        "share of workers with one spell of years without work, so without a tax record (carers, out of "
        "work without benefit, people between jobs); their other sources go on")
    activity_gap_years: int = _p(6, 2, 12, "activity", "longest such spell, in years (uniform from 2)")
    intermittent_work: float = _p(
        0.0, 0.0, 0.3, "activity", "chance that a worker files no tax in a given year (intermittent histories)")
    early_retirement: float = _p(
        0.0, 0.0, 0.4, "activity", "share of workers who stop working at 55-64, silent until their pension at 66")
    long_absence_share: float = _p(
        0.0, 0.0, 0.1, "activity",
        "share of adult residents with one stay abroad of 3-11 months (study, posting, family): no "
        "activity then, and not an emigration")
    # ---- fields a source lacks or degrades
    tax_has_sex: bool = _p(True, False, True, "fields", "tax records carry a sex column")
    benefits_has_sex: bool = _p(True, False, True, "fields", "benefit records carry a sex column")
    dob_day_missing: float = _p(
        0.0, 0.0, 0.3, "fields", "admin records whose date of birth lost its day (written as the 1st)")
    dob_year_only: float = _p(
        0.0, 0.0, 0.2, "fields", "admin records whose date of birth holds the year only (written as 1 January)")
    upper_ascii_sources: tuple[str, ...] = _p(
        (), (), ADMIN_SOURCES, "fields", "admin sources that write names in upper-case ASCII (accents dropped)")
    typo: float = _p(0.02, 0.0, 0.08, "fields", "a typing error in a name (per name)")
    nickname: float = _p(0.05, 0.0, 0.15, "fields", "native first names written as a nickname in admin records")
    transliteration: float = _p(
        0.15, 0.0, 0.4, "fields", "foreign names written in another transliteration (per name)")
    name_swap: float = _p(0.0, 0.0, 0.05, "fields", "admin records with first name and surname swapped")
    marriage_surname_change: float = _p(
        0.3, 0.0, 0.6, "fields", "share of native women of marrying age who take a new surname in the window (per person)")
    marriage_lag_days: int = _p(
        0, 0, 1095, "fields", "each admin source learns a new surname up to this many days late (a lag per source)")
    dob_day_month_swap: float = _p(0.01, 0.0, 0.03, "fields", "day and month of birth swapped")
    missing_national_id_foreign: float = _p(
        0.6, 0.2, 0.9, "fields", "admin records of foreign-born people without their national id")
    missing_national_id_native: float = _p(
        0.02, 0.0, 0.1, "fields", "admin records of natives without their national id")
    miscoded_country: float = _p(
        0.02, 0.0, 0.06, "fields", "nationality written as a confusable code (CH for CL, ...)")
    # ---- border recording
    exit_recording: float = _p(0.9, 0.7, 0.99, "border", "exits the border system records")
    entry_recording: float = _p(1.0, 0.9, 1.0, "border", "entries the border system records")
    duplicate_crossing: float = _p(0.01, 0.0, 0.05, "border", "crossings recorded twice")
    child_crossing_recording: float = _p(
        1.0, 0.3, 1.0, "border", "crossings of children under 16 that are recorded (on a parent's passport)")
    asylum_share: float = _p(
        0.0, 0.0, 0.3, "border",
        "share of immigrants who arrive irregularly (asylum): no visa and no recorded entry")
    asylum_dob_1_january: float = _p(
        0.6, 0.0, 1.0, "border", "share of those whose date of birth is recorded as 1 January in every source")
    # ---- registers
    deregistration: float = _p(
        0.5, 0.05, 0.6, "register", "share of emigrants who deregister (per person)")
    deregistration_lag_days: int = _p(
        90, 0, 730, "register", "a deregistration is reported up to this many days after the departure")
    register_duplicate: float = _p(
        0.002, 0.0, 0.02, "register", "share of registered people registered twice, with a second national id")
    returner_new_id: float = _p(
        0.0, 0.0, 1.0, "register",
        "share of returning emigrants registered anew with a new national id (the old record left as it was)")
    late_registration: float = _p(
        0.3, 0.0, 0.8, "register", "share of immigrants who register late (60 days or more after arrival)")
    registration_lag_days: int = _p(400, 120, 730, "register", "a late registration comes up to this many days after arrival")
    never_registered: float = _p(0.1, 0.0, 0.4, "register", "share of immigrants who never register")
    # ---- money that follows people abroad
    pension_abroad: float = _p(
        0.0, 0.0, 1.0, "money_abroad", "share of emigrants of pension age whose pension is still paid abroad")
    child_benefit_after_emigration_days: int = _p(
        0, 0, 730, "money_abroad",
        "child benefit is still paid for a year whose 1 July comes less than this many days after the "
        "family left (records are calendar years judged on 1 July, so 0 already pays the year they left)")
    income_after_leaving: float = _p(
        0.0, 0.0, 0.5, "money_abroad", "share of emigrants with taxed income here (rent, a pension fund) for 1-3 years after leaving")
    # ---- documents
    passport_renewal: float = _p(
        0.0, 0.0, 0.8, "documents", "share of people whose passport is renewed with a new number during the window")
    naturalisation: float = _p(
        0.0, 0.0, 0.5, "documents",
        "share of foreign residents and settled immigrants who naturalise after 5 years: a home passport, "
        "home nationality in later records")
    # ---- populations
    visitor_share: float = _p(0.07, 0.02, 0.3, "population", "share of persons who are short-term visitors")
    seasonal_share: float = _p(
        0.0, 0.0, 0.1, "population",
        "share of persons who are seasonal workers: 2-5 months a year here, with tax, never resident")
    emigration_scale: float = _p(1.0, 0.5, 2.5, "population", "multiplies every group's chance to emigrate")
    early_leavers: float = _p(
        0.0, 0.0, 0.4, "population", "share of immigrants on long-term visas who leave within 12 months")
    visa_no_show: float = _p(0.0, 0.0, 0.2, "population", "share of would-be immigrants granted a visa who never come")
    family_follow_days: int = _p(
        0, 0, 365, "population", "dependants arrive up to this many days after their parent")
    adult_children_stay: float = _p(
        0.0, 0.0, 1.0, "population", "share of dependants aged 18 or more who stay when their parents emigrate")
    births_abroad: float = _p(
        0.0, 0.0, 0.5, "population", "share of returning emigrants who bring back a child born abroad")
    emigrant_visits_home: float = _p(
        0.0, 0.0, 0.8, "population", "share of emigrants who visit home for 1-4 weeks each year")
    mortality: float = _p(1.0, 0.5, 3.0, "population", "multiplies natives' chance to die in the window")
    foreign_deaths: float = _p(
        0.0, 0.0, 0.1, "population", "share of foreign-born residents aged 50 or more who die in the window")
    child_only_on_claim: float = _p(
        0.5, 0.0, 1.0, "population", "share of dependants known only as a child on a benefit claim")

    def __post_init__(self) -> None:
        """Values must make sense (a share between 0 and 1, days not negative); the documented range
        is what is plausible and what random regimes draw from, and a value outside it is allowed
        (a border that records every exit, a country without visitors)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "tuple[str, ...]":
                unknown = sorted(set(value) - set(ADMIN_SOURCES))
                if unknown:
                    raise ValueError(f"regime parameter {f.name}: unknown sources {unknown}; "
                                     f"expected some of {', '.join(ADMIN_SOURCES)}")
                continue
            low, high = _VALID.get(f.name, (0, 1) if f.type == "float" else (0, None))
            if f.type != "bool" and (value < low or (high is not None and value > high)):
                bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
                raise ValueError(f"regime parameter {f.name} must be {bounds}, got {value}")
        if self.visitor_share + self.seasonal_share >= 1:
            raise ValueError("regime parameters visitor_share + seasonal_share must be below 1, "
                             f"got {self.visitor_share} + {self.seasonal_share}")

    def changed(self) -> dict[str, Any]:
        """The parameters set away from their defaults (what makes this regime what it is)."""
        default = Regime()
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)}

    def with_overrides(self, overrides: dict[str, Any]) -> Regime:
        """A copy with some parameters replaced (values are checked against their ranges)."""
        unknown = sorted(set(overrides) - {f.name for f in fields(self)})
        if unknown:
            raise ValueError(f"unknown regime parameters {unknown}; `spine synth --help` lists them")
        return dataclasses.replace(self, **overrides)


#: Valid values where they are not "a share between 0 and 1" (floats) or "0 or more" (integers).
_VALID: dict[str, tuple[float, float | None]] = {
    "emigration_scale": (0.0, 10.0), "mortality": (0.0, 10.0), "activity_gap_years": (1, None),
    "registration_lag_days": (61, None)}


#: Named worlds: each combines the behaviours of one kind of country (or of a hard one).
REGIMES: dict[str, tuple[str, dict[str, Any]]] = {
    "baseline": ("the default universe: every resident of working age is active, exits recorded at 90%", {}),
    "quiet_residents": (
        "many residents leave no activity for years: carers, people out of work, early retirees, years abroad",
        {"employment_rate": 0.6, "activity_gap_share": 0.35, "activity_gap_years": 10, "intermittent_work": 0.2,
         "early_retirement": 0.3, "long_absence_share": 0.06}),
    "leaky_border": (
        "a border system that misses exits and some entries, records children rarely and duplicates crossings",
        {"exit_recording": 0.7, "entry_recording": 0.92, "duplicate_crossing": 0.04, "child_crossing_recording": 0.3}),
    "stale_register": (
        "a register nobody leaves: few deregistrations, late ones, duplicates, returners with new numbers",
        {"deregistration": 0.05, "deregistration_lag_days": 730, "register_duplicate": 0.015,
         "returner_new_id": 0.8, "late_registration": 0.7, "registration_lag_days": 730, "never_registered": 0.3}),
    "money_abroad": (
        "pensions, child benefit and income that keep coming after people have left",
        {"pension_abroad": 0.8, "child_benefit_after_emigration_days": 540, "income_after_leaving": 0.4,
         "emigration_scale": 1.5}),
    "messy_identities": (
        "tax and benefits without sex, coarse dates of birth, upper-case ASCII names, swaps, late name changes",
        {"tax_has_sex": False, "benefits_has_sex": False, "dob_day_missing": 0.2, "dob_year_only": 0.1,
         "upper_ascii_sources": ("tax", "benefits", "crossings"), "transliteration": 0.35, "name_swap": 0.03,
         "typo": 0.05, "nickname": 0.12, "marriage_lag_days": 1095}),
    "new_documents": (
        "passports renewed with new numbers, naturalisations that switch passport and nationality",
        {"passport_renewal": 0.7, "naturalisation": 0.4}),
    "mobile_population": (
        "many visitors and seasonal workers, early leavers, visa no-shows, emigrants visiting home",
        {"visitor_share": 0.25, "seasonal_share": 0.08, "early_leavers": 0.3, "visa_no_show": 0.15,
         "emigrant_visits_home": 0.7, "long_absence_share": 0.05}),
    "family_moves": (
        "families who follow months later, adult children who stay behind, children born abroad",
        {"family_follow_days": 300, "adult_children_stay": 0.8, "births_abroad": 0.4, "child_only_on_claim": 0.8,
         "child_benefit_after_emigration_days": 180}),
    "asylum_arrivals": (
        "irregular arrivals without visa or recorded entry, 1 January dates of birth, slow registration",
        {"asylum_share": 0.3, "asylum_dob_1_january": 0.8, "late_registration": 0.6, "never_registered": 0.2}),
    "high_emigration": (
        "an emigration country: many leave, few deregister, exits poorly recorded, more deaths",
        {"emigration_scale": 2.5, "deregistration": 0.2, "exit_recording": 0.8, "mortality": 2.0,
         "foreign_deaths": 0.05, "emigrant_visits_home": 0.4}),
    "hard_country": (
        "hard settings of several groups at once: quiet residents, a leaky border, a stale register, "
        "money abroad, tax without sex",
        {"employment_rate": 0.55, "activity_gap_share": 0.3, "intermittent_work": 0.15, "early_retirement": 0.2,
         "exit_recording": 0.75, "deregistration": 0.1, "deregistration_lag_days": 365, "pension_abroad": 0.5,
         "income_after_leaving": 0.3, "tax_has_sex": False, "passport_renewal": 0.4, "early_leavers": 0.2,
         "seasonal_share": 0.04, "never_registered": 0.25}),
}


def named_regime(name: str) -> Regime:
    """The preset called ``name`` (see ``REGIMES``)."""
    if name not in REGIMES:
        raise ValueError(f"unknown regime {name!r}; known: {', '.join(REGIMES)}")
    return Regime().with_overrides(REGIMES[name][1])


def random_regime(seed: int, index: int) -> Regime:
    """A regime with every parameter drawn from its full range (uniform; a coin for yes/no
    parameters; each source by a coin for source lists), from ``seed`` and ``index`` alone."""
    rng = np.random.default_rng([seed, 7, index])
    values: dict[str, Any] = {}
    for f in fields(Regime):
        low, high = f.metadata["range"]
        if f.type == "bool":
            values[f.name] = bool(rng.random() < 0.5)
        elif f.type == "tuple[str, ...]":
            values[f.name] = tuple(s for s in high if rng.random() < 0.5)
        elif f.type == "int":
            values[f.name] = int(rng.integers(low, high + 1))
        else:
            values[f.name] = round(float(rng.uniform(low, high)), 4)
    return Regime(**values)


def parse_value(name: str, text: str) -> Any:
    """A parameter's value from text (``--set name=value`` on the CLI)."""
    by_name = {f.name: f for f in fields(Regime)}
    if name not in by_name:
        raise ValueError(f"unknown regime parameter {name!r}; `spine synth --help` lists them")
    kind = by_name[name].type
    try:
        if kind == "bool":
            if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "yes", "1")
        if kind == "tuple[str, ...]":
            return tuple(s for s in (part.strip() for part in text.split(",")) if s)
        return int(text) if kind == "int" else float(text)
    except ValueError:
        raise ValueError(f"regime parameter {name}: cannot read {text!r} as {kind}") from None


def describe_parameters() -> str:
    """Every parameter with its default, range and meaning, by group (for ``spine synth --help``)."""
    lines, group = [], None
    for f in fields(Regime):
        meta = f.metadata
        if meta["group"] != group:
            group = meta["group"]
            lines.append(f"{group}:")
        low, high = meta["range"]
        span = "yes/no" if f.type == "bool" else ("any of " + ",".join(high) if f.type == "tuple[str, ...]"
                                                  else f"{low}-{high}")
        default = ",".join(f.default) or "none" if f.type == "tuple[str, ...]" else f.default
        lines.append(f"  {f.name} = {default}  [{span}]  {meta['doc']}")
    return "\n".join(lines)


def describe_regimes() -> str:
    """Each named regime with what it sets (for ``spine synth --list-regimes``)."""
    lines = []
    for name, (doc, overrides) in REGIMES.items():
        lines.append(f"{name}: {doc}")
        for key, value in overrides.items():
            lines.append(f"    {key} = {','.join(value) if isinstance(value, tuple) else value}")
    return "\n".join(lines)
