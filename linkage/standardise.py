"""Standardise raw source columns into comparable values, as SQL expressions run in the engine.

Every builder returns a SQL *expression* over a raw VARCHAR column. ``standardise_records_sql``
combines them into one SELECT with a fixed set of standard columns, so every source has the same
shape downstream. A value that cannot be parsed becomes NULL and its field is listed in
``invalid_fields``; a record missing a *required* field gets a ``reject_reason`` instead of being
dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from linkage._sql import quote_ident, sql_literal

STANDARD_COLUMNS: dict[str, str] = {
    "first_name": "VARCHAR",
    "surname": "VARCHAR",
    "dob": "DATE",
    "sex": "VARCHAR",
    "nationality": "VARCHAR",
    "country_of_birth": "VARCHAR",
    "postcode": "VARCHAR",
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
    "f": "f", "female": "f", "w": "f", "woman": "f",
    "m": "m", "male": "m", "man": "m",
}
DEFAULT_DIRECTION_CODES: dict[str, str] = {
    "in": "in", "i": "in", "arrival": "in", "entry": "in", "a": "in",
    "out": "out", "o": "out", "departure": "out", "exit": "out", "d": "out",
}


def _blank_to_null(raw: str) -> str:
    return f"NULLIF(trim({raw}), '')"


def name_sql(raw: str) -> str:
    """Upper case, accents stripped, only letters, spaces and hyphens, single spaces."""
    cleaned = f"regexp_replace(upper(strip_accents({_blank_to_null(raw)})), '[^A-Z \\-]', '', 'g')"
    return f"NULLIF(trim(regexp_replace({cleaned}, '\\s+', ' ', 'g')), '')"


def date_sql(raw: str, formats: Sequence[str]) -> str:
    """Parse with the first of ``formats`` that fits; impossible dates (30 Feb) give NULL."""
    fmt_list = "[" + ", ".join(sql_literal(f) for f in formats) + "]"
    return f"CAST(try_strptime({_blank_to_null(raw)}, {fmt_list}) AS DATE)"


def code_map_sql(raw: str, codes: Mapping[str, str]) -> str:
    """Map case-insensitive codes onto standard values; anything else is NULL."""
    whens = " ".join(f"WHEN {sql_literal(k.lower())} THEN {sql_literal(v)}" for k, v in codes.items())
    return f"(CASE lower(trim({raw})) {whens} ELSE NULL END)"


def country_sql(raw: str) -> str:
    """An ISO 3166-1 alpha-3 code in upper case, else NULL (fuller mapping comes with issue 3)."""
    up = f"upper({_blank_to_null(raw)})"
    return f"(CASE WHEN regexp_full_match({up}, '[A-Z]{{3}}') THEN {up} END)"


def postcode_sql(raw: str) -> str:
    """Upper case with spaces and punctuation removed."""
    return f"NULLIF(regexp_replace(upper({raw}), '[^A-Z0-9]', '', 'g'), '')"


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

    Grain: one row per input row (nothing is filtered).
    Columns: ``record_id``, every key of ``STANDARD_COLUMNS`` (NULL where unmapped),
    ``invalid_fields`` (comma-separated fields whose non-blank value failed to parse, or NULL) and ``reject_reason``
    (``missing_<field>`` or ``invalid_<field>`` for the first failing required field).

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
        "national_id": identifier_sql,
        "passport_no": identifier_sql,
        "direction": lambda c: code_map_sql(c, direction_codes),
        "event_type": text_sql,
        "claim_id": lambda c: _blank_to_null(c),
    }
    selects = [f"CAST({quote_ident(record_id_column)} AS VARCHAR) AS record_id"]
    invalid_checks: list[str] = []
    for field, sql_type in STANDARD_COLUMNS.items():
        column = columns.get(field)
        if column is None:
            selects.append(f"CAST(NULL AS {sql_type}) AS {field}")
            continue
        raw = quote_ident(column)
        if field in DATE_COLUMNS:
            expr = date_sql(raw, date_formats.get(field, ["%Y-%m-%d"]))
        else:
            expr = builders[field](raw)
        selects.append(f"{expr} AS {field}")
        if field in DATE_COLUMNS or field in ("sex", "direction", "nationality", "country_of_birth"):
            invalid_checks.append(
                f"CASE WHEN {_blank_to_null(raw)} IS NOT NULL AND {expr} IS NULL THEN {sql_literal(field)} END"
            )
    invalid = (
        f"NULLIF(concat_ws(',', {', '.join(invalid_checks)}), '')"
        if invalid_checks else "CAST(NULL AS VARCHAR)"
    )
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
    inner = ", ".join([*selects, f"{invalid} AS invalid_fields", *blank_flags])
    outer = ", ".join(["record_id", *STANDARD_COLUMNS, "invalid_fields", f"{reject} AS reject_reason"])
    return f"SELECT {outer} FROM (SELECT {inner} FROM {quote_ident(table)}) AS std"
