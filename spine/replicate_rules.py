"""The rules of an uncertainty replicate re-run only for the persons its draw re-linked.

A replicate changes the links of a few thousand records; running the rules over everyone for each
of twenty replicates cost what the rules stage costs, twenty times (23 of the 46 minutes of a
million-person run). Instead, for each set of rule settings the replicates use, the rules run once
over everyone with the run's links: the *reference*. Each replicate then re-runs them only for the
persons whose records it re-linked (the person a record left and the one it joined), with every
person tied to them through the rules (a claimant and the children on their claims, a
base-register duplicate, and so on until no one is added), and takes everyone else's events from
the reference. Restricting each source's link table to those persons restricts everything the
rules build from the links. A batch of replicates finds its persons together (``TOUCHED_ALL``,
closed over ties that are a superset of each replicate's own) and cuts each link table for all of
them in one scan; each replicate then takes its own (:func:`take_replicate`).

What the rules estimate over everyone (the typical trip, recording rates, lags, the silence
model, the family follow lag, early leavers' shares: the tables made through
``rules._sql.estimate``) is pinned to the reference's: a replicate's re-links would move them by a
hair, and estimated on the few persons re-run they would be wrong. The early leavers' level is
still drawn in every replicate, and weighs every provisional immigration, the reference's too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from linkage._sql import materialise, quote_ident, sql_literal
from rules._sql import ESTIMATES, pinned_estimates, recording_estimates
from rules.early_leavers import EARLY_LEAVER_ARRIVALS
from spine.builder import LINKED_RECORDS, build_linked_records
from spine.config import JobConfig
from spine.engine import Engine
from spine.events_stage import EVENTS_ALL, build_movements_and_events
from spine.family import DEPENDANTS, claims_sql
from spine.linking import LINK_COLUMNS, link_table
from spine.presence import BASE_DUPLICATES
from spine.sources import std_table
from spine.ties import both_ways, close_over

#: The persons a replicate re-runs (re-linked, and everyone tied to them).
TOUCHED = "uncertainty__touched_persons"
#: Every replicate's: ``replicate, person_id``.
TOUCHED_ALL = "uncertainty__touched_persons_of_every_replicate"
#: A person tied to another through the rules (both ways), in every replicate: what the touched
#: sets are closed over.
TIES = "uncertainty__ties"
#: Ties of one replicate (``replicate, person_id, other_id``): claims holding a record it re-linked.
CHANGED_TIES = "uncertainty__ties_of_relinked_claims"
#: What a table of changed links holds, one row per replicate and record whose link its draw changed:
#: the record's person in the run (``run_entity``, ``run_linked``) and in the replicate (``entity_id``,
#: NULL when unlinked there; ``method``).
CHANGED_COLUMNS = "replicate, source, record_id, run_entity, run_linked, entity_id, method"
#: What a reference keeps besides the estimates: everyone's events, provisional arrivals and ties.
KEPT = (EVENTS_ALL, EARLY_LEAVER_ARRIVALS, DEPENDANTS, BASE_DUPLICATES)


@dataclass(frozen=True)
class Reference:
    """The rules run over everyone with the run's links under one replicate's rule settings."""

    index: int
    data_end: date
    estimates: tuple[str, ...]
    kept: tuple[str, ...]

    def copy_of(self, name: str) -> str:
        """This reference's copy of table ``name``."""
        return f"uncertainty__reference_{self.index}__{name}"

    def merged(self, name: str, kept_as: str | None = None) -> str:
        """A SELECT of table ``name`` (with a ``person_id``) for everyone: its rows of the re-run
        persons, the reference's of the others (from its table ``kept_as``, default ``name``)."""
        return f"""
            SELECT n.* FROM {quote_ident(name)} AS n JOIN {TOUCHED} AS t ON t.person_id = n.person_id
            UNION ALL
            SELECT r.* FROM {quote_ident(self.copy_of(kept_as or name))} AS r
            LEFT JOIN {TOUCHED} AS t ON t.person_id = r.person_id WHERE t.person_id IS NULL"""


def run_reference(rep: Engine, job: JobConfig, index: int) -> Reference:
    """Run the rules over everyone with the run's links and keep what the replicates re-use under a
    prefix. Before any replicate: ``rep`` must have no link table of its own yet, so that the
    store's are read. (Never drop one to get there: a DROP in ``rep`` can reach the store's.)"""
    with recording_estimates(rep) as made:
        build_linked_records(rep, job)
        end, _ = build_movements_and_events(rep, job, LINKED_RECORDS, ablations=False, replicate=0)
    have = set(rep.table_names())   # the store's too: a table the run made and the reference did not is not read
    return _with_copies(rep, Reference(index, end, tuple(t for t in ESTIMATES if t in made),
                                       tuple(t for t in KEPT if t in have)), quote_ident)


def reference_after_the_runs_repair(rep: Engine, job: JobConfig, index: int) -> Reference:
    """The rules for settings that act only after the itinerary repair (``SETTINGS_AFTER_REPAIR``),
    started from the run's movements after it: what comes before (linked records, presence,
    visitors, dependants, the visa rules, the repair and their estimates) is the run's, read from
    the store, so only the imputation, the events, family events and early leavers run again.
    Before any :func:`run_reference`: that makes its own tables under the names read here."""
    with recording_estimates(rep):
        end, _ = build_movements_and_events(rep, job, LINKED_RECORDS, ablations=False, replicate=0,
                                            after_repair=True)
    have = set(rep.table_names())   # the store's too: the estimates made before the repair are the run's
    return _with_copies(rep, Reference(index, end, tuple(t for t in ESTIMATES if t in have),
                                       tuple(t for t in KEPT if t in have)), quote_ident)


def reference_of_the_run(rep: Engine, stored: Callable[[str], str], index: int, end: date) -> Reference:
    """The run's own rules stage as the reference for its own rule settings: it ran the rules over
    everyone with the run's links and left in the store what a reference keeps (its estimates are
    the main run's: its ablations hold them, spine.ablations), so running them again would
    give the same tables. Its copies are made from the store's; ``end`` is the run's data end."""
    have = set(rep.table_names())
    return _with_copies(rep, Reference(index, end, tuple(t for t in ESTIMATES if t in have),
                                       tuple(t for t in KEPT if t in have)), stored)


def _with_copies(rep: Engine, reference: Reference, read: Callable[[str], str]) -> Reference:
    """Copy each table the reference keeps (``read`` names where it is read from) under its prefix."""
    for name in reference.estimates + reference.kept:
        materialise(rep, reference.copy_of(name), f"SELECT * FROM {read(name)}")
    return reference


def relinked_persons(rep: Engine, changed: str) -> None:
    """Materialise ``TOUCHED_ALL`` with each replicate's re-linked persons: the run's person of each
    record whose link its draw changed, and the record's person in the replicate (``changed``: see
    :data:`CHANGED_COLUMNS`)."""
    materialise(rep, TOUCHED_ALL, f"""
        SELECT DISTINCT replicate, person_id FROM (
            SELECT replicate, run_entity AS person_id FROM {quote_ident(changed)} WHERE run_linked
            UNION ALL SELECT replicate, entity_id FROM {quote_ident(changed)}) AS p
        WHERE person_id IS NOT NULL""")


def close_over_ties(rep: Engine, job: JobConfig, stored: Callable[[str], str], changed: str) -> None:
    """Add to each replicate's persons in ``TOUCHED_ALL`` everyone tied to one of them, and so on
    until no one is added. The ties are a superset of each replicate's own (re-running a person
    more gives the reference's events for them): ``TIES`` (:func:`build_ties`) for every replicate,
    and each replicate's claims that hold a record whose link it changed (``changed``; ``stored``
    names the store's tables)."""
    _changed_ties(rep, job, stored, changed)
    close_over(rep, TOUCHED_ALL, "replicate", TIES, [CHANGED_TIES], everyone="SELECT person_id FROM persons",
               what="the replicates' re-links")


def build_ties(rep: Engine, job: JobConfig, references: Iterable[Reference], stored: Callable[[str], str]) -> None:
    """``TIES``: claimant and child (each reference's dependants, the run's claims: ``stored`` names
    the store's tables), duplicates; both ways."""
    references = list(references)
    pairs = ["SELECT CAST(NULL AS VARCHAR) AS a, CAST(NULL AS VARCHAR) AS b"]
    for reference in references:
        if DEPENDANTS in reference.kept:
            pairs.append(f"SELECT child_person_id AS a, parent_person_id AS b FROM {reference.copy_of(DEPENDANTS)}")
        if BASE_DUPLICATES in reference.kept:
            pairs.append(f"SELECT person_id AS a, other_id AS b FROM {reference.copy_of(BASE_DUPLICATES)}")
    if any(DEPENDANTS in reference.kept for reference in references):
        pairs.append(f"SELECT child_person_id AS a, parent_person_id AS b FROM ({claims_sql(job, stored)})")
    both_ways(rep, TIES, pairs)


def _changed_ties(rep: Engine, job: JobConfig, stored: Callable[[str], str], changed: str) -> None:
    """``CHANGED_TIES``: per replicate, child and claimant on a claim one of whose records it
    re-linked: the re-linked record's person in the replicate with each person the claim's other
    records are linked to in the run or the replicate (a superset); both ways."""
    family = job.rules.family
    pairs = ["SELECT CAST(NULL AS INTEGER) AS replicate, CAST(NULL AS VARCHAR) AS a, CAST(NULL AS VARCHAR) AS b"]
    if family.children_source is not None:
        children, claims = family.children_source, family.claims_source
        c = quote_ident(changed)
        std_children, std_claims = stored(std_table(children)), stored(std_table(claims))
        relinked_children = (f"SELECT x.replicate, x.entity_id, p.record_id AS other_record "
                             f"FROM {c} AS x JOIN {std_children} AS k ON k.record_id = x.record_id "
                             f"JOIN {std_claims} AS p ON p.claim_id = k.claim_id "
                             f"WHERE x.source = {sql_literal(children)} AND x.entity_id IS NOT NULL")
        relinked_claims = (f"SELECT x.replicate, x.entity_id, k.record_id AS other_record "
                           f"FROM {c} AS x JOIN {std_claims} AS p ON p.record_id = x.record_id "
                           f"JOIN {std_children} AS k ON k.claim_id = p.claim_id "
                           f"WHERE x.source = {sql_literal(claims)} AND x.entity_id IS NOT NULL")
        for mine, other_source in ((relinked_children, claims), (relinked_claims, children)):
            pairs.append(f"""SELECT m.replicate, m.entity_id AS a, l.entity_id AS b FROM ({mine}) AS m
                             JOIN {stored(link_table(other_source))} AS l ON l.record_id = m.other_record
                             WHERE l.status = 'linked'""")
            pairs.append(f"""SELECT m.replicate, m.entity_id AS a, o.entity_id AS b FROM ({mine}) AS m
                             JOIN {c} AS o ON o.replicate = m.replicate AND o.record_id = m.other_record
                             WHERE o.source = {sql_literal(other_source)}""")
    both_ways(rep, CHANGED_TIES, pairs, "replicate, ")


def restrict_links(rep: Engine, job: JobConfig, stored: Callable[[str], str], changed: str) -> None:
    """Each source's link table for every replicate at once (``links_of_every_replicate``): the
    records linked to a person of the replicate's in ``TOUCHED_ALL``, in the replicate (its link
    in the run where ``changed`` has no row for it); one scan of each link table for all."""
    c = quote_ident(changed)
    for name, _ in job.ordered_sources:
        stored_links = stored(link_table(name))
        materialise(rep, links_of_every_replicate(name), f"""
            SELECT t.replicate, l.record_id, l.entity_id, l.status, l.method, l.matched_on,
                   l.match_probability, l.match_weight, l.reason
            FROM {stored_links} AS l JOIN {TOUCHED_ALL} AS t ON t.person_id = l.entity_id
            LEFT JOIN (SELECT replicate, record_id FROM {c} WHERE source = {sql_literal(name)}) AS x
                 ON x.replicate = t.replicate AND x.record_id = l.record_id
            WHERE l.status = 'linked' AND x.record_id IS NULL
            UNION ALL
            SELECT x.replicate, l.record_id, x.entity_id, 'linked' AS status, x.method, l.matched_on,
                   l.match_probability, l.match_weight, CAST(NULL AS VARCHAR) AS reason
            FROM {c} AS x JOIN {stored_links} AS l ON l.record_id = x.record_id
            JOIN {TOUCHED_ALL} AS t ON t.replicate = x.replicate AND t.person_id = x.entity_id
            WHERE x.source = {sql_literal(name)}
            ORDER BY replicate""")


def take_replicate(rep: Engine, job: JobConfig, replicate: int) -> None:
    """``TOUCHED`` and each source's link table for one replicate, from the tables of every replicate."""
    r = int(replicate)
    materialise(rep, TOUCHED, f"SELECT person_id FROM {TOUCHED_ALL} WHERE replicate = {r}")
    for name, _ in job.ordered_sources:
        materialise(rep, link_table(name), f"SELECT {LINK_COLUMNS} FROM {links_of_every_replicate(name)} "
                                           f"WHERE replicate = {r}")


def links_of_every_replicate(name: str) -> str:
    """Source ``name``'s link records of the persons every replicate re-runs (column ``replicate``)."""
    return f"uncertainty__links_of_every_replicate__{name}"


def rerun_rules(rep: Engine, job: JobConfig, reference: Reference, replicate: int) -> None:
    """The rules for the persons in ``TOUCHED`` (the link tables restricted to them), the
    reference's estimates pinned; ``events`` and the early leavers' weights then hold everyone:
    the re-run persons' own and the reference's for the others."""
    for name in reference.estimates:
        materialise(rep, name, f"SELECT * FROM {quote_ident(reference.copy_of(name))}")
    with pinned_estimates(rep, reference.estimates):
        build_linked_records(rep, job)
        build_movements_and_events(rep, job, LINKED_RECORDS, ablations=False, replicate=replicate,
                                   reference=reference)
