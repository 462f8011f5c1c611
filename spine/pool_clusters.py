"""Groups of the enlargement pool from its edges: a record too vague to tell people apart may
join one person, never make two people one.

Connected components alone let one vague record bridge people. A record of WEI WANG born
"1 January 1972" (a placeholder: day and month unknown, linkage.birth_dates) agrees, as far as its
date goes, with every Wei Wang born in 1972; in the robustness benchmark's random worlds such
records made up to five seasonal workers one person, and 83% of the pool's false edges had a
placeholder date at one end. So:

1. **Units** are the components of the strong edges: a shared identifier, identical records the
   model holds to be one person, and any edge between two records whose dates of birth are known
   to the day.
2. A unit holding a record whose date is known to the day is **anchored**: it is a person. A
   unit without one (every date a placeholder or missing) joins a person where its most probable
   edges (a key edge counts as certain) all lead to that one person, round by round as units
   join. When no unit can, those linked to a person join the most probable of those persons (a
   child's benefit and school records, linked most strongly to each other), and the rounds go
   on. Where two persons are equally probable, it joins neither.
3. Units that joined no person are grouped by the components of their edges among themselves.

Where every record is dated to the day (no source writes placeholders, none lacks the date) every
edge is strong and the groups are the connected components of all edges, as before. Each group's
id is its smallest record id.
"""

from __future__ import annotations

import itertools
from typing import Any


from linkage._sql import materialise
from spine.engine import Engine

UNITS = "enlarge__units"
ANCHORED = "enlarge__anchored_units"
ATTACHED = "enlarge__attached_units"
WEAK = "enlarge__weak_unit_edges"
LOOSE_UNITS = "enlarge__loose_units"
LOOSE = "enlarge__loose_groups"
#: Edge kinds that are strong whatever the records' dates: one identifier, or identical records.
ALWAYS_STRONG = ("id", "profile")


def strong_sql(pool: str, edges: str) -> str:
    """The edges ``(a, b, kind, probability)`` of ``edges`` with ``strong``, read off ``pool``'s
    ``dob_known_to``."""
    kinds = ", ".join(f"'{k}'" for k in ALWAYS_STRONG)
    return f"""SELECT e.a, e.b, e.kind, e.probability,
                      e.kind IN ({kinds}) OR (pa.dob_known_to = 'day' AND pb.dob_known_to = 'day') AS strong
               FROM {edges} AS e JOIN {pool} AS pa ON pa.pool_id = e.a JOIN {pool} AS pb ON pb.pool_id = e.b"""


def components(db: Engine, out: str, nodes_sql: str, edges_sql: str) -> None:
    """``out(node, component)``: the smallest node each node of ``nodes_sql(node)`` reaches over the
    edges ``edges_sql(x, y)`` (label propagation in SQL)."""
    materialise(db, out, f"SELECT node, node AS component FROM ({nodes_sql})")
    both_ways = out + "__edges"
    materialise(db, both_ways, f"""SELECT DISTINCT x, y FROM (SELECT x, y FROM ({edges_sql})
                                    UNION ALL SELECT y, x FROM ({edges_sql})) WHERE x <> y""")
    while True:
        changed = db.run(f"""
            UPDATE {out} AS g SET component = m.component FROM (
                SELECT e.x AS node, min(o.component) AS component
                FROM {both_ways} AS e JOIN {out} AS o ON o.node = e.y GROUP BY e.x) AS m
            WHERE g.node = m.node AND m.component < g.component""")[0][0]
        if not changed:
            break
    db.run(f"DROP TABLE {both_ways}")


def person_groups(db: Engine, pool: str, edges: str, out: str) -> dict[str, Any]:
    """``out(pool_id, group_id)`` for every record of ``pool`` from ``edges`` (a, b, kind,
    probability, strong); returns what the vague records did."""
    components(db, UNITS, f"SELECT pool_id AS node FROM {pool}", f"SELECT a AS x, b AS y FROM {edges} WHERE strong")
    materialise(db, ANCHORED, f"""SELECT DISTINCT u.component AS unit FROM {UNITS} AS u
                                   JOIN {pool} AS p ON p.pool_id = u.node WHERE p.dob_known_to = 'day'""")
    # Each unanchored unit joins the person it links to most probably: where all of its most
    # probable edges lead to one person already made (anchored, or joined in an earlier round).
    # When no unit can, the units that link to a made person join the most probable of those
    # (a benefit record and a school record of one child, linked most strongly to each other).
    materialise(db, WEAK, f"""
        SELECT ua.component AS u, ub.component AS v, max(coalesce(e.probability, 1.0)) AS probability
        FROM (SELECT a AS x, b AS y, probability FROM {edges} WHERE NOT strong
              UNION ALL SELECT b, a, probability FROM {edges} WHERE NOT strong) AS e
        JOIN {UNITS} AS ua ON ua.node = e.x JOIN {UNITS} AS ub ON ub.node = e.y
        WHERE ua.component <> ub.component GROUP BY ALL""")
    materialise(db, ATTACHED, f"SELECT unit AS u, unit AS v, 0 AS round FROM {ANCHORED}")
    most_probable = f"""
        INSERT INTO {ATTACHED}
        SELECT u, min(person), {{round}} FROM (
            SELECT w.u, a.v AS person, w.probability, max(w.probability) OVER (PARTITION BY w.u) AS best
            FROM {WEAK} AS w LEFT JOIN {ATTACHED} AS a ON a.u = w.v
            WHERE w.u NOT IN (SELECT u FROM {ATTACHED}))
        WHERE probability = best GROUP BY u HAVING count(person) = count(*) AND count(DISTINCT person) = 1"""
    most_probable_made = f"""
        INSERT INTO {ATTACHED}
        SELECT u, person, {{round}} FROM (
            SELECT u, person, probability, max(probability) OVER (PARTITION BY u) AS best,
                   count(*) OVER (PARTITION BY u, probability) AS sharing
            FROM (SELECT w.u, a.v AS person, max(w.probability) AS probability
                  FROM {WEAK} AS w JOIN {ATTACHED} AS a ON a.u = w.v
                  WHERE w.u NOT IN (SELECT u FROM {ATTACHED}) GROUP BY ALL))
        WHERE probability = best AND sharing = 1"""
    for round_ in itertools.count(1):
        joined = db.run(most_probable.format(round=round_))[0][0]
        if not joined:
            joined = db.run(most_probable_made.format(round=round_))[0][0]
        if not joined:
            break
    materialise(db, LOOSE_UNITS, f"""SELECT DISTINCT component AS node FROM {UNITS}
                                      WHERE component NOT IN (SELECT u FROM {ATTACHED})""")
    components(db, LOOSE, f"SELECT node FROM {LOOSE_UNITS}", f"""
        SELECT w.u AS x, w.v AS y FROM {WEAK} AS w
        JOIN {LOOSE_UNITS} AS lu ON lu.node = w.u JOIN {LOOSE_UNITS} AS lv ON lv.node = w.v""")
    materialise(db, out, f"""
        SELECT node AS pool_id, min(node) OVER (PARTITION BY provisional) AS group_id FROM (
            SELECT u.node, coalesce(a.v, l.component, u.component) AS provisional
            FROM {UNITS} AS u LEFT JOIN {ATTACHED} AS a ON a.u = u.component
            LEFT JOIN {LOOSE} AS l ON l.node = u.component)""")
    units, anchored, attached, rounds_of, grouped, groups, alone = db.run(f"""
        SELECT (SELECT count(DISTINCT component) FROM {UNITS}), (SELECT count(*) FROM {ANCHORED}),
               (SELECT count(*) FROM {ATTACHED} WHERE round > 0), (SELECT max(round) FROM {ATTACHED}),
               (SELECT count(*) FILTER (WHERE n > 1) FROM (SELECT count(*) OVER (PARTITION BY component) AS n FROM {LOOSE})),
               (SELECT count(DISTINCT component) FILTER (WHERE n > 1) FROM
                   (SELECT component, count(*) OVER (PARTITION BY component) AS n FROM {LOOSE})),
               (SELECT count(*) FILTER (WHERE n = 1) FROM (SELECT count(*) OVER (PARTITION BY component) AS n FROM {LOOSE}))
        """)[0]
    return {"units": int(units), "anchored_units": int(anchored),
            "vague_units_joined_to_a_person": int(attached), "rounds_of_joining": int(rounds_of or 0),
            "vague_units_grouped_among_themselves": int(grouped), "groups_of_vague_units": int(groups),
            "vague_units_alone": int(alone)}
