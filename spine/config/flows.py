"""The ``flows`` section: periods, disclosure, uncertainty and the validation sample."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, StrictStr, field_validator, model_validator

from spine.config.fields import DEFAULT_DATE_FORMAT, StrictModel


#: Rule settings that ``flows.uncertainty.rule_alternatives`` may vary between replicates: the
#: numeric judgement calls of the signs-of-life and events rules (not the definition of a migrant).
RuleParameter = Literal["signs_of_life.window_days", "signs_of_life.provisional_days", "events.tolerance_days"]


#: Flow dimensions the validation sample's error rates may differ by (besides the event type).
ValidationStratum = Literal["period", "sex", "age_group", "citizenship_group"]


class ValidationColumnsConfig(StrictModel):
    """Columns of the validation file (defaults: the same names)."""

    #: Column naming the job source of the person's record.
    source: StrictStr = "source"
    #: Column with that record's id.
    record_id: StrictStr = "record_id"
    #: Column with the person's true sex.
    sex: StrictStr = "sex"
    #: Column with the person's true date of birth.
    dob: StrictStr = "dob"
    #: Column with the person's true nationality.
    nationality: StrictStr = "nationality"
    #: Column with a true move of the person (immigration or emigration; empty: none).
    event: StrictStr = "event"
    #: Column with the date of that move.
    event_date: StrictStr = "event_date"


class ValidationConfig(StrictModel):
    """A sample of people whose true moves are known (a follow-up survey, a case-file review).

    One row per true move (``event`` immigration or emigration, ``event_date``) of each person in
    the sample, and one row with ``event`` empty for a person who made none; the person is named by
    one of their records in a job source (``source``, ``record_id``) and carries their true sex,
    date of birth and nationality. Comparing the spine's events of those people with their true
    ones measures, per flow cell, how many derived events are true (precision) and how many true
    events are derived (sensitivity); the intervals carry that error (docs/uncertainty.md).
    """

    #: CSV or Parquet file of the validation sample, relative to the job file.
    path: StrictStr
    #: csv or parquet; None: from the file's extension.
    format: Literal["csv", "parquet"] | None = None
    columns: ValidationColumnsConfig = ValidationColumnsConfig()
    #: strptime format(s) of the sample's dates, tried in order.
    date_format: StrictStr | list[StrictStr] = DEFAULT_DATE_FORMAT
    #: The sample's sex codes -> f or m; None: the common codes.
    sex_codes: dict[StrictStr, Literal["f", "m"]] | None = None
    #: Publish calibrated counts: each flow cell's derived count turned into the median of its
    #: true-count draws (the precision and sensitivity measured for its stratum, shrunk), margins
    #: the sums of the calibrated cells, disclosure control on what is published; the derived
    #: counts stay in the store (flows__uncalibrated) and quality.json. false: the derived counts
    #: are published and the sample only widens the intervals.
    calibrate: bool = True
    #: The dates over which the sample's moves were checked: events outside are not compared.
    #: Default: the job's reporting period.
    start: date | None = None
    #: Last day over which the sample's moves were checked (see start).
    end: date | None = None
    #: Error rates are estimated per event type and per these dimensions, each shrunk towards the
    #: event type's rate with the weight of ``prior_events`` events; ``auto`` fits that weight to how
    #: much the strata differ (empirical Bayes: narrower intervals, lower coverage when measured).
    strata: list[ValidationStratum] = Field(default=["age_group", "citizenship_group"])
    #: Weight (in events) of the event type's rate in each stratum's shrunk rate; auto: fitted
    #: (empirical Bayes).
    prior_events: Annotated[float, Field(ge=0, allow_inf_nan=False)] | Literal["auto"] = 10.0

    @model_validator(mode="after")
    def _ordered(self) -> "ValidationConfig":
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if len(set(self.strata)) != len(self.strata):
            raise ValueError(f"strata: each dimension once, got {self.strata}")
        return self


class UncertaintyConfig(StrictModel):
    """Intervals for the flows: assignment and rules re-run under linkage (and rule) uncertainty.

    Each replicate links every record with candidates to one of them, or none, by their match
    odds (see spine.uncertainty and docs/uncertainty.md), re-derives movements, events and flows, and
    the published interval is the central ``confidence`` range of the replicates' counts.
    """

    #: Replicates per run: 0 (the default) computes no intervals (lower and upper stay NULL).
    replicates: int = Field(default=0, ge=0, le=10_000)
    #: Seed of the replicates' random draws: the same seed gives the same intervals.
    seed: int = Field(default=1, ge=0)
    #: Confidence level of the published intervals (0.95: 95%).
    confidence: float = Field(default=0.95, gt=0, lt=1)
    #: ``identity``: records with the same names, date of birth and sex draw the same random number
    #: (a person's records are linked or not together, as the evidence is the same); ``record``: each
    #: record draws its own.
    sampling_unit: Literal["identity", "record"] = "identity"
    #: Alternative values of rule settings, one drawn per replicate (uniformly), e.g.
    #: ``{signs_of_life.window_days: [548, 730, 913]}``; null for provisional_days means none.
    rule_alternatives: dict[RuleParameter, list[Annotated[int, Field(ge=0)] | None]] = Field(default_factory=dict)
    #: A sample of people whose true moves are known: the error of the rules and of the persons'
    #: attributes measured on it is carried into the intervals (docs/uncertainty.md).
    validation: ValidationConfig | None = None

    @field_validator("replicates")
    @classmethod
    def _several(cls, value: int) -> int:
        if value == 1:
            raise ValueError("must be 0 (off) or at least 2 (an interval needs several replicates; "
                             "100 or more for a 95% interval)")
        return value

    @field_validator("rule_alternatives")
    @classmethod
    def _values_given(cls, value: dict[str, list[int | None]]) -> dict[str, list[int | None]]:
        for key, values in value.items():
            if not values:
                raise ValueError(f"{key}: give at least one value")
            if None in values and key != "signs_of_life.provisional_days":
                raise ValueError(f"{key}: null is allowed for signs_of_life.provisional_days only "
                                 "(no provisional departures)")
        return value


class FlowsConfig(StrictModel):
    """Published aggregates of events and their disclosure control."""

    #: Flows are published per year or per month.
    period: Literal["year", "month"] = "year"
    #: Cells (margins included) with 1 to ``min_cell_count - 1`` events are suppressed, and as many
    #: more as it takes for none of them to be derivable from the published cells (docs/flows.md).
    min_cell_count: int = Field(default=10, ge=0)
    #: Round published counts (margins included) to a multiple of this base, e.g. 5; none by default.
    rounding: int | None = Field(default=None, ge=2)
    #: Lower bounds of the published age groups (age at the event), in years.
    age_groups: list[int] = Field(default=[0, 16, 25, 35, 45, 65], min_length=1)
    uncertainty: UncertaintyConfig = UncertaintyConfig()

    @field_validator("age_groups")
    @classmethod
    def _ascending_from_zero(cls, value: list[int]) -> list[int]:
        if value[0] != 0 or any(b <= a for a, b in zip(value, value[1:])):
            raise ValueError(f"must start at 0 and increase, got {value}")
        return value
