"""Each rule's ablation re-run only for the persons the rule changed.

quality.json ``rules.<rule>.events_without`` counts the events derived with every rule but one.
The visa rules and the itinerary repair change what the later steps (signs of life, the repair
after imputation, the events) make of a person only through that person's movements, presence and
visitor status, and through the persons tied to them (a claimant and the children on their claims,
a base-register duplicate). So the later steps run again without the rule only for the persons
whose movements, presence or visitor status differ where the rule acted, closed over those ties;
everyone else's events without the rule are their events in the run.

The estimates over everyone (``rules._sql.ESTIMATES``: rates, lags, the silence model) are held at
the run's: an ablation measures what the rule did to the persons it changed, other things as they
were in the run. (Each ablation used to estimate again and run the later steps over everyone: at
a million persons the rules stage took 169.7 s with them, 109.0 s now.) The re-run has a namespace
of its own (``Engine.shadowing``), so its working tables never replace the run's: the candidates
and chances the store keeps explain the run's imputations, not an ablation's.
"""

from __future__ import annotations

from collections.abc import Iterable

from linkage._sql import materialise, quote_ident, sql_literal
from rules._sql import columns_of, pinned_estimates
from rules.pipeline import MovementRules, RuleSettings, RuleTables
from spine.engine import Engine
from spine.ties import both_ways, close_over

#: ``ablation, person_id``: who each ablation re-runs.
ABLATION_PERSONS = "rules__ablation_persons"
#: ``person_id, other_id``: the ties the persons are closed over (both ways).
ABLATION_TIES = "rules__ablation_ties"
#: The re-run's presence (in its own namespace).
ABLATION_PRESENCE = "rules__ablation_presence"
ABLATION_NAMESPACE = "rules_ablation"
#: Re-run every person instead (what re-running the changed persons must equal: the tests compare).
RERUN_EVERYONE = False


def start(db: Engine) -> None:
    """An empty ``ABLATION_PERSONS``."""
    db.run(f"CREATE OR REPLACE TABLE {ABLATION_PERSONS} (ablation VARCHAR, person_id VARCHAR)")


def note_changed(db: Engine, ablation: str, pairs: Iterable[tuple[str, str]], also: Iterable[str] = ()) -> None:
    """Add to ``ablation``'s persons those whose rows differ between the two tables of a pair (same
    columns; compared by each person's count and sum of row hashes: one pass over each, where
    ``EXCEPT ALL`` took ten times as long at a million persons), and those in the tables ``also``
    (a ``person_id`` column)."""
    parts = []
    for a, b in pairs:
        row = ", ".join(quote_ident(c) for c in columns_of(db, a) if c != "person_id")
        signature = "SELECT person_id, count(*) AS n, sum(hash({row})) AS h FROM {table} GROUP BY person_id"
        parts.append(f"""
            SELECT coalesce(x.person_id, y.person_id) AS person_id
            FROM ({signature.format(row=row, table=quote_ident(a))}) AS x
            FULL JOIN ({signature.format(row=row, table=quote_ident(b))}) AS y ON y.person_id = x.person_id
            WHERE x.n IS DISTINCT FROM y.n OR x.h IS DISTINCT FROM y.h""")
    parts += [f"SELECT person_id FROM {quote_ident(t)}" for t in also]
    db.run(f"INSERT INTO {ABLATION_PERSONS} SELECT DISTINCT {sql_literal(ablation)}, person_id "
           f"FROM ({' UNION ALL '.join(parts)}) AS p WHERE person_id IS NOT NULL")


def close_over_ties(db: Engine, dependants: str | None, duplicates: str | None, everyone: str) -> dict[str, int]:
    """Add to each ablation's persons everyone tied to one of them (spine.ties; after its last
    round, everyone in ``everyone``); return each ablation's count."""
    pairs = ["SELECT CAST(NULL AS VARCHAR) AS a, CAST(NULL AS VARCHAR) AS b"]
    if dependants:
        pairs.append(f"SELECT child_person_id AS a, parent_person_id AS b FROM {quote_ident(dependants)}")
    if duplicates:
        pairs.append(f"SELECT person_id AS a, other_id AS b FROM {quote_ident(duplicates)}")
    both_ways(db, ABLATION_TIES, pairs)
    close_over(db, ABLATION_PERSONS, "ablation", ABLATION_TIES,
               everyone=f"SELECT person_id FROM {quote_ident(everyone)}", what="those a rule changed")
    return dict(db.run(f"SELECT ablation, count(*) FROM {ABLATION_PERSONS} GROUP BY 1 ORDER BY 1"))


def events_without(db: Engine, settings: RuleSettings, tables: RuleTables, ablation: str, estimates: Iterable[str], *,
                   movements: str, presence: str, output: str, repair: bool, with_visitors: bool = True) -> None:
    """Materialise ``output``: the events without a rule, from ``movements`` (everyone's, as they
    were where the rule acted) and ``presence``: the later steps re-run for ``ablation``'s persons
    (the repair first and after imputation where ``repair``), the run's ``events`` for the others.
    The run's ``estimates`` are pinned."""
    mine = f"(SELECT person_id FROM {ABLATION_PERSONS} WHERE ablation = {sql_literal(ablation)})"
    only_mine = "" if RERUN_EVERYONE else f" WHERE person_id IN {mine}"
    with db.shadowing(ABLATION_NAMESPACE) as (rep, stored), pinned_estimates(rep, estimates):
        materialise(rep, movements, f"SELECT * FROM {stored(movements)}{only_mine}")
        materialise(rep, ABLATION_PRESENCE, f"SELECT * FROM {stored(presence)}{only_mine}")
        pipeline = MovementRules(rep, settings, tables)
        if repair:
            pipeline.repair(movements, ABLATION_PRESENCE)
        pipeline.impute(movements, ABLATION_PRESENCE)
        if repair:
            pipeline.repair_after_imputation(movements, ABLATION_PRESENCE)
        pipeline.derive(output, movements, ABLATION_PRESENCE, with_visitors=with_visitors)
        rerun = rep.frame(f"SELECT * FROM {quote_ident(output)}{only_mine}")   # a few persons' events: small
    others = "WHERE FALSE" if RERUN_EVERYONE else f"WHERE person_id NOT IN {mine}"
    materialise(db, output, f"SELECT * FROM events {others}")
    with db.registered("rules__ablation_rerun", rerun) as view:
        db.run(f"INSERT INTO {quote_ident(output)} BY NAME SELECT * FROM {view}")
