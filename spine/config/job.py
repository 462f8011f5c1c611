"""The job as a whole: observation and reporting periods, output, engine, conflicts,
enlargement, and the checks across sections."""

from __future__ import annotations

import difflib
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, FiniteFloat, StrictStr, ValidationError, ValidationInfo, model_validator

from spine.config.fields import Iso3, Name, StrictModel
from spine.config.flows import FlowsConfig
from spine.config.linkage import (
    DERIVED_FEATURES, IdLinkageMixin, MatchKeyConfig, MatchKeysConfig, ProbabilisticConfig, Probability,
)
from spine.config.rules import RulesConfig
from spine.config.sources import SourceConfig


def _unknown(what: str, value: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(value, choices, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; expected one of {choices}"
    return f"{what} names unknown source '{value}'{hint}"


class ObservationConfig(StrictModel):
    """The window the data covers; events need 12 months of follow-up inside it."""

    #: First day of the evidence: records before it are not used.
    start: date
    #: Last day of the evidence (the data end the rules reason from).
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> "ObservationConfig":
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


#: The window of the 12-in-16 definition when the job does not set one (16 months).
TWELVE_IN_SIXTEEN_DAYS = 487


def _period_start_on_or_after(day: date, period: str) -> date:
    """The first day of the first year (or month) that starts on or after ``day``."""
    if period == "month":
        return day if day.day == 1 else date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return day if (day.month, day.day) == (1, 1) else date(day.year + 1, 1, 1)


def _period_end_on_or_before(day: date, period: str) -> date:
    """The last day of the last year (or month) that ends on or before ``day``."""
    if period == "month":
        following = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
        return day if following - timedelta(days=1) == day else date(day.year, day.month, 1) - timedelta(days=1)
    return day if (day.month, day.day) == (12, 31) else date(day.year - 1, 12, 31)


class ReportingConfig(StrictModel):
    """The period events and flows are published for. ``observation`` is the evidence: every record
    inside it is used; the reporting period is the part of it whose events the evidence can decide.
    Default: the observation window less a year of history at its start (an entry in the data's
    first months may be the return of someone who left before the data began) and less the
    follow-up the event definition needs at its end (12 months for un_12_months, the window for
    the cumulative definitions), in whole periods. A reporting end inside that follow-up
    publishes provisional events for its last months."""

    #: First day of the published events and flows; None: observation start plus what the event
    #: definition needs.
    start: date | None = None
    #: Last day of the published events and flows; None: observation end less the follow-up the
    #: definition needs.
    end: date | None = None


class OutputConfig(StrictModel):
    """Where the store and the contract tables go (relative to the job file)."""

    #: Output folder, relative to the job file: tables as Parquet, quality.json, the report and the
    #: store.
    dir: StrictStr = "out"
    #: Path of the DuckDB store (relative to the job file); None: <dir>/<name>.duckdb.
    store: StrictStr | None = None
    #: Raw identifiers to publish as columns of ``persons`` (and values in ``attribute_values``),
    #: chosen by the default conflict policy. Off by default: person keys are pseudonymous and no
    #: raw identifier leaves the store's source tables unless the job asks for it here.
    raw_identifiers: list[Literal["national_id", "passport_no"]] = Field(default_factory=list)
    #: Who may read what a run writes (the store holds the sources' personal data): ``private``
    #: (files 0600, folders 0700: the user running the job) or ``group`` (0640/0750).
    permissions: Literal["private", "group"] = "private"
    #: Keep every working table in the store (each linkage step's, the rules' per-movement copies,
    #: the sources as read). Off: a successful run's store keeps what later runs and commands read
    #: and the tables that explain the numbers (the rules' estimates, the validation sample, the
    #: replicates), a fifth of the whole at 100,000 persons (spine.store).
    keep_intermediate: bool = False


class EngineConfig(StrictModel):
    """Where the SQL runs, and its resources. ``duckdb`` (the default): the embedded store; a
    quarter of the machine's memory (DuckDB's own default is 80%; Splink and Python need the
    rest), every core, spilling to a ``.tmp`` folder beside the store (a million persons ran in
    5.7 GB with 5 GB set, on a 24 GB, 2-core machine: BENCHMARKS.md). ``spark``: every stage's SQL
    on a Spark session (``master``, ``conf``; pyspark from the ``spark`` extra), the store still
    receiving the published tables and the link history (docs/engine.md)."""

    #: The SQL engine: the embedded DuckDB store, or Spark.
    kind: Literal["duckdb", "spark"] = "duckdb"
    #: e.g. "12GB": the most memory DuckDB uses before spilling to disk; default: a quarter of
    #: the machine's memory. On Spark: the driver's memory (``spark.driver.memory``).
    memory_limit: StrictStr | None = Field(default=None, pattern=r"^\d+(\.\d+)? ?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    #: Threads DuckDB uses; None: every core. (Spark: the cores are the master's, ``local[N]``.)
    threads: int | None = Field(default=None, ge=1)
    #: Folder for spilled intermediate data (relative to the job file); on Spark ``spark.local.dir``.
    temp_directory: StrictStr | None = None
    #: Spark only: the master URL, e.g. ``local[2]`` (two cores of this machine) or a cluster's.
    master: StrictStr = "local[2]"
    #: Spark only: session settings (``spark.executor.memory`` …), as ``spark-submit --conf`` takes them.
    conf: dict[StrictStr, StrictStr] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _settings_of_the_kind(self) -> "EngineConfig":
        if self.kind == "duckdb" and (self.master != "local[2]" or self.conf):
            raise ValueError("master and conf are Spark's settings: set kind: spark, or remove them")
        if self.kind == "spark" and self.threads is not None:
            raise ValueError("threads: Spark takes its cores from master (local[N]); remove threads")
        return self


class ReviewConfig(StrictModel):
    """Clerical review: where reviewers' decisions are kept between runs (outside the output folder)."""

    #: CSV of reviewers' match / non_match decisions (relative to the job file; kept outside the output
    #: folder).
    decisions: StrictStr = "review/decisions.csv"


class ReportConfig(StrictModel):
    """The report: ``report.html`` is always written and holds no personal data; the dashboards do."""

    #: Also write Splink's comparison viewer and cluster studio for each probabilistic or hybrid
    #: source's review band (``dashboards/`` in the output folder). They show records' names, dates
    #: and identifiers: personal data, unlike the report. Off by default.
    dashboards: bool = False


def _linkage_column_problems(name: str, source: SourceConfig, base_name: str, base: SourceConfig) -> list[str]:
    """A comparison, blocking rule or match-key needs its field mapped in the source and the base."""
    linkage = source.linkage
    if isinstance(linkage, MatchKeysConfig):
        needed = {c for key in (linkage.keys or []) for c in key.fields}
    else:
        needed = linkage.columns_needed()  # type: ignore[union-attr]
    problems = []
    for side_name, side in ((name, source), (base_name, base)):
        missing = sorted({c for c in needed if not side.maps(c)})
        if missing:
            problems.append(f"sources.{name}.linkage: compares or blocks on {', '.join(missing)}, "
                            f"but source {side_name!r} maps no column onto "
                            f"{', '.join(sorted({f for c in missing for f in DERIVED_FEATURES.get(c, (c,))}))}")
    return problems


def _id_field_problems(name: str, source: SourceConfig, earlier: list[SourceConfig]) -> list[str]:
    """An identifier a source links on must be mapped in it, and in the base or a source linked
    before it (the spine learns identifiers from linked records): otherwise every record would
    be ``missing_id`` and the source would link 0% without an error."""
    problems = []
    for i, field in enumerate(source.linkage.id_fields):  # type: ignore[union-attr]
        where = f"sources.{name}.linkage.id_fields[{i}]"
        if not source.maps(field):
            problems.append(f"{where}: links on {field}, but source {name!r} maps no column onto it; map it under "
                            f"sources.{name}.columns, or link on another identifier")
        elif not any(other.maps(field) for other in earlier):
            problems.append(f"{where}: links on {field}, but neither the base register nor a source linked before "
                            f"{name!r} maps it, so the spine knows no {field} to match")
    return problems


def _alternative_problems(job: "JobConfig", where: str, key: str, values: list[Any]) -> list[str]:
    """Each alternative value of a rule setting that would not make a valid job."""
    problems = []
    for i, value in enumerate(values):
        try:
            with_rule_value(job, key, value)
        except ValidationError as exc:
            problem = exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
            problems.append(f"{where}[{i}]: {value!r} is not a valid {key}: {problem}")
    return problems


ConflictPolicy = Literal["source_priority", "most_recent", "most_frequent", "most_complete"]
Attribute = Literal["first_name", "surname", "dob", "sex", "nationality", "country_of_birth"]


class ConflictsConfig(StrictModel):
    """How each person attribute is chosen when linked records disagree (see spine.conflicts)."""

    #: How an attribute is chosen when linked records disagree: source_priority, most_recent,
    #: most_frequent or most_complete.
    default: ConflictPolicy = "source_priority"
    #: The policy per attribute, where it differs from the default.
    attributes: dict[Attribute, ConflictPolicy] = Field(default_factory=dict)
    #: Source order for ``source_priority`` and every tie-break; None: the base, then job order.
    priority: list[Name] | None = None


class EnlargementConfig(StrictModel):
    """How the unmatched records of enlarging sources become persons (see spine.enlarge)."""

    #: A group of unmatched records is held back (its records stay ``unlinked``, reason
    #: ``possible_register_match``) when at least half of its scored records had a register
    #: candidate scoring at least this match weight: more likely a registered person the linkage
    #: could not confirm than a new one. ``null`` turns the hold-back off. Records of sources
    #: without a model have no weight and do not count.
    hold_back_weight: FiniteFloat | None = -1.0
    #: How the pool's records are grouped into persons (see spine.pool_grouping): ``keys``,
    #: shared identifiers and name keys only; ``probabilistic`` (default), those and a
    #: Fellegi–Sunter model of the pool for what no key catches (a typo with a missing sex, a
    #: year-only date of birth, a transliterated name).
    method: Literal["probabilistic", "keys"] = "probabilistic"
    #: Two pool records are one person when the pool model gives them at least this probability
    #: (the linkage threshold's default).
    match_probability: Probability = 0.9


class BaseDeduplicationConfig(StrictModel):
    """Find people registered twice in the base register (under two record ids)."""

    #: ``match_keys``: strict keys (see spine.dedupe); ``none``: skip.
    method: Literal["match_keys", "none"] = "match_keys"
    #: Match keys that find a person registered twice; None: the default strict keys.
    keys: list[MatchKeyConfig] | None = None
    #: ``merge`` (default): each pair one person (with the default keys, only pairs whose first
    #: names agree at one postcode; see spine.dedupe); ``report``: list the pairs in quality.json,
    #: keep two persons.
    action: Literal["report", "merge"] = "merge"


class JobConfig(StrictModel):
    """A whole spine job."""

    #: The job's name: the store is <name>.duckdb in the output folder.
    name: Name
    #: The source that becomes the spine (e.g. the population register): every other source links to it.
    base: Name
    #: Every input, by name: a CSV or Parquet file, its record id and the columns mapped onto standard
    #: fields.
    sources: dict[Name, SourceConfig] = Field(min_length=1)
    #: ISO 3166 alpha-3 code of the country (quote it: YAML reads unquoted NO as false); nationals are
    #: its citizens.
    home_country: Iso3
    #: Environment variable holding the secret key of the keyed-hash person ids (never in the YAML).
    person_key_env: StrictStr = "SPINE_PERSON_KEY"
    #: Allow the public demo key when person_key_env is unset (synthetic data only: anyone can recompute
    #: the ids).
    demo: bool = False
    observation: ObservationConfig | None = None
    reporting: ReportingConfig = ReportingConfig()
    rules: RulesConfig = RulesConfig()
    flows: FlowsConfig = FlowsConfig()
    output: OutputConfig = OutputConfig()
    review: ReviewConfig = ReviewConfig()
    report: ReportConfig = ReportConfig()
    base_deduplication: BaseDeduplicationConfig = BaseDeduplicationConfig()
    conflicts: ConflictsConfig = ConflictsConfig()
    enlargement: EnlargementConfig = EnlargementConfig()
    engine: EngineConfig = EngineConfig()
    #: Folder the job file sits in; relative paths resolve against it (set by load_job).
    root: Path = Field(default=Path("."), exclude=True)
    #: The job file itself (set by load_job): the output folder's manifest names the job that owns it.
    job_file: Path | None = Field(default=None, exclude=True)

    def reporting_period(self, data_end: date) -> tuple[date, date]:
        """The first and last day of the reporting period (see ReportingConfig), given the last day
        the data covers (the observation end, or the last movement without one)."""
        first = self.observation.start if self.observation else date(data_end.year - 9, 1, 1)
        last = self.observation.end if self.observation else data_end
        events = self.rules.events
        window = events.window_days or (TWELVE_IN_SIXTEEN_DAYS if events.definition == "12_in_16" else 0)
        history, follow_up = events.min_days, max(events.min_days, window)
        start = self.reporting.start or _period_start_on_or_after(first + timedelta(days=history), self.flows.period)
        end = self.reporting.end or _period_end_on_or_before(last - timedelta(days=follow_up), self.flows.period)
        return start, end

    def _check_reporting(self) -> list[str]:
        r, o = self.reporting, self.observation
        if r.start and r.end and r.end <= r.start:
            return [f"reporting.end: {r.end} must be after reporting.start {r.start}"]
        if o and r.start and not o.start <= r.start <= o.end:
            return [f"reporting.start: {r.start} is outside the observation window {o.start} to {o.end} "
                    "(the evidence must cover what is reported)"]
        if o and r.end and not o.start <= r.end <= o.end:
            return [f"reporting.end: {r.end} is outside the observation window {o.start} to {o.end} "
                    "(the evidence must cover what is reported)"]
        if o:
            start, end = self.reporting_period(o.end)
            if end <= start:
                return [f"reporting: the observation window {o.start} to {o.end} leaves no period to report "
                        f"after a year of history and the follow-up the events need (from {start} to {end}); "
                        "set reporting.start and reporting.end, or observe longer"]
        return []

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> "JobConfig":
        """Every check across sections, all at once: a job with seven mistakes gets seven lines."""
        if (info.context or {}).get("cross_checks") is False:
            return self
        problems: list[str] = []
        for check in (self._check_reporting, self._check_base_and_linkage, self._check_family_and_visas,
                      self._check_signs_of_life, self._check_rule_alternatives, self._check_priority,
                      self._check_engine):
            problems += check()
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _check_base_and_linkage(self) -> list[str]:
        if self.base not in self.sources:
            return ["base: " + _unknown("base", self.base, list(self.sources))]
        problems = []
        base = self.sources[self.base]
        if base.linkage is not None:
            problems.append(f"sources.{self.base}.linkage: the base register is the spine itself; remove its linkage")
        for name, source in self.sources.items():
            if name != self.base and source.linkage is None:
                problems.append(f"sources.{name}.linkage: missing; say how to link it, e.g. method: deterministic_id")
            if isinstance(source.linkage, ProbabilisticConfig | MatchKeysConfig):
                problems += _linkage_column_problems(name, source, self.base, base)
        earlier = [base]
        for name, source in self.sources.items():
            if name == self.base:
                continue
            if isinstance(source.linkage, IdLinkageMixin):
                problems += _id_field_problems(name, source, earlier)
            earlier.append(source)
        for i, key in enumerate(self.base_deduplication.keys or []):
            missing = [f for f in key.fields if not base.maps(f)]
            if missing:
                problems.append(f"base_deduplication.keys[{i}]: key {key.name!r} uses {', '.join(missing)}, "
                                f"which source {self.base!r} does not map")
        if base.enlarge:
            problems.append(f"sources.{self.base}.enlarge: the base register is the spine; only admin sources "
                            "enlarge it")
        return problems

    def _check_family_and_visas(self) -> list[str]:
        problems = []
        family = self.rules.family
        if (family.children_source is None) != (family.claims_source is None):
            problems.append("rules.family: name both children_source and claims_source, or neither")
        for field_name in ("children_source", "claims_source"):
            name = getattr(family, field_name)
            if name is None:
                continue
            if name not in self.sources:
                problems.append(f"rules.family.{field_name}: " + _unknown("source", name, list(self.sources)))
            elif not self.sources[name].maps("claim_id"):
                problems.append(f"rules.family.{field_name}: source {name!r} maps no claim_id")
        visas = self.rules.visas.source
        if visas is not None and visas in self.rules.signs_of_life.sources:
            problems.append(f"rules.signs_of_life.sources: {visas!r} is the visa source; a visa grant is not a sign "
                            "of life, and as one it would make every visitor look resident")
        if visas is not None:
            if visas not in self.sources:
                problems.append("rules.visas.source: " + _unknown("source", visas, list(self.sources)))
            else:
                if not self.sources[visas].maps("event_type"):
                    problems.append(f"rules.visas.source: source {visas!r} maps no event_type (the visa type)")
                needs_dates = self.rules.visas.in_country_grants or self.rules.visas.impute_arrivals
                if needs_dates and not self.sources[visas].maps("start_date"):
                    problems.append(f"rules.visas.source: source {visas!r} maps no start_date, which in-country "
                                    "grants and imputed arrivals need (or set both to false)")
        return problems

    def _check_signs_of_life(self) -> list[str]:
        problems = []
        life = self.rules.signs_of_life
        if self.base in life.grace_days:
            problems.append(f"rules.signs_of_life.grace_days.{self.base}: the base register gives registrations, "
                            "which end at a deregistration, not activity with a grace period")
        if life.never_active_not_resident and self.base not in life.sources:
            problems.append("rules.signs_of_life.never_active_not_resident: needs the base register "
                            f"{self.base!r} in rules.signs_of_life.sources (registrations are what it judges)")
        if "children_follow_parents" in life.model_fields_set and life.children_follow_parents \
                and self.rules.family.children_source is None:
            problems.append("rules.signs_of_life.children_follow_parents: needs rules.family "
                            "(children_source and claims_source) to know whose child is whose")
        for field_name in ("sources", "exempt_sources", "covers_days"):
            for i, name in enumerate(getattr(life, field_name)):
                where = f"rules.signs_of_life.{field_name}" + (f"[{i}]" if field_name != "covers_days" else f".{name}")
                if name not in self.sources:
                    problems.append(f"{where}: " + _unknown("source", name, list(self.sources)))
                elif not self.sources[name].maps("start_date"):
                    problems.append(f"{where}: source {name!r} maps no start_date, so its records carry no date")
        return problems

    def _check_engine(self) -> list[str]:
        """What a run on Spark does not do yet (docs/engine.md)."""
        if self.engine.kind != "spark":
            return []
        problems = []
        if self.report.dashboards:
            problems.append("report.dashboards: Splink's dashboards are written from the DuckDB store's candidate "
                            "pairs; a run on Spark (engine.kind: spark) does not write them yet: remove dashboards")
        databases = [name for name, s in self.sources.items() if s.database is not None]
        if databases:
            problems.append(f"sources.{databases[0]}.database: a run on Spark reads files (CSV, Parquet); "
                            "export the table to Parquet, or run it on DuckDB")
        return problems

    def _check_priority(self) -> list[str]:
        return [f"conflicts.priority[{i}]: " + _unknown("source", name, list(self.sources))
                for i, name in enumerate(self.conflicts.priority or []) if name not in self.sources]

    def _check_rule_alternatives(self) -> list[str]:
        """Every alternative rule value must make a valid job, and a rule that runs."""
        problems = []
        life = self.rules.signs_of_life
        alternatives = self.flows.uncertainty.rule_alternatives
        if alternatives and self.flows.uncertainty.replicates == 0:
            problems.append("flows.uncertainty.rule_alternatives: flows.uncertainty.replicates is 0, so no "
                            "replicate would use them; set replicates (e.g. 200)")
        validation = self.flows.uncertainty.validation
        if validation is not None:
            if self.flows.uncertainty.replicates == 0:
                problems.append("flows.uncertainty.validation: flows.uncertainty.replicates is 0, so no interval "
                                "would use it; set replicates (e.g. 200)")
            if validation.start and self.observation and validation.start < self.observation.start:
                problems.append(f"flows.uncertainty.validation.start: {validation.start} is before the observation "
                                f"window's start {self.observation.start} (moves before the data cannot be derived)")
            if validation.end and self.observation and validation.end > self.observation.end:
                problems.append(f"flows.uncertainty.validation.end: {validation.end} is after the observation "
                                f"window's end {self.observation.end}")
        for key, values in alternatives.items():
            where = f"flows.uncertainty.rule_alternatives.{key}"
            if key.startswith("signs_of_life.") and not (life.enabled and life.sources):
                problems.append(f"{where}: rules.signs_of_life is off (enabled false or no sources), so varying "
                                "it would change nothing")
                continue
            problems += _alternative_problems(self, where, key, values)
        calibrate = self.rules.calibrate
        if calibrate is not None:
            if validation is None:
                problems.append("rules.calibrate: needs a validation sample (flows.uncertainty.validation) to "
                                "choose on")
            for key, values in calibrate.alternatives.items():
                problems += _alternative_problems(self, f"rules.calibrate.alternatives.{key}", key, values)
        return problems

    @property
    def source_priority(self) -> list[str]:
        """Sources in conflict-resolution order: the YAML's list first, then the base, then job order."""
        listed = list(self.conflicts.priority or [])
        return listed + [name for name, _ in self.ordered_sources if name not in listed]

    def resolve(self, path: str) -> Path:
        """A path from the job file, resolved against the job file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.root / p)

    @property
    def output_dir(self) -> Path:
        return self.resolve(self.output.dir)

    @property
    def store_path(self) -> Path:
        if self.output.store:
            return self.resolve(self.output.store)
        return self.output_dir / f"{self.name}.duckdb"

    @property
    def ordered_sources(self) -> list[tuple[str, SourceConfig]]:
        """Base register first, then the other sources in the order the YAML gives."""
        rest = [(n, s) for n, s in self.sources.items() if n != self.base]
        return [(self.base, self.sources[self.base]), *rest]


def with_rule_value(job: JobConfig, key: str, value: Any) -> JobConfig:
    """The job with one rule setting (``<rule>.<setting>``, e.g. ``signs_of_life.window_days``)
    replaced, validated as if it had been written in the job file.

    Raises:
        ValidationError: the value is not valid for that setting.
    """
    rule, _, setting = key.partition(".")
    current = getattr(job.rules, rule)
    changed = type(current).model_validate({**current.model_dump(exclude_unset=True), setting: value})
    return job.model_copy(update={"rules": job.rules.model_copy(update={rule: changed})})
