"""The job file's JSON Schema, generated from the models that validate it."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from spine.config.job import JobConfig


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
    description is its ``#:`` comment in spine.config's modules, else its model's docstring."""
    schema = JobConfig.model_json_schema()
    schema.get("properties", {}).pop("root", None)
    schema.get("properties", {}).pop("job_file", None)
    defs = schema.get("$defs", {})
    for name, model in _models(JobConfig, {}).items():
        node = schema if model is JobConfig else defs.get(name)
        if node is None:
            continue
        comments = {k: v for base in reversed(model.__mro__)
                    if isinstance(base, type) and issubclass(base, BaseModel)
                    and base.__module__.startswith("spine.config.")
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
