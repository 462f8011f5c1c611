"""Generate a synthetic universe under a regime and write its sources, truth and follow-up sample."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from spine.synthetic import sources as build
from spine.synthetic.records import Records
from spine.synthetic.regimes import Regime
from spine.synthetic.truth import check_truth, itinerary, truth_tables, validation_sample
from spine.synthetic.universe import Universe
from spine.synthetic.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

#: Record id prefix of each source (and the order sources are written in).
PREFIXES = {"register": "R", "tax": "T", "benefits": "B", "child_benefit_children": "K", "crossings": "X",
            "visas": "V", "education": "E"}


@dataclass(frozen=True)
class SyntheticUniverse:
    """Where a generated universe was written."""

    out_dir: Path
    sources: dict[str, Path]
    truth: dict[str, Path]
    #: Persons in the universe: those asked for plus any children born abroad the regime adds.
    n_persons: int
    seed: int
    #: The follow-up sample (flows.uncertainty.validation), None when not written.
    validation: Path | None = None
    regime: Regime = field(default_factory=Regime)
    #: Breaches of the truth definition per check (spine.synthetic.truth): all zero on a good universe.
    truth_checks: dict[str, int] = field(default_factory=dict)

    @property
    def truth_passed(self) -> bool:
        return not any(self.truth_checks.values())


def _days(iso: str) -> int:
    return int(np.datetime64(iso, "D").astype(np.int64))


def _ids(prefix: str, n: int, width: int = 9) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width)).astype(object)


def _write(table: pa.Table, path: Path, file_format: str) -> Path:
    path = path.with_suffix(".parquet" if file_format == "parquet" else ".csv")
    tmp = path.with_name(path.name + ".tmp")
    if file_format == "parquet":
        pq.write_table(table, tmp)
    else:
        pacsv.write_csv(table, tmp, pacsv.WriteOptions(quoting_style="needed"))
    tmp.replace(path)
    return path


def _as_table(record_ids: np.ndarray, columns: dict) -> pa.Table:
    arrays = {"record_id": pa.array(record_ids, pa.string())}
    for name, values in columns.items():
        if isinstance(values, pa.Array | pa.ChunkedArray):
            arrays[name] = values
        elif values.dtype.kind in "iu":
            arrays[name] = pa.array(values)
        else:
            arrays[name] = pa.array(values, pa.string(), from_pandas=True)
    return pa.table(arrays)


def generate(n_persons: int, seed: int, out_dir: str | Path, *, regime: Regime = Regime(),
             start_year: int = 2015, end_year: int = 2024,
             file_format: Literal["csv", "parquet"] = "csv", validation_fraction: float = 0.05) -> SyntheticUniverse:
    """Generate a universe of ``n_persons`` people under ``regime`` and write its sources and truth.

    Args:
        n_persons: people in the universe (natives, foreign residents, immigrants, dependants,
            visitors, seasonal workers, would-be immigrants who never come); a regime with births
            abroad adds their children.
        seed: the only source of randomness: the same seed and regime give byte-identical files.
        out_dir: folder for the source files; the truth goes to ``out_dir/truth``.
        regime: the behaviours of the universe (spine.synthetic.regimes); the default is the
            ``baseline``.
        start_year, end_year: the observation window (1 Jan start_year to 31 Dec end_year).
        file_format: ``csv`` or ``parquet``.
        validation_fraction: share of the people with a record sampled into ``validation`` (their
            true moves and attributes, as a follow-up survey would give them); 0 writes none.
    """
    if n_persons < 100:
        raise ValueError(f"n_persons must be at least 100, got {n_persons}")
    if file_format not in ("csv", "parquet"):
        raise ValueError(f"file_format must be 'csv' or 'parquet', got {file_format!r}")
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    vocab = Vocabulary(rng)
    u = Universe(n_persons, seed, rng, regime, _days(f"{start_year}-01-01"), _days(f"{end_year}-12-31"), vocab)
    r = Records(u)
    years = np.arange(start_year, end_year + 1)
    person_key = np.char.add("P", np.char.zfill(np.arange(1, u.n + 1).astype(str), 9)).astype(object)

    built = {"register": build.register(u, r), "tax": build.tax(u, r, years)}
    built["crossings"] = build.crossings(u, r, years)   # before visas: visit visas follow the visits
    built["benefits"], built["child_benefit_children"] = build.benefits(u, r, years)
    built["visas"] = build.visas(u, r)
    built["education"] = build.education(u, r, years)

    sources: dict[str, Path] = {}
    truth_sources, truth_ids, truth_keys = [], [], []
    for name in PREFIXES:  # seven sources
        part = built[name]
        ids = _ids(PREFIXES[name], len(part["person"]))
        sources[name] = _write(_as_table(ids, part["columns"]), out / name, file_format)
        truth_sources.append(np.full(len(ids), name, dtype=object))
        truth_ids.append(ids)
        truth_keys.append(person_key[part["person"]])
        logger.info("%s: %d records", name, len(ids))
    moves = itinerary(u)
    tables = truth_tables(u, person_key, moves)
    tables["records"] = pa.table({"source": np.concatenate(truth_sources), "record_id": np.concatenate(truth_ids),
                                  "person_key": np.concatenate(truth_keys)})
    truth = {name: _write(table, out / "truth" / name, file_format) for name, table in tables.items()}
    checks = check_truth(u, tables["events"], built, moves)
    if any(checks.values()):
        logger.warning("the truth breaks its definition: %s", {k: v for k, v in checks.items() if v})
    (out / "truth" / "checks.json").write_text(json.dumps(checks, indent=2) + "\n")
    validation = None
    if validation_fraction > 0:
        # its own random stream: the sources and truth are the same with or without it
        sample = validation_sample(tables, validation_fraction, np.random.default_rng([seed, 2]))
        validation = _write(sample, out / "validation", file_format)
    changed = "\n".join(f"- {k}: {v}" for k, v in regime.changed().items()) or "- none (the baseline)"
    (out / "truth" / "README.md").write_text(
        f"# Truth of a synthetic universe ({u.n} persons, seed {seed}, {start_year}-{end_year})\n\n"
        "- persons: every person, their kind, true (birth) names, nationality at arrival and whether they "
        "are in the register\n"
        "- records: the true person of every record of every source\n"
        "- spells: true residence spells [start_date, end_date), end empty if still resident\n"
        "- events: true immigration/emigration events (UN 12 months on the true itinerary: docs/synthetic.md)\n"
        "- itinerary: every true movement, recorded or not (arrival, departure, return, trip, absence, visit, "
        "season, home_visit), with planned moves after the window where they decide an event\n"
        "- checks.json: breaches of the truth definition per check (all zero)\n"
        f"- ../validation: a {validation_fraction:.0%} sample of the people with a record, named by one of "
        "their records (the register's if any), with their true sex, date of birth, nationality and moves "
        "(one row per move, one row with no event for a person without)\n\n"
        f"Regime parameters away from their defaults:\n{changed}\n")
    return SyntheticUniverse(out_dir=out, sources=sources, truth=truth, n_persons=u.n, seed=seed,
                             validation=validation, regime=regime, truth_checks=checks)
