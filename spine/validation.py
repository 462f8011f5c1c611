"""The flows' error measured on a validation sample, and carried into their intervals.

Linkage uncertainty alone gives intervals far too narrow: most of the flows' error is the rules'
(a departure nobody recorded) and the persons' attributes' (an event counted in the wrong age or
citizenship group). Neither can be seen in the data that made the flows, but both can be measured
on a sample of people whose true moves are known (a follow-up survey, a case-file review), as
official statistics validate against known values (METHODS.md §5).

``load_validation`` reads and checks the file with the sources (a bad file stops the run before
linkage). ``validation_rates`` compares, per person of the sample, the events the spine derived for
them with their true events, cell by cell, at every level the flows publish (each combination of
margins), and counts per stratum (event type and ``strata`` dimensions): true positives (derived
and true in the cell), false positives (derived, not true) and false negatives (true, not
derived). ``adjusted_intervals`` then turns each replicate's count of a cell into draws of the true
count: precision ``p`` and sensitivity ``s`` are drawn from their Beta posteriors (a stratum's
counts plus ``prior_events`` pseudo-events at its event type's rate), the derived events that are
true from Binomial(count, p), and the true events missed from NegativeBinomial(true found + 1, s)
(the posterior of a count of which each was found with probability ``s``, under a flat prior).
Method and measured coverage: docs/uncertainty.md.
"""

from __future__ import annotations

import itertools
import math
import zlib
from typing import Any

import duckdb
import numpy as np

from linkage._sql import materialise, quote_ident, sql_in_list, sql_literal
from linkage.reference import create_reference_tables
from linkage.standardise import DEFAULT_SEX_CODES, UNKNOWN_CODES, birth_date_sql, code_map_sql, country_sql, date_sql
from spine.config import JobConfig, ValidationConfig
from spine.engine import Engine, EngineError
from spine.errors import InputError
from spine.flows import CELL_KEYS, DIMENSIONS, cell_keys_sql, margin_labels_sql
from spine.sources import (FILE_FORMATS, duckdb_reason, file_fingerprint, file_read_sql, missing_column, raw_table,
                           shape_sql)

RAW = "validation__raw"
RECORDS = "validation__records"
RATES = "uncertainty__validation_rates"
KEYS = CELL_KEYS
EVENTS = ("immigration", "emigration")
#: Draws of the true count per cell: replicates × draws per replicate (at least one per replicate).
DRAWS_PER_CELL = 2000
_EXAMPLES = 5
_WHERE = "flows.uncertainty.validation"


def _config(job: JobConfig) -> ValidationConfig | None:
    return job.flows.uncertainty.validation if job.flows.uncertainty.replicates else None


def load_validation(db: Engine, job: JobConfig) -> dict[str, Any] | None:
    """Read the validation file into ``validation__records`` after the sources are loaded, or do
    nothing without one. Returns its fingerprint for the run metadata.

    Grain of ``validation__records``: one row per row of the file. Columns: row_number, source,
    record_id, sex, dob, nationality, event (NULL for a person with no move), event_date.

    Raises:
        InputError: every problem at once, each naming the YAML path and example rows.
    """
    config = _config(job)
    if config is None:
        return None
    path = job.resolve(config.path)
    if not path.is_file():
        raise InputError([f"{_WHERE}.path  file not found: {path}"])
    fmt = config.format or FILE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError([f"{_WHERE}.path  cannot tell the format of {path.name}; add format: csv or format: parquet"])
    sql, problem = file_read_sql(db, path, fmt)
    if problem:
        raise InputError([f"{_WHERE}.path  cannot read {path.name} as {fmt}: {problem}"])
    try:
        materialise(db, RAW, sql)
    except (duckdb.Error, EngineError) as exc:
        raise InputError([f"{_WHERE}.path  cannot read {path.name} as {fmt}: {duckdb_reason(exc)}"]) from None
    present = [r[0] for r in db.run(f"DESCRIBE {RAW}")]
    columns = config.columns.model_dump()
    missing = [missing_column(f"{_WHERE}.columns.{field}", column, path.name, present)
               for field, column in columns.items() if column not in present]
    if missing:
        raise InputError(missing)
    c = {field: quote_ident(column) for field, column in columns.items()}
    formats = [config.date_format] if isinstance(config.date_format, str) else list(config.date_format)
    create_reference_tables(db)   # nationality is standardised as the sources' is (ISO alpha-3)
    try:
        materialise(db, RECORDS, f"""
            SELECT row_number() OVER () AS row_number, trim({c['source']}) AS source,
                   trim({c['record_id']}) AS record_id,
                   {code_map_sql(c['sex'], config.sex_codes or DEFAULT_SEX_CODES)} AS sex,
                   {birth_date_sql(c['dob'], formats)} AS dob,
                   {country_sql(c['nationality'])} AS nationality,
                   nullif(lower(trim({c['event']})), '') AS event,
                   {date_sql(c['event_date'], formats)} AS event_date,
                   {c['source']} AS raw_source, {c['sex']} AS raw_sex, {c['dob']} AS raw_dob,
                   {c['nationality']} AS raw_nationality,
                   {c['event']} AS raw_event, {c['event_date']} AS raw_date
            FROM {RAW}""")
    except duckdb.Error as exc:
        raise InputError([f"{_WHERE}.date_format  {formats} cannot be used: "
                          f"{str(exc).strip().splitlines()[0]}"]) from None
    problems = _problems(db, job, path.name, columns)
    if problems:
        raise InputError(problems)
    rows, people, blank = db.run(f"""
        SELECT count(*), count(DISTINCT (source, record_id)),
               count(DISTINCT (source, record_id)) FILTER (WHERE sex IS NULL OR dob IS NULL OR nationality IS NULL)
        FROM {RECORDS}""")[0]
    return {"file": path.name, "rows": int(rows), "people": int(people),
            "people_with_a_blank_attribute": int(blank), "sha256": file_fingerprint(path)}


def _blank(raw: str) -> str:
    return f"nullif(trim({raw}), '') IS NULL"


def _problems(db: Engine, job: JobConfig, file: str, columns: dict[str, str]) -> list[str]:
    """Rows the comparison could not use or would misread, each kind with its row numbers and the
    shapes of its values (codes of up to three characters as they are): never a value or a record id.

    A blank sex, date of birth or nationality is allowed (the move goes to the ``unknown`` group,
    as the flows put such events); a value given but unreadable is not.
    """
    if not db.run(f"SELECT count(*) FROM {RECORDS}")[0][0]:
        return [f"{_WHERE}.path  {file} has no rows: a validation sample needs people"]
    known = sql_in_list(job.sources)
    events = sql_in_list(EVENTS)
    unknown_codes = sql_in_list(UNKNOWN_CODES)
    checks = [
        ("source", f"source IS NULL OR source NOT IN ({known})", "raw_source",
         f"is not a source of the job (sources: {', '.join(job.sources)})"),
        ("record_id", "record_id IS NULL OR record_id = ''", "record_id",
         "is empty (the person is named by one of their records)"),
        ("event", f"event IS NOT NULL AND event NOT IN ({events})", "raw_event",
         "is not immigration, emigration or empty (a person with no move)"),
        ("event", f"event IS NULL AND NOT {_blank('raw_date')}", "raw_date",
         "is empty where event_date is set (a move needs its type; a person with no move has both empty)"),
        ("event_date", "event IS NOT NULL AND event_date IS NULL", "raw_date",
         "is not a date in the date_format (every move needs its date)"),
        ("dob", f"dob IS NULL AND NOT {_blank('raw_dob')}", "raw_dob",
         "is not a date of birth in the date_format (or is before 1880 or in the future)"),
        ("sex", f"sex IS NULL AND NOT {_blank('raw_sex')} AND lower(trim(raw_sex)) NOT IN ({unknown_codes})",
         "raw_sex", "is not a known sex code; map the codes with sex_codes: {\"1\": m, \"2\": f}"),
        ("nationality", f"nationality IS NULL AND NOT {_blank('raw_nationality')}", "raw_nationality",
         "is not a country the reference table knows (ISO 3166 alpha-3, alpha-2, numeric or English name)"),
    ]
    problems = []
    for field, bad, shown, what in checks:
        # source and event name the job's vocabulary, not a person: shown; ids never; dates by their shape
        shape = ("NULL" if shown == "record_id" else f"left(trim({shown}), 24)" if shown in ("raw_source", "raw_event")
                 else shape_sql(f"trim({shown})") if shown in ("raw_dob", "raw_date")
                 else f"(CASE WHEN length(trim({shown})) <= 3 THEN trim({shown}) ELSE {shape_sql(f'trim({shown})')} END)")
        rows = db.run(f"SELECT row_number, {shape} FROM {RECORDS} WHERE {bad} ORDER BY 1")
        if rows:
            examples = ", ".join(f"row {n}" + (f": '{v}'" if v is not None else "") for n, v in rows[:_EXAMPLES])
            problems.append(f"{_WHERE}.columns.{field}  column '{columns[field]}' of {file} {what}; "
                            f"{len(rows)} row(s), e.g. {examples}")
    disagree = db.run(f"""
        SELECT source, record_id, list(row_number ORDER BY row_number) FROM {RECORDS}
        GROUP BY source, record_id
        HAVING count(DISTINCT coalesce(sex, '?') || coalesce(CAST(dob AS VARCHAR), '?') || coalesce(nationality, '?')) > 1
        ORDER BY 3""")
    if disagree:
        examples = "; ".join(f"{s}: rows {', '.join(map(str, rows))}" for s, _, rows in disagree[:_EXAMPLES])
        problems.append(f"{_WHERE}  {len(disagree)} person(s) of {file} have rows that disagree on sex, dob or "
                        f"nationality (one person, one set of true attributes), e.g. {examples}")
    twice = db.run(f"""
        SELECT source, record_id, event, list(row_number ORDER BY row_number) FROM {RECORDS}
        WHERE event IS NOT NULL GROUP BY source, record_id, event, event_date HAVING count(*) > 1
        ORDER BY 4""")
    if twice:
        examples = "; ".join(f"{s} {e} in rows {', '.join(map(str, rows))}" for s, _, e, rows in twice[:_EXAMPLES])
        problems.append(f"{_WHERE}  {len(twice)} move(s) of {file} are given twice (same person, event and "
                        f"date), e.g. {examples}")
    for name, source in job.sources.items():
        rows = db.run(f"""
            SELECT v.row_number, v.record_id FROM {RECORDS} AS v
            WHERE v.source = ? AND v.record_id NOT IN (
                SELECT trim({quote_ident(source.record_id)}) FROM {quote_ident(raw_table(name))}
                WHERE {quote_ident(source.record_id)} IS NOT NULL)
            ORDER BY 1""", [name])
        if rows:
            examples = ", ".join(str(n) for n, _ in rows[:_EXAMPLES])
            problems.append(f"{_WHERE}.columns.record_id  {len(rows)} row(s) of {file} name a record that is not in "
                            f"source {name!r}, e.g. row{'s' if len(rows) > 1 else ''} {examples}")
    return problems


def _period(job: JobConfig, config: ValidationConfig) -> tuple[str, str]:
    """The days whose moves are compared: the validation window set in the job, else the reporting
    period (the events published)."""
    reporting = job.reporting_period(job.observation.end) if job.observation else (None, None)
    start = config.start or reporting[0]
    end = config.end or reporting[1]
    return (f"DATE {sql_literal(start.isoformat())}" if start else "DATE '0001-01-01'",
            f"DATE {sql_literal(end.isoformat())}" if end else "DATE '9999-12-31'")


def pattern_sql(alias: str = "") -> str:
    """The margin pattern of a cell: bit ``4 - i`` set when key ``i`` of KEYS is ``total``."""
    return " + ".join(f"(CASE WHEN {alias}{k} = 'total' THEN {1 << (len(KEYS) - 1 - i)} ELSE 0 END)"
                      for i, k in enumerate(KEYS))


def _moves_ctes(job: JobConfig, config: ValidationConfig) -> str:
    """The CTEs up to ``moves``: one row per derived event of a sampled unit and per true move of it
    (``unit, event, period, sex, age_group, citizenship_group, derived, true_``). A unit is the spine
    person the sample's record links to (two sampled records of one spine person are compared once,
    against both people's moves), or the sampled person when it links to none."""
    start, end = _period(job, config)
    true_keys = cell_keys_sql(job, sex="r.sex", dob="r.dob", nationality="r.nationality", date="v.event_date")
    derived_keys = cell_keys_sql(job, sex="p.sex", dob="p.dob", nationality="p.nationality", date="e.date")
    return f"""people AS (
            SELECT source, record_id, any_value(sex) AS sex, any_value(dob) AS dob,
                   any_value(nationality) AS nationality
            FROM {RECORDS} GROUP BY source, record_id),
        found AS (
            SELECT r.*, l.person_id,
                   coalesce('spine:' || l.person_id, 'sample:' || r.source || ':' || r.record_id) AS unit
            FROM people AS r
            LEFT JOIN links AS l ON l.source = r.source AND trim(l.record_id) = r.record_id AND l.status = 'linked'),
        moves AS (
            SELECT f.unit, e.event, {derived_keys}, 1 AS derived, 0 AS true_
            FROM (SELECT DISTINCT person_id, unit FROM found WHERE person_id IS NOT NULL) AS f
            JOIN events AS e USING (person_id) JOIN persons AS p USING (person_id)
            WHERE e.date BETWEEN {start} AND {end}
            UNION ALL
            SELECT * FROM (   -- a move two sampled records of one spine person both give counts once
                SELECT DISTINCT ON (r.unit, v.event, v.event_date) r.unit, v.event, {true_keys}, 0, 1
                FROM {RECORDS} AS v JOIN found AS r USING (source, record_id)
                WHERE v.event IS NOT NULL AND v.event_date BETWEEN {start} AND {end}
                ORDER BY r.unit, v.event, v.event_date, r.source, r.record_id))"""


def unit_scores_sql(job: JobConfig) -> str:
    """Each sampled unit's true positives, false positives and false negatives at the level of period
    and event (a move in the right year counts, whatever its age or citizenship group): what
    rules.calibrate compares settings on. Grain: one row per unit. Columns: unit, tp, fp, fn."""
    config = _config(job)
    assert config is not None
    return f"""
        WITH {_moves_ctes(job, config)},
        per_period AS (SELECT unit, period, event, sum(derived) AS d, sum(true_) AS t FROM moves GROUP BY ALL)
        SELECT f.unit, coalesce(sum(least(d, t)), 0) AS tp, coalesce(sum(d - least(d, t)), 0) AS fp,
               coalesce(sum(t - least(d, t)), 0) AS fn
        FROM (SELECT DISTINCT unit FROM found) AS f LEFT JOIN per_period AS p USING (unit) GROUP BY f.unit"""


def validation_rates(db: Engine, job: JobConfig) -> str:
    """Materialise ``uncertainty__validation_rates`` from ``events``, ``persons``, ``links`` and
    ``validation__records``.

    Grain: one row per (pattern, stratum) seen in the sample, where pattern is the margin pattern
    (:func:`pattern_sql`) and the stratum is the event and the ``strata`` dimensions, each labelled
    ``total`` where the pattern sums over it. Columns: pattern, event, the strata dimensions, tp, fp, fn.
    """
    config = _config(job)
    assert config is not None
    # the flows publish every margin over their dimensions within a period and event
    sets = ["(" + ", ".join(("unit", "period", "event", *kept)) + ")"
            for kept in itertools.chain.from_iterable(itertools.combinations(DIMENSIONS, n)
                                                      for n in range(len(DIMENSIONS) + 1))]
    strata = ", ".join(config.strata)
    return materialise(db, RATES, f"""
        WITH {_moves_ctes(job, config)},
        per_person AS (
            SELECT {margin_labels_sql()}, sum(derived) AS d, sum(true_) AS t
            FROM moves GROUP BY GROUPING SETS ({', '.join(sets)}))
        SELECT {pattern_sql()} AS pattern, event{', ' + strata if strata else ''},
               sum(least(d, t)) AS tp, sum(d - least(d, t)) AS fp, sum(t - least(d, t)) AS fn
        FROM per_person GROUP BY ALL""")


def validation_summary(db: Engine, job: JobConfig) -> dict[str, Any]:
    """What the sample says, for quality.json and the report: people, how many the spine found, and
    per event type at the full cell level and at the period level (true positives, false
    positives, false negatives, precision, sensitivity, derived / true)."""
    config = _config(job)
    assert config is not None
    statuses = dict(db.run(f"""
        SELECT coalesce(l.status, 'not in links'), count(*) FROM (SELECT DISTINCT source, record_id FROM {RECORDS}) AS r
        LEFT JOIN links AS l ON l.source = r.source AND trim(l.record_id) = r.record_id GROUP BY 1 ORDER BY 1
        """))
    people, linked = sum(statuses.values()), statuses.get("linked", 0)
    by_level: dict[str, Any] = {}
    for level, pattern in (("cell", 0), ("period", 0b00111)):   # every key; period and event only
        rows = db.run(f"""SELECT event, sum(tp), sum(fp), sum(fn) FROM {RATES}
                               WHERE pattern = {pattern} GROUP BY 1 ORDER BY 1""")
        by_level[level] = {event: _rates(tp, fp, fn) for event, tp, fp, fn in rows}
    start, end = _period(job, config)
    first, last = db.run(f"SELECT CAST({start} AS VARCHAR), CAST({end} AS VARCHAR)")[0]
    return {"file": job.resolve(config.path).name, "people": int(people), "people_found_in_spine": int(linked),
            "people_by_link_status": {k: int(v) for k, v in statuses.items()},
            "period": [first, last],
            "strata": ["event", *config.strata], "prior_events": config.prior_events,
            "by_cell": by_level["cell"], "by_period": by_level["period"]}


def _rates(tp: float, fp: float, fn: float) -> dict[str, Any]:
    tp, fp, fn = int(tp), int(fp), int(fn)
    return {"true_positives": tp, "false_positives": fp, "false_negatives": fn,
            "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "sensitivity": round(tp / (tp + fn), 4) if tp + fn else None,
            "derived_over_true": round((tp + fp) / (tp + fn), 4) if tp + fn else None}


def cell_parameters(db: Engine, job: JobConfig, cells: str) -> tuple[np.ndarray, np.ndarray]:
    """Beta parameters (precision a, b; sensitivity a, b) per row of ``cells`` (a table with column
    ``i``, 0..n-1, and the five keys), in the order of ``i``: the stratum's counts plus
    ``prior_events`` pseudo-events at the rate of its event type at the same margin pattern
    (Jeffreys' half events alone when no strata). NaN where the sample has no true or no derived
    event of the cell's type at its pattern (its rates would be guesses): such a cell is not
    adjusted. Also a stable number per cell (a CRC of its keys) to seed its draws."""
    config = _config(job)
    assert config is not None
    on = " AND ".join(f"s.{d} = c.{d}" for d in config.strata)
    strengths = prior_strengths(db, config.prior_events if config.strata else 0.0, config.strata)
    rows = db.run(f"""
        WITH pooled AS (SELECT pattern, event, sum(tp) AS tp, sum(fp) AS fp, sum(fn) AS fn FROM {RATES} GROUP BY ALL),
             c AS (SELECT *, {pattern_sql()} AS pattern FROM {cells})
        SELECT c.i, concat_ws('|', {', '.join(f'c.{k}' for k in KEYS)}), c.pattern, c.event,
               coalesce(s.tp, 0), coalesce(s.fp, 0), coalesce(s.fn, 0), o.tp, o.fp, o.fn
        FROM c LEFT JOIN pooled AS o ON o.pattern = c.pattern AND o.event = c.event
        LEFT JOIN {RATES} AS s ON s.pattern = c.pattern AND s.event = c.event {('AND ' + on) if on else ''}
        ORDER BY c.i""")
    params = np.full((len(rows), 4), np.nan)
    seeds = np.array([zlib.crc32(row[1].encode()) for row in rows], dtype=np.int64)
    for i, (_, _, pattern, event, tp, fp, fn, otp, ofp, ofn) in enumerate(rows):
        if otp is None or otp + ofn == 0 or otp + ofp == 0:
            continue
        precision = (otp + 0.5) / (otp + ofp + 1)
        sensitivity = (otp + 0.5) / (otp + ofn + 1)
        k_p, k_s = strengths.get((pattern, event), (0.0, 0.0))
        params[i] = (tp + 0.5 + k_p * precision, fp + 0.5 + k_p * (1 - precision),
                     tp + 0.5 + k_s * sensitivity, fn + 0.5 + k_s * (1 - sensitivity))
    return params, seeds


#: Prior strengths (in events) tried by the empirical-Bayes fit: from trusting each stratum to pooling.
STRENGTHS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 10000.0)


def prior_strengths(db: Engine, fixed: float | str,
                    strata: list[str]) -> dict[tuple[int, str], tuple[float, float]]:
    """How many events' weight each stratum's rates borrow from its event type's, per (pattern,
    event): for precision and for sensitivity; 0 where the pattern sums over every ``strata``
    dimension (its one stratum is the event type's rate). ``fixed`` a number: that weight. ``auto``: the empirical-Bayes choice, the
    strength on the ``STRENGTHS`` grid that makes the strata's counts most likely under a
    beta-binomial around the event type's rate (strata that differ get little pooling, strata that
    agree get much), capped at the events that rate rests on (the prior may not claim more
    certainty than its data)."""
    dimensions = list(strata)
    groups: dict[tuple[int, str], list[tuple[int, int, int]]] = {}
    for pattern, event, tp, fp, fn in db.run(f"SELECT pattern, event, tp, fp, fn FROM {RATES}"):
        groups.setdefault((int(pattern), str(event)), []).append((int(tp), int(fp), int(fn)))
    chosen = {}
    for key, counts in groups.items():
        tp = sum(t for t, _, _ in counts)
        fp = sum(f for _, f, _ in counts)
        fn = sum(n for _, _, n in counts)
        if all(key[0] >> (len(KEYS) - 1 - KEYS.index(d)) & 1 for d in dimensions):
            chosen[key] = (0.0, 0.0)   # the stratum is its event type: nothing to borrow (it would count twice)
        elif fixed != "auto":
            chosen[key] = (float(fixed), float(fixed))
        else:                     # never more weight than the events the event type's rate rests on
            chosen[key] = (min(tp + fp, _best_strength([(t, f) for t, f, _ in counts], (tp + 0.5) / (tp + fp + 1))),
                           min(tp + fn, _best_strength([(t, n) for t, _, n in counts], (tp + 0.5) / (tp + fn + 1))))
    return chosen


def _best_strength(counts: list[tuple[int, int]], mean: float) -> float:
    """The grid strength k maximising the beta-binomial likelihood of (successes, failures) per
    stratum with prior Beta(k·mean, k·(1 − mean)) (the binomial coefficients do not depend on k)."""
    def log_beta(a: float, b: float) -> float:
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)

    def likelihood(k: float) -> float:
        a, b = k * mean, k * (1 - mean)
        return sum(log_beta(x + a, y + b) - log_beta(a, b) for x, y in counts if x + y)

    return max(STRENGTHS, key=likelihood)


def adjusted_intervals(db: Engine, job: JobConfig, counts: np.ndarray, cells: str,
                       confidence: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intervals of the true count per row of ``cells`` (see :func:`cell_parameters`) from its
    replicate counts (``counts``: cells × replicates in the order of ``i``, already placed around
    the published count), with the error the sample measured for its stratum:
    :func:`true_count_intervals`."""
    params, cell_seeds = cell_parameters(db, job, cells)
    return true_count_intervals(counts, params, confidence, seed, cell_seeds)


def true_count_intervals(counts: np.ndarray, params: np.ndarray, confidence: float, seed: int,
                         cell_seeds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower, upper and median of draws of each cell's true count.

    Each replicate's count gives ``DRAWS_PER_CELL / replicates`` draws: precision p ~ Beta(params 0, 1)
    and sensitivity s ~ Beta(params 2, 3) per draw; derived events that are true ~ Binomial(count, p);
    true events missed ~ NegativeBinomial(that + 1, s). Rows whose params are NaN (no validation
    data for them) get NaN. Each cell draws from its own generator, seeded by ``seed`` and its
    ``cell_seeds`` entry (default: its row number), so a cell's interval does not move when other
    cells come or go.
    """
    n_cells, replicates = counts.shape
    per_replicate = max(1, math.ceil(DRAWS_PER_CELL / max(replicates, 1)))
    cell_seeds = np.arange(n_cells) if cell_seeds is None else cell_seeds
    tail = (1 - confidence) / 2
    lower, upper, median = (np.full(n_cells, np.nan) for _ in range(3))
    for i in np.flatnonzero(~np.isnan(params[:, 0])):
        rng = np.random.default_rng([seed, int(cell_seeds[i])])
        a_p, b_p, a_s, b_s = params[i]
        derived = np.repeat(np.rint(counts[i]).astype(np.int64), per_replicate)
        found = rng.binomial(derived, rng.beta(a_p, b_p, size=derived.size))
        truth = found + rng.negative_binomial(found + 1, np.clip(rng.beta(a_s, b_s, size=derived.size), 1e-9, 1.0))
        lower[i], median[i], upper[i] = np.quantile(truth, [tail, 0.5, 1 - tail])
    return lower, upper, median
