"""Small jobs on a few hand-written rows, linked on match keys: the skeleton the job-level tests
share (a register, the sources each test needs, and what the test adds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

#: Column names of the hand-written files, onto the standard person fields.
PERSON = {"first_name": "fn", "surname": "sn", "dob": "dob", "sex": "sex"}
#: A register with these columns (plus whatever ``register_columns`` adds): id, fn, sn, dob, sex, reg.
REGISTER_COLUMNS = {**PERSON, "start_date": "reg"}
#: A crossings file: id, fn, sn, dob, sex, date, dir.
CROSSINGS_COLUMNS = {**PERSON, "event_date": "date", "direction": "dir"}


def linked_source(name: str, columns: dict[str, str]) -> dict[str, Any]:
    """A source ``<name>.csv`` with record id ``id``, linked on the default match keys."""
    return {"path": f"{name}.csv", "record_id": "id", "linkage": {"method": "match_keys"},
            "columns": {**PERSON, **columns}}


def write_small_job(tmp_path: Path, files: dict[str, str], register_columns: dict[str, str],
                    sources: dict[str, dict[str, Any]], **sections: Any) -> Path:
    """Write ``<name>.csv`` for each of ``files`` (the register among them) and ``job.yaml``: base
    ``register``, home country XSY, observation 2015–2024, the given sources and job sections."""
    for name, text in files.items():
        (tmp_path / f"{name}.csv").write_text(text)
    job = {"name": "t", "base": "register", "home_country": "XSY", "demo": True,
           "observation": {"start": "2015-01-01", "end": "2024-12-31"},
           "sources": {"register": {"path": "register.csv", "record_id": "id",
                                    "columns": {**REGISTER_COLUMNS, **register_columns}},
                       **sources},
           **sections}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path
