"""The movement rules in their order, configured by one settings object.

A run (and each of its ablations, which run the same steps again on a copy of the movements) goes
through the same steps: the itinerary repair, the departures, returns and trips imputed from signs
of life, the repair after imputation, then the long-term events. What the steps read from the job
is :class:`RuleSettings`; the tables a run builds for them (people, dependants, duplicate
registrations, visa visitors) are :class:`RuleTables`. spine builds both from the job
(spine.events_stage) and orchestrates; the rules themselves know nothing of jobs.
"""

from __future__ import annotations

import dataclasses
from datetime import date

from rules._sql import Engine
from rules.events import derive_long_term_events
from rules.itinerary import TYPICAL_STAYS, TYPICAL_STAYS_AFTER_IMPUTATION, repair_itineraries
from rules.signs_of_life import (IMPUTED_RETURN_SOURCE, PROVISIONAL_SOURCE, add_imputed_departures,
                                 add_imputed_returns, add_registration_arrivals, add_returns_from_trips,
                                 add_trips_from_long_absences)


@dataclasses.dataclass(frozen=True)
class RuleSettings:
    """What the movement rules read from a job (docs/rules.md names each setting)."""

    #: Last day the data covers.
    data_end: date
    #: First day an arrival imputed from a registration may be dated (the reporting period's first
    #: day less the time the event definition looks back).
    first_reported_day: date
    #: Itinerary repair: ``estimate``, ``impute``, ``drop`` or ``none`` (off when the itinerary rule is).
    repair: str = "estimate"
    midpoint: bool = False
    #: The long-term event definition and its lengths.
    definition: str = "un_12_months"
    min_days: int = 365
    tolerance_days: int = 90
    event_window_days: int | None = None
    #: Signs of life (imputed departures and returns) on, with a presence table.
    signs_of_life: bool = True
    arrivals_from_registration: bool = True
    window_days: int = 730
    provisional_days: int | None = None
    emigration_codes: tuple[str, ...] = ("emigration",)
    death_codes: tuple[str, ...] = ("death",)
    #: Record types that are no presence (``exempt_event_types``: a pension paid abroad).
    not_presence_types: tuple[str, ...] = ()
    children_follow_parents: bool = True
    child_age_limit: int = 18
    grace_by_source: tuple[tuple[str, int], ...] = ()
    grace_by_type: tuple[tuple[str, int], ...] = ()
    min_departure_probability: float = 0.5
    min_return_probability: float = 0.5


@dataclasses.dataclass(frozen=True)
class RuleTables:
    """Tables a run builds for the rules (each None where the job has no such thing)."""

    #: ``person_id, dob, citizenship_group, born_abroad``: the subgroups of the estimates.
    people: str
    #: Children on claims with their parents (spine.presence.build_dependants).
    dependants: str | None = None
    #: Probable duplicate registrations whose activity counts as the person's.
    duplicates: str | None = None
    #: Visa visitors (never resident while on a visitor visa).
    visitors: str | None = None


class MovementRules:
    """The steps of the movement pipeline on one database, with one job's settings."""

    def __init__(self, db: Engine, settings: RuleSettings, tables: RuleTables) -> None:
        self.db, self.settings, self.tables = db, settings, tables

    def repair(self, movements: str, presence: str, entries_from: str | None = None) -> int:
        """The itinerary repair; return the movements it changed."""
        s = self.settings
        return repair_itineraries(self.db, movements, s.repair, presence if s.signs_of_life else None,
                                  midpoint=s.midpoint, gap_days=s.min_days, entries_from=entries_from,
                                  not_presence_types=s.not_presence_types,
                                  typical=TYPICAL_STAYS if entries_from is None else TYPICAL_STAYS_AFTER_IMPUTATION)

    def impute(self, movements: str, presence: str) -> None:
        """Arrivals nobody recorded, then departures, returns, trips with a missed entry and long
        absences that were two trips (rules.signs_of_life), each where the run's data says it is
        likely enough."""
        s, t = self.settings, self.tables
        if not s.signs_of_life:
            return
        if s.arrivals_from_registration:
            add_registration_arrivals(self.db, movements, presence, t.people, data_end=s.data_end,
                                      first_day=s.first_reported_day)
        add_imputed_departures(
            self.db, movements, presence, data_end=s.data_end, window_days=s.window_days,
            emigration_codes=s.emigration_codes, death_codes=s.death_codes, provisional_days=s.provisional_days,
            dependants=t.dependants if s.children_follow_parents else None, child_age_limit=s.child_age_limit,
            grace_by_source=dict(s.grace_by_source), grace_by_type=dict(s.grace_by_type), duplicates=t.duplicates,
            gap_days=s.min_days, people=t.people, min_departure_probability=s.min_departure_probability)
        # after: a deregistered leaver can come back
        add_imputed_returns(self.db, movements, presence, not_presence_types=s.not_presence_types,
                            min_return_probability=s.min_return_probability, gap_days=s.min_days,
                            emigration_codes=s.emigration_codes)
        add_returns_from_trips(self.db, movements, presence, data_end=s.data_end, people=t.people,
                               min_return_probability=s.min_return_probability,
                               not_presence_types=s.not_presence_types)
        add_trips_from_long_absences(self.db, movements, data_end=s.data_end, people=t.people,
                                     min_return_probability=s.min_return_probability)

    def repair_after_imputation(self, movements: str, presence: str) -> int:
        """A return imputed from a sign of life, then a recorded entry: the exit between went
        unrecorded too (a seasonal worker's season with neither crossing recorded). Only those: an
        exit, then a departure imputed from a late deregistration, are one departure."""
        if not self.settings.signs_of_life:
            return 0
        return self.repair(movements, presence, entries_from=IMPUTED_RETURN_SOURCE)

    def derive(self, output: str, movements: str, presence: str | None, *, with_visitors: bool = True,
               data_end: date | None = None) -> str:
        """The long-term events of ``movements`` into ``output`` (``data_end``: the settings' unless
        given, as the early-leaver estimate derives what was known at an earlier day)."""
        s = self.settings
        return derive_long_term_events(
            self.db, movements, output, data_end=data_end or s.data_end, min_days=s.min_days,
            tolerance_days=s.tolerance_days, presence=presence if s.signs_of_life else None,
            visitors=self.tables.visitors if with_visitors else None, provisional_source=PROVISIONAL_SOURCE,
            definition=s.definition, window_days=s.event_window_days)
