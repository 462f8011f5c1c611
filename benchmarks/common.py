"""What the benchmark scripts share: the demo job written with their variations, and the output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def write_demo_job(work: Path, *, enlarge: bool = False, fast_linkage: bool = False,
                   rules: dict[str, dict[str, Any]] | None = None) -> Path:
    """Write ``examples/migration/job.yaml`` into ``work``: with ``enlarge: true`` on every admin
    source if asked, with identifier (else match-key) linkage in place of the models if asked, and
    with ``rules`` settings (rule -> settings) laid over the job's."""
    job = yaml.safe_load((ROOT / "examples" / "migration" / "job.yaml").read_text())
    for rule, settings in (rules or {}).items():
        job.setdefault("rules", {}).setdefault(rule, {}).update(settings)
    for name, source in job["sources"].items():
        if enlarge and name != job["base"]:
            source["enlarge"] = True
        linkage = source.get("linkage")
        if fast_linkage and linkage:
            source["linkage"] = ({"method": "deterministic_id", "id_fields": linkage["id_fields"]}
                                 if linkage.get("id_fields") else {"method": "match_keys"})
    path = work / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def emit(figures: dict[str, Any], json_path: Path | None) -> None:
    """Print the figures, and write them to ``json_path`` when given."""
    text = json.dumps(figures, indent=2, default=str)
    print(text)  # noqa: T201 - a benchmark prints its figures
    if json_path:
        json_path.write_text(text)
