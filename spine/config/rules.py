"""The ``rules`` section: itinerary, signs of life, visas, family and event definitions."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, StrictStr, model_validator

from spine.config.fields import MAX_DAYS, Name, StrictModel


class ItineraryRuleConfig(StrictModel):
    """Flag two consecutive movements in the same direction (Moldova's illogical itinerary)."""

    #: Order each person's movements, collapse same-day duplicates and flag two in a row in one
    #: direction.
    enabled: bool = True
    #: ``estimate`` the missing opposite movement (dated by the typical length of the person's own
    #: stays or absences, unless presence shows a long absence; docs/rules.md), ``impute`` it
    #: (dated from presence, else at the midpoint), ``drop`` the second of the pair, or ``none``
    #: (flag only).
    repair: Literal["none", "estimate", "impute", "drop"] = "estimate"
    #: With ``impute``: a pair with no presence between is left alone (``false``) or repaired at
    #: the midpoint (``true``).
    midpoint: bool = False


class EventsRuleConfig(StrictModel):
    """Derive immigration and emigration from continuous stays and absences."""

    #: ``un_12_months`` (a continuous stay or absence of min_days), ``12_in_16`` (min_days in
    #: total within the 16 months, 487 days, after a crossing) or ``cumulative_days`` (min_days in
    #: total within window_days). See docs/rules.md.
    definition: Literal["un_12_months", "12_in_16", "cumulative_days"] = "un_12_months"
    #: Count each provisional immigration (an arrival in the data's last 12 months) as the share of
    #: it expected to stay: the share of earlier provisional immigrations that left early, estimated
    #: from the data as if it had ended one to four years earlier (ONS early leavers; docs/rules.md).
    early_leavers: bool = True
    #: Days a stay or absence must last to change the residence state (365: the UN 12 months).
    min_days: int = Field(default=365, ge=1, le=MAX_DAYS)
    #: The window of the cumulative definitions: required for cumulative_days, 487 for 12_in_16.
    window_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    #: un_12_months: trips abroad and visits home shorter than this do not interrupt a stay or an
    #: absence (the cumulative definitions count trips by their days)
    tolerance_days: int = Field(default=90, ge=0, le=MAX_DAYS)

    @model_validator(mode="after")
    def _window_fits_definition(self) -> "EventsRuleConfig":
        if self.definition == "un_12_months" and self.window_days is not None:
            raise ValueError("window_days applies to the 12_in_16 and cumulative_days definitions only")
        if self.definition == "cumulative_days" and self.window_days is None:
            raise ValueError("the cumulative_days definition needs window_days (e.g. 365 with min_days: 183)")
        if self.definition == "12_in_16" and self.window_days not in (None, 487):
            raise ValueError("12_in_16 has a window of 16 months (487 days); for another window use "
                             "definition: cumulative_days")
        window = 487 if self.definition == "12_in_16" else self.window_days
        if window is not None and window < self.min_days:
            raise ValueError(f"the window ({window} days) is shorter than min_days ({self.min_days}): "
                             "nobody could ever qualify")
        if self.definition != "un_12_months" and "tolerance_days" in self.model_fields_set:
            raise ValueError(f"tolerance_days applies to un_12_months only; {self.definition} counts trips by their days")
        return self


class SignsOfLifeConfig(StrictModel):
    """Presence from activity; departures nobody recorded (see rules.signs_of_life)."""

    #: Use presence (registrations, activity) to impute departures and returns nobody recorded.
    enabled: bool = True
    #: Sources whose records show the person was here: the base register gives registrations
    #: (start_date, end_date = deregistration, event_type = its reason), the others activity.
    sources: list[Name] = Field(default_factory=list)
    #: A last sign of life from these does not count as silence (students stay resident: RAPID).
    exempt_sources: list[Name] = Field(default_factory=list)
    #: Nor does a record of these types (event_type, lower case): a child benefit claim ends when
    #: the child grows up, not when the parent leaves.
    exempt_event_types: list[StrictStr] = Field(default_factory=list)
    #: A record without an end date shows presence for this many days from its start (a tax year: 365).
    covers_days: dict[Name, Annotated[int, Field(ge=1, le=MAX_DAYS)]] = Field(default_factory=dict)
    #: No sign of life for longer than this, and no movement since: presumed gone at the last one.
    window_days: int = Field(default=730, ge=1, le=MAX_DAYS)
    #: Impute a departure from a silence only where the chance that such a silence (the person's
    #: subgroup and silence length) is a departure, estimated from the run's own data, is at least
    #: this (rules.silence: how well exits and deregistrations record known leavers). 0: every
    #: silence longer than the window, whatever the data says. Default chosen on the robustness
    #: benchmark (docs/rules.md).
    min_departure_probability: float = Field(default=0.5, ge=0, le=1)
    #: A person born abroad whose first presence is a registration after the data's first year,
    #: with no recorded movement before it, arrived then (asylum seekers and others who came
    #: without crossing a border post): an arrival imputed at the registration less the usual
    #: registration lag, estimated in the run.
    arrivals_from_registration: bool = True
    #: Likewise for a return imputed from a sign of life after a departure with no recorded entry
    #: (a pension paid abroad is not presence where entries are recorded).
    min_return_probability: float = Field(default=0.5, ge=0, le=1)
    #: At the end of the data a silence cannot be window_days long yet: one of at least this many
    #: days gives a provisional departure (its events flagged provisional). None (the default):
    #: wait for the window. Measured both ways in docs/rules.md.
    provisional_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    #: A silence after a sign of life from these (a source name, else a record type, lower case)
    #: starts this many days after its end: RAPID's child-benefit grace period. A departure is
    #: still dated at the sign of life.
    grace_days: dict[StrictStr, Annotated[int, Field(ge=1, le=MAX_DAYS)]] = Field(default_factory=dict)
    #: A child on a claim (rules.family) whose parent shows a later sign of life is not silent
    #: until the child is child_age_limit: a child whose parent is resident is resident.
    children_follow_parents: bool = True
    #: Age until which a child on a claim takes a parent's later sign of life as its own.
    child_age_limit: int = Field(default=18, ge=1)
    #: People present only by registration (no activity in any source, no movement ever), at
    #: least never_active_min_age at the end of the data, are never resident: they get no
    #: residence spell (as the US IDIM drops identifiers with no sign of life). Off by default:
    #: measured in docs/rules.md.
    never_active_not_resident: bool = False
    #: Minimum age at the data end for never_active_not_resident to apply.
    never_active_min_age: int = Field(default=16, ge=0)
    #: Deregistration reasons (the register's event_type, lower case) meaning emigration, and death.
    emigration_codes: list[StrictStr] = Field(default_factory=lambda: ["emigration"])
    #: Deregistration reasons (lower case) that mean death: no departure is imputed after them.
    death_codes: list[StrictStr] = Field(default_factory=lambda: ["death"])


class VisasRuleConfig(StrictModel):
    """Visa-aware rules (see rules.visas): visitors never migrate; in-country grants; arrivals
    imputed from visa starts."""

    #: The source of visa grants (maps event_type = the visa type, start_date, end_date); None:
    #: no visa rules.
    source: Name | None = None
    #: Visa types (lower case) that are visits: their holders with no other visa and no presence are
    #: visitors.
    visit_types: list[StrictStr] = Field(default_factory=lambda: ["visit"])
    #: A visa starting while the person is here is a sign of life, and after a visit visa the
    #: start of the long-term count (time as a visitor does not count).
    in_country_grants: bool = True
    #: A visa granted abroad with presence during it but no recorded entry: an arrival imputed at
    #: its start ...
    impute_arrivals: bool = True
    #: ... except for these types (lower case; e.g. child visas, whose holders may be born here).
    no_arrival_types: list[StrictStr] = Field(default_factory=list)
    #: A holder who entered on a visa and was not recorded leaving left at its end, where the
    #: run's data says holders of that type do (rules.visa_ends: estimated, never assumed).
    departures_at_end: bool = True


class FamilyRuleConfig(StrictModel):
    """Family association (see spine.family, rules.family): dependants through their parent's claims."""

    #: Records of dependants carrying the claim id (e.g. children on child benefit claims).
    children_source: Name | None = None
    #: Records of claimants carrying the same claim id (e.g. the benefit payments).
    claims_source: Name | None = None


#: Rule settings ``rules.calibrate`` may choose between on the validation sample.
CalibratedSetting = Literal["signs_of_life.window_days", "signs_of_life.provisional_days",
                            "signs_of_life.min_departure_probability", "signs_of_life.min_return_probability",
                            "events.tolerance_days", "itinerary.repair"]


class CalibrateConfig(StrictModel):
    """Choose rule settings on the validation sample (flows.uncertainty.validation): every
    combination of the alternatives is run, and the one whose events best match the sample's true
    moves (F1 of moves per person, period and event) is used. Cross-validation says how well the
    choice does on people it was not chosen on (docs/rules.md)."""

    #: Rule settings to choose between, each with the values to try (every combination is run).
    alternatives: dict[CalibratedSetting, list[float | int | StrictStr | None]] = Field(min_length=1)
    #: Cross-validation folds: the choice is scored on people it was not chosen on.
    folds: int = Field(default=5, ge=2, le=20)

    @model_validator(mode="after")
    def _small_enough(self) -> "CalibrateConfig":
        combinations = math.prod(len(v) for v in self.alternatives.values())
        if combinations > MAX_CALIBRATED_COMBINATIONS:
            raise ValueError(f"alternatives: {combinations} combinations, at most {MAX_CALIBRATED_COMBINATIONS} "
                             "(each runs the rules once)")
        empty = [k for k, v in self.alternatives.items() if not v]
        if empty:
            raise ValueError(f"alternatives.{empty[0]}: give at least one value")
        return self


#: Each combination of ``rules.calibrate.alternatives`` runs the rules once.
MAX_CALIBRATED_COMBINATIONS = 24


class RulesConfig(StrictModel):
    """Post-linkage rules applied to the linked spine."""

    itinerary: ItineraryRuleConfig = ItineraryRuleConfig()
    signs_of_life: SignsOfLifeConfig = SignsOfLifeConfig()
    visas: VisasRuleConfig = VisasRuleConfig()
    family: FamilyRuleConfig = FamilyRuleConfig()
    events: EventsRuleConfig = EventsRuleConfig()
    #: Opt-in: rule settings chosen on the validation sample, with cross-validation.
    calibrate: CalibrateConfig | None = None
