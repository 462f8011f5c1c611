"""Fellegi–Sunter comparisons as Splink 5 comparison dicts, with defaults per standard field.

A comparison is described by a small frozen spec (column, kind, options) so that it can come
from YAML and be validated before any work. ``splink_comparison`` turns a spec into the
levels Splink scores; every level is plain SQL over ``<column>_l`` / ``<column>_r``.

Kinds:
    ``name``   null, exact (term-frequency adjusted), same name parts in another order (first
               name and surname swapped), nickname-resolved equal, Jaro–Winkler
               >= 0.92 / 0.88, phonetic key equal (transliteration tolerant), one name part in
               common (GARCIA LOPEZ / GARCIA, AL-HASSAN / HASSAN), this name written in the other
               name field of the other record (with ``swapped_with``), Jaro–Winkler >= 0.70, else.
    ``date``   null, exact, day and month swapped, one character different (typo), within
               one year, else.
    ``exact``  null, exact (optionally term-frequency adjusted), else.
    ``string`` null, exact, Damerau–Levenshtein <= 1 (a typo or a transposition), <= 2, else
               (identifiers, postcodes, addresses).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from linkage.errors import LinkageError
from linkage.standardise import STREET_TYPES

ComparisonKind = Literal["name", "date", "exact", "string"]


@dataclass(frozen=True)
class ComparisonSpec:
    """One field compared between two records.

    Attributes:
        column: the column compared (present on both sides).
        kind: how it is compared (see the module docstring).
        term_frequency: adjust the exact-match weight by how common the value is.
        canonical: for names, a column of nickname-resolved values (BILL and WILLIAM agree).
        phonetic: for names, a column holding a phonetic key (SOUNDEX, NYSIIS, metaphone).
        tokens: for names, a column of the record's sorted name parts (first names and surnames
            together): equal lists mean the same names in another order.
        swapped_with: for names, the other name column: first name and surname swapped (a common
            clerical error) agree at their own level, typos tolerated (Jaro–Winkler >= 0.9 each way).
        common_parts: for names, words too common to count as a shared part (a street's type:
            HIGH STREET and KING STREET share nothing); set, parts with a digit do not count either
            (the house number of a one-line address).
    """

    column: str
    kind: ComparisonKind = "exact"
    term_frequency: bool = False
    canonical: str | None = None
    phonetic: str | None = None
    tokens: str | None = None
    swapped_with: str | None = None
    extra_columns: tuple[str, ...] = field(default=())
    common_parts: tuple[str, ...] = field(default=())

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the comparison reads."""
        cols = [self.column, *self.extra_columns]
        cols += [c for c in (self.canonical, self.phonetic, self.tokens, self.swapped_with) if c]
        return tuple(dict.fromkeys(cols))


#: Sensible defaults per standard field; derived columns come from ``add_linkage_features``.
DEFAULT_COMPARISONS: dict[str, ComparisonSpec] = {
    "first_name": ComparisonSpec("first_name", "name", term_frequency=True,
                                 canonical="first_name_canonical", phonetic="first_name_metaphone",
                                 tokens="name_tokens", swapped_with="surname"),
    "surname": ComparisonSpec("surname", "name", term_frequency=True, phonetic="surname_nysiis",
                              tokens="name_tokens", swapped_with="first_name"),
    "dob": ComparisonSpec("dob", "date"),
    "sex": ComparisonSpec("sex", "exact"),
    "postcode": ComparisonSpec("postcode", "string", term_frequency=True),
    "nationality": ComparisonSpec("nationality", "exact", term_frequency=True),
    "country_of_birth": ComparisonSpec("country_of_birth", "exact", term_frequency=True),
    "house_number": ComparisonSpec("house_number", "exact", term_frequency=True),
    # Streets and localities compare as names do: typos, a shared word (MILLER PLACE / MILLER STREET).
    "street": ComparisonSpec("street", "name", term_frequency=True,
                             common_parts=tuple(dict.fromkeys(STREET_TYPES.values()))),
    "locality": ComparisonSpec("locality", "name", term_frequency=True),
    "national_id": ComparisonSpec("national_id", "string"),
    "passport_no": ComparisonSpec("passport_no", "string"),
}


def default_comparison(column: str) -> ComparisonSpec:
    """The default spec for a standard field, or an exact comparison for any other column."""
    return DEFAULT_COMPARISONS.get(column, ComparisonSpec(column, "exact"))


def _level(sql: str, label: str, **options: Any) -> dict[str, Any]:
    return {"sql_condition": sql, "label_for_charts": label, **options}


def _l(column: str) -> str:
    return f'"{column}_l"'


def _r(column: str) -> str:
    return f'"{column}_r"'


def _null_level(column: str) -> dict[str, Any]:
    return _level(f"{_l(column)} IS NULL OR {_r(column)} IS NULL", "null", is_null_level=True)


def _exact_level(spec: ComparisonSpec) -> dict[str, Any]:
    options = {"tf_adjustment_column": spec.column} if spec.term_frequency else {}
    return _level(f"{_l(spec.column)} = {_r(spec.column)}", "exact match", **options)


def _name_levels(spec: ComparisonSpec) -> list[dict[str, Any]]:
    c = spec.column
    jw = f"jaro_winkler_similarity({_l(c)}, {_r(c)})"
    levels = [_null_level(c), _exact_level(spec)]
    if spec.swapped_with or spec.tokens:
        o = spec.swapped_with
        same_parts = f"{_l(spec.tokens)} = {_r(spec.tokens)}" if spec.tokens else "FALSE"
        swapped = (f"CASE WHEN jaro_winkler_similarity({_l(c)}, {_r(o)}) >= 0.9 "
                   f"THEN jaro_winkler_similarity({_l(o)}, {_r(c)}) >= 0.9 ELSE {same_parts} END") if o else same_parts
        levels.append(_level(swapped, "same names in another order"))
    if spec.canonical:
        levels.append(_level(f"{_l(spec.canonical)} = {_r(spec.canonical)}", "same name after nicknames"))
    levels += [_level(f"{jw} >= 0.92", "Jaro-Winkler >= 0.92"), _level(f"{jw} >= 0.88", "Jaro-Winkler >= 0.88")]
    if spec.phonetic:
        levels.append(_level(f"{_l(spec.phonetic)} = {_r(spec.phonetic)}", "same phonetic key"))
    parts = "string_split_regex({}, '[ \\-]+')"
    if spec.common_parts:
        common = ", ".join("'" + p.replace("'", "''") + "'" for p in spec.common_parts)
        parts = f"list_filter({parts}, lambda x: x NOT IN ({common}) AND NOT regexp_matches(x, '[0-9]'))"
    multi_part = " OR ".join(f"strpos({side}, {sep}) > 0" for side in (_l(c), _r(c)) for sep in ("' '", "'-'"))
    shares_part = (f"CASE WHEN {multi_part} THEN list_has_any({parts.format(_l(c))}, {parts.format(_r(c))}) "
                   "ELSE FALSE END")
    levels.append(_level(shares_part, "shares a name part"))
    if spec.swapped_with:
        # One name written in the other field (the first name of one record is the surname of the
        # other), the other name unrelated or missing: a clerical error as common as the full swap.
        # One direction per comparison, so the first-name and surname comparisons never both count
        # the same cross (record a's surname is b's first name: the surname comparison only).
        levels.append(_level(f"{_l(c)} = {_r(spec.swapped_with)}", "this name in the other name field"))
    levels += [_level(f"{jw} >= 0.7", "Jaro-Winkler >= 0.70"), _level("ELSE", "else")]
    return levels


def _same_date_written_otherwise(left: str, right: str) -> list[tuple[str, str]]:
    """(SQL, label) for each way one date of birth is written differently in two records."""
    swapped = (f"(day({left}) <= 12 AND day({left}) <> month({left}) AND "
               f"year({left}) = year({right}) AND month({left}) = day({right}) AND day({left}) = month({right}))")
    # A date known only to the month or the year is written with day 1, or 1 January (registers,
    # asylum files): agreeing as far as the less precise date goes is its own level, so that
    # "within a year" is left to dates that truly differ (namesakes born in the same year).
    month_only = (f"((day({left}) = 1 OR day({right}) = 1) AND year({left}) = year({right}) "
                  f"AND month({left}) = month({right}))")
    year_only = (f"(((month({left}) = 1 AND day({left}) = 1) OR (month({right}) = 1 AND day({right}) = 1)) "
                 f"AND year({left}) = year({right}))")
    typo = f"levenshtein(strftime({left}, '%Y%m%d'), strftime({right}, '%Y%m%d')) <= 1"
    return [(swapped, "day and month swapped"), (month_only, "same month, one date without its day"),
            (year_only, "same year, one date 1 January"), (typo, "one digit different")]


def same_date_sql(left: str, right: str) -> str:
    """SQL true when two known dates can be one date of birth: equal, or written as records write
    it otherwise (day and month swapped, the day or the day and month unknown, one digit
    mistyped). A date further off is another person's, or a number shared or reused."""
    otherwise = (sql for sql, _ in _same_date_written_otherwise(left, right))
    return "(" + " OR ".join([f"{left} = {right}", *otherwise]) + ")"


def _date_levels(spec: ComparisonSpec) -> list[dict[str, Any]]:
    c = spec.column
    left, right = _l(c), _r(c)
    return [
        _null_level(c),
        _exact_level(spec),
        *(_level(sql, label) for sql, label in _same_date_written_otherwise(left, right)),
        _level(f"abs(date_diff('day', {left}, {right})) <= 366", "within a year"),
        _level("ELSE", "else"),
    ]


def _string_levels(spec: ComparisonSpec) -> list[dict[str, Any]]:
    c = spec.column
    left, right = _l(c), _r(c)
    # A transposition (2049414 / 2049144), the commonest keying error in numbers, counts as one edit.
    # Damerau-Levenshtein is five times slower than Levenshtein in DuckDB, so it only runs on
    # same-length pairs differing in exactly two places (CASE, because DuckDB does not short-circuit AND).
    one_edit = (f"CASE WHEN levenshtein({left}, {right}) <= 1 THEN TRUE "
                f"WHEN length({left}) = length({right}) AND hamming({left}, {right}) = 2 "
                f"THEN damerau_levenshtein({left}, {right}) = 1 ELSE FALSE END")
    return [_null_level(c), _exact_level(spec), _level(one_edit, "one edit or transposition"),
            _level(f"levenshtein({left}, {right}) <= 2", "two edits"), _level("ELSE", "else")]


def _exact_levels(spec: ComparisonSpec) -> list[dict[str, Any]]:
    return [_null_level(spec.column), _exact_level(spec), _level("ELSE", "else")]


_LEVELS = {"name": _name_levels, "date": _date_levels, "string": _string_levels, "exact": _exact_levels}


def splink_comparison(spec: ComparisonSpec) -> dict[str, Any]:
    """A Splink comparison dict (``CustomComparison`` arguments) for ``spec``."""
    if spec.kind not in _LEVELS:
        raise LinkageError(f"comparison on {spec.column!r}: unknown kind {spec.kind!r}; "
                           f"expected one of {sorted(_LEVELS)}")
    levels = _LEVELS[spec.kind](spec)
    return {"output_column_name": spec.column, "comparison_levels": levels,
            "comparison_description": f"{spec.kind} comparison of {spec.column}"}


def check_columns(specs: list[ComparisonSpec], available: Mapping[str, Any] | set[str], side: str) -> None:
    """Raise a clear error when a comparison reads a column a table lacks."""
    missing = sorted({c for s in specs for c in s.columns if c not in available})
    if missing:
        raise LinkageError(f"{side} has no column(s) {', '.join(missing)} needed by the comparisons")
