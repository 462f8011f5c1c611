"""The rules of an uncertainty replicate re-run only for the persons its draw re-linked.

A replicate changes the links of a few thousand records; running the rules over everyone for each
of twenty replicates cost what the rules stage costs, twenty times (23 of the 46 minutes of a
million-person run). Instead, for each set of rule settings the replicates use, the rules run once
over everyone with the run's links: the *reference*. Each replicate then re-runs them only for the
persons whose records it re-linked (the person a record left and the one it joined), with every
person tied to them through the rules (a claimant and the children on their claims, a
base-register duplicate, and so on until no one is added), and takes everyone else's events from
the reference. Restricting each source's link table to those persons restricts everything the
rules build from the links.

What the rules estimate over everyone (the typical trip, recording rates, lags, the silence
model, the family follow lag, early leavers' shares: the tables made through
``rules._sql.estimate``) is pinned to the reference's: a replicate's re-links would move them by a
hair, and estimated on the few persons re-run they would be wrong. The early leavers' level is
still drawn in every replicate, and weighs every provisional immigration, the reference's too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from linkage._sql import materialise, quote_ident
from rules._sql import ESTIMATES, pinned_estimates, recording_estimates
from rules.early_leavers import EARLY_LEAVER_ARRIVALS
from spine.builder import LINKED_RECORDS, build_linked_records
from spine.config import JobConfig
from spine.engine import Engine
from spine.events_stage import EVENTS_ALL, build_movements_and_events
from spine.family import DEPENDANTS, claims_sql
from spine.linking import link_table
from spine.presence import BASE_DUPLICATES

logger = logging.getLogger(__name__)

#: The persons a replicate re-runs (re-linked, and everyone tied to them).
TOUCHED = "uncertainty__touched_persons"
#: A person tied to another through the rules (both ways): the pairs the touched set is closed over.
TIES = "uncertainty__ties"
#: Closing the touched set adds the persons tied to it, round after round; families are small.
MAX_ROUNDS = 50
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


def reference_of_the_run(rep: Engine, stored: Callable[[str], str], index: int, end: date) -> Reference:
    """The run's own rules stage as the reference for its own rule settings: it ran the rules over
    everyone with the run's links and left in the store what a reference keeps (its estimates are
    the main run's, not the ablations': events_stage restores them), so running them again would
    give the same tables. Its copies are made from the store's; ``end`` is the run's data end."""
    have = set(rep.table_names())
    return _with_copies(rep, Reference(index, end, tuple(t for t in ESTIMATES if t in have),
                                       tuple(t for t in KEPT if t in have)), stored)


def _with_copies(rep: Engine, reference: Reference, read: Callable[[str], str]) -> Reference:
    """Copy each table the reference keeps (``read`` names where it is read from) under its prefix."""
    for name in reference.estimates + reference.kept:
        materialise(rep, reference.copy_of(name), f"SELECT * FROM {read(name)}")
    return reference


def touched_persons(rep: Engine, job: JobConfig, reference: Reference, relinked: str,
                    links: Callable[[str], str]) -> tuple[int, int]:
    """Materialise ``TOUCHED``: the persons of the SELECT ``relinked`` (those whose linked records
    the replicate changed), closed over the ties of the reference and of the replicate (whose link
    tables ``links`` names). Returns how many were re-linked, and how many with those tied to them."""
    materialise(rep, TOUCHED, f"SELECT DISTINCT person_id FROM ({relinked}) WHERE person_id IS NOT NULL")
    relinked_persons = rep.run(f"SELECT count(*) FROM {TOUCHED}")[0][0]
    return relinked_persons, close_over_ties(rep, job, reference, links)


def close_over_ties(rep: Engine, job: JobConfig, reference: Reference, links: Callable[[str], str]) -> int:
    """Add to ``TOUCHED`` everyone tied to a person in it, and so on until no one is added (the
    claims read from the link tables ``links`` names); return how many it holds."""
    _ties(rep, job, reference, links)
    before = rep.run(f"SELECT count(*) FROM {TOUCHED}")[0][0]
    for _ in range(MAX_ROUNDS):
        materialise(rep, f"{TOUCHED}__grown", f"""
            SELECT person_id FROM {TOUCHED}
            UNION SELECT t.other_id FROM {TIES} AS t JOIN {TOUCHED} AS p ON p.person_id = t.person_id""")
        after = rep.run(f"SELECT count(*) FROM {TOUCHED}__grown")[0][0]
        materialise(rep, TOUCHED, f"SELECT person_id FROM {TOUCHED}__grown")
        if after == before:
            return after
        before = after
    logger.warning("the persons tied to a replicate's re-links still grew after %d rounds: the replicate re-runs "
                   "everyone", MAX_ROUNDS)
    materialise(rep, TOUCHED, "SELECT DISTINCT person_id FROM persons WHERE person_id IS NOT NULL")
    return rep.run(f"SELECT count(*) FROM {TOUCHED}")[0][0]


def _ties(rep: Engine, job: JobConfig, reference: Reference, links: Callable[[str], str]) -> None:
    """``TIES``: claimant and child (the reference's and the replicate's claims, whose link tables
    ``links`` names), duplicates; both ways."""
    pairs = []
    if DEPENDANTS in reference.kept:
        pairs.append(f"SELECT child_person_id AS a, parent_person_id AS b FROM {reference.copy_of(DEPENDANTS)}")
        pairs.append(f"SELECT child_person_id AS a, parent_person_id AS b FROM ({claims_sql(job, links)})")
    if BASE_DUPLICATES in reference.kept:
        pairs.append(f"SELECT person_id AS a, other_id AS b FROM {reference.copy_of(BASE_DUPLICATES)}")
    union = " UNION ALL ".join(pairs) or "SELECT CAST(NULL AS VARCHAR) AS a, CAST(NULL AS VARCHAR) AS b"
    materialise(rep, TIES, f"""
        WITH p AS ({union})
        SELECT DISTINCT a AS person_id, b AS other_id FROM p WHERE a IS NOT NULL AND b IS NOT NULL
        UNION SELECT DISTINCT b, a FROM p WHERE a IS NOT NULL AND b IS NOT NULL""")


def restrict_links(rep: Engine, job: JobConfig, links: Callable[[str], str]) -> None:
    """Each source's link table in ``rep``: the records of the replicate's link table (``links``
    names it: a sampled source's drawn links, the store's table for the others) linked to a
    touched person."""
    for name, _ in job.ordered_sources:
        table = link_table(name)
        materialise(rep, table, f"""
            SELECT l.* FROM {links(table)} AS l JOIN {TOUCHED} AS t ON t.person_id = l.entity_id
            WHERE l.status = 'linked'""")


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
