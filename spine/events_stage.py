"""Run the post-linkage rules on the linked spine: movements after itinerary checks, the visa
rules, departures and returns imputed from signs of life, events, family events and residence
spells, with each rule's ablation measured in the same run."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from linkage._sql import materialise, quote_ident, sql_in_list, sql_literal
from rules import flag_itineraries
from rules._sql import is_pinned, recording_estimates
from rules.early_leavers import EARLY_LEAVER_WEIGHTS, EARLY_LEAVERS, estimate_early_leavers
from rules.family import FOLLOW_LAG, MIN_FOLLOW_CASES, add_family_events
from rules.residence import build_residence_spells, stock_on_1_january_sql
from rules.pipeline import MovementRules, RuleSettings, RuleTables
from rules.signs_of_life import PROVISIONAL_SOURCE, imputation_estimates, never_active_sql
from spine import ablations as ablation
from spine.config import JobConfig
from spine.engine import Engine
from spine.groups import citizenship_group_sql
from spine.family import DEPENDANTS
from spine.presence import (BASE_DUPLICATES, PRESENCE_WITHOUT_GRANTS, build_base_duplicates, build_dependants,
                            build_presence, grace_periods)
from spine.visa_stage import PRESENCE, VISAS, VISITORS, apply_visa_rules, find_visa_visitors

if TYPE_CHECKING:
    from spine.replicate_rules import Reference

MOVEMENT_INPUT = "rules__movement_input"
#: The movements the early-leaver estimate derives earlier ends from (recorded, and arrivals imputed then).
MOVEMENTS_AS_RECORDED = "rules__movements_as_recorded"
#: Every derived event, the reporting period's and the others (``events`` keeps the reporting period's).
EVENTS_ALL = "rules__events_all"
#: Each person's date of birth and citizenship group: the subgroups of the silence estimates.
PEOPLE = "rules__people"
RESIDENCE_SPELLS = "residence_spells"
NEVER_ACTIVE = "rules__never_active"
EVENTS_WITHOUT_SIGNS_OF_LIFE = "rules__events_without_signs_of_life"
#: Each ablation copies the movements where its rule acts and runs the later steps again without it
#: for the persons the rule changed (spine.ablations).
EVENTS_WITHOUT_VISAS = "rules__events_without_visas"
MOVEMENTS_WITHOUT_VISAS = "rules__movements_without_visa_rules"
EVENTS_WITHOUT_REPAIR = "rules__events_without_itinerary_repair"
MOVEMENTS_WITHOUT_REPAIR = "rules__movements_without_itinerary_repair"
#: The run's movements after the visa rules and the itinerary repair, before anything is imputed:
#: where a reference for rule settings that act only later starts (spine.replicate_rules).
MOVEMENTS_AFTER_REPAIR = "rules__movements_after_repair"
#: Rule settings that act only on what is imputed from signs of life, after the repair: a reference
#: that varies only these can start from the run's ``MOVEMENTS_AFTER_REPAIR``.
SETTINGS_AFTER_REPAIR = ("signs_of_life.window_days", "signs_of_life.provisional_days")


def first_year(job: JobConfig, end: date) -> int:
    """First year the residence figures cover: the reporting period's."""
    return job.reporting_period(end)[0].year


def _first_reported_day(job: JobConfig, end: date, history_days: int) -> date:
    """The first day whose first presence may be an arrival: after a year of the data as history
    (people present before the data began show up in its first year)."""
    start = job.observation.start if job.observation else date(end.year - 9, 1, 1)
    return start + timedelta(days=history_days)


def data_end(db: Engine, job: JobConfig, linked_records: str) -> date:
    """Last day the data covers: the observation end if configured, else the last movement."""
    if job.observation is not None:
        return job.observation.end
    found = db.run(f"SELECT max(event_date) FROM {linked_records} WHERE direction IS NOT NULL")[0][0]
    return found or date.today()


def keeps_repaired_movements(job: JobConfig) -> bool:
    """Whether the run keeps its movements after the repair: its uncertainty replicates draw rule
    settings that act only later, whose references start from them."""
    alternatives = job.flows.uncertainty.rule_alternatives
    return bool(job.flows.uncertainty.replicates and alternatives and set(alternatives) <= set(SETTINGS_AFTER_REPAIR))


def build_movements_and_events(db: Engine, job: JobConfig,
                               linked_records: str, *, ablations: bool = True,
                               replicate: int | None = None,
                               reference: Reference | None = None, keep_repaired: bool = False,
                               after_repair: bool = False) -> tuple[date, dict[str, Any]]:
    """Materialise ``movements``, ``events`` and ``residence_spells``; return the data end used
    and the rules' counts.

    Each rule's ablation is measured in the same run: the events derived with every rule but that
    one (quality.json ``rules.<rule>.events_without``). The visa rules and itinerary repair change
    what signs of life impute afterwards, so their ablations run that part again for the persons
    they changed, the run's estimates held (spine.ablations).
    ``ablations=False`` skips them (their counts are None): the uncertainty replicates need only
    the events. A ``replicate`` gets no residence spells and no counts. With a ``reference``
    (spine.replicate_rules) the linked records are a few persons', the estimates and the data end
    are the reference's, and ``events`` gets everyone else's from it. ``keep_repaired`` keeps the
    movements after the repair (``MOVEMENTS_AFTER_REPAIR``); ``after_repair`` starts from them and
    from the tables the run made before them (a reference whose settings act only later).
    """
    if after_repair:   # the run's tables before the imputation are the store's, and its repaired movements
        end = data_end(db, job, linked_records)
        materialise(db, "movements", f"SELECT * FROM {MOVEMENTS_AFTER_REPAIR}")
        visas = job.rules.visas.source is not None
        base_presence = PRESENCE_WITHOUT_GRANTS if visas else PRESENCE
        visitors = VISITORS if visas else None
        dependants = DEPENDANTS if job.rules.family.children_source else None
        duplicates = BASE_DUPLICATES if BASE_DUPLICATES in db.table_names() else None
        people = PEOPLE
    else:
        movement_sources = [name for name, s in job.sources.items() if s.is_movement_source]
        in_list = sql_in_list(movement_sources)
        materialise(db, MOVEMENT_INPUT, f"""
            SELECT person_id, source, record_id, event_date AS date, direction
            FROM {linked_records} WHERE source IN ({in_list}) AND direction IS NOT NULL""")
        flag_itineraries(db, MOVEMENT_INPUT, "movements", enabled=job.rules.itinerary.enabled)
        end = reference.data_end if reference else data_end(db, job, linked_records)
        # with visa rules, rules__presence is the evidence plus the in-country grants they add
        base_presence = build_presence(db, job, PRESENCE_WITHOUT_GRANTS if job.rules.visas.source else PRESENCE)
        visitors = find_visa_visitors(db, job, base_presence)
        dependants = build_dependants(db, job)
        home = sql_literal(job.home_country)
        people = materialise(db, PEOPLE, f"""
            SELECT person_id, dob, {citizenship_group_sql('nationality', job.home_country)} AS citizenship_group,
                   coalesce(country_of_birth <> {home}, nationality <> {home}) AS born_abroad
            FROM persons""")
        duplicates = build_base_duplicates(db, job)
    pipeline = MovementRules(db, rule_settings(job, end), RuleTables(
        people=people, dependants=dependants, duplicates=duplicates, visitors=visitors))
    repair, with_life = pipeline.settings.repair, pipeline.settings.signs_of_life

    # the run: visa rules, repair, signs of life, events; each ablation copies the movements
    # just before the rule it leaves out and notes whom the rule changed
    if ablations:
        ablation.start(db)
    with recording_estimates(db) as made:   # what the ablations hold at the run's
        if visitors and ablations:
            materialise(db, MOVEMENTS_WITHOUT_VISAS, "SELECT * FROM movements")
        visa_counts = apply_visa_rules(db, job, "movements", base_presence, data_end=end) \
            if visitors and not after_repair else {}
        presence = PRESENCE
        if visitors and ablations:
            ablation.note_changed(db, "visas", [(MOVEMENTS_WITHOUT_VISAS, "movements"), (base_presence, presence)],
                                  also=[visitors])
        if repair != "none" and ablations:
            materialise(db, MOVEMENTS_WITHOUT_REPAIR, "SELECT * FROM movements")
        repaired = pipeline.repair("movements", presence) if not after_repair else 0
        if repair != "none" and ablations:
            ablation.note_changed(db, "itinerary_repair", [(MOVEMENTS_WITHOUT_REPAIR, "movements")])
        if keep_repaired:
            materialise(db, MOVEMENTS_AFTER_REPAIR, "SELECT * FROM movements")
        if ablations:
            pipeline.derive(EVENTS_WITHOUT_SIGNS_OF_LIFE, "movements", None)   # before departures are imputed
        pipeline.impute("movements", presence)
        estimates = imputation_estimates(db) if with_life else {"estimated": False}
        repaired_after = pipeline.repair_after_imputation("movements", presence)
        pipeline.derive("events", "movements", presence)
        early_leavers = _early_leavers(db, job, pipeline, presence if with_life else None, replicate, reference)

    # ablations: the later steps again for the persons each rule changed, the run's estimates held
    rerun = {}
    if ablations and (visitors or repair != "none"):
        rerun = ablation.close_over_ties(db, dependants, duplicates, PEOPLE)
    if visitors and ablations:
        ablation.events_without(db, pipeline.settings, pipeline.tables, "visas", made,
                                movements=MOVEMENTS_WITHOUT_VISAS, presence=base_presence, output=EVENTS_WITHOUT_VISAS,
                                repair=True, with_visitors=False)
    if repair != "none" and ablations:
        ablation.events_without(db, pipeline.settings, pipeline.tables, "itinerary_repair", made,
                                movements=MOVEMENTS_WITHOUT_REPAIR, presence=presence, output=EVENTS_WITHOUT_REPAIR,
                                repair=False)

    family = _family_events(db, presence, dependants)
    if replicate is not None:
        if reference is not None:
            materialise(db, "events", reference.merged("events", EVENTS_ALL))   # rewritten in place
        _keep_reporting_period(db, job, end)
        return end, {}
    never_active = None
    life = job.rules.signs_of_life
    if with_life and life.never_active_not_resident:
        never_active = materialise(db, NEVER_ACTIVE, never_active_sql(
            presence, "movements", "persons", data_end=end, min_age=life.never_active_min_age))
    build_residence_spells(db, "events", presence, RESIDENCE_SPELLS, death_codes=tuple(life.death_codes),
                           never_resident=never_active)
    with_events = _event_counts(db, "events", "self")
    counts = {
        "itinerary_repair": {
            "policy": repair, "movements_changed": repaired, "movements_changed_after_imputation": repaired_after,
            "events_with": with_events,
            "events_without": _event_counts(db, EVENTS_WITHOUT_REPAIR, "self")
            if repair != "none" and ablations else None,
            "persons_rerun_without": rerun.get("itinerary_repair")},
        "signs_of_life": {
            "enabled": with_life,
            "imputed_departures": dict(db.run(
                "SELECT source, count(*) FROM movements WHERE flag = 'imputed' AND direction = 'out' "
                "AND source IN ('deregistration', 'signs_of_life', ?) GROUP BY 1 ORDER BY 1",
                [PROVISIONAL_SOURCE])),
            "imputed_returns": db.run(
                "SELECT count(*) FROM movements WHERE flag = 'imputed' AND direction = 'in' "
                "AND source = 'signs_of_life'")[0][0],
            "presence_rows": db.run(f"SELECT count(*) FROM {quote_ident(presence)}")[0][0],
            "never_active_not_resident": _never_active_count(db, never_active),
            "estimates": estimates,
            "events_with": with_events,
            "events_without": _event_counts(db, EVENTS_WITHOUT_SIGNS_OF_LIFE, "self") if ablations else None},
        "visas": {
            "enabled": visitors is not None,
            "visitors": db.run(f"SELECT count(*) FROM {visitors}")[0][0] if visitors else 0,
            **visa_counts,
            "events_with": with_events,
            "events_without": _event_counts(db, EVENTS_WITHOUT_VISAS, "self") if visitors and ablations else None,
            "persons_rerun_without": rerun.get("visas")},
        "family": family,
        "early_leavers": early_leavers,
        "residence": _residence_counts(db, first_year(job, end), end),
    }
    counts["reporting"] = _keep_reporting_period(db, job, end)
    return end, counts


def rule_settings(job: JobConfig, end: date) -> RuleSettings:
    """The movement rules' settings from the job's ``rules:`` (data ending at ``end``)."""
    rules, life = job.rules, job.rules.signs_of_life
    grace_by_source, grace_by_type = grace_periods(job)
    return RuleSettings(
        data_end=end, first_reported_day=_first_reported_day(job, end, rules.events.min_days),
        repair=rules.itinerary.repair if rules.itinerary.enabled else "none", midpoint=rules.itinerary.midpoint,
        definition=rules.events.definition, min_days=rules.events.min_days,
        tolerance_days=rules.events.tolerance_days, event_window_days=rules.events.window_days,
        signs_of_life=bool(life.enabled and life.sources), arrivals_from_registration=life.arrivals_from_registration,
        window_days=life.window_days, provisional_days=life.provisional_days,
        emigration_codes=tuple(life.emigration_codes), death_codes=tuple(life.death_codes),
        not_presence_types=tuple(life.exempt_event_types), children_follow_parents=life.children_follow_parents,
        child_age_limit=life.child_age_limit, grace_by_source=tuple(sorted(grace_by_source.items())),
        grace_by_type=tuple(sorted(grace_by_type.items())),
        min_departure_probability=life.min_departure_probability,
        min_return_probability=life.min_return_probability)


def _early_leavers(db: Engine, job: JobConfig, pipeline: MovementRules, presence: str | None,
                   replicate: int | None, reference: Reference | None) -> dict[str, Any]:
    """Weigh each provisional immigration by the share expected to stay (rules.early_leavers); an
    uncertainty replicate draws the level (ONS), and one that re-runs a few persons weighs the
    reference's arrivals of the others too. Without the setting the weights table is empty."""
    rules, end = job.rules, pipeline.settings.data_end
    provisional_published = job.reporting_period(end)[1] > end - timedelta(days=rules.events.min_days)
    if not rules.events.early_leavers or (replicate is not None and not provisional_published):
        # off, or a replicate whose published flows hold no provisional immigration to weigh
        materialise(db, EARLY_LEAVER_WEIGHTS, "SELECT CAST(NULL AS VARCHAR) AS person_id, CAST(NULL AS DATE) AS date, "
                                               "CAST(NULL AS DOUBLE) AS early_leaver_share, "
                                               "CAST(NULL AS DOUBLE) AS weight WHERE FALSE")
        return {"enabled": False}

    # what was known of the latest arrivals then: recorded movements and arrivals imputed from a visa
    # or a registration of the time; not the repairs and departures later data gave (a missed exit
    # dated from the entry that followed it would close stays that the real end leaves open)
    if not is_pinned(db, EARLY_LEAVERS):   # a re-run of a few persons takes the shares as they are
        materialise(db, MOVEMENTS_AS_RECORDED, """
            SELECT * FROM movements WHERE kept AND (record_id IS NOT NULL OR source IN ('visa', 'registration',
                                                                                         'visa_transition'))""")

    def derive_at(day: date, output: str) -> str:
        return pipeline.derive(output, MOVEMENTS_AS_RECORDED, presence, data_end=day)

    draw = None if replicate is None else np.random.default_rng([job.flows.uncertainty.seed, 3, replicate])
    found = estimate_early_leavers(db, derive_at, "events", pipeline.tables.people, data_end=end,
                                   visas=VISAS if job.rules.visas.source else None,
                                   age_groups=job.flows.age_groups, draw=draw,
                                   merge=reference.merged if reference else None)
    return {"enabled": True, "estimated": True, "provisional_published": provisional_published, **found}


def _keep_reporting_period(db: Engine, job: JobConfig, end: date) -> dict[str, Any]:
    """Keep every derived event in ``EVENTS_ALL`` and only those of the reporting period in
    ``events`` (what flows, the report and the outputs publish); return the period and how many
    events fell outside it."""
    start, stop = job.reporting_period(end)
    materialise(db, EVENTS_ALL, "SELECT * FROM events")
    materialise(db, "events", f"SELECT * FROM {EVENTS_ALL} WHERE date BETWEEN DATE {sql_literal(start.isoformat())} "
                               f"AND DATE {sql_literal(stop.isoformat())}")
    outside = db.run(f"SELECT count(*) FROM {EVENTS_ALL}")[0][0] - \
        db.run("SELECT count(*) FROM events")[0][0]
    return {"start": start.isoformat(), "end": stop.isoformat(), "events_outside": outside,
            "provisional_published": stop > end - timedelta(days=job.rules.events.min_days)}


def _never_active_count(db: Engine, never_active: str | None) -> int | None:
    """People the never-active rule kept out of the residence spells (those with events keep theirs)."""
    if never_active is None:
        return None
    return db.run(f"SELECT count(*) FROM {never_active} WHERE person_id NOT IN "
                  "(SELECT person_id FROM events WHERE person_id IS NOT NULL)")[0][0]


def _residence_counts(db: Engine, first_year: int, end: date) -> dict[str, Any]:
    """Spells, and the stock of residents on 1 January of each year of the observation window."""
    stock = db.run(f"SELECT * FROM ({stock_on_1_january_sql(RESIDENCE_SPELLS, first_year, end.year)}) "
                   "ORDER BY y")
    spells, persons = db.run(f"SELECT count(*), count(DISTINCT person_id) FROM {RESIDENCE_SPELLS}")[0]
    return {"spells": spells, "persons": persons, "stock_on_1_january": {int(y): n for y, n in stock}}


def _family_events(db: Engine, presence: str, dependants: str | None) -> dict[str, Any]:
    """Give dependants without movements their parent's events; return the counts."""
    if dependants is None:
        return {"enabled": False}
    added = add_family_events(db, dependants, "events", "movements", presence)
    lag = db.run(f"SELECT days, cases, mode_days, median_days, mode_stands_out FROM {FOLLOW_LAG}")
    days, cases, mode, median, stands_out = lag[0] if lag else (None, 0, None, None, None)
    return {"enabled": True, "dependants": db.run(f"SELECT count(*) FROM {dependants}")[0][0],
            "events_added": added, "events_by_type": _event_counts(db, "events", "family"),
            "follow_lag": {"days": days if cases >= MIN_FOLLOW_CASES else 0, "estimated_days": days,
                           "most_common_days": mode, "median_days": median, "most_common_stands_out": stands_out,
                           "dependants_with_own_arrival": int(cases), "min_cases": MIN_FOLLOW_CASES}}


def _event_counts(db: Engine, table: str, derived_via: str) -> dict[str, int]:
    return dict(db.run(f"SELECT event, count(*) FROM {quote_ident(table)} WHERE derived_via = "
                       f"{sql_literal(derived_via)} GROUP BY 1 ORDER BY 1"))
