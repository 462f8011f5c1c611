"""Reading a job file: every problem with its file, line, column, YAML path and bad value."""

from __future__ import annotations

import difflib
import re
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from spine._yaml import YamlDocument, load_yaml
from spine.config.fields import ColumnConfig, NAME_PATTERN
from spine.config.job import JobConfig
from spine.config.linkage import (
    DeterministicIdConfig, HybridConfig, MatchKeysConfig, NoLinkageConfig, ProbabilisticConfig,
)
from spine.config.sources import SourceConfig
from spine.errors import ConfigError


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
