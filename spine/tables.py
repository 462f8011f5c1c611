"""Every table a run writes into its store: the stage that writes it, what it holds, and whether the
store keeps it after the run.

The store's data dictionary (``spine tables`` prints it; docs/store.md is that print). A name with
``{source}`` stands for one table per source of the job, ``{n}`` for a number and ``{table}`` for
any table name (the working copies a step makes beside the table it writes). What the store keeps
unless the job sets ``output.keep_intermediate`` (spine.store) is read from here: the outputs, what
later commands read (``command``), and the tables that say what the run estimated and measured
(``explains``); every other table is ``working`` and is dropped. A test runs the demo job with
``keep_intermediate`` and fails on any table not declared here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rules._sql import ESTIMATES

Kind = Literal["output", "command", "explains", "working"]
#: The kinds the store keeps after a run (without ``output.keep_intermediate``).
KEPT_KINDS: tuple[Kind, ...] = ("output", "command", "explains")


@dataclass(frozen=True)
class StoreTable:
    """One table (or one per source) a run writes."""

    name: str
    stage: str
    kind: Kind
    holds: str
    #: Only where the source's linkage is probabilistic or hybrid (the features a model scored).
    scored_sources_only: bool = False

    def pattern(self, sources: list[str]) -> re.Pattern[str]:
        """The table names this entry stands for, with the job's ``sources``."""
        parts = re.split(r"(\{source\}|\{n\}|\{table\})", self.name)
        alternatives = "|".join(re.escape(s) for s in sorted(sources, key=len, reverse=True)) or "(?!)"
        wild = {"{source}": f"(?:{alternatives})", "{n}": r"\d+", "{table}": r"\w+"}
        return re.compile("".join(wild.get(p, re.escape(p)) for p in parts))


def _t(name: str, stage: str, kind: Kind, holds: str, **more: bool) -> StoreTable:
    return StoreTable(name, stage, kind, holds, **more)


def _estimate(name: str, holds: str) -> StoreTable:
    assert name in ESTIMATES, name
    return StoreTable(name, "rules", "explains", holds)


TABLES: tuple[StoreTable, ...] = (
    # outputs (docs/outputs: the contract) --------------------------------------------------------------
    _t("links", "link", "output", "every input record with its person, status, method and reason"),
    _t("persons", "resolve", "output", "one row per person of the spine, with the attributes chosen"),
    _t("attribute_values", "resolve", "output", "every value each source gave each person's attributes"),
    _t("movements", "rules", "output", "every entry and exit, recorded or imputed, with its source and flag"),
    _t("events", "rules", "output", "the migration events of the reporting period"),
    _t("flows", "flows", "output", "the published flows, with disclosure control and intervals"),
    _t("residence_spells", "rules", "explains", "each person's periods of residence (the stock on 1 January)"),
    # load ---------------------------------------------------------------------------------------------------
    _t("raw__{source}", "load", "working", "each source as read"),
    _t("spine__source_warnings", "load", "working", "warnings found while reading the sources (plausibility)"),
    _t("validation__raw", "load", "explains", "the validation sample as read (flows.uncertainty.validation)"),
    _t("previous__links", "load", "working", "the previous run's links (a longitudinal rerun)"),
    _t("previous__persons", "load", "working", "the previous run's persons (a longitudinal rerun)"),
    # standardise --------------------------------------------------------------------------------------------
    _t("std__{source}", "standardise", "command", "each source's records standardised, with reject reasons"),
    _t("linkage__countries", "standardise", "working", "country names and codes (reference data)"),
    _t("linkage__name_variants", "standardise", "working", "nicknames and name variants (reference data)"),
    _t("linkage__phonetic_keys", "standardise", "working", "phonetic keys of names (reference data)"),
    # link ---------------------------------------------------------------------------------------------------
    _t("feat__{source}", "link", "command", "a probabilistic source's usable records with their linkage "
       "features (JobResult.linker)", scored_sources_only=True),
    _t("feat__{source}", "link", "working", "a source's usable records with their linkage features"),
    _t("spine__reference", "link", "command", "the base register's persons as the models see them (spine review)"),
    _t("spine__identifiers", "link", "working", "the numbers each person is known by, from the base and links"),
    _t("spine__base_duplicates", "link", "explains", "pairs of base-register records found to be one person"),
    _t("spine__base_duplicate_groups", "link", "working", "each merged base record and its group's first"),
    _t("link__{source}", "link", "working", "one source's link result (links gathers them)"),
    _t("link__{source}__{table}", "link", "working", "a link step's working table (identifiers, learnt "
       "numbers, stage, final)"),
    _t("candidates__{source}", "link", "working", "the pairs a model scored, kept for the replicates"),
    _t("scored__{source}", "link", "working", "the records a model scored"),
    _t("assigned__{source}", "link", "working", "the pairs kept by the source's constraint (one-to-one)"),
    _t("labels__{source}", "link", "working", "identifier links that label a hybrid source's model"),
    _t("score_only__{source}", "link", "explains", "the records a hybrid source's model scored (bare Splink "
       "in benchmarks.scale scores the same)"),
    _t("review__pairs", "link", "command", "records sent to clerical review with their candidates"),
    _t("review__decisions", "link", "working", "the clerical decisions applied"),
    _t("review__stale", "link", "working", "clerical decisions whose record or person is gone"),
    _t("enlarge__{table}", "link", "working", "enlargement: the pool of unlinked records, its edges, groups, "
       "profiles and new ids"),
    _t("spine__enlarged", "link", "working", "the persons enlargement added"),
    _t("spine__carried_numbers", "link", "working", "numbers an enlarged person holds (number holders)"),
    _t("spine__moves_to_number_holders", "link", "working", "records moved to the person holding their number"),
    _t("family__new", "link", "working", "children on a linked claim made persons of their own"),
    _t("spine__family_persons", "link", "working", "the persons family association made"),
    _t("spine__duplicate_identifiers", "link", "working", "numbers held by more than one person"),
    # resolve ------------------------------------------------------------------------------------------------
    _t("spine__linked_records", "resolve", "working", "every linked record's attributes with its person"),
    # rules --------------------------------------------------------------------------------------------------
    _t("rules__movement_input", "rules", "working", "the linked records that are movements"),
    _t("rules__presence", "rules", "working", "every piece of evidence that someone was here"),
    _t("rules__presence_without_visa_grants", "rules", "working", "presence before the visa rules add grants"),
    _t("rules__people", "rules", "working", "each person's date of birth and citizenship group (subgroups)"),
    _t("rules__base_duplicates", "rules", "working", "probable duplicate registrations whose activity counts"),
    _t("spine__dependants", "rules", "working", "children on claims with their parents"),
    _t("rules__visas", "rules", "working", "the visas of linked persons"),
    _t("rules__visitors", "rules", "working", "visa visitors, never resident while on a visitor visa"),
    _t("rules__visa_grants_in_country", "rules", "working", "visas granted in the country (presence)"),
    _t("rules__visa_first_arrivals", "rules", "working", "first arrivals on a visa and their lag after its start"),
    _t("rules__ended_visa_covers", "rules", "working", "every ended visa cover with its outcome"),
    _t("rules__never_active", "rules", "working", "people present only by registration, never resident"),
    _t("rules__movements_as_recorded", "rules", "working", "recorded movements and arrivals imputed then "
       "(the early-leaver estimate)"),
    _t("rules__movements_without_visa_rules", "rules", "working",
       "movements before the visa rules (where their ablation starts)"),
    _t("rules__movements_without_itinerary_repair", "rules", "working",
       "movements before the repair (where its ablation starts)"),
    _t("rules__ablation_persons", "rules", "working", "the persons each ablation re-runs: those its rule changed "
       "and everyone tied to them"),
    _t("rules__ablation_ties", "rules", "working", "claimants and children, duplicate registrations (both ways)"),
    _t("{table}__grown", "rules", "working", "a set of persons with those tied to them added (spine.ties)"),
    _t("rules__movements_after_repair", "rules", "working",
       "movements after the repair, before imputation (the uncertainty references start there)"),
    _t("rules__events_without_visas", "rules", "working", "events without the visa rules (ablation: re-run for "
       "the persons they changed, the run's for the others)"),
    _t("rules__events_without_itinerary_repair", "rules", "working", "events without the repair (ablation: re-run "
       "for the persons it changed, the run's for the others)"),
    _t("rules__events_without_signs_of_life", "rules", "working", "events without signs of life (ablation)"),
    _t("rules__events_ended_{n}y_earlier", "rules", "working", "events as known n years before the end "
       "(early leavers)"),
    _t("rules__events_all", "rules", "explains", "every derived event, the reporting period's and the others"),
    _t("{table}__sequence", "rules", "working", "movements with short trips and visits taken out"),
    _t("{table}__spans", "rules", "working", "the periods of a movement sequence"),
    _t("{table}__appended", "rules", "working", "the rows a step appends to a table, before they are added"),
    _t("{table}__visitor_entries", "rules", "working", "visitors' entries taken out of the movements"),
    _t("rules__departure_candidates", "rules", "explains", "the departures the evidence may impute, with their "
       "chance"),
    _t("rules__departure_rates", "rules", "explains", "the recording rates and chances behind imputed departures"),
    _t("rules__return_candidates", "rules", "explains", "the returns a sign of life may impute"),
    _t("rules__return_rates", "rules", "explains", "the chances behind imputed returns"),
    _t("rules__unreturned_exits", "rules", "explains", "exits with nothing after them, weighed as trips or "
       "departures"),
    _t("rules__long_absences", "rules", "explains", "recorded long absences, weighed as one absence or two "
       "trips"),
    _t("rules__silence_evidence", "rules", "explains", "each person's last evidence and silence"),
    _t("rules__early_leaver_weights", "rules", "explains", "each provisional immigration's weight (early leavers)"),
    _t("rules__early_leaver_arrivals", "rules", "explains", "the provisional immigrations with their subgroup"),
    _estimate("rules__recording_rates", "the recorded pairs behind the exit and entry recording rates"),
    _estimate("rules__recording_rates_at_visa_ends", "the recording rates where visa ends are judged"),
    _estimate("rules__recording_rates_at_returns", "the recording rates where returns are judged"),
    _estimate("rules__recording_rates_by_group", "the recording rates per age band and citizenship group"),
    _estimate("rules__deregistration_counts", "registered people whose last movement is an exit, and of them "
              "the deregistered"),
    _estimate("rules__silence_estimates", "how often a silence is a departure, per subgroup and length"),
    _estimate("rules__deregistration_lag", "the usual days from a recorded exit to the deregistration"),
    _estimate("rules__gap_counts", "recorded long absences and silences ended by an entry"),
    _estimate("rules__return_candidate_count", "how many returns a sign of life may impute"),
    _estimate("rules__return_trip_lengths", "recorded absences by length"),
    _estimate("rules__visa_end_estimates", "the chance a visa holder left at the visa's end, per type"),
    _estimate("rules__visa_end_offsets", "the usual offset of known leavers' exits from the visa's end"),
    _estimate("rules__visa_arrival_lags", "how long after a visa's start its holder arrives, per type"),
    _estimate("rules__registration_lag", "the usual days from an arrival to its registration"),
    _estimate("rules__activity_arrival_offset", "where in their first activity arrivals fall"),
    _estimate("rules__trip_estimates", "the chance that an exit with nothing after it was a trip"),
    _estimate("rules__typical_trip_at_returns", "everyone's median recorded trip, at the returns"),
    _estimate("rules__long_absence_estimates", "the chance that a long absence was two trips"),
    _estimate("rules__typical_trip_at_long_absences", "everyone's median recorded trip, at long absences"),
    _estimate("rules__typical_stays", "everyone's median recorded stay and absence (the repair)"),
    _estimate("rules__typical_stays_after_imputation", "the same, at the repair after imputation"),
    _estimate("rules__early_leavers", "the share of recent arrivals expected to leave within the year"),
    _estimate("rules__family_follow_lag", "the usual days from a parent's immigration to their dependant's"),
    # flows --------------------------------------------------------------------------------------------------
    _t("flows__cells", "flows", "explains", "every flow cell before disclosure control"),
    _t("flows__counts", "flows", "explains", "the event counts per cell"),
    _t("flows__cells__{table}", "flows", "working", "disclosure control's working tables"),
    # uncertainty --------------------------------------------------------------------------------------------
    _t("uncertainty__replicate_counts", "uncertainty", "explains", "each replicate's count per flow cell"),
    _t("uncertainty__replicate_settings", "uncertainty", "explains", "the rule settings each replicate drew"),
    _t("uncertainty__flow_intervals", "uncertainty", "explains", "each published cell's interval"),
    _t("uncertainty__validation_rates", "uncertainty", "explains", "precision and sensitivity per stratum, "
       "from the validation sample"),
    _t("uncertainty__calibration_cells", "uncertainty", "explains", "the cells calibrated by the sample"),
    _t("uncertainty__calibrated_cells", "uncertainty", "explains", "the calibrated counts per cell"),
    _t("uncertainty__published_cells", "uncertainty", "explains", "the published cells the calibration reads"),
    _t("uncertainty__{table}", "uncertainty", "working", "a replicate's working table (in the replicates' "
       "own database)"),
    _t("validation__records", "uncertainty", "explains", "the validation sample's records with their persons"),
    _t("flows__uncalibrated", "uncertainty", "explains", "the flows as derived, before calibration"),
    # history ------------------------------------------------------------------------------------------------
    _t("history__links", "history", "command", "every run's links (longitudinal history)"),
    _t("history__runs", "history", "command", "one row per run"),
    _t("changes__records", "history", "command", "records whose person changed since the previous run"),
    # every stage --------------------------------------------------------------------------------------------
    _t("spine__checkpoints", "every stage", "working", "the stages finished (spine run --resume)"),
)


def declared(name: str, sources: list[str], scored: set[str] | None = None) -> StoreTable | None:
    """The entry that declares table ``name`` (the first that matches; ``scored``: the sources a
    model scored, for the entries about them), or None."""
    for table in TABLES:
        if table.scored_sources_only:
            if scored is None or not table.pattern(sorted(scored)).fullmatch(name):
                continue
            return table
        if table.pattern(sources).fullmatch(name):
            return table
    return None


def kept_tables(sources: list[str], scored: set[str], have: set[str]) -> list[str]:
    """Of the tables ``have``, those the store keeps after a run (a kind in :data:`KEPT_KINDS`), in the
    order they are declared. ``scored``: the sources whose records a model scored."""
    order = {table: i for i, table in enumerate(TABLES)}
    kept = []
    for name in have:
        table = declared(name, sources, scored)
        if table is not None and table.kind in KEPT_KINDS:
            kept.append((order[table], name))
    return [name for _, name in sorted(kept)]


def markdown() -> str:
    """The data dictionary as Markdown (docs/store.md)."""
    lines = ["# The store's tables", "",
             "Every table a run writes into its store (`spine tables` prints this page; `spine/tables.py`",
             "declares them). `{source}` stands for each source of the job, `{n}` for a number, `{table}` for",
             "another table's name. Unless the job sets `output.keep_intermediate`, the store keeps only the",
             "tables of kind `output`, `command` (later commands read them) and `explains` (what the run",
             "estimated and measured); a test fails on any table a run writes that is not declared here.",
             "", "| table | stage | kind | holds |", "|---|---|---|---|"]
    lines += [f"| `{t.name}` | {t.stage} | {t.kind} | {t.holds} |" for t in TABLES]
    return "\n".join(lines) + "\n"
