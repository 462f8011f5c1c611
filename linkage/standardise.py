"""Standardise raw source columns into comparable values, as SQL expressions run in the engine.

Every builder returns a SQL *expression* over a raw VARCHAR column. ``standardise_records_sql``
combines them into one SELECT with a fixed set of standard columns, so every source has the same
shape downstream. A value that cannot be parsed becomes NULL and its field is listed in
``invalid_fields``; a record missing a *required* field gets a ``reject_reason`` instead of being
dropped.

Impossible values become NULL and count as invalid too: a name with no letters, a date of birth
in the future or after one of the record's own dates (a crossing, a registration, a death).
Odd but possible ones are kept and listed in ``implausible_fields``: a birth before 1900, a start
or event more than a year in the future (a registration in 2099).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from linkage._sql import quote_ident, sql_in_list, sql_literal
from linkage.reference import COUNTRY_TABLE, USER_ASSIGNED_ALPHA3, country_key_sql

STANDARD_COLUMNS: dict[str, str] = {
    "first_name": "VARCHAR",
    "surname": "VARCHAR",
    "dob": "DATE",
    "sex": "VARCHAR",
    "nationality": "VARCHAR",
    "country_of_birth": "VARCHAR",
    "postcode": "VARCHAR",
    "house_number": "VARCHAR",
    "street": "VARCHAR",
    "locality": "VARCHAR",
    "national_id": "VARCHAR",
    "passport_no": "VARCHAR",
    "event_date": "DATE",
    "direction": "VARCHAR",
    "start_date": "DATE",
    "end_date": "DATE",
    "event_type": "VARCHAR",
    "claim_id": "VARCHAR",
}
DATE_COLUMNS = tuple(c for c, t in STANDARD_COLUMNS.items() if t == "DATE")

DEFAULT_SEX_CODES: dict[str, str] = {
    "f": "f", "female": "f", "w": "f", "woman": "f", "k": "f", "2": "f",
    "m": "m", "male": "m", "man": "m", "1": "m",
}
#: Codes that say "not known" (ISO 5218 0 and 9, X on some passports): NULL, but not an error.
UNKNOWN_CODES = ("u", "x", "0", "9", "unknown", "not known", "not stated", "?")
DEFAULT_DIRECTION_CODES: dict[str, str] = {
    "in": "in", "i": "in", "arrival": "in", "entry": "in", "a": "in",
    "out": "out", "o": "out", "departure": "out", "exit": "out", "d": "out",
}
#: Dates of birth outside this range are impossible, not merely unusual.
EARLIEST_BIRTH = "1880-01-01"
#: Dates of birth before this are possible but rare enough to count as implausible.
PLAUSIBLE_BIRTH = "1900-01-01"
#: Record dates a birth cannot follow (a date of birth after one of them is impossible).
LATER_THAN_BIRTH = ("event_date", "start_date", "end_date")
#: Record dates that are implausible more than a year ahead (an end date may be: a visa's).
NOT_FUTURE = ("event_date", "start_date")
#: Titles and generational suffixes that are not part of a name.
NAME_TITLES = ("MR", "MRS", "MS", "MISS", "MX", "DR", "PROF", "SIR", "DAME", "REV", "JR", "SR", "II", "III", "IV")
#: Latin transliteration of Cyrillic (ICAO 9303, as in passports) and Greek, and Latin letters
#: that have no accent to strip. Multi-letter first, then one-to-one by ``translate``.
TRANSLITERATION_MULTI: tuple[tuple[str, str], ...] = (
    ("Ж", "ZH"), ("Х", "KH"), ("Ц", "TS"), ("Ч", "CH"), ("Щ", "SHCH"), ("Ш", "SH"), ("Ю", "IU"), ("Я", "IA"),
    ("Є", "IE"), ("Θ", "TH"), ("Ψ", "PS"), ("Χ", "CH"), ("Ξ", "X"), ("ẞ", "SS"), ("ß", "SS"), ("Æ", "AE"),
    ("Œ", "OE"), ("Þ", "TH"), ("Ъ", ""), ("Ь", ""),
)
TRANSLITERATION_FROM = "АБВГҐДЕЁЗИІЇЙКЛМНОПРСТУФЫЭΑΒΓΔΕΖΗΙΚΛΜΝΟΠΡΣΤΥΦΩØŁĐÐİ"
TRANSLITERATION_TO = "ABVGGDEEZIIIIKLMNOPRSTUFYE" "AVGDEZIIKLMNOPRSTYFO" "OLDDI"
assert len(TRANSLITERATION_FROM) == len(TRANSLITERATION_TO)
#: Street types written short, read in full when they end the street (HIGH ST = HIGH STREET).
STREET_TYPES: dict[str, str] = {
    "ST": "STREET", "STR": "STREET", "RD": "ROAD", "AVE": "AVENUE", "AV": "AVENUE", "DR": "DRIVE",
    "PL": "PLACE", "CRES": "CRESCENT", "CT": "COURT", "LN": "LANE", "TCE": "TERRACE", "CL": "CLOSE",
    "SQ": "SQUARE", "HWY": "HIGHWAY", "BLVD": "BOULEVARD", "PDE": "PARADE", "GDNS": "GARDENS",
}
POSTCODE_PLACEHOLDERS = ("NA", "NONE", "UNKNOWN", "NFA", "ZZ99", "0", "00000", "XXX")


def _blank_to_null(raw: str) -> str:
    return f"NULLIF(trim({raw}), '')"


def _in_list(values: Sequence[str]) -> str:
    return f"({sql_in_list(values)})"


def transliterate_sql(upper_text: str) -> str:
    """Latin letters for Cyrillic, Greek and special Latin letters in an upper-cased, accent-stripped text."""
    expr = upper_text
    for letter, latin in TRANSLITERATION_MULTI:
        expr = f"replace({expr}, {sql_literal(letter)}, {sql_literal(latin)})"
    expr = f"translate({expr}, {sql_literal(TRANSLITERATION_FROM)}, {sql_literal(TRANSLITERATION_TO)})"
    # Only non-ASCII values pay for the chain.
    return f"(CASE WHEN regexp_matches({upper_text}, '[^\\x00-\\x7F]') THEN {expr} ELSE {upper_text} END)"


def _latin_sql(raw: str) -> str:
    """Latin upper case without accents or apostrophes (names, streets and localities alike)."""
    latin = transliterate_sql(f"upper(strip_accents({_blank_to_null(raw)}))")
    return f"regexp_replace({latin}, '[''’`ʼ´]', '', 'g')"


def name_sql(raw: str) -> str:
    """A comparable name: Latin upper case, no accents, titles or apostrophes, single spaces, hyphens kept.

    ``O'Brien`` → ``OBRIEN``; ``Dr. Anna-Maria  Łukasz`` → ``ANNA-MARIA LUKASZ``; ``Жанна`` → ``ZHANNA``.
    Other punctuation separates tokens; digits are dropped.
    """
    letters = f"regexp_replace(regexp_replace({_latin_sql(raw)}, '[0-9]', '', 'g'), '[^A-Z\\-]+', ' ', 'g')"
    hyphens = f"regexp_replace(regexp_replace({letters}, '\\s*-+\\s*', '-', 'g'), '(^-+|-+$)', '', 'g')"
    tidy = f"trim(regexp_replace({hyphens}, '\\s+', ' ', 'g'))"
    titles = "|".join(NAME_TITLES)
    # A title is a whole space-separated word (Miss-Smith keeps its MISS); twice, for "MR DR".
    drop = "regexp_replace({}, '(^| )(" + titles + ")( |$)', ' ', 'g')"
    untitled = f"trim(regexp_replace({drop.format(drop.format(tidy))}, '\\s+', ' ', 'g'))"
    # A name that is only a title (e.g. the surname "Sir") keeps it.
    return f"NULLIF(coalesce(NULLIF(regexp_replace({untitled}, '(^-+|-+$)', '', 'g'), ''), {tidy}), '')"


def date_sql(raw: str, formats: Sequence[str]) -> str:
    """Parse with the first of ``formats`` that fits; impossible dates (30 Feb) give NULL."""
    fmt_list = "[" + ", ".join(sql_literal(f) for f in formats) + "]"
    return f"CAST(try_strptime({_blank_to_null(raw)}, {fmt_list}) AS DATE)"


def birth_date_sql(raw: str, formats: Sequence[str]) -> str:
    """A date of birth: parsed as :func:`date_sql`, and NULL before 1880 or after today."""
    parsed = date_sql(raw, formats)
    return (f"(CASE WHEN {parsed} BETWEEN DATE {sql_literal(EARLIEST_BIRTH)} AND current_date "
            f"THEN {parsed} END)")


def period_end_sql(expr: str, formats: Sequence[str]) -> str:
    """The last day a date parsed with ``formats`` may stand for: a year (``%Y``) may be any day of
    it, so a birth in the tax year is not after the record's date."""
    def has(*codes: str) -> bool:
        return all(any(c in f for c in codes) for f in formats)

    if has("%d", "%-d", "%e", "%j"):
        return expr
    if has("%m", "%-m", "%b", "%B"):
        return f"last_day({expr})"
    return f"make_date(year({expr}), 12, 31)"


def code_map_sql(raw: str, codes: Mapping[str, str]) -> str:
    """Map case-insensitive codes onto standard values; anything else is NULL."""
    whens = " ".join(f"WHEN {sql_literal(k.lower())} THEN {sql_literal(v)}" for k, v in codes.items())
    return f"(CASE lower(trim({raw})) {whens} ELSE NULL END)"


def country_sql(raw: str) -> str:
    """ISO 3166-1 alpha-3 from an alpha-3, alpha-2 or numeric code or an English name; else NULL.

    User-assigned codes (``XXA``, ``XSY``) pass through. Needs the reference tables
    (:func:`linkage.reference.create_reference_tables`).
    """
    key = country_key_sql(raw)
    return (f"coalesce((SELECT c.alpha3 FROM {COUNTRY_TABLE} AS c WHERE c.key = {key}), "
            f"CASE WHEN regexp_full_match({key}, {sql_literal(USER_ASSIGNED_ALPHA3[1:-1])}) THEN {key} END)")


def country_ambiguity_sql(raw: str) -> str:
    """Why a country value is ambiguous (``CA``: Canada or California), else NULL."""
    return f"(SELECT c.ambiguity FROM {COUNTRY_TABLE} AS c WHERE c.key = {country_key_sql(raw)})"


def postcode_sql(raw: str) -> str:
    """Upper case with spaces and punctuation removed; placeholders (``NFA``, ``ZZ99``) are NULL."""
    compact = f"regexp_replace(upper({raw}), '[^A-Z0-9]', '', 'g')"
    return f"(CASE WHEN {compact} IN {_in_list(POSTCODE_PLACEHOLDERS)} THEN NULL ELSE NULLIF({compact}, '') END)"


def house_number_sql(raw: str) -> str:
    """A house number as written on the door: upper case, letters and digits only (``12 a`` = ``12A``)."""
    compact = f"regexp_replace(upper(strip_accents({raw})), '[^A-Z0-9]', '', 'g')"
    return f"NULLIF(regexp_replace({compact}, '^0+', ''), '')"


def place_sql(raw: str) -> str:
    """A street or a locality: Latin upper case, no accents or apostrophes, punctuation as single
    spaces, digits kept (``5th Ave.`` → ``5TH AVE``)."""
    return f"NULLIF(trim(regexp_replace({_latin_sql(raw)}, '[^A-Z0-9]+', ' ', 'g')), '')"


def street_sql(raw: str) -> str:
    """A street as :func:`place_sql`, its type read in full when written short at its end
    (``High St`` = ``HIGH STREET``, see ``STREET_TYPES``)."""
    place = place_sql(raw)
    whens = " ".join(f"WHEN {sql_literal(k)} THEN {sql_literal(v)}" for k, v in STREET_TYPES.items())
    last = f"regexp_extract({place}, '(^| )([A-Z]+)$', 2)"
    head = f"regexp_replace({place}, '[A-Z]+$', '')"
    # "ST" alone is a street's name (or a saint's), not a type: only a last word after another.
    return (f"(CASE WHEN {last} IN {_in_list(tuple(STREET_TYPES))} AND {head} <> '' "
            f"THEN {head} || (CASE {last} {whens} END) ELSE {place} END)")


def identifier_sql(raw: str) -> str:
    """Identifiers compared as upper case without spaces or hyphens; blank is NULL."""
    return f"NULLIF(regexp_replace(upper({raw}), '[\\s\\-]', '', 'g'), '')"


def text_sql(raw: str) -> str:
    """Trimmed lower-case code; blank is NULL."""
    return f"lower({_blank_to_null(raw)})"


def standardise_records_sql(
    table: str,
    record_id_column: str,
    columns: Mapping[str, str],
    *,
    date_formats: Mapping[str, Sequence[str]],
    sex_codes: Mapping[str, str] | None = None,
    direction_codes: Mapping[str, str] | None = None,
    required: Sequence[str] = (),
) -> str:
    """Build the SELECT that standardises a raw table.

    Needs the reference tables (:func:`linkage.reference.create_reference_tables`) in the store.

    Grain: one row per input row (nothing is filtered).
    Columns: ``record_id``, every key of ``STANDARD_COLUMNS`` (NULL where unmapped),
    ``invalid_fields`` (comma-separated fields whose non-blank value failed to parse or is impossible, or NULL),
    ``ambiguous_fields`` (country fields whose value may mean another country, e.g. ``CA``),
    ``implausible_fields`` (fields whose value is kept but odd: a birth before 1900, a date more than
    a year ahead) and ``reject_reason`` (``missing_<field>`` or ``invalid_<field>`` for the first
    failing required field).

    Args:
        table: raw table, every column VARCHAR.
        record_id_column: column holding the record's id in its source.
        columns: standard field -> raw column.
        date_formats: date field -> strptime formats to try.
        sex_codes: raw code -> ``f``/``m``; DEFAULT_SEX_CODES when None.
        direction_codes: raw code -> ``in``/``out``; DEFAULT_DIRECTION_CODES when None.
        required: fields a record cannot be used without.
    """
    sex_codes = sex_codes or DEFAULT_SEX_CODES
    direction_codes = direction_codes or DEFAULT_DIRECTION_CODES
    builders = {
        "first_name": name_sql,
        "surname": name_sql,
        "sex": lambda c: code_map_sql(c, sex_codes),
        "nationality": country_sql,
        "country_of_birth": country_sql,
        "postcode": postcode_sql,
        "house_number": house_number_sql,
        "street": street_sql,
        "locality": place_sql,
        "national_id": identifier_sql,
        "passport_no": identifier_sql,
        "direction": lambda c: code_map_sql(c, direction_codes),
        "event_type": text_sql,
        "claim_id": lambda c: _blank_to_null(c),
    }
    selects = [f"CAST({quote_ident(record_id_column)} AS VARCHAR) AS record_id"]
    invalid_checks: list[str] = []
    ambiguity_checks: list[str] = []
    for field, sql_type in STANDARD_COLUMNS.items():
        column = columns.get(field)
        if column is None:
            selects.append(f"CAST(NULL AS {sql_type}) AS {field}")
            continue
        raw = quote_ident(column)
        if field == "dob":
            expr = birth_date_sql(raw, date_formats.get(field, ["%Y-%m-%d"]))
        elif field in DATE_COLUMNS:
            expr = date_sql(raw, date_formats.get(field, ["%Y-%m-%d"]))
        else:
            expr = builders[field](raw)
        selects.append(f"{expr} AS {field}")
        if field in DATE_COLUMNS or field in ("sex", "direction", "nationality", "country_of_birth",
                                              "first_name", "surname"):
            known_unknown = f" AND lower(trim({raw})) NOT IN {_in_list(UNKNOWN_CODES)}" if field == "sex" else ""
            if field in ("nationality", "country_of_birth"):  # ambiguous is reported as such, not as invalid
                known_unknown = f" AND {country_ambiguity_sql(raw)} IS NULL"
            invalid_checks.append(
                f"CASE WHEN {_blank_to_null(raw)} IS NOT NULL{known_unknown} AND {expr} IS NULL "
                f"THEN {sql_literal(field)} END"
            )
        if field in ("nationality", "country_of_birth"):
            ambiguity_checks.append(f"CASE WHEN {country_ambiguity_sql(raw)} IS NOT NULL THEN {sql_literal(field)} END")
    invalid = (
        f"NULLIF(concat_ws(',', {', '.join(invalid_checks)}), '')"
        if invalid_checks else "CAST(NULL AS VARCHAR)"
    )
    ambiguous = (f"NULLIF(concat_ws(',', {', '.join(ambiguity_checks)}), '')"
                 if ambiguity_checks else "CAST(NULL AS VARCHAR)")
    blank_flags = []
    reasons = []
    for field in required:
        column = columns.get(field)
        if column is None:
            reasons.append(f"WHEN TRUE THEN 'missing_{field}'")
            continue
        blank_flags.append(f"{_blank_to_null(quote_ident(column))} IS NULL AS __blank_{field}")
        reasons.append(f"WHEN __blank_{field} THEN 'missing_{field}'")
        reasons.append(f"WHEN {field} IS NULL THEN 'invalid_{field}'")
    reject = f"CASE {' '.join(reasons)} END" if reasons else "CAST(NULL AS VARCHAR)"
    inner = ", ".join([*selects, f"{invalid} AS invalid_fields", f"{ambiguous} AS ambiguous_fields", *blank_flags])
    source = f"(SELECT {inner} FROM {quote_ident(table)}) AS std"
    later = [f"dob > {period_end_sql(f, date_formats.get(f, ['%Y-%m-%d']))}"
             for f in LATER_THAN_BIRTH if f in columns]
    if "dob" in columns and later:   # a birth after the record's own date: impossible, so NULL
        impossible = f"coalesce({' OR '.join(later)}, FALSE)"
        source = (f"(SELECT * REPLACE (CASE WHEN {impossible} THEN NULL ELSE dob END AS dob, "
                  f"CASE WHEN {impossible} THEN concat_ws(',', invalid_fields, 'dob') ELSE invalid_fields END "
                  f"AS invalid_fields) FROM {source}) AS std")
    odd = ([f"CASE WHEN dob < DATE {sql_literal(PLAUSIBLE_BIRTH)} THEN 'dob' END"] if "dob" in columns else [])
    odd += [f"CASE WHEN {f} > current_date + INTERVAL 1 YEAR THEN {sql_literal(f)} END"
            for f in NOT_FUTURE if f in columns]
    implausible = f"NULLIF(concat_ws(',', {', '.join(odd)}), '')" if odd else "CAST(NULL AS VARCHAR)"
    outer = ", ".join(["record_id", *STANDARD_COLUMNS, "invalid_fields", "ambiguous_fields",
                       f"{implausible} AS implausible_fields", f"{reject} AS reject_reason"])
    return f"SELECT {outer} FROM {source}"
