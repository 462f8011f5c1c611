"""Intervals for the published flows: assignment and rules re-run under linkage and rule uncertainty.

Each replicate re-decides the links of every record a probabilistic model scored, by drawing
one of its candidates (or none) by their match weights, then re-runs the rules stage (movements,
signs of life, visas, events, family) for the persons whose records it re-linked, everyone else's
events and the rules' estimates taken from a run with the run's links (spine.replicate_rules), and
counts events per flow cell.
``flow_intervals`` takes the central ``confidence`` range of the replicates' counts per cell
(percentiles 2.5 and 97.5 at 95%, linear interpolation), ``fill_flow_intervals`` writes it into
``flows.lower``/``flows.upper``. Method, what is covered and what is not: docs/uncertainty.md.

Replicates never touch the run's tables. They run on a cursor of the store's database whose
default catalog is a private in-memory database attached for the purpose: every table the
replicate writes (``movements``, ``events``, ``persons``, each source's link table cut to the
persons re-run, the references' copies, the rules' intermediates) is created there, and the search
path falls back to the store for everything it only reads (standardised sources, candidates, the
run's link tables). The rules stage keeps its fixed table names. Only the replicate counts
(``uncertainty__replicate_counts``) and the intervals are written to the store.

Sampling, per record of a probabilistic (or hybrid) source that the model scored and that was
not decided for certain (identifier links, clerical decisions and rejected records are kept as
they are): candidates ``e1..ek`` are mutually exclusive (a record has at most one true match), so
with pair odds ``oi = 2^weight_i = pi / (1 - pi)`` the draw links ``ei`` with probability
``oi / (1 + o1 + .. + ok)`` and nobody with ``1 / (1 + o1 + .. + ok)``. One candidate keeps its
match probability; namesakes each scored alone at 0.3 no longer outweigh a pair at 0.99. A record not
linked in a replicate falls back to what the run would have done with it: its enlarged or family
person if it had one, else (it was a probabilistic link) a new person shared by the records with
its names and date of birth when its source enlarges the spine (or is the family children
source), else nobody. One-to-one sources keep one record per person per replicate (the heaviest
pair); the others lose the link rather than draw again.

The uniform behind each draw is a hash of (seed, replicate, unit): DuckDB's ``random()`` cannot
be seeded per query. With ``sampling_unit: identity`` the unit is the record's names and date of
birth, so a person's records (tax years, crossings, across sources) are linked or not together.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from linkage._sql import materialise, quote_ident, sql_in_list, sql_literal
from spine.builder import LINKED_RECORDS, build_linked_records
from spine.config import HybridConfig, JobConfig, ProbabilisticConfig, with_rule_value
from spine.engine import Engine
from spine.events_stage import MOVEMENTS_AFTER_REPAIR, SETTINGS_AFTER_REPAIR, build_movements_and_events
from spine import flows as flows_module
from rules.early_leavers import EARLY_LEAVER_WEIGHTS
from spine.flows import CELL_KEYS, event_counts_sql, margin_labels_sql
from spine.linking import link_table
from spine.replicate_rules import (TOUCHED_ALL, Reference, build_ties, close_over_ties, reference_after_the_runs_repair,
                                   reference_of_the_run, relinked_persons, rerun_rules, restrict_links, run_reference,
                                   take_replicate)
from spine.sources import std_table
from spine.validation import adjusted_intervals, cell_parameters, validation_rates, validation_summary

logger = logging.getLogger(__name__)

REPLICATE_DB = "spine_uncertainty"
REPLICATE_COUNTS = "uncertainty__replicate_counts"
REPLICATE_SETTINGS = "uncertainty__replicate_settings"
FLOW_INTERVALS = "uncertainty__flow_intervals"
POOL = "uncertainty__pool"
DRAWN = "uncertainty__drawn"
#: The pool's records, once each, with what the run did with them.
POOLED_RECORDS = "uncertainty__pooled_records"
#: Every replicate's records whose link its draw changed (spine.replicate_rules.CHANGED_COLUMNS).
CHANGED = "uncertainty__changed_links"
#: Replicates drawn, closed over their ties and cut from the link tables together: one scan of
#: each link table for all of them, their link records held at once (memory grows with it).
REPLICATES_AT_ONCE = 5
#: The pool's distinct sampling units (each gets one uniform per replicate).
UNITS = "uncertainty__units"
KEYS = CELL_KEYS
#: Link methods that are certain: never re-drawn.
CERTAIN_METHODS = ("base", "deterministic_id", "deterministic", "clerical")
#: 2^52: the uniform is the first 13 hex digits of an md5 over this.
_SCALE = 4503599627370496.0

COVERED = [
    "linkage uncertainty of every probabilistic (and hybrid) source: each scored record linked to one of "
    "its candidates, or to none, in each replicate: the candidates taken as alternatives weighed by their "
    "match odds (one candidate alone: its match probability)",
    "its consequences through assignment (one-to-one kept), enlargement fallback, family association, "
    "signs of life, visa rules, itinerary checks and event derivation",
]
NOT_COVERED = [
    "error of the match probabilities themselves (the model's m/u parameters are not re-estimated; "
    "probabilities are taken as calibrated)",
    "pairs never scored (blocking misses) and pairs scored below 0.001 (not kept as candidates)",
    "identifier links, match-key links, clerical decisions and base-register duplicates: taken as certain",
    "attributes of persons (sex, date of birth, nationality) are the run's; they are not re-resolved "
    "per replicate",
    "a record unlinked in a replicate joins a person keyed on its names and date of birth, an approximation "
    "of enlargement (no typo-tolerant keys, no hold-back)",
    "systematic error of the rules (a departure nobody recorded and no silence shows, a wrong definition), "
    "except through the rule settings varied in rule_alternatives",
    "coverage error: people in no source",
]
#: Replicates that re-run only the re-linked persons keep the rules' estimates of the run's links.
PINNED_ESTIMATES = ("the rules' estimates over everyone (recording rates, lags, the silence model, the early "
                    "leavers' shares) are those of the run's links under each replicate's rule settings: a "
                    "replicate's re-links do not re-estimate them (at 100k they moved its counts by under 0.3%)")
#: With a validation sample the rules' systematic error is covered as far as the sample measures it.
NOT_COVERED_WITH_VALIDATION = {
    NOT_COVERED[3]: "attributes of persons (sex, date of birth, nationality) are not re-resolved per replicate; "
                    "their error is covered as far as the validation sample measures it",
    NOT_COVERED[5]: "systematic error of the rules beyond what the validation sample measures (its rates "
                    "are taken to hold for every period and group of a stratum)",
}


def sampled_sources(db: Engine, job: JobConfig) -> list[str]:
    """Sources linked by a probabilistic model whose candidate pairs are in the store."""
    have = db.table_names()
    return [name for name, s in job.ordered_sources
            if isinstance(s.linkage, ProbabilisticConfig) and f"candidates__{name}" in have]


def uniform_sql(seed: int, replicate: str, unit: str) -> str:
    """A pseudo-random number in [0, 1) from (seed, replicate, unit): 52 bits of an md5."""
    text = f"{sql_literal(str(seed) + ':')} || CAST({replicate} AS VARCHAR) || ':' || {unit}"
    return f"(CAST(('0x' || left(md5({text}), 13)) AS UBIGINT) / {_SCALE})"


def _pool_sql(job: JobConfig, name: str, stored: Callable[[str], str], sampling_unit: str) -> str:
    """Records of one source to re-draw, one row per candidate with its share of [0, 1).

    Grain: one row per (record, candidate entity). Columns: source, record_id, unit_key, new_person_id,
    fallback (``keep``, ``new``, ``none``), run_entity, run_linked, run_method, entity_id, lo, hi, weight,
    one_to_one.
    """
    source = job.sources[name]
    config = source.linkage
    assert isinstance(config, ProbabilisticConfig)

    links = stored(link_table(name))
    id_decided = ""
    if isinstance(config, HybridConfig):
        id_decided = (f"AND l.record_id NOT IN (SELECT record_id FROM {stored(f'link__{name}__ids')} "
                      "WHERE status IN ('linked', 'review'))")
    certain = sql_in_list(CERTAIN_METHODS)
    one_to_one = config.constraint == "one_to_one"
    taken = (f"WHERE c.entity_id NOT IN (SELECT entity_id FROM {links} WHERE status = 'linked' "
             "AND record_id NOT IN (SELECT record_id FROM eligible))") if one_to_one else ""
    makes_person = source.enlarge or name == job.rules.family.children_source
    identity = (f"CASE WHEN s.first_name IS NULL OR s.surname IS NULL OR s.dob IS NULL "
                f"THEN {sql_literal(name + ':')} || s.record_id "
                f"ELSE s.first_name || '|' || s.surname || '|' || CAST(s.dob AS VARCHAR) END")
    unit = identity if sampling_unit == "identity" else f"{sql_literal(name + ':')} || s.record_id"
    return f"""
        WITH eligible AS (
            SELECT l.record_id, l.entity_id AS run_entity, l.status AS run_status, l.method AS run_method
            FROM {links} AS l
            WHERE l.status <> 'rejected' AND coalesce(l.method, '') NOT IN ({certain})
              AND l.reason IS DISTINCT FROM 'clerical_non_match' {id_decided}
        ),
        candidates AS (
            SELECT c.record_id, c.entity_id, c.match_weight AS weight,
                   greatest(max(c.match_weight) OVER (PARTITION BY c.record_id), 0) AS top
            FROM {stored(f'candidates__{name}')} AS c JOIN eligible USING (record_id) {taken}
        ),
        odds AS (   -- 2^weight is a pair's odds; scaled by 2^-top so that no power overflows
            SELECT *, power(2.0, weight - top) AS odds FROM candidates
        ),
        shares AS (
            SELECT *, sum(odds) OVER (PARTITION BY record_id ORDER BY entity_id ROWS UNBOUNDED PRECEDING) AS upto,
                   power(2.0, -top) + sum(odds) OVER (PARTITION BY record_id) AS scale
            FROM odds
        )
        SELECT {sql_literal(name)} AS source, e.record_id, {unit} AS unit_key,
               'uncertainty:' || md5({identity}) AS new_person_id,
               CASE WHEN e.run_method IN ('enlarged', 'family') THEN 'keep'
                    WHEN e.run_status = 'linked' AND {sql_literal(makes_person)} THEN 'new'
                    ELSE 'none' END AS fallback,
               e.run_entity, e.run_status = 'linked' AS run_linked, e.run_method, c.entity_id,
               (c.upto - c.odds) / c.scale AS lo,
               c.upto / c.scale AS hi, c.weight,
               {sql_literal(one_to_one)} AS one_to_one
        FROM eligible AS e JOIN shares AS c USING (record_id)
        JOIN {stored(std_table(name))} AS s USING (record_id)"""


def _persons_sql(stored: Callable[[str], str], sources: list[str]) -> str:
    """The run's persons, and every person a replicate may create for records it leaves unlinked
    (attributes from those records: earliest date of birth, most frequent sex and nationality)."""
    records = " UNION ALL ".join(
        f"""SELECT p.new_person_id, s.dob, s.sex, s.nationality, s.country_of_birth
            FROM (SELECT DISTINCT record_id, new_person_id FROM {POOL}
                  WHERE source = {sql_literal(name)} AND fallback = 'new') AS p
            JOIN {stored(std_table(name))} AS s USING (record_id)"""
        for name in sources)
    return f"""
        SELECT * FROM {stored("persons")}
        UNION ALL BY NAME
        SELECT new_person_id AS person_id, 'enlarged' AS origin, CAST(min(dob) AS DATE) AS dob,
               mode(sex ORDER BY sex) AS sex, mode(nationality ORDER BY nationality) AS nationality,
               mode(country_of_birth ORDER BY country_of_birth) AS country_of_birth
        FROM ({records}) GROUP BY new_person_id"""


def _drawn_sql(seed: int, replicate: int) -> str:
    """The replicate's links: each pooled record's drawn candidate (none when the draw falls in the
    remainder); one-to-one sources keep the heaviest record per person. One uniform per unit (the
    records and candidates of a unit share it)."""
    u = uniform_sql(seed, str(int(replicate)), "unit_key")
    return f"""
        WITH units AS (SELECT unit_key, {u} AS u FROM {UNITS})
        SELECT p.source, p.record_id, p.entity_id FROM {POOL} AS p JOIN units AS d USING (unit_key)
        WHERE d.u >= p.lo AND d.u < p.hi
        QUALIFY NOT one_to_one
             OR row_number() OVER (PARTITION BY source, entity_id ORDER BY weight DESC, record_id) = 1"""


def _pooled_link_sql(pooled: str, drawn: str, run_entity: str, run_method: str) -> tuple[str, str]:
    """A pooled record's person and link method in the replicate (aliases of the pool and of
    ``DRAWN``; the run's person and method): the drawn candidate, else its fallback (``keep`` the
    run's, ``new`` a new person, ``none`` NULL)."""
    p, d = pooled, drawn
    return (f"CASE WHEN {d}.record_id IS NOT NULL THEN {d}.entity_id WHEN {p}.fallback = 'keep' THEN {run_entity} "
            f"WHEN {p}.fallback = 'new' THEN {p}.new_person_id END",
            f"CASE WHEN {d}.record_id IS NOT NULL THEN 'probabilistic' WHEN {p}.fallback = 'keep' THEN {run_method} "
            f"WHEN {p}.fallback = 'new' THEN 'enlarged' END")


def _changed_links_sql(replicate: int) -> str:
    """The pooled records whose link the replicate's draw (``DRAWN``) changed: linked to another
    person, linked where the run left them unlinked, or unlinked where the run linked them; with
    their person in the run and in the replicate (as ``_replicate_links_sql`` gives it). Columns:
    spine.replicate_rules.CHANGED_COLUMNS."""
    entity, method = _pooled_link_sql("p", "d", "p.run_entity", "p.run_method")
    return f"""
        WITH now AS (
            SELECT p.source, p.record_id, p.run_entity, p.run_linked, {entity} AS entity_id, {method} AS method
            FROM {POOLED_RECORDS} AS p LEFT JOIN {DRAWN} AS d USING (source, record_id))
        SELECT {int(replicate)} AS replicate, source, record_id, run_entity, run_linked, entity_id, method FROM now
        WHERE CASE WHEN run_linked THEN entity_id IS DISTINCT FROM run_entity ELSE entity_id IS NOT NULL END"""


def _replicate_links_sql(name: str, stored: Callable[[str], str]) -> str:
    """``link__<name>`` for one replicate: drawn links, fallbacks, and untouched records as in the run."""
    # no CTE: two sources' replicate links meet in one statement (the claims), and Spark refuses a
    # CTE name twice
    entity, method = _pooled_link_sql("p", "d", "l.entity_id", "l.method")
    return f"""
        SELECT l.record_id, CASE WHEN p.record_id IS NULL THEN l.entity_id ELSE {entity} END AS entity_id,
               CASE WHEN d.record_id IS NOT NULL THEN 'linked' WHEN p.record_id IS NULL THEN l.status
                    WHEN p.fallback IN ('keep', 'new') THEN 'linked' ELSE 'unlinked' END AS status,
               CASE WHEN p.record_id IS NULL THEN l.method ELSE {method} END AS method,
               l.matched_on, l.match_probability, l.match_weight,
               CASE WHEN d.record_id IS NULL AND p.fallback = 'none' THEN 'replicate_unlinked' END AS reason
        FROM {stored(link_table(name))} AS l
        LEFT JOIN (SELECT DISTINCT record_id, fallback, new_person_id FROM {POOL} WHERE source = {sql_literal(name)})
             AS p USING (record_id)
        LEFT JOIN (SELECT record_id, entity_id FROM {DRAWN} WHERE source = {sql_literal(name)}) AS d
             USING (record_id)"""


def flow_cells_sql(job: JobConfig, *, margins: bool = False, weighted: bool = False) -> str:
    """Unsuppressed event counts per flow cell of ``events`` and ``persons``: the flows' own
    ``event_counts_sql``, so the replicates group exactly as the published flows do.

    Grain: one row per non-empty cell (period, event, sex, age_group, citizenship_group); column
    ``n``. With ``margins``, also every margin over any of the five keys, labelled ``total``.
    """
    cells = event_counts_sql(job, EARLY_LEAVER_WEIGHTS if weighted else None)
    if not margins:
        return cells
    return f"SELECT {margin_labels_sql()}, sum(n) AS n FROM ({cells}) GROUP BY CUBE ({', '.join(KEYS)})"


def rule_values(job: JobConfig, seed: int, replicate: int) -> dict[str, int | None]:
    """The rule settings a replicate uses: one of each ``rule_alternatives`` list, drawn uniformly
    by a hash of (seed, replicate, setting)."""
    chosen = {}
    for key, values in job.flows.uncertainty.rule_alternatives.items():
        digest = hashlib.sha256(f"{seed}:{replicate}:{key}".encode()).hexdigest()
        chosen[key] = values[int(digest, 16) % len(values)]
    return chosen


def _has_margins(db: Engine, flows: str) -> bool:
    where = " OR ".join(f"{k} = 'total'" for k in KEYS)
    return bool(db.run(f"SELECT count(*) FROM {quote_ident(flows)} WHERE {where}")[0][0])


def replicate_flow_counts(db: Engine, job: JobConfig, replicates: int | None = None,
                          seed: int | None = None, *, flows: str = "flows",
                          rerun_everyone: bool = False, data_end: date | None = None) -> tuple[str, dict[str, Any]]:
    """Run the replicates; materialise ``uncertainty__replicate_counts`` in the store.

    Grain: one row per (replicate, cell) with a non-zero count (a cell a replicate lacks counts 0);
    margin rows labelled ``total`` too when ``flows`` has any.
    Columns: replicate, period, event, sex, age_group, citizenship_group, n. The rule settings each
    replicate used are in ``uncertainty__replicate_settings`` (replicate, setting, value).

    Each replicate re-runs the rules only for the persons its draw re-linked and those tied to them,
    everyone else's events taken from a run of the rules with the run's links under the same rule
    settings (spine.replicate_rules); ``rerun_everyone`` re-runs them for everyone instead (slower,
    and every estimate re-estimated; for comparison), as do replicates that each have rule settings
    of their own (nothing to re-use). Given the run's ``data_end``, the replicates that draw the
    job's own rule settings take the run's rules stage as their reference (its tables are in the
    store) rather than running the rules again.

    Args:
        db: the engine of the run's store, after ``persons`` and the link tables exist.
        replicates, seed: default to ``job.flows.uncertainty``.

    Returns:
        The table name, and what was done (sources, records re-drawn, seconds) for quality.json.
    """
    config = job.flows.uncertainty
    replicates = config.replicates if replicates is None else replicates
    seed = config.seed if seed is None else seed
    sources = sampled_sources(db, job)
    margins = _has_margins(db, flows)
    started = time.perf_counter()
    db.run(f"CREATE OR REPLACE TABLE {REPLICATE_COUNTS} (replicate INTEGER, period VARCHAR, event VARCHAR, "
           "sex VARCHAR, age_group VARCHAR, citizenship_group VARCHAR, n BIGINT)")
    db.run(f"CREATE OR REPLACE TABLE {REPLICATE_SETTINGS} (replicate INTEGER, setting VARCHAR, value INTEGER)")
    with db.shadowing(REPLICATE_DB) as (rep, stored):
        parts = [_pool_sql(job, name, stored, config.sampling_unit) for name in sources]
        materialise(rep, POOL, " UNION ALL ".join(f"SELECT * FROM ({p})" for p in parts) if parts else
                    "SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS record_id, NULL::VARCHAR AS unit_key, "
                    "NULL::VARCHAR AS new_person_id, NULL::VARCHAR AS fallback, NULL::VARCHAR AS run_entity, "
                    "NULL::BOOLEAN AS run_linked, NULL::VARCHAR AS run_method, NULL::VARCHAR AS entity_id, "
                    "NULL::DOUBLE AS lo, NULL::DOUBLE AS hi, NULL::DOUBLE AS weight, NULL::BOOLEAN AS one_to_one "
                    "WHERE FALSE")
        materialise(rep, UNITS, f"SELECT DISTINCT unit_key FROM {POOL}")
        materialise(rep, "persons", _persons_sql(stored, sources) if sources
                    else f"SELECT * FROM {stored('persons')}")
        pooled = dict(rep.run(f"SELECT source, count(DISTINCT record_id) FROM {POOL} GROUP BY 1"))
        uncertain = dict(rep.run(f"""SELECT source, count(DISTINCT record_id) FROM {POOL}
                                         WHERE hi - lo > 0.05 AND hi - lo < 0.95 GROUP BY 1"""))
        settings = [rule_values(job, seed, r) for r in range(replicates)]
        # a reference per rule setting: none to re-use when every replicate has a setting of its own
        rerun_everyone = rerun_everyone or len({_key(values) for values in settings}) >= replicates
        references: dict[tuple[tuple[str, Any], ...], Reference] = {}
        from_the_run = from_the_repair = 0
        relinked: list[int] = []
        rerun: list[int] = []
        if not rerun_everyone:   # first: the replicates' link tables are not there yet
            after_repair = (MOVEMENTS_AFTER_REPAIR in rep.table_names()
                            and set(config.rule_alternatives) <= set(SETTINGS_AFTER_REPAIR))
            for values in {_key(values): values for values in settings}.values():   # each setting once
                job_r = _with_values(job, values)
                if data_end is not None and job_r.rules == job.rules:   # the run's own settings: its rules stage
                    references[_key(values)] = reference_of_the_run(rep, stored, len(references), data_end)
                    from_the_run += 1
                elif after_repair:   # the others start from the run's repaired movements
                    references[_key(values)] = reference_after_the_runs_repair(rep, job_r, len(references))
                    from_the_repair += 1
                else:
                    references[_key(values)] = run_reference(rep, job_r, len(references))
        if not rerun_everyone:
            materialise(rep, POOLED_RECORDS, f"""SELECT DISTINCT source, record_id, fallback, new_person_id, run_entity,
                                                     run_linked, run_method FROM {POOL}""")
            build_ties(rep, job, references.values(), stored)
        setup_seconds = time.perf_counter() - started
        used: dict[str, dict[str, int]] = {}
        for r, values in enumerate(settings):
            job_r = _with_values(job, values)
            for key, value in values.items():
                used.setdefault(key, {}).setdefault(str(value), 0)
                used[key][str(value)] += 1
                db.run(f"INSERT INTO {REPLICATE_SETTINGS} VALUES (?, ?, ?)", [r, key, value])
            if rerun_everyone:
                materialise(rep, DRAWN, _drawn_sql(seed, r))
                for name in sources:
                    materialise(rep, link_table(name), _replicate_links_sql(name, stored))
                build_linked_records(rep, job_r)
                build_movements_and_events(rep, job_r, LINKED_RECORDS, ablations=False, replicate=r)
            else:   # the replicate's persons and their link records, cut from those of its batch
                if r % REPLICATES_AT_ONCE == 0:
                    batch = range(r, min(r + REPLICATES_AT_ONCE, replicates))
                    first, closed = _relink_replicates(rep, job, seed, batch, stored)
                    relinked += [first[b] for b in batch]
                    rerun += [closed[b] for b in batch]
                take_replicate(rep, job_r, r)
                rerun_rules(rep, job_r, references[_key(values)], r)
            weighted = job_r.rules.events.early_leavers
            counts = rep.frame(f"SELECT {int(r)} AS replicate, * FROM "
                               f"({flow_cells_sql(job_r, margins=margins, weighted=weighted)})")
            with db.registered("uncertainty__counts_of_replicate", counts) as view:   # the cells: small
                db.run(f"INSERT INTO {REPLICATE_COUNTS} SELECT * FROM {view}")
    seconds = time.perf_counter() - started
    logger.info("%d uncertainty replicates in %.1fs", replicates, seconds)
    return REPLICATE_COUNTS, {
        "sources": sources,
        "records_redrawn": {s: int(pooled.get(s, 0)) for s in sources},
        "records_with_an_uncertain_candidate": {s: int(uncertain.get(s, 0)) for s in sources},
        "rule_values_used": used,
        "margins": margins,
        "rules_rerun_for": "everyone" if rerun_everyone else "re-linked persons and those tied to them",
        "reference_runs": len(references) - from_the_run,
        "references_from_the_run": from_the_run,
        "reference_runs_from_the_repair": from_the_repair,
        "persons_relinked_per_replicate": {"mean": round(float(np.mean(relinked)), 1), "max": int(max(relinked))}
        if relinked else None,
        "persons_rerun_per_replicate": {"mean": round(float(np.mean(rerun)), 1), "max": int(max(rerun))}
        if rerun else None,
        "seconds": round(seconds, 3),
        "seconds_setup": round(setup_seconds, 3),
        "seconds_per_replicate": round((seconds - setup_seconds) / replicates, 3) if replicates else None,
    }


def _relink_replicates(rep: Engine, job: JobConfig, seed: int, replicates: range,
                       stored: Callable[[str], str]) -> tuple[dict[int, int], dict[int, int]]:
    """Draw the links of each of ``replicates`` and keep the records whose link changed
    (``CHANGED``); find each replicate's re-linked persons and close them over the ties (``TIES``
    made first); cut each source's link table to them for these replicates at once
    (spine.replicate_rules). Returns, per replicate, how many persons were re-linked and how many
    are re-run."""
    for r in replicates:
        materialise(rep, DRAWN, _drawn_sql(seed, r))
        if r == replicates[0]:
            materialise(rep, CHANGED, _changed_links_sql(r))
        else:
            rep.run(f"INSERT INTO {CHANGED} SELECT * FROM ({_changed_links_sql(r)}) AS c")
    relinked_persons(rep, CHANGED)
    first = dict(rep.run(f"SELECT replicate, count(*) FROM {TOUCHED_ALL} GROUP BY 1"))
    close_over_ties(rep, job, stored, CHANGED)
    closed = dict(rep.run(f"SELECT replicate, count(*) FROM {TOUCHED_ALL} GROUP BY 1"))
    restrict_links(rep, job, stored, CHANGED)
    return ({r: int(first.get(r, 0)) for r in replicates}, {r: int(closed.get(r, 0)) for r in replicates})

def _key(values: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(values.items()))


def _with_values(job: JobConfig, values: dict[str, Any]) -> JobConfig:
    """``job`` with a replicate's rule settings."""
    for key, value in values.items():
        job = with_rule_value(job, key, value)
    return job


def _replicate_grid_sql(cells: str, counts: str, replicates: int) -> str:
    """Every cell of ``cells`` (a table with the five keys) × every replicate, with the replicate's
    count of it (0 where the replicate has none). Columns: those of ``cells``, replicate, n."""
    on = " AND ".join(f"c.{k} IS NOT DISTINCT FROM k.{k}" for k in KEYS)
    return f"""
        SELECT k.*, r.replicate, coalesce(c.n, 0) AS n
        FROM {cells} AS k CROSS JOIN range({int(replicates)}) AS r(replicate)
        LEFT JOIN {quote_ident(counts)} AS c ON c.replicate = r.replicate AND {on}"""


def flow_intervals(db: Engine, counts: str, replicates: int, confidence: float = 0.95,
                   *, flows: str = "flows") -> str:
    """Materialise ``uncertainty__flow_intervals``: per cell of ``flows``, the percentiles
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` of its count over the replicates (linear
    interpolation between order statistics; a replicate without the cell counts 0).

    Grain: one row per distinct (period, event, sex, age_group, citizenship_group) of ``flows``.
    Columns: the five keys, lower, upper, median, mean (DOUBLE), replicates.
    """
    tail = (1 - confidence) / 2
    keys = ", ".join(KEYS)
    return materialise(db, FLOW_INTERVALS, f"""
        WITH k AS (SELECT DISTINCT {keys} FROM {quote_ident(flows)}),
             filled AS ({_replicate_grid_sql('k', counts, replicates)})
        SELECT {keys}, CAST(quantile_cont(n, {tail!r}) AS DOUBLE) AS lower,
               CAST(quantile_cont(n, {1 - tail!r}) AS DOUBLE) AS upper,
               CAST(quantile_cont(n, 0.5) AS DOUBLE) AS median, avg(n) AS mean,
               count(*) AS replicates
        FROM filled GROUP BY ALL""")


def fill_flow_intervals(db: Engine, intervals: str, flows: str = "flows",
                        rounding: int | None = None, *, final: bool = False) -> int:
    """Write lower/upper into ``flows`` for published cells: the replicates' central range placed
    around the published count (count − (median − low), count + (high − median)); suppressed cells
    get NULL (an interval around a suppressed count would disclose it). With ``rounding`` the bounds are rounded as the
    counts are (nearest multiple, halves up): unrounded, a zero-width interval would give away the
    exact count that rounding hides. With ``final``, ``intervals`` holds the bounds themselves
    (:func:`validated_intervals`). Returns the cells given an interval."""
    on = " AND ".join(f"f.{k} IS NOT DISTINCT FROM i.{k}" for k in KEYS)

    def rounded(x: str) -> str:
        return x if rounding is None else f"floor(({x} + {rounding / 2!r}) / {rounding}) * {rounding}"

    # The replicates re-link with a simpler enlargement than the run's, so their level can differ
    # from the published count (at 20k persons, about 5% lower); what they measure is the spread.
    # The interval is that spread placed around the published count (a basic bootstrap interval).
    lower = "i.lower" if final else "greatest(0, f.count - (i.median - i.lower))"
    upper = "i.upper" if final else "f.count + (i.upper - i.median)"
    db.run(f"UPDATE {quote_ident(flows)} SET lower = NULL, upper = NULL")
    db.run(f"""UPDATE {quote_ident(flows)} AS f SET lower = {rounded(lower)}, upper = {rounded(upper)}
                    FROM {quote_ident(intervals)} AS i WHERE {on} AND NOT coalesce(f.suppressed, FALSE)
                      AND f.count IS NOT NULL""")
    return int(db.run(f"SELECT count(*) FROM {quote_ident(flows)} WHERE lower IS NOT NULL")[0][0])


def validated_intervals(db: Engine, job: JobConfig, counts: str, replicates: int,
                        confidence: float, seed: int, *, flows: str = "flows", cells_sql: str | None = None) -> str:
    """Materialise ``uncertainty__flow_intervals`` with final bounds for the published cells: each
    replicate's count placed around the published count (as :func:`fill_flow_intervals` does), then
    turned into draws of the true count with the error the validation sample measured
    (:func:`spine.validation.adjusted_intervals`). A cell whose event type the sample lacks keeps
    the linkage-only interval. ``cells_sql``: other cells (the five keys and ``count``, the derived
    count) in place of the published cells of ``flows``: every cell, for calibration.

    Grain: one row per cell. Columns: the five keys, lower, upper, median (DOUBLE; median of the
    true-count draws), validated (BOOLEAN).
    """
    keys = ", ".join(KEYS)
    cells_sql = cells_sql or (f"SELECT {keys}, count FROM {quote_ident(flows)} "
                              "WHERE NOT coalesce(suppressed, FALSE) AND count IS NOT NULL")
    cells = materialise(db, "uncertainty__published_cells", f"""
        SELECT row_number() OVER (ORDER BY {keys}) - 1 AS i, {keys}, count FROM ({cells_sql})""")
    grid = db.arrays(f"SELECT count, n FROM ({_replicate_grid_sql(cells, counts, replicates)}) "
                     "ORDER BY i, replicate")
    shape = (-1, int(replicates))
    published = np.asarray(grid["count"], dtype=float).reshape(shape)[:, 0]
    drawn = np.asarray(grid["n"], dtype=float).reshape(shape)
    placed = np.maximum(0.0, published[:, None] + drawn - np.median(drawn, axis=1)[:, None])
    lower, upper, median = adjusted_intervals(db, job, placed, cells, confidence, seed)
    tail = (1 - confidence) / 2
    plain = np.isnan(lower)
    if plain.any():
        lower[plain], median[plain], upper[plain] = np.quantile(placed[plain], [tail, 0.5, 1 - tail], axis=1)
    table = pd.DataFrame({"i": np.arange(len(published)), "lower": lower, "upper": upper, "median": median,
                          "validated": ~plain})
    db.register("uncertainty__bounds", table)
    try:
        materialise(db, FLOW_INTERVALS, f"""SELECT {keys}, b.lower, b.upper, b.median, b.validated
                                             FROM {cells} AS k JOIN uncertainty__bounds AS b USING (i)""")
    finally:
        db.unregister("uncertainty__bounds")
    db.run(f"DROP TABLE {cells}")
    return FLOW_INTERVALS


#: The flows as derived, before calibration (the store keeps them when the published ones are calibrated).
UNCALIBRATED_FLOWS = "flows__uncalibrated"


def calibrate_flows(db: Engine, job: JobConfig, counts: str,
                    flows: str = "flows") -> tuple[str, dict[str, Any]]:
    """Publish calibrated counts: each cell's derived count times its stratum's precision over its
    sensitivity (posterior means of what the validation sample measured, shrunk towards the event
    type's as for the intervals), rounded; a cell whose rates the sample cannot give keeps its
    count, and a cell without events stays empty. The published flows are rebuilt from the
    calibrated cells (margins their sums, so every table adds up, and disclosure control judges
    what is published). The intervals are the true-count draws of every cell (margins too) from
    its derived count (:func:`validated_intervals`), placed around the published count. The
    derived flows stay in ``UNCALIBRATED_FLOWS``, the calibrated cells with their factor in
    ``uncertainty__calibrated_cells``. Returns the bounds table and the quality.json section.
    """
    config = job.flows.uncertainty
    keys = ", ".join(KEYS)
    materialise(db, UNCALIBRATED_FLOWS, f"SELECT * FROM {quote_ident(flows)}")
    bounds = validated_intervals(db, job, counts, config.replicates, config.confidence, config.seed, flows=flows,
                                 cells_sql=f"SELECT {keys}, n AS count FROM flows__cells")
    interior = " AND ".join(f"{k} <> 'total'" for k in KEYS)
    cells = materialise(db, "uncertainty__calibration_cells", f"""
        SELECT row_number() OVER (ORDER BY {keys}) - 1 AS i, {keys}, n FROM flows__cells WHERE {interior} AND n > 0""")
    params, _ = cell_parameters(db, job, cells)
    precision = params[:, 0] / (params[:, 0] + params[:, 1])
    sensitivity = params[:, 2] / (params[:, 2] + params[:, 3])
    factor = np.where(np.isnan(precision), 1.0, precision / sensitivity)
    derived = db.arrays(f"SELECT n FROM {cells} ORDER BY i")["n"].astype(float)
    table = pd.DataFrame({"i": np.arange(len(derived)), "n": np.rint(derived * factor).astype(np.int64),
                          "factor": factor})
    db.register("uncertainty__calibrated", table)
    try:
        calibrated = materialise(db, "uncertainty__calibrated_cells", f"""
            SELECT {keys}, c.n AS derived, k.n, k.factor FROM {cells} AS c JOIN uncertainty__calibrated AS k USING (i)""")
    finally:
        db.unregister("uncertainty__calibrated")
    disclosure = flows_module.build_flows(db, job, f"SELECT {keys}, n FROM {calibrated} WHERE n > 0")
    totals = db.run(f"""
        SELECT u.period, u.event, u.count, f.count
        FROM {UNCALIBRATED_FLOWS} AS u JOIN {quote_ident(flows)} AS f USING ({keys})
        WHERE u.sex = 'total' AND u.age_group = 'total' AND u.citizenship_group = 'total' AND u.period <> 'total'
          AND u.event <> 'total' ORDER BY 1, 2""")
    adjusted, nonzero = db.run(f"SELECT count(*) FILTER (WHERE factor <> 1), count(*) FROM {calibrated}")[0]
    return bounds, {
        "published": "calibrated",
        "method": "each cell's derived count times its stratum's precision over sensitivity (posterior means, "
                  "shrunk as for the intervals); margins the sums of the calibrated cells",
        "cells_calibrated": int(adjusted), "cells_with_events": int(nonzero),
        "totals": [{"period": p, "event": e, "derived": d, "calibrated": c} for p, e, d, c in totals],
        "disclosure": disclosure,
        "uncalibrated_table": UNCALIBRATED_FLOWS,
    }


def apply_uncertainty(db: Engine, job: JobConfig, flows: str = "flows", data_end: date | None = None) -> dict[str, Any]:
    """The job's uncertainty step, after ``build_flows``: replicates, intervals, ``flows`` filled.
    ``data_end``: the run's, whose rules stage then serves as a reference (replicate_flow_counts).
    Returns the quality.json section (what is covered and what is not, even when off)."""
    config = job.flows.uncertainty
    section: dict[str, Any] = {"enabled": config.replicates > 0, "replicates": config.replicates,
                               "seed": config.seed, "confidence": config.confidence,
                               "percentiles": [round(50 * (1 - config.confidence), 4),
                                               round(50 * (1 + config.confidence), 4)],
                               "sampling_unit": config.sampling_unit,
                               "rule_alternatives": {k: list(v) for k, v in config.rule_alternatives.items()},
                               "suppressed_cells": "no interval (NULL): it would disclose the count"}
    if not config.replicates:
        section.update(covered=[], not_covered=["nothing is covered: flows.uncertainty.replicates is 0, so "
                                                "lower and upper are NULL"])
        return section
    counts, measured = replicate_flow_counts(db, job, flows=flows, data_end=data_end)
    covered, not_covered = list(COVERED), list(NOT_COVERED)
    if measured["rules_rerun_for"] != "everyone":
        not_covered.append(PINNED_ESTIMATES)
    if config.rule_alternatives:
        covered.append("rule-setting uncertainty: " + ", ".join(
            f"{k} drawn from {v}" for k, v in config.rule_alternatives.items()))
    if config.validation is None:
        intervals = flow_intervals(db, counts, config.replicates, config.confidence, flows=flows)
    else:
        validation_rates(db, job)
        section["validation"] = validation_summary(db, job)
        if config.validation.calibrate:
            intervals, section["calibration"] = calibrate_flows(db, job, counts, flows)
        else:
            intervals = validated_intervals(db, job, counts, config.replicates, config.confidence, config.seed,
                                            flows=flows)
        on = " AND ".join(f"f.{k} = i.{k}" for k in KEYS)
        adjusted, plain = db.run(f"""
            SELECT count(*) FILTER (WHERE i.validated), count(*) FILTER (WHERE NOT i.validated)
            FROM {intervals} AS i JOIN {quote_ident(flows)} AS f ON {on}
            WHERE NOT coalesce(f.suppressed, FALSE) AND f.count IS NOT NULL""")[0]
        section["validation"]["cells_adjusted"] = int(adjusted)
        section["validation"]["cells_not_adjusted"] = int(plain)
        if plain:
            types = [r[0] for r in db.run(f"""
                SELECT DISTINCT i.event FROM {intervals} AS i JOIN {quote_ident(flows)} AS f ON {on}
                WHERE NOT i.validated AND NOT coalesce(f.suppressed, FALSE) ORDER BY 1""")]
            logger.warning("%d published flow cells (%s) keep linkage-only intervals: the validation sample has no "
                           "true or no derived move of their type at their level", plain, ", ".join(types))
            not_covered.append(f"{plain} published cells ({', '.join(types)}) keep linkage-only intervals: the "
                               "validation sample has no true or no derived move of their type at their level")
        people = section["validation"]["people"]
        covered.append(f"error of the rules and of persons' attributes as measured on the validation sample "
                       f"({people} people): per event type and {', '.join(config.validation.strata) or 'nothing else'}, "
                       "how many derived events are true and how many true events are derived, drawn from "
                       "their posteriors in every replicate")
        not_covered = [NOT_COVERED_WITH_VALIDATION.get(item, item) for item in not_covered]
        not_covered.append("error the validation sample cannot show: people it could not name by a record "
                           "(in no source), moves outside its period, and its own errors (taken as the truth)")
        not_covered.append("events of a split person's other half (or of a record left in review) are false "
                           "positives the sample cannot see, while their true moves count as missed: the "
                           "true count is then overestimated")
    section.update(measured, covered=covered, not_covered=not_covered)
    calibrated = "calibration" in section
    section["cells_with_interval"] = fill_flow_intervals(db, intervals, flows, job.flows.rounding,
                                                         final=config.validation is not None and not calibrated)
    section["rounding"] = job.flows.rounding
    median, widest, nonzero = db.run(
        f"""SELECT median(upper - lower), max(upper - lower), count(*) FILTER (WHERE upper > lower)
            FROM {quote_ident(flows)} WHERE lower IS NOT NULL""")[0]
    section["width"] = {"median": median, "max": widest, "cells_wider_than_zero": int(nonzero)}
    return section
