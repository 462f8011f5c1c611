"""The job file as typed models: validated before any work, every error with its YAML path.

``load_job`` is the only function that reads a job YAML. Models forbid unknown keys, code and
id fields are strict strings (YAML 1.1 reads ``NO`` as false), and cross-references between
sections are checked in validators whose messages name the path.
"""

from __future__ import annotations

import difflib
import math
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from spine._urls import holds_password, shown
from spine._yaml import YamlDocument, load_yaml
from spine.errors import ConfigError

#: Standard fields a source column can be mapped onto.
IDENTITY_FIELDS = ("first_name", "surname", "dob", "sex", "nationality", "country_of_birth",
                   "postcode", "house_number", "street", "locality", "national_id", "passport_no")
EVENT_FIELDS = ("event_date", "direction", "start_date", "end_date", "event_type", "claim_id")
STANDARD_FIELDS = IDENTITY_FIELDS + EVENT_FIELDS
DATE_FIELDS = ("dob", "event_date", "start_date", "end_date")
ID_FIELDS = ("national_id", "passport_no")

StandardField = Literal[
    "first_name", "surname", "dob", "sex", "nationality", "country_of_birth", "postcode",
    "house_number", "street", "locality", "national_id", "passport_no", "event_date", "direction",
    "start_date", "end_date", "event_type", "claim_id",
]
IdField = Literal["national_id", "passport_no"]
Iso3 = Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$")]
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
Name = Annotated[StrictStr, Field(pattern=NAME_PATTERN, max_length=63)]
DEFAULT_DATE_FORMAT = "%Y-%m-%d"
#: Day counts in rules: a century is more than any rule needs, and keeps date arithmetic in range.
MAX_DAYS = 36_525


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnConfig(StrictModel):
    """A source column mapped onto a standard field, with its own date format if it has one."""

    #: The column of the source file.
    column: StrictStr
    #: Its date format(s) (strptime), tried in order; default: the source's date_format.
    format: StrictStr | list[StrictStr] | None = None


class NoLinkageConfig(StrictModel):
    """Load the source and account for it, but link none of its records."""

    #: Do not link this source (none): its records are kept in links as unlinked.
    method: Literal["none"]


#: Derived linkage features and the standard field each is computed from.
DERIVED_FEATURES: dict[str, tuple[str, ...]] = {
    "first_name_canonical": ("first_name",), "first_initial": ("first_name",),
    "first_name_metaphone": ("first_name",), "surname_soundex": ("surname",),
    "surname_metaphone": ("surname",), "surname_nysiis": ("surname",), "birth_year": ("dob",),
    "birth_year_month": ("dob",), "name_tokens": ("first_name", "surname"), "surname_initial": ("surname",),
}
LINKAGE_COLUMNS = (*IDENTITY_FIELDS, *DERIVED_FEATURES)
LinkageColumn = Literal[
    "first_name", "surname", "dob", "sex", "nationality", "country_of_birth", "postcode",
    "house_number", "street", "locality", "national_id", "passport_no", "first_name_canonical",
    "first_initial", "first_name_metaphone", "surname_soundex", "surname_metaphone", "surname_nysiis",
    "birth_year", "birth_year_month", "name_tokens", "surname_initial",
]
Probability = Annotated[float, Field(gt=0, lt=1)]
#: A column a Splink blocking rule's SQL reads: ``l.name`` or ``r."name"``.
RULE_COLUMN = re.compile(r'\b[lr]\."?([A-Za-z_][A-Za-z0-9_]*)"?')


def rule_columns(sql: str) -> list[str]:
    """The columns a Splink blocking rule (SQL over ``l.`` and ``r.``) reads, in order."""
    return list(dict.fromkeys(RULE_COLUMN.findall(sql)))


def _splink_rule(sql: str) -> str:
    if re.fullmatch(r"\s*[A-Za-z_]\w*\s*", sql):
        raise ValueError(f"a blocking rule is a list of columns, e.g. [{sql.strip()}], or SQL over l. and r.")
    if not re.search(r"\bl\.", sql) or not re.search(r"\br\.", sql):
        raise ValueError("a blocking rule written as SQL compares l.<column> with r.<column> "
                         "(e.g. \"l.first_name = r.surname AND l.surname = r.first_name\")")
    unknown = [c for c in rule_columns(sql) if c not in LINKAGE_COLUMNS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], LINKAGE_COLUMNS, n=1)
        raise ValueError(f"the blocking rule reads {unknown[0]!r}, which is not a linkage column"
                         + (f"; did you mean {close[0]!r}?" if close else ""))
    import sqlglot   # Splink's own SQL parser
    from sqlglot.errors import ParseError

    try:
        sqlglot.parse_one(sql, dialect="duckdb")
    except ParseError as exc:
        raise ValueError(f"the blocking rule is not valid SQL: {str(exc).splitlines()[0]}") from None
    return sql


#: A Splink blocking rule as Splink's settings take it: SQL over l. and r. linkage columns.
SplinkRuleSql = Annotated[StrictStr, AfterValidator(_splink_rule)]


class IdCheckConfig(StrictModel):
    """What to do with an identifier link whose time-invariant fields disagree."""

    #: Fields compared on every identifier link: a link whose records disagree on enough of them is
    #: suspect.
    fields: list[Literal["dob", "sex", "first_name", "surname", "country_of_birth"]] = ["dob", "sex"]
    #: How many of those fields must disagree for a link to be suspect.
    min_disagreements: int = Field(default=2, ge=1)
    #: What happens to a suspect link: keep it, demote it to probabilistic linkage, or send it to
    #: clerical review.
    action: Literal["keep", "demote", "review"] = "demote"


class IdLinkageMixin(StrictModel):
    """Settings shared by every method that links on identifiers first."""

    #: Identifiers (national_id, passport_no) the records link on first, exactly, in this order.
    id_fields: list[IdField] = Field(min_length=1)
    #: A regular expression per identifier that a valid value matches in full (e.g. "[0-9]{9}"):
    #: a value that does not is not linked on (reason invalid_id).
    id_patterns: dict[IdField, StrictStr] = Field(default_factory=dict)
    id_check: IdCheckConfig = IdCheckConfig()


class DeterministicIdConfig(IdLinkageMixin):
    """Link on identifiers known for spine persons, tried in order (unique value = one person)."""

    #: Link on identifiers only (deterministic_id).
    method: Literal["deterministic_id"]


class MatchKeyConfig(StrictModel):
    """One pass of the cascade: records agreeing on every field, unique on both sides."""

    #: The key's name, as reported in the links table (matched_on).
    name: Name
    #: Fields that must all agree exactly (after standardisation) for the key to match.
    fields: list[LinkageColumn] = Field(min_length=1)


class MatchKeysConfig(StrictModel):
    """An ordered cascade of deterministic match-keys (defaults modelled on ONS's Census 2021)."""

    #: Link on a cascade of deterministic match keys (match_keys).
    method: Literal["match_keys"]
    #: The keys, strictest first; None: the default cascade (linkage.matchkeys).
    keys: list[MatchKeyConfig] | None = None
    #: many_to_one: several records may link to one person; one_to_one: at most one each.
    constraint: Literal["many_to_one", "one_to_one"] = "many_to_one"


class ComparisonConfig(StrictModel):
    """A comparison with its kind spelled out (a bare field name takes the field's default)."""

    #: The field compared (a standard field or a derived feature).
    field: LinkageColumn
    #: How: name (exact, nickname, phonetic, similarity levels), date (exact, swaps, typos, year), exact
    #: or string (similarity).
    kind: Literal["name", "date", "exact", "string"]
    #: Adjust the match weight by how common the value is (a rare surname agreeing says more).
    term_frequency: bool = False


class ProbabilisticConfig(StrictModel):
    """Fellegi–Sunter via Splink: what to compare, candidate pairs, training and decision."""

    #: Link with a Fellegi-Sunter model (probabilistic, via Splink).
    method: Literal["probabilistic"]
    #: None: every one of first_name, surname, dob, sex, postcode, house_number, street, locality,
    #: nationality and country_of_birth (and the identifiers) mapped in both the source and the
    #: base register and filled in this run.
    comparisons: list[LinkageColumn | ComparisonConfig] | None = Field(default=None, min_length=1)
    #: None: the default rules whose fields both sides map and fill (see spine.linking). A rule is
    #: the list of columns that must agree, or a Splink blocking rule as SQL over l. and r.
    #: ("l.first_name = r.surname AND l.surname = r.first_name"), used as written.
    blocking_rules: list[list[LinkageColumn] | SplinkRuleSql] | None = Field(default=None, min_length=1)
    #: Blocking rules for the EM training of m values; None: defaults from the fields both sides fill.
    training_rules: list[list[LinkageColumn]] | None = Field(default=None, min_length=1)
    #: em: m values estimated by expectation maximisation; labels: from known true pairs.
    m_from: Literal["em", "labels"] = "em"
    #: Prior share of the source's records that have a person in the spine; None: estimated from
    #: records agreeing on names and date of birth (Splink's estimator, recall 0.8).
    match_rate: Annotated[float, Field(gt=0, le=1)] | None = None
    #: Match probability at or above which a record links to its best candidate.
    threshold: Probability = 0.9
    #: (low, high) around the threshold: pairs in [low, high) go to clerical review instead.
    review_band: tuple[Probability, Probability] | None = None
    #: many_to_one: several records may link to one person; one_to_one: at most one each.
    constraint: Literal["many_to_one", "one_to_one"] = "many_to_one"
    #: Pairs one blocking rule may generate: a default rule over it is tightened (see
    #: linkage.blocking), a rule written here is an error.
    max_comparisons: int = Field(default=100_000_000, gt=0)
    #: Random pairs sampled to estimate the u values (chance agreement).
    u_max_pairs: int = Field(default=1_000_000, gt=0)
    #: A model an earlier run trained (its models/<source>.json, Splink's JSON): scored with as it
    #: is, nothing trained; it must compare the fields this run compares.
    model: StrictStr | None = None

    @model_validator(mode="after")
    def _band_contains_threshold(self) -> "ProbabilisticConfig":
        if self.review_band is not None:
            low, high = self.review_band
            if not low <= self.threshold <= high:
                raise ValueError(f"review_band [{low}, {high}] must contain the threshold {self.threshold}")
        return self

    def columns_needed(self) -> set[str]:
        """Every linkage column named explicitly (defaults adapt to the fields mapped)."""
        cols = {c if isinstance(c, str) else c.field for c in self.comparisons or []}
        rules = [rule_columns(r) if isinstance(r, str) else r
                 for r in (*(self.blocking_rules or []), *(self.training_rules or []))]
        return cols | {c for rule in rules for c in rule}


class HybridConfig(ProbabilisticConfig, IdLinkageMixin):
    """Identifiers first; the rest probabilistically, with the identifier links as labels."""

    method: Literal["hybrid"]  # type: ignore[assignment]
    m_from: Literal["em", "labels"] = "labels"
    #: Records an identifier linked that the model scores too: a sample of this many (chosen by
    #: a hash of the record id) assesses the model against the identifier links and gives those
    #: links a match probability; null scores all of them (slower: most of a source's pairs are
    #: theirs). The records identifiers leave undecided or send to review are always scored.
    assessment_sample: int | None = Field(default=20_000, ge=0)


LinkageConfig = Annotated[
    Union[DeterministicIdConfig, MatchKeysConfig, ProbabilisticConfig, HybridConfig, NoLinkageConfig],
    Field(discriminator="method"),
]


#: A table name as a database writes it: ``table`` or ``schema.table``.
TABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$"


class DatabaseConfig(StrictModel):
    """A table or query of a PostgreSQL server, read through ADBC in Arrow batches (spine.engine.postgres).
    Credentials come from the environment only, never from the job file."""

    #: postgresql://host:port/database, without a password: user and password come from the
    #: environment (PGUSER, PGPASSWORD, or ~/.pgpass), as for every libpq client.
    url: StrictStr | None = None
    #: Or: the name of an environment variable holding the whole URL, credentials included.
    url_env: StrictStr | None = None
    #: The table to read whole (``schema.table``)...
    table: Annotated[StrictStr, Field(pattern=TABLE_PATTERN, max_length=127)] | None = None
    #: ...or a SELECT giving the source's rows.
    query: StrictStr | None = None

    @model_validator(mode="after")
    def _one_of_each(self) -> "DatabaseConfig":
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give url (postgresql://host/database) or url_env (a variable holding the URL), "
                             "one of them")
        if (self.table is None) == (self.query is None):
            raise ValueError("give table or query, one of them")
        if self.url is not None:
            if not re.match(r"^postgres(ql)?://", self.url):
                raise ValueError("url must start with postgresql:// (PostgreSQL is the database supported)")
            if holds_password(self.url):
                raise ValueError("url holds a password: take it out and set PGPASSWORD in the environment, or "
                                 "put the whole URL in an environment variable named by url_env")
        if self.url_env is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", self.url_env):
            raise ValueError("url_env is the name of an environment variable (e.g. SPINE_TAX_DB), not the URL")
        return self

    def describe(self) -> str:
        """Where the rows come from, without credentials (messages and quality.json)."""
        what = f"table {self.table}" if self.table else "the query"
        if self.url_env:
            return f"{what} of the database in ${self.url_env}"
        return f"{what} of {shown(self.url or '')}"


class SourceConfig(StrictModel):
    """One input file or database table, how its columns map onto standard fields, and how it is linked."""

    #: CSV or Parquet file, relative to the job file (or ``database``).
    path: StrictStr | None = None
    #: A PostgreSQL table or query instead of a file.
    database: DatabaseConfig | None = None
    #: csv or parquet; None: from the file's extension.
    format: Literal["csv", "parquet"] | None = None
    #: The column that identifies a record uniquely within the source.
    record_id: StrictStr
    #: Standard field -> the source's column (or {column, format}); unmapped fields are missing, never a
    #: disagreement.
    columns: dict[StandardField, StrictStr | ColumnConfig] = Field(default_factory=dict)
    #: strptime format(s) of the source's dates, tried in order (a column may set its own).
    date_format: StrictStr | list[StrictStr] = DEFAULT_DATE_FORMAT
    #: The source's sex codes -> f or m; None: the common codes (f, female, 2, m, male, 1, ...).
    sex_codes: dict[StrictStr, Literal["f", "m"]] | None = None
    #: The source's crossing directions -> in or out; None: the common codes (in, entry, arrival, out,
    #: exit, ...).
    direction_codes: dict[StrictStr, Literal["in", "out"]] | None = None
    #: How the source links to the base: deterministic_id, match_keys, probabilistic, hybrid or none.
    linkage: LinkageConfig | None = None
    #: Unmatched records of this source create new spine persons (after deduplicating them across
    #: every enlarging source): people absent from the base register.
    enlarge: bool = False

    @model_validator(mode="after")
    def _file_or_database(self) -> "SourceConfig":
        if (self.path is None) == (self.database is None):
            raise ValueError("give path (a CSV or Parquet file) or database (a table or query), one of them")
        if self.database is not None and self.format is not None:
            raise ValueError("format is for files; a database source is read as its columns' types say")
        return self

    @property
    def input_name(self) -> str:
        """The file's name, or where in a database the rows come from (for messages)."""
        return Path(self.path).name if self.path is not None else self.database.describe()  # type: ignore[union-attr]

    def maps(self, column: str) -> bool:
        """Whether the source can supply a linkage column: a standard field it maps, or a derived
        feature (e.g. ``surname_nysiis``) whose fields it maps."""
        return all(f in self.columns for f in DERIVED_FEATURES.get(column, (column,)))

    def column_of(self, field: str) -> str | None:
        """Source column mapped onto a standard field, or None."""
        spec = self.columns.get(field)  # type: ignore[call-overload]
        if spec is None:
            return None
        return spec if isinstance(spec, str) else spec.column

    def date_formats_of(self, field: str) -> list[str]:
        """Date formats to try for a date field, the column's own first."""
        spec = self.columns.get(field)  # type: ignore[call-overload]
        own = spec.format if isinstance(spec, ColumnConfig) else None
        chosen = own if own is not None else self.date_format
        return [chosen] if isinstance(chosen, str) else list(chosen)

    @property
    def is_movement_source(self) -> bool:
        """A source whose records are border crossings (a date and a direction)."""
        return "direction" in self.columns and "event_date" in self.columns

    @model_validator(mode="after")
    def _movement_fields_together(self) -> "SourceConfig":
        has_direction = "direction" in self.columns
        has_date = "event_date" in self.columns
        if has_direction != has_date:
            missing = "event_date" if has_direction else "direction"
            raise ValueError(f"a movement source maps both direction and event_date; {missing} is missing")
        return self


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

    Each replicate links every record with candidates to one of them with its match probability
    (see spine.uncertainty and docs/uncertainty.md), re-derives movements, events and flows, and
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


class EngineConfig(StrictModel):
    """Resources for the embedded DuckDB store. Defaults: DuckDB's own (80% of memory, every core,
    spilling to a ``.tmp`` folder beside the store), which fit a 24 GB, 2-core machine at a million
    persons (BENCHMARKS.md). Set them on shared servers, or to spill to a larger disk."""

    #: The SQL engine (the embedded DuckDB store).
    kind: Literal["duckdb"] = "duckdb"
    #: e.g. "12GB": the most memory DuckDB uses before spilling to disk.
    memory_limit: StrictStr | None = Field(default=None, pattern=r"^\d+(\.\d+)? ?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    #: Threads DuckDB uses; None: every core.
    threads: int | None = Field(default=None, ge=1)
    #: Folder for spilled intermediate data (relative to the job file).
    temp_directory: StrictStr | None = None


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
    #: ``report``: list the pairs in quality.json, keep two persons; ``merge``: one person.
    action: Literal["report", "merge"] = "report"


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
        for check in (self._check_reporting, self._check_base_and_linkage, self._check_family_and_visas, self._check_signs_of_life,
                      self._check_rule_alternatives, self._check_priority):
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


def _unknown(what: str, value: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(value, choices, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; expected one of {choices}"
    return f"{what} names unknown source '{value}'{hint}"


def _loc_text(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _yaml11_hint(value: Any, raw: str | None) -> str:
    if raw is None or isinstance(value, str):
        return ""
    return f' (YAML reads unquoted {raw} as {value!r}; write "{raw}")'


def _format_error(doc: YamlDocument, err: dict[str, Any]) -> str | None:
    """One line for a pydantic error, or None for a union branch the user clearly did not mean."""
    raw_loc = tuple(err["loc"])
    # Union branches (a linkage method's tag, list[...] or function-after[...]) are not YAML keys.
    loc = tuple(p for p in raw_loc if not (isinstance(p, str) and (p in _UNION_TAGS or p.startswith(_BRANCHES))))
    kind = err["type"]
    value = err.get("input")
    branch = next((p for p in reversed(raw_loc) if isinstance(p, str)), "")
    if branch.startswith(_BRANCHES) and ((kind == "string_type" and isinstance(value, list))
                                         or (kind == "list_type" and isinstance(value, str))):
        return None  # a list-or-text union (a blocking rule): the branch of the value's kind explains it
    if raw_loc and raw_loc[-1] == "str" and isinstance(value, dict):
        return None  # a mapping was given: the ColumnConfig branch explains what is wrong
    if "ColumnConfig" in raw_loc and kind == "model_type":
        return None  # a plain column name was expected: the str branch explains it
    msg = err["msg"].removeprefix("Value error, ")
    if loc and loc[-1] == "[key]":
        loc = loc[:-1]
        where = doc.locate_key(loc)
        if kind != "literal_error":
            return _key_error(doc, loc, where, kind, value, msg)
        expected = err.get("ctx", {}).get("expected", "")
        choices = [e.strip(" '") for e in expected.replace(" or ", ", ").split(",")]
        close = _field_synonym(str(value), choices) or difflib.get_close_matches(str(value), choices, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"{where}  {_loc_text(loc)}  unknown key, expected {expected}{hint}"
    if not loc and ": " in msg and re.match(r"^[a-z_][\w.\[\]]*$", msg.split(": ", 1)[0]):
        # model validators name their own path as "a.b.c: message"
        path_text, msg = msg.split(": ", 1)
        loc = tuple(path_text.split("."))
        where, _ = doc.locate(loc)
        return f"{where}  {path_text}  {msg}"
    path = _loc_text(loc)
    if kind == "extra_forbidden":
        where = doc.locate_key(loc)
        parent_model = _model_at(raw_loc[:-1])
        choices = list(parent_model.model_fields) if parent_model else []
        close = difflib.get_close_matches(str(loc[-1]), choices, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else (f"; expected one of {choices}" if choices else "")
        return f"{where}  {path}  unknown key{hint}"
    where, raw = doc.locate(loc)
    if kind == "missing":
        return f"{where}  {path}  required key is missing"
    shown = raw if raw is not None else repr(value)
    if kind == "string_type":
        return f"{where}  {path}  expected a string, got {shown}{_yaml11_hint(value, raw)}"
    if kind in ("literal_error", "enum"):
        expected = err.get("ctx", {}).get("expected", "")
        choices = [e.strip(" '") for e in expected.replace(" or ", ", ").split(",")]
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"{where}  {path}  expected {expected}, got {shown}{hint}"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        tag = ctx.get("tag")
        tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        close = difflib.get_close_matches(str(tag), tags, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"{where}  {path}.{ctx.get('discriminator', '').strip(chr(39))}  expected {ctx.get('expected_tags')}, got {tag}{hint}"
    if kind == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == NAME_PATTERN:
        return f"{where}  {path}  {_NAME_RULE}, got {shown}"
    if kind == "string_pattern_mismatch" and path.endswith("home_country"):
        return f"{where}  {path}  expected an ISO 3166-1 alpha-3 code in upper case (e.g. \"NOR\"), got {shown}"
    msg = _plain_bound(kind, err.get("ctx", {})) or msg
    if isinstance(value, dict | list):
        return f"{where}  {path}  {msg}"
    return f"{where}  {path}  {msg}, got {shown}"


#: Names users give standard fields (lower case, without separators) -> the field.
_FIELD_SYNONYMS = {
    "birthdate": "dob", "dateofbirth": "dob", "birthday": "dob", "born": "dob", "bdate": "dob",
    "givenname": "first_name", "forename": "first_name", "firstname": "first_name", "fname": "first_name",
    "familyname": "surname", "lastname": "surname", "lname": "surname",
    "gender": "sex", "citizenship": "nationality", "birthcountry": "country_of_birth",
    "zip": "postcode", "zipcode": "postcode", "postalcode": "postcode",
    "housenumber": "house_number", "streetnumber": "house_number", "houseno": "house_number",
    "streetname": "street", "address": "street", "addressline": "street", "address1": "street",
    "town": "locality", "city": "locality", "suburb": "locality", "municipality": "locality",
    "place": "locality",
    "nin": "national_id", "ssn": "national_id", "personalnumber": "national_id", "nationalid": "national_id",
    "passport": "passport_no", "passportnumber": "passport_no",
    "date": "event_date", "crossingdate": "event_date", "eventdate": "event_date",
    "startdate": "start_date", "fromdate": "start_date", "enddate": "end_date", "todate": "end_date",
}


def _field_synonym(key: str, choices: list[str]) -> list[str]:
    """The standard field a user's own name for it means (``birth_date`` -> ``dob``), if listed."""
    found = _FIELD_SYNONYMS.get(re.sub(r"[^a-z]", "", key.lower()))
    return [found] if found in choices else []


def _plain_bound(kind: str, ctx: dict[str, Any]) -> str | None:
    """pydantic's bound errors ("Input should be less than 1") in the project's words."""
    words = {"less_than": "less than", "less_than_equal": "at most", "greater_than": "more than",
             "greater_than_equal": "at least"}
    for key, bound in (("lt", "less_than"), ("le", "less_than_equal"), ("gt", "greater_than"),
                       ("ge", "greater_than_equal")):
        if kind == bound and key in ctx:
            return f"must be {words[bound]} {ctx[key]}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "expected a whole number"
    if kind in ("float_parsing", "float_type"):
        return "expected a number"
    if kind in ("bool_parsing", "bool_type"):
        return "expected true or false"
    if kind in ("tuple_type", "list_type", "set_type"):
        return "expected a list, e.g. [a, b]"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "expected a mapping of keys"
    if kind == "too_short" and "min_length" in ctx:
        return f"needs at least {ctx['min_length']} item(s)"
    if kind == "too_long" and "max_length" in ctx:
        return f"takes at most {ctx['max_length']} item(s)"
    if kind == "string_too_long" and "max_length" in ctx:
        return f"at most {ctx['max_length']} characters"
    if kind == "finite_number":
        return "expected a finite number"
    return None


_NAME_RULE = "expected a name of lower-case letters, digits and _, starting with a letter (e.g. tax_2020)"


def _key_error(doc: YamlDocument, loc: tuple[Any, ...], where: str, kind: str, value: Any, msg: str) -> str:
    """A mapping key that is not valid text: YAML read ``1: m`` as the number 1, or a source name
    breaks the name rule. pydantic's own message for it names no key."""
    parent = _loc_text(loc[:-1])
    found = doc.key_node(loc)
    raw = found[0].value if found is not None else str(value)
    if kind == "string_type":
        target = found[1].value if found is not None and isinstance(found[1].value, str) else "..."
        return (f'{where}  {parent}  key {raw} must be quoted text (YAML reads an unquoted {raw} as '
                f'{_yaml_type(value)}): write "{raw}": {target}')
    if kind == "string_pattern_mismatch":
        return f"{where}  {parent}  key {raw}: {_NAME_RULE}"
    return f"{where}  {parent}  key {raw}: {msg}"


def _yaml_type(value: Any) -> str:
    """What YAML made of an unquoted value, in a user's words."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, date):
        return "a date"
    if value is None:
        return "null"
    return "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else "text"


#: How pydantic names the branch of a union of a list and a validated text (a blocking rule).
_BRANCHES = ("list[", "function-after[")
_UNION_TAGS: dict[str, type[BaseModel] | None] = {
    "deterministic_id": DeterministicIdConfig,
    "match_keys": MatchKeysConfig,
    "probabilistic": ProbabilisticConfig,
    "hybrid": HybridConfig,
    "none": NoLinkageConfig,
    "ColumnConfig": ColumnConfig,
    "str": None,
    "list[str]": None,
    "function-after[_ascending_from_zero(), list[int]]": None,
}


def _model_at(raw_loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Config model found at a pydantic location, to suggest its keys for a misspelt one."""
    model: Any = JobConfig
    for part in raw_loc:
        if isinstance(part, str) and part in _UNION_TAGS:
            model = _UNION_TAGS[part]
        elif model == "sources":
            model = SourceConfig
        elif model == "columns":
            model = "column"
        elif isinstance(model, type) and issubclass(model, BaseModel) and str(part) in model.model_fields:
            if part in ("sources", "columns"):
                model = part
                continue
            ann = model.model_fields[str(part)].annotation
            found = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
            model = found[0] if len(found) == 1 else None
        else:
            return None
    return model if isinstance(model, type) else None


def load_job(path: str | Path) -> JobConfig:
    """Read and validate a job file.

    Raises:
        ConfigError: listing every problem with its file, line, column, YAML path and bad value.
            Its ``job`` is the job without the parts in error, where that job is valid (``spine
            validate`` checks its sources too, so one run of it lists every problem).
    """
    path = Path(path)
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        got = "a list" if isinstance(doc.data, list) else f"a single value ({_yaml_type(doc.data)})"
        raise ConfigError(f"{path.name}:1:1  the job file must be a mapping of keys (name: ..., sources: ...), "
                          f"got {got}")
    data: dict[str, Any] = {**doc.data, "root": path.resolve().parent, "job_file": path.resolve()}
    from spine._every_problem import every_problem

    job, problems = every_problem(data, lambda err: _format_error(doc, err))
    if problems:
        raise ConfigError(problems, file=str(path), job=job)
    assert job is not None
    return job


#: The schema's identifier (a name, not a download address: editors read the committed
#: docs/job.schema.json through the ``# yaml-language-server: $schema=`` line of a job file).
SCHEMA_ID = "urn:migration-spine:job-schema"


def _field_comments(model: type[BaseModel]) -> dict[str, str]:
    """The ``#:`` comment above each field of a model class, as its description (the comments are
    the models' documentation; a schema-aware editor shows them as the user types)."""
    import inspect

    comments: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(model).splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        field = re.match(r"(\w+)\s*:", stripped)
        if field and pending and field.group(1) in model.model_fields:
            comments[field.group(1)] = " ".join(pending)
        if not stripped.startswith("#"):
            pending = []
    return comments


def _models(model: type[BaseModel], seen: dict[str, type[BaseModel]]) -> dict[str, type[BaseModel]]:
    """Every model reachable from ``model``'s fields, by class name (the schema's ``$defs`` keys)."""
    import typing

    seen[model.__name__] = model
    for field in model.model_fields.values():
        stack = [field.annotation]
        while stack:
            tp = stack.pop()
            if isinstance(tp, type) and issubclass(tp, BaseModel) and tp.__name__ not in seen:
                _models(tp, seen)
            stack.extend(typing.get_args(tp))
    return seen


def job_json_schema() -> dict[str, Any]:
    """JSON Schema of the job file, generated from the same models that validate it; each field's
    description is its ``#:`` comment in this module, else its model's docstring."""
    schema = JobConfig.model_json_schema()
    schema.get("properties", {}).pop("root", None)
    schema.get("properties", {}).pop("job_file", None)
    defs = schema.get("$defs", {})
    for name, model in _models(JobConfig, {}).items():
        node = schema if model is JobConfig else defs.get(name)
        if node is None:
            continue
        comments = {k: v for base in reversed(model.__mro__)
                    if isinstance(base, type) and issubclass(base, BaseModel) and base.__module__ == __name__
                    for k, v in _field_comments(base).items()}
        for field, prop in node.get("properties", {}).items():
            if "description" in prop:
                continue
            ref = prop.get("$ref") or next((a.get("$ref") for a in prop.get("anyOf", []) if "$ref" in a), None)
            described = comments.get(field) or (defs.get(ref.rsplit("/", 1)[-1], {}).get("description") if ref else None)
            if described:
                prop["description"] = described
    schema["title"] = "spine job"
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
