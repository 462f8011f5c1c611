"""Fellegi–Sunter scoring with Splink 5 on tables already in the DuckDB store.

``score_pairs`` trains a model (u by random sampling; m by expectation maximisation over
several blocking rules, or from labelled pairs) and scores the blocked candidate pairs. It
returns scores only: deciding which pairs become links (threshold, clerical band, one-to-one
or many-to-one) is ``linkage.assign``'s job, done in SQL, because Splink's clustering is far
slower than training and prediction together at our sizes.

Before predicting, the exact number of pairs each blocking rule generates is counted in SQL
(a GROUP BY per side, no pairs are built), and a rule above ``max_comparisons`` is an error:
an exploding rule is the usual way a linkage job runs out of memory.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from linkage._sql import Engine, columns_of, materialise, quote_ident
from linkage.blocking import count_blocked_pairs, fit_rules_to_budget
from linkage.comparisons import ComparisonSpec, check_columns, splink_comparison
from linkage.errors import LinkageError
from linkage.features import FEATURE_SOURCES
from linkage.inputs import TableLike, as_table

logger = logging.getLogger(__name__)

BlockingRule = tuple[str, ...]
#: A Splink blocking rule: ``block_on(...)``, SQL over ``l.`` and ``r.``, or Splink's dict form.
SplinkRule = Any
LEFT, RIGHT = "a_left", "b_right"
#: The input column that marks the left records whose pairs are scored (``score_only``).
SCORE_FLAG = "score_this_record"
#: A link job's left records are scored once per profile (the values of every column Splink reads):
#: this flag marks each profile's first record, whose pairs stand for every record of the profile.
PROFILE_FLAG = "scores_its_profile"
#: A Splink blocking rule is counted exactly when the two sides make at most this many pairs.
COUNT_PAIRS_EXACTLY = 100_000_000


#: A column a Splink rule written as SQL reads: ``l.name``, ``r."name"``, ``"L".name``.
RULE_COLUMN = re.compile(r'(?<![\w."])"?[lr]"?\."?([A-Za-z_][A-Za-z0-9_]*)"?', re.IGNORECASE)


def rule_columns(rule: Any) -> tuple[str, ...]:
    """The columns a blocking rule reads: ours, its columns; SQL text, the ``l.``/``r.`` columns in
    it; any other Splink rule (``block_on``, a dict), none known (it may read any)."""
    if is_column_rule(rule):
        return tuple(rule)
    if isinstance(rule, str):
        return tuple(dict.fromkeys(RULE_COLUMN.findall(rule)))
    return ()


def is_column_rule(rule: Any) -> bool:
    """A rule given as the columns that must agree (ours), not as a Splink blocking rule."""
    return isinstance(rule, tuple | list) and all(isinstance(c, str) for c in rule)


def _rule_sql(rule: Any) -> str:
    """A Splink blocking rule (``block_on(...)``, SQL text or a dict) as DuckDB SQL, for reports."""
    return _rule_creator(rule).get_blocking_rule("duckdb").blocking_rule_sql


@dataclass(frozen=True)
class ProbabilisticModel:
    """What to compare, how to find candidate pairs, and how to train.

    Attributes:
        comparisons: the fields compared, each a :class:`ComparisonSpec`.
        blocking_rules: candidate pairs for prediction: records agreeing on all fields of
            any rule (an OR of ANDs). A rule may also be a Splink blocking rule (``block_on(...)``
            or SQL over ``l.`` and ``r.``, as in Splink's settings): it is used as written, never
            tightened, and an estimate of its pairs over ``max_comparisons`` is an error (with
            ``tighten_with`` given, the rules are the tool's defaults: such a rule is dropped
            with a warning instead).
        training_rules: blocking rules for EM; together they must leave every comparison
            free in at least one rule (a rule cannot estimate the fields it blocks on).
        m_from: ``em`` or ``labels`` (m from labelled pairs, e.g. identifier links).
        labels_selected_on: comparisons the labels were selected on (the identifier that made
            them): every label agrees on those, so their m would be biased towards 1; with
            ``m_from="labels"`` their m comes from pairs agreeing exactly on every name and date
            column instead (see ``_m_from_silver_pairs``).
        match_rate: prior share of left records that have a match on the right (link
            jobs); sets the probability that two random records match. None: estimated from
            the data, as for dedupe jobs.
        prior_rules: strict rules used with ``prior_recall`` to estimate that probability
            (Splink's direct estimator: pairs agreeing on a rule, scaled by its assumed recall);
            default: every name and date column agreeing.
        u_max_pairs: random pairs sampled to estimate u.
        max_comparisons: a blocking rule generating more pairs than this is tightened (below) or,
            with nothing to tighten it with, an error.
        tighten_with: fields a blocking rule over ``max_comparisons`` may be tightened with, in
            order (``linkage.blocking.fit_rules_to_budget``); empty for rules a user wrote, which
            are never changed.
        training_max_pairs: a training rule generating more pairs than this trains EM on a
            reproducible sample of about this many.
        keep_above: pairs scored below this probability are not kept.
        seed: random seed for the u sample, for reproducible parameters.
        starting_m: ``((column, ((level label, m), ...)), ...)``: where EM starts for the levels
            of that label (what another model learnt), instead of Splink's defaults.
        fix_starting_m: keep those m as given; EM estimates only the comparisons they do not
            cover (none left: no EM).
        trained: a Splink model saved by an earlier run (its JSON): its comparisons, m, u and
            prior are used as they are and nothing is trained; the comparisons must be this
            model's (the same columns, in order).
    """

    comparisons: tuple[ComparisonSpec, ...]
    blocking_rules: tuple[BlockingRule | SplinkRule, ...]
    training_rules: tuple[BlockingRule, ...] = ()
    m_from: str = "em"
    labels_selected_on: tuple[str, ...] = ()
    match_rate: float | None = None
    prior_rules: tuple[BlockingRule, ...] = ()
    prior_recall: float = 0.8
    u_max_pairs: float = 1e6
    max_comparisons: int = 100_000_000
    keep_above: float = 0.001
    seed: int = 1
    starting_m: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = ()
    fix_starting_m: bool = False
    tighten_with: tuple[str, ...] = ()
    training_max_pairs: int = 10_000_000
    trained: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the model reads, in a stable order."""
        cols = [c for s in self.comparisons for c in s.columns]
        cols += [c for rule in (*self.blocking_rules, *self.training_rules, *self.prior_rules)
                 for c in rule_columns(rule)]
        return tuple(dict.fromkeys(cols))

    @property
    def reads_any_column(self) -> bool:
        """A Splink rule other than SQL text (``block_on``, a dict) may read any column."""
        return any(not isinstance(r, str) for r in self.splink_rules)

    @property
    def splink_rules(self) -> tuple[Any, ...]:
        """The blocking rules given as Splink rules (SQL text reads the columns it names; any other
        may read any column: ``reads_any_column``)."""
        return tuple(r for r in self.blocking_rules if not is_column_rule(r))


@dataclass
class ScoreResult:
    """The scored pairs table and what was measured on the way.

    ``pairs`` is the table as a DuckDB relation (``left_id``, ``right_id``, ``match_weight``,
    ``match_probability``): print it, ``.df()`` it, or give it (or the result itself) to
    :func:`linkage.assign.assign_links` as is.
    """

    table: str
    pairs_per_rule: list[dict[str, Any]]
    seconds: dict[str, float] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    probability_two_random_records_match: float = math.nan
    training_pairs_per_rule: list[dict[str, Any]] = field(default_factory=list)
    pairs: Any = field(default=None, repr=False)   # the scored pairs as the engine's lazy relation
    #: A link job: the left records scored and the profiles Splink compared for them.
    scored_records: int | None = None
    scored_profiles: int | None = None


def _count(db: Engine, table: str) -> int:
    return db.run(f"SELECT count(*) FROM {quote_ident(table)}")[0][0]


def check_model(model: ProbabilisticModel, left_columns: Sequence[str], right_columns: Sequence[str] | None) -> None:
    """Every comparison and blocking column exists on both sides; the training rules cover all."""
    if not model.comparisons:
        raise LinkageError("a probabilistic model needs at least one comparison")
    if not model.blocking_rules:
        raise LinkageError("a probabilistic model needs at least one blocking rule for prediction")
    for side, cols in (("left table", left_columns), ("right table", right_columns)):
        if cols is None:
            continue
        check_columns(list(model.comparisons), set(cols), side)
        missing = sorted({c for r in (*model.blocking_rules, *model.training_rules, *model.prior_rules)
                          for c in rule_columns(r) if c not in cols})
        if missing:
            raise LinkageError(f"{side} has no column(s) {', '.join(missing)} named in a blocking rule")
    if model.m_from not in ("em", "labels"):
        raise LinkageError(f"m_from must be 'em' or 'labels', not {model.m_from!r}")
    if model.m_from == "em" and not model.training_rules:
        raise LinkageError("m_from 'em' needs at least one training blocking rule")
    if model.match_rate is not None and not 0 < model.match_rate <= 1:
        raise LinkageError(f"match_rate must be in (0, 1], not {model.match_rate}")


def check_labels(db: Engine, labels: str, left: str, right: str) -> None:
    """Labels must be ``(left_id, right_id)`` pairs of records that exist: a clear error, with examples, if not."""
    missing = {"left_id", "right_id"} - set(columns_of(db, labels))
    if missing:
        raise LinkageError(f"labels table {labels!r} needs columns left_id and right_id; missing {', '.join(sorted(missing))}")
    unknown = db.run(f"""
        SELECT 'left_id ' || left_id FROM {quote_ident(labels)}
        WHERE left_id NOT IN (SELECT record_id FROM {quote_ident(left)})
        UNION ALL
        SELECT 'right_id ' || right_id FROM {quote_ident(labels)}
        WHERE right_id NOT IN (SELECT record_id FROM {quote_ident(right)}) LIMIT 3""")
    if unknown:
        raise LinkageError(f"labels table {labels!r} names records that do not exist: "
                           f"{', '.join(u for (u,) in unknown)}")


def _rule_creator(rule: Any) -> Any:
    """Any blocking rule (ours, ``block_on``, SQL text, Splink's dict) as Splink's rule creator."""
    from splink import block_on
    from splink.blocking_rule_library import CustomRule
    from splink.internals.blocking_rule_creator import BlockingRuleCreator

    if is_column_rule(rule):
        return block_on(*rule)
    if isinstance(rule, BlockingRuleCreator):
        return rule
    return CustomRule(**rule) if isinstance(rule, dict) else CustomRule(rule)


def _splink_rule(rule: Any, flag: str | None) -> Any:
    """A blocking rule as Splink takes it; ``flag``: pairs only of left records whose flag column
    (``SCORE_FLAG``, ``PROFILE_FLAG``) is set. The left input is on Splink's ``l`` side because its
    name (``LEFT``) sorts before the right's: Splink orders two linked inputs by name (the tests
    would score no pair if that changed)."""
    if flag is None:
        return _rule_creator(rule)
    spelled = _rule_creator(rule).create_blocking_rule_dict("duckdb")
    return {**spelled, "blocking_rule": f"({spelled['blocking_rule']}\n) AND l.{flag}"}


def _spelled_for(db: Engine, comparisons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Comparisons (Splink's dicts) with each level's condition spelled for ``db``'s database."""
    return [{**c, "comparison_levels": [{**level, "sql_condition": db.splink_sql(level["sql_condition"])}
                                        for level in c["comparison_levels"]]} for c in comparisons]


def _respelled_as(comparisons: list[dict[str, Any]], canonical: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A trained model's comparisons with the conditions of ``canonical`` (DuckDB's SQL), level by
    level: a model saved from Spark scores on DuckDB and the other way round."""
    return [{**c, "comparison_levels": [{**level, "sql_condition": original["sql_condition"]} for level, original
                                        in zip(c["comparison_levels"], o["comparison_levels"], strict=True)]}
            for c, o in zip(comparisons, canonical, strict=True)]


def _splink_settings(model: ProbabilisticModel, link_type: str, waterfall: bool,
                     flag: str | None = None) -> dict[str, Any]:
    return {
        "link_type": link_type,
        "unique_id_column_name": "record_id",
        "comparisons": [splink_comparison(s) for s in model.comparisons],
        "blocking_rules_to_generate_predictions": [_splink_rule(rule, flag) for rule in model.blocking_rules],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": waterfall,
        "max_iterations": 20,
    }


def _input_view(db: Engine, table: str, name: str, columns: Sequence[str], flags: dict[str, str]) -> str:
    """The columns Splink reads, and each of ``flags`` (column: SQL over the table's columns)."""
    cols = ", ".join([*(quote_ident(c) for c in ("record_id", *columns)),
                      *(f"{sql} AS {flag}" for flag, sql in flags.items())])
    db.run(f"CREATE OR REPLACE TEMP VIEW {quote_ident(name)} AS SELECT {cols} FROM {quote_ident(table)}")
    return name


def profiles_sql(table: str, columns: Sequence[str], selected: str | None) -> str:
    """Build the SELECT of each left record's profile: the first record (by ``record_id``) with the
    same values in every column Splink reads (NULL equal to NULL). Only records ``selected`` (SQL;
    None: all). Grain: one row per record; columns ``record_id, profile_id``."""
    by = ", ".join(quote_ident(c) for c in columns)
    return (f"SELECT record_id, min(record_id) OVER (PARTITION BY {by}) AS profile_id FROM {quote_ident(table)}"
            + (f" WHERE {selected}" if selected else ""))


def score_pairs(db: Engine, left: TableLike, right: TableLike | None, model: ProbabilisticModel,
                output: str = "scored_pairs", *, labels: TableLike | None = None,
                waterfall: bool = False, score_only: TableLike | None = None) -> ScoreResult:
    """Train a Fellegi–Sunter model and score candidate pairs into ``output``.

    Args:
        left: table with a unique ``record_id`` and the model's columns (a real table or view, not a
            TEMP one: Splink reads it through its own cursor, which cannot see TEMP objects), or
            a pandas DataFrame, pyarrow Table or DuckDB relation of ``db`` (written to
            ``<output>__left`` first).
        right: the other table (link job), or None to dedupe ``left``.
        model: comparisons, blocking and training settings.
        output: table written, one row per scored pair: ``left_id``, ``right_id``,
            ``match_weight``, ``match_probability`` and, with ``waterfall``, ``mw_<column>``
            (each comparison's partial match weight, term-frequency adjusted: the waterfall).
        labels: table of true pairs ``(left_id, right_id)`` when ``model.m_from`` is
            ``labels``.
        score_only: table with the ``record_id`` of the left records whose pairs are scored (a
            link job only). The model is still trained on every record of both sides, and the
            term frequencies are theirs, so a record's pairs and scores are those it would have
            had without it; only the pairs, their counts and the blocking budget are the
            selected records'. Hybrid linkage scores the records identifiers left undecided.

    A link job scores each profile of the left records once (the records with the same values in
    every column Splink reads: a traveller's crossings, a person's tax years) and gives its pairs
    to every record of the profile: the same pairs and weights as scoring each record (Splink sees
    only those columns; the term frequencies and the training are over every record), with a
    fraction of the comparisons.
    """
    from splink import Linker, block_on

    started = time.perf_counter()
    seconds: dict[str, float] = {}
    left = as_table(db, left, f"{output}__left")
    right = as_table(db, right, f"{output}__right") if right is not None else None
    labels = as_table(db, labels, f"{output}__labels") if labels is not None else None
    if score_only is not None and right is None:
        raise LinkageError("score_only selects left records of a link job; a dedupe job scores every record")
    score_only = as_table(db, score_only, f"{output}__score_only") if score_only is not None else None
    left_cols = columns_of(db, left)
    right_cols = columns_of(db, right) if right is not None else None
    check_model(model, left_cols, right_cols)
    if model.m_from == "labels" and labels is None:
        raise LinkageError("m_from 'labels' needs a labels table of true pairs")
    if labels is not None:
        check_labels(db, labels, left, right if right is not None else left)

    given_rules = model.blocking_rules
    flagged = score_only is not None
    selected = f"record_id IN (SELECT record_id FROM {quote_ident(score_only)})" if flagged else None
    scored_left = left
    if flagged:   # the budget is for the pairs that will be scored
        scored_left = f"{output}__scored_left"
        db.run(f"CREATE OR REPLACE TEMP VIEW {quote_ident(scored_left)} AS SELECT * FROM {quote_ident(left)} "
               f"WHERE {selected}")
    model, pairs_per_rule = _fit_blocking(db, scored_left, right, model)

    n_left = _count(db, left)
    n_scored = _count(db, scored_left) if flagged else n_left
    n_right = _count(db, right) if right is not None else n_left
    if n_left == 0 or n_right == 0:   # nothing to compare: an empty result, not a Splink error
        weights = "".join(f', "mw_{s.column}" DOUBLE' for s in model.comparisons) if waterfall else ""
        db.run(f"CREATE OR REPLACE TABLE {quote_ident(output)} (left_id VARCHAR, right_id VARCHAR, "
               f"match_weight DOUBLE, match_probability DOUBLE{weights})")
        pairs_per_rule = _in_given_order(given_rules, pairs_per_rule, [
            {"rule": _rule_sql(r), "pairs": 0, "estimated": False} for r in model.splink_rules])
        return ScoreResult(output, pairs_per_rule, {"total": time.perf_counter() - started},
                           pairs=db.relation(output))
    saved = check_saved_model(model)
    prior_rules = model.prior_rules or (tuple(s.column for s in model.comparisons if s.kind in ("name", "date")),)
    estimate_prior = saved is None and (right is None or model.match_rate is None)
    if estimate_prior and not all(prior_rules):
        raise LinkageError("the prior is estimated from pairs agreeing on every name and date comparison, but the "
                           "model has none: give match_rate, or prior_rules")
    if estimate_prior and sum(c["pairs"] for c in count_blocked_pairs(db, left, right, prior_rules)) == 0:
        # No pair agrees on names and date of birth: assume one match per right record at most.
        estimate_prior = False
        fallback = 0.9 / n_right if right is not None else 1 / max(n_left * (n_left - 1) / 2, 1)
        logger.warning("no pair agrees on %s: prior probability set to %.3g", prior_rules, fallback)
    training_rules = model.training_rules
    training_pairs: dict[BlockingRule, int] = {}
    if model.m_from == "em" and saved is None:
        counted = count_blocked_pairs(db, left, right, training_rules)
        training_pairs = {tuple(c["rule"]): c["pairs"] for c in counted if c["pairs"] > 0}
        training_rules = tuple(training_pairs)
        if not training_rules:
            named = ", ".join(" + ".join(rule) for rule in model.training_rules)
            raise LinkageError(f"no record pairs agree on any training rule ({named}): EM has nothing to learn "
                               "from; add a rule or give labels")

    # Splink gets its own cursor: DuckDB 2.0 blocks a connection while any result is unread.
    splink_db = db.cursor()
    db_api = splink_db.splink_api()
    # A Splink rule other than SQL text may read any column: then every column both sides hold goes to Splink.
    columns = model.columns if not model.reads_any_column else tuple(
        c for c in left_cols if c != "record_id" and (right_cols is None or c in right_cols))
    profiles = f"{output}__profiles" if right is not None else None
    scored_records = scored_profiles = None
    left_flags = {SCORE_FLAG: selected} if flagged else {}
    right_flags = {SCORE_FLAG: "FALSE"} if flagged else {}
    if profiles is not None:
        materialise(db, profiles, profiles_sql(left, columns, selected))
        scored_records, scored_profiles = db.run(
            f"SELECT count(*), count(DISTINCT profile_id) FROM {quote_ident(profiles)}")[0]
        left_flags[PROFILE_FLAG] = f"record_id IN (SELECT profile_id FROM {quote_ident(profiles)})"
        right_flags[PROFILE_FLAG] = "FALSE"
    inputs = [db_api.register(_input_view(splink_db, left, f"__pl_{LEFT}", columns, left_flags), table_name=LEFT)]
    if right is not None:
        inputs.append(db_api.register(_input_view(splink_db, right, f"__pl_{RIGHT}", columns, right_flags),
                                      table_name=RIGHT))
    link_type = "link_only" if right is not None else "dedupe_only"
    try:
        counted = _count_splink_rules(inputs, model, link_type, n_scored, n_right, flagged)
        pairs_per_rule = _in_given_order(given_rules, pairs_per_rule, counted)
        over = {c["given"] for c in counted if c["rule"] is None}
        if over:
            model = dataclasses.replace(model, blocking_rules=tuple(
                r for r in model.blocking_rules if is_column_rule(r) or _rule_sql(r) not in over))
            if not model.blocking_rules:   # Splink would score every pair
                raise LinkageError(f"no blocking rule fits max_comparisons {model.max_comparisons:,}: "
                                   "raise max_comparisons or give blocking rules")
    except Exception:
        _drop_input_views(splink_db, db, profiles)
        raise
    settings = _splink_settings(model, link_type, waterfall, PROFILE_FLAG if profiles is not None else None)
    if saved is not None:   # the saved model's levels, m, u and prior; this run's blocking
        settings.update(comparisons=saved["comparisons"],
                        probability_two_random_records_match=saved["probability_two_random_records_match"])
    elif right is not None and model.match_rate is not None:
        settings["probability_two_random_records_match"] = min(model.match_rate / n_right, 1.0)
    elif not estimate_prior:
        settings["probability_two_random_records_match"] = fallback
    canonical = settings["comparisons"]
    settings["comparisons"] = _spelled_for(splink_db, canonical)
    linker = Linker(inputs, settings, log_level=None)
    try:
        if estimate_prior:   # never with a saved model
            linker.training.estimate_probability_two_random_records_match(
                [block_on(*r) for r in prior_rules], recall=model.prior_recall)
        seconds["prior"] = time.perf_counter() - started

        step = time.perf_counter()
        if saved is None:
            linker.training.estimate_u_using_random_sampling(max_pairs=model.u_max_pairs, seed=model.seed)
        seconds["u"] = time.perf_counter() - step

        step = time.perf_counter()
        if saved is None:
            _train_m(linker, splink_db, model, left, right, labels, training_pairs, estimate_prior, prior_rules)
        seconds["m"] = time.perf_counter() - step

        step = time.perf_counter()
        predictions = linker.inference.predict(threshold_match_probability=model.keep_above, warning_mode="never")
        materialise(splink_db, output,
                    _scored_pairs_sql(predictions.physical_name, model, right is not None, waterfall, profiles))
        seconds["predict"] = time.perf_counter() - step
        parameters = linker.misc.save_model_to_json()
        parameters["comparisons"] = _respelled_as(parameters["comparisons"], canonical)
        if "sql_dialect" in parameters:   # the conditions are DuckDB's again (the rules are columns alike)
            parameters["sql_dialect"] = "duckdb"
        if right is not None:   # the model as a user scores with it: over any records, without a flag column
            parameters["blocking_rules_to_generate_predictions"] = [
                _rule_creator(rule).get_blocking_rule("duckdb").as_dict() for rule in model.blocking_rules]
        lam = linker._settings_obj._probability_two_random_records_match
    finally:
        linker.table_management.delete_tables_created_by_splink_from_db()
        _drop_input_views(splink_db, db, profiles)
        if flagged:
            db.run(f"DROP VIEW IF EXISTS {quote_ident(scored_left)}")
    seconds["total"] = time.perf_counter() - started
    logger.info("scored %s pairs for %d records in %.1fs%s", output, n_left, seconds["total"],
                f" ({scored_records} records as {scored_profiles} profiles)" if profiles is not None else "")
    training = [{"rule": list(rule), "pairs": pairs,
                 **({"sampled_to": model.training_max_pairs} if pairs > model.training_max_pairs else {})}
                for rule, pairs in training_pairs.items()]
    return ScoreResult(output, pairs_per_rule, seconds, parameters, lam, training, pairs=db.relation(output),
                       scored_records=scored_records, scored_profiles=scored_profiles)


def _train_m(linker: Any, splink_db: Engine, model: ProbabilisticModel, left: str,
             right: str | None, labels: str | None, training_pairs: dict[BlockingRule, int],
             estimate_prior: bool, prior_rules: tuple[BlockingRule, ...]) -> None:
    """m from labelled pairs (the silver pairs for the comparisons they were selected on), or by EM
    from where the other models left it; then the prior read off the trained m."""
    if model.m_from == "labels":
        biased = set(model.labels_selected_on) & {s.column for s in model.comparisons}
        label_table = _labels_for_splink(splink_db, labels, right is not None)
        silver = _m_from_silver_pairs(splink_db, left, right, model, biased)
        _set_m(linker, silver)
        _fix_m(linker, lambda column: column in biased)
        linker.training.estimate_m_from_pairwise_labels(label_table)
        _smooth_unobserved_m(linker, _count(splink_db, labels), skip=biased)
        _fix_m(linker, lambda column: False)
        return
    _start_m(linker, model.starting_m)
    given = {column for column, _ in model.starting_m} if model.fix_starting_m else set()
    _fix_m(linker, lambda column: column in given)
    if any(s.column not in given for s in model.comparisons):
        _train_m_by_em(linker, model, training_pairs)
    _fix_m(linker, lambda column: False)
    if estimate_prior and not model.prior_rules:
        _prior_from_trained_m(linker, splink_db, left, right, model, prior_rules[0])


def check_saved_model(model: ProbabilisticModel) -> dict[str, Any] | None:
    """The saved model to score with, checked against ``model``'s comparisons; None to train.

    Raises:
        LinkageError: not a Splink model's JSON, or a model of other comparisons.
    """
    if model.trained is None:
        return None
    try:
        saved = json.loads(model.trained)
        compared = [c["output_column_name"] for c in saved["comparisons"]]
        prior = float(saved["probability_two_random_records_match"])
    except (ValueError, KeyError, TypeError) as exc:
        raise LinkageError(f"the saved model is not a Splink model's JSON ({type(exc).__name__})") from None
    expected = [s.column for s in model.comparisons]
    if compared != expected:
        raise LinkageError(f"the saved model compares {', '.join(compared)}; this source compares "
                           f"{', '.join(expected)}: train a new model, or compare the same fields")
    if not 0 < prior < 1:
        raise LinkageError(f"the saved model's prior probability {prior} is not between 0 and 1")
    return saved


def _drop_input_views(splink_db: Engine, db: Engine, profiles: str | None) -> None:
    for name in (f"__pl_{LEFT}", f"__pl_{RIGHT}", "__pl_labels"):
        splink_db.run(f"DROP VIEW IF EXISTS {quote_ident(name)}")
    splink_db.close()
    if profiles is not None:
        db.run(f"DROP TABLE IF EXISTS {quote_ident(profiles)}")


def _in_given_order(given: Sequence[Any], column_rules: list[dict[str, Any]],
                    splink_rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pairs per rule in the order the rules were given (each kind keeps its own order)."""
    columns, splink = iter(column_rules), iter(splink_rules)
    return [next(columns) if is_column_rule(rule) else next(splink) for rule in given]


def _count_splink_rules(inputs: list[Any], model: ProbabilisticModel, link_type: str, n_left: int,
                        n_right: int, flagged_only: bool = False) -> list[dict[str, Any]]:
    """Pairs each Splink rule generates, as Splink counts them (by building them: exactly where the
    sides are small, else from a sample of each side); over ``max_comparisons`` is an error naming
    the rule."""
    if not model.splink_rules:
        return []
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    counted = []
    cartesian = n_left * n_right if link_type == "link_only" else n_left * (n_left - 1) // 2
    # Exact up to a hundred million candidate pairs; beyond, a sample of each side that keeps the
    # count's own join under that (a rule that explodes must not explode while being counted).
    sample = min(1.0, math.sqrt(COUNT_PAIRS_EXACTLY / cartesian)) if cartesian else 1.0
    for rule in model.splink_rules:
        with warnings.catch_warnings():   # a rule on a few records (no birth year) meets few sampled pairs:
            # its estimate is rough, and said to be an estimate in quality.json; only the budget reads it
            warnings.filterwarnings("ignore", message="The sampled blocking analysis estimate")
            record = count_comparisons_from_blocking_rules(inputs, blocking_rules=_splink_rule(
                rule, SCORE_FLAG if flagged_only else None),
                                                           link_type=link_type,
                                                           unique_id_column_name="record_id",
                                                           record_sample_proportion=sample)[0]
        pairs = int(record["marginal_comparison_count"])
        if pairs > model.max_comparisons and model.tighten_with:   # a default: dropped, as a column rule would be
            logger.warning("blocking rule %s dropped: about %s pairs, more than max_comparisons %s",
                           _rule_sql(rule), f"{pairs:,}", f"{model.max_comparisons:,}")
            counted.append({"rule": None, "given": _rule_sql(rule), "pairs_given": pairs, "pairs": pairs,
                            "estimated": bool(record["is_estimate"])})
            continue
        if pairs > model.max_comparisons:
            raise LinkageError(f"blocking rule {_rule_sql(rule)} would generate about {pairs:,} pairs, more than "
                               f"max_comparisons {model.max_comparisons:,}: add a condition to the rule")
        counted.append({"rule": _rule_sql(rule), "pairs": pairs, "estimated": bool(record["is_estimate"])})
    return counted


def _fit_blocking(db: Engine, left: str, right: str | None,
                  model: ProbabilisticModel) -> tuple[ProbabilisticModel, list[dict[str, Any]]]:
    """The model with its blocking rules fitted to ``max_comparisons``, and the pairs per rule.

    A rule over the budget is an error when there is nothing to tighten it with (a user's own
    rules); defaults are tightened, or dropped with a warning when no field brings them under it.
    """
    given = [r for r in model.blocking_rules if is_column_rule(r)]
    fitted = fit_rules_to_budget(db, left, right, given, model.max_comparisons, model.tighten_with)
    over = [f for f in fitted if f["rule"] is None]
    if over and not model.tighten_with:
        worst = over[0]
        raise LinkageError(f"blocking rule on {' + '.join(worst['given'])} would generate {worst['pairs_given']:,} "
                           f"pairs, more than max_comparisons {model.max_comparisons:,}: add a field to the rule")
    for entry in fitted:
        if entry["rule"] is None:
            logger.warning("blocking rule on %s dropped: %s pairs, and no field brings it under max_comparisons %s",
                           " + ".join(entry["given"]), f"{entry['pairs_given']:,}", f"{model.max_comparisons:,}")
        elif "given" in entry:
            logger.info("blocking rule on %s tightened to %s: %s pairs -> %s", " + ".join(entry["given"]),
                        " + ".join(entry["rule"]), f"{entry['pairs_given']:,}", f"{entry['pairs']:,}")
    # Back in the order given (Splink numbers its match keys by it): fitted column rules, Splink rules as is.
    runs = iter(entry["rule"] for entry in fitted)
    ordered: list[Any] = []
    for given_rule in model.blocking_rules:
        if not is_column_rule(given_rule):
            ordered.append(given_rule)
        elif (run := next(runs)) is not None:   # None: dropped, nothing brought it under the budget
            ordered.append(tuple(run))
    rules = tuple(ordered)
    if not rules:
        raise LinkageError(f"no blocking rule fits max_comparisons {model.max_comparisons:,}, even tightened with "
                           f"{', '.join(model.tighten_with)}: raise max_comparisons or give blocking rules")
    return dataclasses.replace(model, blocking_rules=rules), fitted


def _train_m_by_em(linker: Any, model: ProbabilisticModel, pairs_by_rule: dict[BlockingRule, int]) -> None:
    """EM on each training rule in turn (m of the comparisons each rule leaves free).

    A rule generating more than ``training_max_pairs`` pairs is trained on a sample of them
    (Splink's own ``max_pairs``: a hash of the record ids keeps a share of each side, so the
    sample is reproducible): m is a share among matches, and tens of millions of pairs estimate it
    no better than a few million, at many times the cost (a rule on date of birth alone gives
    about 140 M pairs for one source at a million persons).

    Tried for issue 16 and not kept: treating a rule on a derived column (birth_year) as blocking
    its source field (dob), so that dob's m is not learnt from pairs selected on birth year, and
    training dob on the rule without the derived column (first name + surname) instead. FEBRL4
    F1 +0.001, but on the synthetic sources (20,000 persons) visas fell from 0.938 to 0.807,
    crossings 0.969 to 0.951, benefits 0.994 to 0.984, education 0.992 to 0.979, and training took
    up to 60% longer.
    """
    from splink import block_on

    for rule, pairs in pairs_by_rule.items():
        sample = {"max_pairs": model.training_max_pairs} if pairs > model.training_max_pairs else {}
        if constrained_comparisons(model, rule):
            _train_with_block_u(linker, rule, sample)
        else:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*rule), estimate_without_term_frequencies=True, **sample)


def _train_with_block_u(linker: Any, rule: BlockingRule, sample: dict[str, Any]) -> None:
    """EM on one rule with u estimated among its pairs as well (:func:`constrained_comparisons`); the
    linker keeps the u it had. Splink refuses an m or u that EM drove to zero (a level no pair of a
    class fell in: few pairs), after the failed session has changed the linker's settings: they are
    put back and the rule is trained as every other, with the u of random pairs."""
    from splink import block_on

    splink_rule = block_on(*rule)
    before = linker._settings_obj.core_model_settings.copy()
    try:
        linker.training.estimate_parameters_using_expectation_maximisation(
            splink_rule, estimate_without_term_frequencies=True, fix_u_probabilities=False, **sample)
    except ValueError as exc:
        if "below the minimum allowed" not in str(exc):
            raise
        linker._settings_obj.core_model_settings = before
        logger.info("EM on %s with the block's own u left a level empty; trained with the u of "
                    "random pairs instead", " + ".join(rule))
        linker.training.estimate_parameters_using_expectation_maximisation(
            splink_rule, estimate_without_term_frequencies=True, **sample)
        return
    _keep_u_of(linker, before)


def constrained_comparisons(model: ProbabilisticModel, rule: BlockingRule) -> set[str]:
    """Comparisons a training rule constrains without blocking on their columns.

    A rule on ``birth_year`` leaves ``dob`` free for EM, but every pair it makes agrees on the
    year of birth: its non-matches (namesakes born the same year) have dates within a year of each
    other far more often than random pairs do. Judged with the u of random pairs EM takes them for
    matches and learns that true pairs seldom agree on the whole date (children on claims at a
    million persons: m of an exact date 0.06, where 99.5% of true pairs agree). For those rules EM
    estimates u among the rule's own pairs as well; the model keeps the u of random pairs.
    """
    parts = {field for column in rule for field in FEATURE_SOURCES.get(column, ())}
    constrained = set()
    for spec in model.comparisons:
        if set(spec.columns) & set(rule):
            continue   # blocked on: Splink leaves it out of this session
        fields = {field for column in spec.columns for field in FEATURE_SOURCES.get(column, (column,))}
        if fields & parts:
            constrained.add(spec.column)
    return constrained


def _keep_u_of(linker: Any, before: Any) -> None:
    """The u (and u estimates) every level had before an EM session that also estimated u."""
    for comparison in linker._settings_obj.comparisons:
        kept = before.get_comparison_by_output_column_name(comparison.output_column_name)
        for level in comparison._comparison_levels_excluding_null:
            old = kept._get_comparison_level_by_comparison_vector_value(level.comparison_vector_value)
            level.u_probability = old._u_probability
            level._trained_u_probabilities = list(old._trained_u_probabilities)


def _prior_from_trained_m(linker: Any, db: Engine, left: str, right: str | None,
                          model: ProbabilisticModel, rule: BlockingRule) -> None:
    """Re-estimate the prior with the recall of its rule measured by the trained model.

    The prior counts pairs agreeing exactly on every name and date and divides by an assumed recall
    (``prior_recall``). The model itself says what that recall is: a true pair is caught when all
    those fields are filled on both records (the fill rates, measured) and each agrees exactly (its
    m of the exact level, trained). Where names and dates are often mistyped the assumed 0.8 is far
    too high (FEBRL4: 0.43 measured, so the prior was half the true one and true pairs with typos
    fell under the threshold); where they are clean it is too low. Only for the default prior rule,
    whose columns are all compared.
    """
    exact: dict[str, float] = {}
    for comparison in linker._settings_obj.comparisons:
        levels = comparison._comparison_levels_excluding_null
        if comparison.output_column_name in rule and levels and levels[0]._m_is_trained:
            exact[comparison.output_column_name] = levels[0].m_probability
    if set(exact) != set(rule):
        return
    filled = " AND ".join(f"{quote_ident(c)} IS NOT NULL" for c in rule)

    def fill(table: str) -> float:
        return db.run(f"SELECT avg(CASE WHEN {filled} THEN 1.0 ELSE 0.0 END) "
                      f"FROM {quote_ident(table)}")[0][0] or 0.0

    recall = fill(left) * fill(right if right is not None else left) * math.prod(exact.values())
    if not 0.01 <= recall <= 1:
        return
    settings = linker._settings_obj
    before = settings._probability_two_random_records_match
    settings._probability_two_random_records_match = min(before * model.prior_recall / recall, 1.0)
    logger.info("prior rule %s: recall %.3f from the trained model (assumed %.2f); prior %.3g -> %.3g",
                " + ".join(rule), recall, model.prior_recall, before,
                settings._probability_two_random_records_match)


def _m_from_silver_pairs(db: Engine, left: str, right: str | None, model: ProbabilisticModel,
                         columns: set[str]) -> dict[str, list[float]]:
    """m-probabilities of the comparisons the labels were selected on, from other true-ish pairs.

    Labels made by an identifier all agree on it, so they cannot say how often true matches
    disagree on it. Pairs agreeing exactly on every name and date column (a strict rule whose
    false positives are rare) were not selected on the identifier: the share of each of its levels
    among them estimates m. Add-half smoothing keeps unseen levels possible. Returns, per column,
    m for each non-null level in order.
    """
    if not columns:
        return {}
    keys = [c for s in model.comparisons if s.kind in ("name", "date") for c in (s.column,)]
    if not keys:
        raise LinkageError("labels selected on an identifier need a name or date comparison to estimate its m")
    right_table = right if right is not None else left
    on = " AND ".join(f"l.{quote_ident(k)} = r.{quote_ident(k)}" for k in keys)
    distinct = "" if right is not None else "AND l.record_id < r.record_id"
    result: dict[str, list[float]] = {}
    for spec in model.comparisons:
        if spec.column not in columns:
            continue
        levels = [lv for lv in splink_comparison(spec)["comparison_levels"] if not lv.get("is_null_level")]
        cases = " ".join(f"WHEN {lv['sql_condition']} THEN {i}" for i, lv in enumerate(levels)
                         if lv["sql_condition"] != "ELSE")
        pair_columns = ", ".join(f"l.{quote_ident(c)} AS {quote_ident(c + '_l')}, r.{quote_ident(c)} AS "
                                 f"{quote_ident(c + '_r')}" for c in spec.columns)
        counts = dict(db.run(f"""
            SELECT CASE {cases} ELSE {len(levels) - 1} END AS level, count(*) FROM (
                SELECT {pair_columns} FROM {quote_ident(left)} AS l JOIN {quote_ident(right_table)} AS r
                ON {on} {distinct}
                WHERE l.{quote_ident(spec.column)} IS NOT NULL AND r.{quote_ident(spec.column)} IS NOT NULL)
            GROUP BY 1"""))
        total = sum(counts.values())
        result[spec.column] = [(counts.get(i, 0) + 0.5) / (total + 0.5 * len(levels)) for i in range(len(levels))]
        logger.info("m of %s from %d pairs agreeing on %s: %s", spec.column, total, ", ".join(keys),
                    [round(m, 4) for m in result[spec.column]])
    return result


def _smooth_unobserved_m(linker: Any, n_labels: int, *, skip: set[str]) -> None:
    """Add-half smoothing of label-trained m: (labels in the level + 0.5) / (labels + 0.5 x levels).

    Splink leaves a level no label fell into at its initial default m (a few per cent), which reads
    "true matches often disagree like this" when the labels say they hardly ever do; a date of
    birth a year out then costs a link almost nothing (measured: 151 wrong tax links at 100k).
    """
    n = max(n_labels, 1)
    for comparison in linker._settings_obj.comparisons:
        if comparison.output_column_name in skip:
            continue
        levels = comparison._comparison_levels_excluding_null
        if all(level._m_is_trained for level in levels):
            continue
        counts = [level.m_probability * n if level._m_is_trained else 0.0 for level in levels]
        for level, count in zip(levels, counts, strict=True):
            level.m_probability = (count + 0.5) / (n + 0.5 * len(levels))


def _start_m(linker: Any, starting: tuple[tuple[str, tuple[tuple[str, float], ...]], ...]) -> None:
    """Set the m of each level whose label ``starting`` names for its column (EM refines them)."""
    by_column = {column: dict(levels) for column, levels in starting}
    for comparison in linker._settings_obj.comparisons:
        levels = by_column.get(comparison.output_column_name, {})
        for level in comparison._comparison_levels_excluding_null:
            m = levels.get(level.label_for_charts)
            if m is not None and 0 < m < 1:
                level.m_probability = m


def _set_m(linker: Any, m_by_column: dict[str, list[float]]) -> None:
    for comparison in linker._settings_obj.comparisons:
        values = m_by_column.get(comparison.output_column_name)
        if values:
            for level, m in zip(comparison._comparison_levels_excluding_null, values, strict=True):
                level.m_probability = m


def _fix_m(linker: Any, fixed: Any) -> None:
    """Freeze (or free) the m-probabilities of the comparisons whose column ``fixed(column)`` says.

    Splink 5 reads a level's ``fix_m_probability`` in both label and EM training but offers no
    call to change it after the model is built, hence the private attribute.
    """
    for comparison in linker._settings_obj.comparisons:
        for level in comparison.comparison_levels:
            level._fix_m_probability = bool(fixed(comparison.output_column_name))


def _labels_for_splink(db: Engine, labels: str, link: bool) -> str:
    """Labelled pairs in the shape Splink reads (source dataset and record id per side)."""
    right_ds = RIGHT if link else LEFT
    db.run(f"""CREATE OR REPLACE TEMP VIEW __pl_labels AS
        SELECT '{LEFT}' AS source_dataset_l, CAST(left_id AS VARCHAR) AS record_id_l,
               '{right_ds}' AS source_dataset_r, CAST(right_id AS VARCHAR) AS record_id_r,
               1.0 AS clerical_match_score
        FROM {quote_ident(labels)}""")
    return "__pl_labels"


def _scored_pairs_sql(predictions: str, model: ProbabilisticModel, link: bool, waterfall: bool,
                      profiles: str | None = None) -> str:
    """Orient Splink's pairs as (left_id, right_id) and keep the weights we report; with ``profiles``
    (:func:`profiles_sql`'s table), each pair of a profile's first record given to every record of
    the profile."""
    if link:
        flip = f"source_dataset_l <> '{LEFT}'"
        left_id = f"CASE WHEN {flip} THEN record_id_r ELSE record_id_l END"
        right_id = f"CASE WHEN {flip} THEN record_id_l ELSE record_id_r END"
    else:
        left_id = "least(record_id_l, record_id_r)"
        right_id = "greatest(record_id_l, record_id_r)"
    cols = [f"CAST({left_id} AS VARCHAR) AS left_id", f"CAST({right_id} AS VARCHAR) AS right_id",
            "match_weight", "match_probability"]
    if waterfall:
        for spec in model.comparisons:
            c = spec.column
            tf = f' + coalesce("mw_tf_adj_{c}", 0.0)' if spec.term_frequency else ""
            cols.append(f'"mw_{c}"{tf} AS "mw_{c}"')
    scored = f"SELECT {', '.join(cols)} FROM {quote_ident(predictions)}"
    if profiles is None:
        return scored
    kept = ["right_id", "match_weight", "match_probability",
            *(f"mw_{spec.column}" for spec in model.comparisons if waterfall)]
    return (f"SELECT CAST(p.record_id AS VARCHAR) AS left_id, {', '.join(f's.{quote_ident(c)}' for c in kept)} "
            f"FROM ({scored}) AS s JOIN {quote_ident(profiles)} AS p ON CAST(p.profile_id AS VARCHAR) = s.left_id")
