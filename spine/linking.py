"""Link one admin source to the spine with the method its YAML names.

Every method writes the same per-source link table ``link__<name>`` (one row per record of the
source: record_id, entity_id, status, method, matched_on, match_probability, match_weight,
reason) and returns what it measured for quality.json. The probabilistic reference is the
spine's base register (one row per registered person, with its linkage features).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any


from linkage import (
    DEFAULT_MATCH_KEYS,
    ComparisonSpec,
    MatchKey,
    ProbabilisticModel,
    add_linkage_features,
    assign_links,
    check_id_links,
    default_comparison,
    duplicate_identifiers,
    link_on_identifiers,
    link_on_match_keys,
    score_pairs,
)
from linkage._sql import fill_rates as column_fill_rates
from linkage.blocking import DEFAULT_TRAINING_RULES, TIGHTENING_FIELDS, default_blocking_rules, tightening_order
from linkage.errors import LinkageError
from linkage.hybrid import assess_on_id_links, records_to_score
from linkage.probabilistic import check_saved_model
from linkage._sql import materialise, quote_ident, sql_literal
from spine.config import (
    DERIVED_FEATURES,
    IDENTITY_FIELDS,
    DeterministicIdConfig,
    HybridConfig,
    IdLinkageMixin,
    JobConfig,
    MatchKeysConfig,
    ProbabilisticConfig,
    SourceConfig,
)
from spine.engine import Engine
from spine.errors import ConfigError
from spine.sources import std_table

SPINE_IDENTIFIERS = "spine__identifiers"
SPINE_REFERENCE = "spine__reference"
DEFAULT_COMPARISON_FIELDS = ("first_name", "surname", "dob", "sex", "postcode", "house_number", "street",
                             "locality", "nationality", "country_of_birth", "national_id", "passport_no")
ID_FIELDS_COMPARED = ("national_id", "passport_no")
#: What a link on a number the base register does not hold must agree on with the person: the date
#: of birth as far as both records know it (a mistyped digit tolerated, but not in the year: a
#: child's date on a parent's passport can be one digit from the parent's) and sex.
TAUGHT_NUMBER_CHECK = ("dob", "birth_year", "sex")
LINK_COLUMNS = ("record_id, entity_id, status, method, matched_on, "
                "match_probability, match_weight, reason")


def link_table(name: str) -> str:
    """Per-source link result."""
    return f"link__{name}"


def features_table(name: str) -> str:
    """A source's usable (not rejected) records with their linkage features."""
    return f"feat__{name}"


def build_features(db: Engine, name: str) -> str:
    """Linkage features of a source's records that were not rejected."""
    usable = f"usable__{name}"
    db.run(f"CREATE OR REPLACE TEMP VIEW {quote_ident(usable)} AS "
           f"SELECT * FROM {quote_ident(std_table(name))} WHERE reject_reason IS NULL")
    return add_linkage_features(db, usable, features_table(name))


def build_reference(db: Engine, job: JobConfig) -> str:
    """The spine as the probabilistic stage sees it: each base-register person's features."""
    return materialise(db, SPINE_REFERENCE, f"""
        SELECT f.*, l.entity_id FROM {quote_ident(features_table(job.base))} AS f
        JOIN {quote_ident(link_table(job.base))} AS l USING (record_id) WHERE l.status = 'linked'""")


def fill_rates(db: Engine, table: str, source: SourceConfig) -> dict[str, float]:
    """Share of a source's usable records holding each identity field it maps (0 where unmapped)."""
    return {**dict.fromkeys(IDENTITY_FIELDS, 0.0),
            **column_fill_rates(db, table, [f for f in IDENTITY_FIELDS if source.maps(f)])}


def resolve_model(config: ProbabilisticConfig, source: SourceConfig, base: SourceConfig,
                  source_fill: dict[str, float] | None = None,
                  base_fill: dict[str, float] | None = None) -> ProbabilisticModel:
    """The Splink model for a source: explicit settings, or defaults limited to fields both sides
    map and fill (a field mapped but empty in this run, like a sex column left blank, is left out:
    it could only ever compare as null)."""
    def filled(column: str, fill: dict[str, float] | None) -> bool:
        return fill is None or all(fill.get(f, 0.0) > 0 for f in DERIVED_FEATURES.get(column, (column,)))

    def both(column: str) -> bool:
        return (source.maps(column) and base.maps(column)
                and filled(column, source_fill) and filled(column, base_fill))

    def mapped(column: str) -> bool:
        return source.maps(column) and base.maps(column)

    def pair_fill(column: str) -> float:   # share of pairs where both sides hold the column
        return min((source_fill or {}).get(f, 1.0) * (base_fill or {}).get(f, 1.0)
                   for f in DERIVED_FEATURES.get(column, (column,)))

    if config.comparisons is None:
        specs = [default_comparison(f) for f in DEFAULT_COMPARISON_FIELDS if both(f)]
    else:
        specs = [default_comparison(c) if isinstance(c, str) else
                 ComparisonSpec(c.field, c.kind, term_frequency=c.term_frequency) for c in config.comparisons]
    # Tolerant levels read derived columns; where a side cannot supply them, the plain comparison.
    specs = [s if all(mapped(c) for c in s.columns) else ComparisonSpec(s.column, s.kind, s.term_frequency)
             for s in specs]
    # An identifier the model compares is also a blocking rule: the pairs it finds are few and
    # the likeliest matches (without it a true pair whose names and dates all differ is never scored).
    compared_ids = tuple((s.column,) for s in specs if s.column in ID_FIELDS_COMPARED and both(s.column))
    # A user's rule: the columns that must agree, or a Splink rule's SQL as written.
    own = tuple(r if isinstance(r, str) else tuple(r) for r in config.blocking_rules or ())
    blocking = own or default_blocking_rules(both) + compared_ids
    training = tuple(tuple(r) for r in config.training_rules) if config.training_rules else tuple(
        r for r in DEFAULT_TRAINING_RULES if all(both(c) for c in r))
    # Default rules over max_comparisons are tightened with fields both sides fill; a user's rules never.
    tighten_with = () if config.blocking_rules else tightening_order(
        {c: pair_fill(c) for c in TIGHTENING_FIELDS if mapped(c)})
    return ProbabilisticModel(comparisons=tuple(specs), blocking_rules=blocking, training_rules=training,
                              m_from=config.m_from, match_rate=config.match_rate,
                              u_max_pairs=config.u_max_pairs, max_comparisons=config.max_comparisons,
                              tighten_with=tighten_with)


def model_choice(model: ProbabilisticModel, source_fill: dict[str, float],
                 base_fill: dict[str, float]) -> dict[str, Any]:
    """What the model compares and blocks on, and each identity field's fill rate on both sides
    (for quality.json and the report: why a field was or was not used)."""
    compared = {s.column for s in model.comparisons}
    return {"fields": {f: {"source_fill": source_fill.get(f, 0.0), "base_fill": base_fill.get(f, 0.0),
                           "compared": f in compared} for f in IDENTITY_FIELDS
                       if source_fill.get(f, 0.0) > 0 or base_fill.get(f, 0.0) > 0 or f in compared},
            "comparisons": [s.column for s in model.comparisons],
            "blocking_rules": [r if isinstance(r, str) else list(r) for r in model.blocking_rules],
            "training_rules": [list(r) for r in model.training_rules]}


def link_source(db: Engine, job: JobConfig, name: str) -> dict[str, Any]:
    """Link one source to the spine; write ``link__<name>``; return its linkage metrics."""
    source = job.sources[name]
    config = source.linkage
    records = features_table(name)
    if isinstance(config, HybridConfig):
        return _link_hybrid(db, job, name, config)
    if isinstance(config, DeterministicIdConfig):
        metrics = _link_on_ids(db, name, config, f"link__{name}__stage")
        _finish(db, name, f"link__{name}__stage")
        return metrics
    if isinstance(config, MatchKeysConfig):
        source_fill, base_fill = _fills(db, job, name)

        def usable(column: str) -> bool:   # mapped and filled on both sides
            fields = DERIVED_FEATURES.get(column, (column,))
            return (source.maps(column) and job.sources[job.base].maps(column)
                    and all(source_fill.get(f, 1.0) > 0 and base_fill.get(f, 1.0) > 0 for f in fields))

        keys = [MatchKey(k.name, tuple(k.fields)) for k in config.keys] if config.keys else [
            k for k in DEFAULT_MATCH_KEYS if all(usable(c) for c in k.fields)]
        stage = f"link__{name}__stage"
        link_on_match_keys(db, records, SPINE_REFERENCE, keys, stage, constraint=config.constraint)
        db.run(f"CREATE OR REPLACE TEMP VIEW {quote_ident(stage + '_m')} AS SELECT *, "
               "CASE WHEN status = 'linked' THEN 'deterministic' END AS method, "
               "CAST(NULL AS DOUBLE) AS match_probability, CAST(NULL AS DOUBLE) AS match_weight "
               f"FROM {quote_ident(stage)}")
        _finish(db, name, stage + "_m")
        return {"method": "match_keys", "keys": [k.name for k in keys],
                "fill_rates": {"source": source_fill, "base": base_fill},
                "links_per_key": _counts_by(db, stage, "matched_on", "status = 'linked'")}
    if isinstance(config, ProbabilisticConfig):
        source_fill, base_fill = _fills(db, job, name)
        model = _with_saved_model(job, name, config,
                                  resolve_model(config, source, job.sources[job.base], source_fill, base_fill))
        stage, metrics = _link_probabilistic(db, name, config, model, records)
        _finish(db, name, stage)
        return {**metrics, "model_choice": model_choice(model, source_fill, base_fill)}
    materialise(db, link_table(name), f"""
        SELECT record_id, CAST(NULL AS VARCHAR) AS entity_id,
               CASE WHEN reject_reason IS NOT NULL THEN 'rejected' ELSE 'unlinked' END AS status,
               CAST(NULL AS VARCHAR) AS method, CAST(NULL AS VARCHAR) AS matched_on,
               CAST(NULL AS DOUBLE) AS match_probability, CAST(NULL AS DOUBLE) AS match_weight,
               coalesce(reject_reason, 'not_linked') AS reason
        FROM {quote_ident(std_table(name))}""")
    return {"method": "none"}


def _fills(db: Engine, job: JobConfig, name: str) -> tuple[dict[str, float], dict[str, float]]:
    return (fill_rates(db, features_table(name), job.sources[name]),
            fill_rates(db, features_table(job.base), job.sources[job.base]))


def _counts_by(db: Engine, table: str, column: str, where: str) -> dict[str, int]:
    rows = db.run(f"SELECT {column}, count(*) FROM {quote_ident(table)} WHERE {where} "
                  f"GROUP BY ALL ORDER BY 2 DESC, 1")
    return {str(k): int(n) for k, n in rows}


def _link_on_ids(db: Engine, name: str, config: IdLinkageMixin, output: str) -> dict[str, Any]:
    """Identifier links, with the time-invariant check applied as configured."""
    raw = link_on_identifiers(db, features_table(name), SPINE_IDENTIFIERS, config.id_fields, output + "_raw",
                              id_patterns=config.id_patterns)
    check = config.id_check
    check_id_links(db, raw, features_table(name), SPINE_REFERENCE, output + "_configured",
                   fields=tuple(check.fields), min_disagreements=check.min_disagreements, action=check.action)
    refused, checked = _refuse_taught_numbers_that_disagree(db, name, output + "_configured", config.id_fields,
                                                            output + "_checked", review=check.action == "review")
    materialise(db, output, f"""
        SELECT record_id, entity_id, status,
               CASE WHEN status = 'linked' THEN 'deterministic_id' END AS method, matched_on,
               CAST(NULL AS DOUBLE) AS match_probability, CAST(NULL AS DOUBLE) AS match_weight, reason
        FROM ({checked})""")
    conflicts = db.run(f"SELECT count(*) FILTER (WHERE id_conflict) FROM {quote_ident(output + '_configured')}")[0][0]
    return {"method": "deterministic_id", "links_per_field": _counts_by(db, output, "matched_on", "status = 'linked'"),
            "id_conflicts": int(conflicts), "id_conflict_action": check.action,
            "refused_taught_numbers": refused,
            "reasons": _counts_by(db, output, "reason", "reason IS NOT NULL")}


def _refuse_taught_numbers_that_disagree(db: Engine, name: str, checked: str, id_fields: list[str], output: str,
                                         *, review: bool = False) -> tuple[int, str]:
    """Unlink identifier links on a number the base register does not hold for the person (one
    another source's link taught the spine) whose date of birth or sex disagrees with the person's.

    A taught number is only as good as the link that taught it: a seasonal worker's crossing with
    a year-only birth date may link to a registered namesake born that year, and the passport it
    carries would then pull every other crossing and visa of the worker to the namesake. The
    register's own numbers keep the configured check (a reused number; both fields must differ);
    a taught number needs the person's date of birth (as far as both records know it, see
    ``same_date_sql``) and sex, whatever ``id_check`` says. A refused link is unlinked (reason
    ``id_conflict``; a hybrid source then tries the model), or sent to review where ``id_check``
    sends conflicts there. Returns how many links were refused and the SELECT of ``checked``'s
    ``record_id, entity_id, status, matched_on, reason`` with them refused (not materialised: the
    caller's table is made from it in one pass); ``output`` names the working tables."""
    action = "review" if review else "demote"
    value = "CASE l.matched_on " + " ".join(
        f"WHEN {sql_literal(f)} THEN r.{quote_ident(f)}" for f in id_fields) + " END"
    taught = f"{output}__taught"
    materialise(db, taught, f"""
        SELECT l.record_id, l.entity_id, l.status, l.matched_on, l.reason
        FROM {quote_ident(checked)} AS l JOIN {quote_ident(features_table(name))} AS r USING (record_id)
        WHERE l.status = 'linked' AND NOT EXISTS (
            SELECT 1 FROM {SPINE_IDENTIFIERS} AS i
            WHERE i.from_base AND i.entity_id = l.entity_id AND i.field = l.matched_on AND i.value = {value})""")
    check_id_links(db, taught, features_table(name), SPINE_REFERENCE, f"{taught}_checked",
                   fields=TAUGHT_NUMBER_CHECK, min_disagreements=1, action=action)
    refused = int(db.run(f"SELECT count(*) FILTER (WHERE id_conflict) FROM {quote_ident(f'{taught}_checked')}")[0][0])
    return refused, f"""
        SELECT l.record_id,
               CASE WHEN t.id_conflict THEN t.entity_id ELSE l.entity_id END AS entity_id,
               CASE WHEN t.id_conflict THEN t.status ELSE l.status END AS status,
               CASE WHEN t.id_conflict THEN t.matched_on ELSE l.matched_on END AS matched_on,
               CASE WHEN t.id_conflict THEN t.reason ELSE l.reason END AS reason
        FROM {quote_ident(checked)} AS l LEFT JOIN {quote_ident(f'{taught}_checked')} AS t USING (record_id)"""


def candidate_pairs_sql(scored: str, reference: str) -> str:
    """Build the SELECT of a source's scored pairs by person: ``record_id, entity_id,
    match_probability, match_weight`` and the comparisons' columns. A person merged from several
    register records (spine.dedupe) was scored once per record: the record's best pair with the
    person is kept (the higher weight, then the smaller register record id). Only those persons'
    pairs are ranked: sorting every pair cost more than the ranking needs. Grain: one row per
    record and person."""
    pairs = f"""
        SELECT s.left_id AS record_id, r.entity_id, s.match_probability, s.match_weight, s.* EXCLUDE
               (left_id, right_id, match_probability, match_weight), s.right_id AS reference_id
        FROM {quote_ident(scored)} AS s JOIN {quote_ident(reference)} AS r ON r.record_id = s.right_id"""
    several = f"SELECT entity_id FROM {quote_ident(reference)} GROUP BY entity_id HAVING count(*) > 1"
    return f"""
        WITH pairs AS ({pairs})
        SELECT * EXCLUDE (reference_id) FROM pairs WHERE entity_id NOT IN ({several})
        UNION ALL
        SELECT * EXCLUDE (reference_id) FROM pairs WHERE entity_id IN ({several})
        QUALIFY row_number() OVER (PARTITION BY record_id, entity_id ORDER BY match_weight DESC, reference_id) = 1"""


def _link_probabilistic(db: Engine, name: str, config: ProbabilisticConfig,
                        model: ProbabilisticModel, records: str, *, labels: str | None = None,
                        exclude: str | None = None, score_only: str | None = None) -> tuple[str, dict[str, Any]]:
    """Score the records (``score_only``: those listed) against the spine, then assign best
    matches in SQL. Each comparison's partial weight is kept (the waterfall): reviewers and the
    report's example pairs read it."""
    scored = score_pairs(db, records, SPINE_REFERENCE, model, f"scored__{name}", labels=labels,
                         waterfall=True, score_only=score_only)
    candidates = f"candidates__{name}"
    materialise(db, candidates, candidate_pairs_sql(scored.table, SPINE_REFERENCE))
    to_assign, offered = f"to_assign__{name}", f"offered__{name}"
    where = f"WHERE record_id NOT IN (SELECT record_id FROM {quote_ident(exclude)})" if exclude else ""
    db.run(f"CREATE OR REPLACE TEMP VIEW {quote_ident(to_assign)} AS "
           f"SELECT record_id FROM {quote_ident(records)} {where}")
    # One-to-one: a person already taken by an identifier link is not offered again.
    taken = (f"WHERE entity_id NOT IN (SELECT entity_id FROM {quote_ident(exclude)} WHERE entity_id IS NOT NULL)"
             if exclude and config.constraint == "one_to_one" else "")
    db.run(f"CREATE OR REPLACE TEMP VIEW {quote_ident(offered)} AS "
           f"SELECT * FROM {quote_ident(candidates)} {taken}")
    assigned = f"assigned__{name}"
    band = tuple(config.review_band) if config.review_band else None
    started = time.perf_counter()
    assign_links(db, offered, to_assign, assigned, threshold=config.threshold, review_band=band,
                 constraint=config.constraint)
    assign_seconds = time.perf_counter() - started
    stage = f"link__{name}__stage"
    materialise(db, stage, f"""
        SELECT record_id, entity_id, status,
               CASE WHEN status = 'linked' THEN 'probabilistic' END AS method, CAST(NULL AS VARCHAR) AS matched_on,
               match_probability, match_weight, reason
        FROM {quote_ident(assigned)}""")
    metrics = {"method": "probabilistic", "pairs_per_blocking_rule": scored.pairs_per_rule,
               "pairs_per_training_rule": scored.training_pairs_per_rule,
               "scored": {"records": scored.scored_records, "profiles": scored.scored_profiles},
               "seconds": {**{k: round(v, 2) for k, v in scored.seconds.items()}, "assign": round(assign_seconds, 2)},
               "probability_two_random_records_match": scored.probability_two_random_records_match,
               "parameters": _model_parameters(scored.parameters),
               "splink_model": scored.parameters,   # written to models/<source>.json, then taken out
               "trained": model.trained is None,
               "comparisons": [s.column for s in model.comparisons],
               "threshold": config.threshold, "review_band": list(band) if band else None,
               "statuses": _counts_by(db, stage, "status", "TRUE")}
    return stage, metrics


def _with_saved_model(job: JobConfig, name: str, config: ProbabilisticConfig,
                      model: ProbabilisticModel) -> ProbabilisticModel:
    """``model`` scoring with the model ``linkage.model`` names (trained by an earlier run), if any.

    Raises:
        ConfigError: the file is missing, or is not a model of this source's comparisons.
    """
    if config.model is None:
        return model
    where = f"sources.{name}.linkage.model"
    path = job.resolve(config.model)
    if not path.is_file():
        raise ConfigError(f"{where}  file not found: {path} (a run writes its models to <output>/models/)")
    with_saved = dataclasses.replace(model, trained=path.read_text(encoding="utf-8"))
    try:
        check_saved_model(with_saved)
    except LinkageError as exc:
        raise ConfigError(f"{where}  {path.name}: {exc}") from None
    return with_saved


def _model_parameters(saved: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """m and u per comparison level, from Splink's saved model (no data values in it)."""
    return {c["output_column_name"]: [{"level": lv.get("label_for_charts"), "m": lv.get("m_probability"),
                                       "u": lv.get("u_probability")}
                                      for lv in c["comparison_levels"] if not lv.get("is_null_level")]
            for c in saved.get("comparisons", [])}


def _link_hybrid(db: Engine, job: JobConfig, name: str, config: HybridConfig) -> dict[str, Any]:
    """Identifiers first; everything else probabilistically; ID links label and assess the model."""
    records = features_table(name)
    id_metrics = _link_on_ids(db, name, config, f"link__{name}__ids")
    labels = f"labels__{name}"
    materialise(db, labels, f"""
        SELECT i.record_id AS left_id, r.record_id AS right_id FROM {quote_ident(f'link__{name}__ids')} AS i
        JOIN {quote_ident(SPINE_REFERENCE)} AS r USING (entity_id) WHERE i.status = 'linked'""")
    n_labels = db.run(f"SELECT count(*) FROM {quote_ident(labels)}")[0][0]
    source_fill, base_fill = _fills(db, job, name)
    model = _with_saved_model(job, name, config,
                              resolve_model(config, job.sources[name], job.sources[job.base], source_fill, base_fill))
    if model.m_from == "labels" and n_labels == 0:
        model = dataclasses.replace(model, m_from="em")
    model = dataclasses.replace(model, labels_selected_on=tuple(config.id_fields))
    decided = f"id_decided__{name}"   # identifier links and conflicts sent to review: not re-assigned
    db.run(f"CREATE OR REPLACE TEMP VIEW {quote_ident(decided)} AS SELECT record_id, entity_id "
           f"FROM {quote_ident(f'link__{name}__ids')} WHERE status IN ('linked', 'review')")
    scored = records_to_score(db, f"link__{name}__ids", config.assessment_sample, f"score_only__{name}")
    stage, prob_metrics = _link_probabilistic(db, name, config, model, records,
                                              labels=labels if model.m_from == "labels" else None,
                                              exclude=decided, score_only=scored)
    assessment = assess_on_id_links(db, f"candidates__{name}", f"link__{name}__ids",
                                    [s.column for s in model.comparisons if s.column in model.labels_selected_on],
                                    config.review_band[1] if config.review_band else config.threshold, scored)
    final = f"link__{name}__final"
    materialise(db, final, f"""
        SELECT i.record_id,
               CASE WHEN i.status IN ('linked', 'review') THEN i.entity_id ELSE p.entity_id END AS entity_id,
               CASE WHEN i.status IN ('linked', 'review') THEN i.status ELSE p.status END AS status,
               CASE WHEN i.status = 'linked' THEN 'deterministic_id' WHEN i.status = 'review' THEN NULL
                    ELSE p.method END AS method,
               CASE WHEN i.status = 'linked' THEN i.matched_on END AS matched_on,
               -- the model's score of the pair decided, not of another candidate
               CASE WHEN i.status IN ('linked', 'review') THEN c.match_probability ELSE p.match_probability END
                   AS match_probability,
               CASE WHEN i.status IN ('linked', 'review') THEN c.match_weight ELSE p.match_weight END AS match_weight,
               CASE WHEN i.status = 'linked' THEN NULL WHEN i.status = 'review' THEN i.reason
                    ELSE p.reason END AS reason
        FROM {quote_ident(f'link__{name}__ids')} AS i
        LEFT JOIN {quote_ident(stage)} AS p USING (record_id)
        LEFT JOIN {quote_ident(f'candidates__{name}')} AS c ON c.record_id = i.record_id AND c.entity_id = i.entity_id""")
    learnt = _link_on_learnt_identifiers(db, name, config, final, f"link__{name}__learnt",
                                         refused=f"link__{name}__ids")
    _finish(db, name, f"link__{name}__learnt")
    prob_metrics["model_choice"] = model_choice(model, source_fill, base_fill)
    return {"method": "hybrid", "identifiers": id_metrics, "probabilistic": prob_metrics,
            "learnt_identifiers": learnt,
            "m_from": model.m_from, "labels": int(n_labels), "assessment_on_id_links": assessment}


def _link_on_learnt_identifiers(db: Engine, name: str, config: HybridConfig, links: str,
                                output: str, *, refused: str | None = None) -> dict[str, Any]:
    """Link a source's unlinked records on the identifiers its own linked records taught the spine.

    A traveller's crossings all carry one passport number, one that the register may never have
    seen (renewed, foreign). Whichever of them the model links teaches the spine that number;
    the rest, with a birth date missing its day or a name spelt another way, fell below the
    threshold. They now link on it, as a later source would (identifiers learnt from every
    source's links are what later sources link on). A value that would lead to two persons is
    ambiguous and never linked on; a link whose date of birth (as far as both records know it) or
    sex disagrees with the person's register record is not made (a child travelling on a parent's
    passport, a namesake's crossings), nor is one the
    identifier stage refused (``id_conflict`` in ``links``, or in ``refused``: the identifier
    stage's table, whose reason the model's own replaced), nor any in a one-to-one source (the
    record that taught the value already holds the person). ``output`` is a view, read once by
    :func:`_finish` (the source's link table is the one full write).
    """
    id_fields = [f for f in config.id_fields if f in ID_FIELDS_COMPARED]
    if not id_fields or config.constraint == "one_to_one":
        db.run(f"CREATE OR REPLACE TEMP VIEW {quote_ident(output)} AS SELECT * FROM {quote_ident(links)}")
        return {"linked": 0, "refused_dob_or_sex": 0, "reasons_left": {}}
    learnt = f"{output}__identifiers"
    taught = " UNION ".join(
        f"""SELECT l.entity_id, {sql_literal(f)} AS field, r.{quote_ident(f)} AS value
            FROM {quote_ident(links)} AS l JOIN {quote_ident(features_table(name))} AS r USING (record_id)
            WHERE l.status = 'linked' AND r.{quote_ident(f)} IS NOT NULL""" for f in id_fields)
    materialise(db, learnt, f"SELECT entity_id, field, value FROM {SPINE_IDENTIFIERS} UNION {taught}")
    waiting = f"{output}__waiting"
    materialise(db, waiting, f"""SELECT r.* FROM {quote_ident(features_table(name))} AS r
        JOIN {quote_ident(links)} AS l USING (record_id)
        WHERE l.status = 'unlinked' AND l.reason IS DISTINCT FROM 'id_conflict'{
            f" AND record_id NOT IN (SELECT record_id FROM {quote_ident(refused)} WHERE reason = 'id_conflict')"
            if refused else ""}""")
    raw = link_on_identifiers(db, waiting, learnt, id_fields, f"{output}__raw", id_patterns=config.id_patterns)
    checked = check_id_links(db, raw, waiting, SPINE_REFERENCE, f"{output}__checked",
                             fields=TAUGHT_NUMBER_CHECK, min_disagreements=1, action="demote")
    db.run(f"""CREATE OR REPLACE TEMP VIEW {quote_ident(output)} AS
        SELECT l.record_id,
               CASE WHEN k.status = 'linked' THEN k.entity_id ELSE l.entity_id END AS entity_id,
               CASE WHEN k.status = 'linked' THEN 'linked' ELSE l.status END AS status,
               CASE WHEN k.status = 'linked' THEN 'deterministic_id' ELSE l.method END AS method,
               CASE WHEN k.status = 'linked' THEN k.matched_on || '_learnt' ELSE l.matched_on END AS matched_on,
               CASE WHEN k.status = 'linked' THEN c.match_probability ELSE l.match_probability END
                   AS match_probability,
               CASE WHEN k.status = 'linked' THEN c.match_weight ELSE l.match_weight END AS match_weight,
               CASE WHEN k.status = 'linked' THEN NULL ELSE l.reason END AS reason
        FROM {quote_ident(links)} AS l
        LEFT JOIN {quote_ident(checked)} AS k USING (record_id)
        LEFT JOIN {quote_ident(f'candidates__{name}')} AS c ON c.record_id = k.record_id AND c.entity_id = k.entity_id
    """)
    linked, refused = db.run(f"""SELECT count(*) FILTER (WHERE status = 'linked'),
        count(*) FILTER (WHERE id_conflict) FROM {quote_ident(checked)}""")[0]
    return {"linked": int(linked), "refused_dob_or_sex": int(refused),
            "reasons_left": _counts_by(db, checked, "reason", "status <> 'linked' AND reason IS NOT NULL")}


def _finish(db: Engine, name: str, stage: str) -> None:
    """Every record of the source, rejected ones included, in ``link__<name>``."""
    materialise(db, link_table(name), f"""
        SELECT s.record_id, l.entity_id,
               CASE WHEN s.reject_reason IS NOT NULL THEN 'rejected' ELSE l.status END AS status,
               CASE WHEN s.reject_reason IS NULL THEN l.method END AS method, l.matched_on,
               l.match_probability, l.match_weight, coalesce(s.reject_reason, l.reason) AS reason
        FROM {quote_ident(std_table(name))} AS s LEFT JOIN {quote_ident(stage)} AS l USING (record_id)""")


def report_duplicate_identifiers(db: Engine) -> dict[str, Any]:
    """Identifier values held by more than one spine person (never linked on; reported)."""
    table = duplicate_identifiers(db, SPINE_IDENTIFIERS, "spine__duplicate_identifiers")
    return _counts_by(db, table, "field", "TRUE")
