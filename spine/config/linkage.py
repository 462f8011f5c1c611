"""How a source is linked to the spine: the ``linkage`` section of a source."""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, Field, StrictStr, model_validator

from linkage.features import FEATURE_SOURCES
from linkage.probabilistic import RULE_COLUMN, rule_columns as _rule_columns  # noqa: F401 (RULE_COLUMN: exported)
from spine.config.fields import IDENTITY_FIELDS, IdField, Name, StrictModel


class NoLinkageConfig(StrictModel):
    """Load the source and account for it, but link none of its records."""

    #: Do not link this source (none): its records are kept in links as unlinked.
    method: Literal["none"]


#: Derived linkage features and the standard field each is computed from.
DERIVED_FEATURES: dict[str, tuple[str, ...]] = FEATURE_SOURCES
LINKAGE_COLUMNS = (*IDENTITY_FIELDS, *DERIVED_FEATURES)
LinkageColumn = Literal[
    "first_name", "surname", "dob", "sex", "nationality", "country_of_birth", "postcode",
    "house_number", "street", "locality", "national_id", "passport_no", "first_name_canonical",
    "first_initial", "first_name_metaphone", "surname_soundex", "surname_metaphone", "surname_nysiis",
    "birth_year", "birth_year_month", "birth_month_day", "name_tokens", "surname_initial",
]
Probability = Annotated[float, Field(gt=0, lt=1)]


def rule_columns(sql: str) -> list[str]:
    """The columns a Splink blocking rule (SQL over ``l.`` and ``r.``) reads, in order: as the
    linkage reads them (``linkage.probabilistic.rule_columns``), so what is checked here is sent."""
    return list(_rule_columns(sql))


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
