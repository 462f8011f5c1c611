"""Persons tied to each other through the rules, and a set of persons closed over those ties.

The rules make one person's events from another's records (a child follows the claimant whose claim
holds them; a base-register duplicate's activity counts as the person's). Re-running the rules for a
few persons (an uncertainty replicate's re-links, a rule's ablation) must re-run everyone tied to
them too; both grow their sets here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from linkage._sql import materialise
from spine.engine import Engine

logger = logging.getLogger(__name__)

#: Closing a set adds the persons tied to it, round after round; families are small.
MAX_ROUNDS = 50


def both_ways(db: Engine, name: str, pairs: list[str], keys: str = "") -> None:
    """Materialise ``name``: the distinct pairs of the SELECTs ``pairs`` (columns ``keys`` then
    ``a, b``) in both directions, as ``person_id, other_id``. The pairs are materialised first:
    with ``a <> b`` pushed into their joins, DuckDB has joined on that inequality alone."""
    materialise(db, f"{name}__pairs", " UNION ALL ".join(pairs))
    materialise(db, name, f"""
        SELECT DISTINCT {keys}a AS person_id, b AS other_id FROM {name}__pairs
        WHERE a IS NOT NULL AND b IS NOT NULL AND a <> b
        UNION SELECT DISTINCT {keys}b, a FROM {name}__pairs WHERE a IS NOT NULL AND b IS NOT NULL AND a <> b""")
    db.run(f"DROP TABLE {name}__pairs")


def close_over(db: Engine, persons: str, key: str, ties: str, keyed_ties: Iterable[str] = (), *,
               everyone: str, what: str) -> None:
    """Add to each ``key``'s persons in table ``persons`` (``key, person_id``) everyone tied to one
    of them, and so on until no one is added. ``ties`` (``person_id, other_id``) hold for every key,
    ``keyed_ties`` (``key, person_id, other_id``) for their own key. After ``MAX_ROUNDS`` each key
    gets every person of the SELECT ``everyone`` (``person_id``), with a warning naming ``what``."""
    grown = [f"SELECT p.{key}, t.other_id FROM {ties} AS t JOIN {persons} AS p ON p.person_id = t.person_id"]
    grown += [f"SELECT p.{key}, t.other_id FROM {table} AS t "
              f"JOIN {persons} AS p ON p.{key} = t.{key} AND p.person_id = t.person_id" for table in keyed_ties]
    before = db.run(f"SELECT count(*) FROM {persons}")[0][0]
    for _ in range(MAX_ROUNDS):
        materialise(db, f"{persons}__grown", f"SELECT {key}, person_id FROM {persons} UNION " + " UNION ".join(grown))
        after = db.run(f"SELECT count(*) FROM {persons}__grown")[0][0]
        materialise(db, persons, f"SELECT {key}, person_id FROM {persons}__grown")
        if after == before:
            return
        before = after
    logger.warning("the persons tied to %s still grew after %d rounds: everyone is re-run", what, MAX_ROUNDS)
    materialise(db, persons, f"""
        SELECT k.{key}, p.person_id FROM (SELECT DISTINCT {key} FROM {persons}) AS k
        CROSS JOIN (SELECT DISTINCT person_id FROM ({everyone}) AS e WHERE person_id IS NOT NULL) AS p""")
