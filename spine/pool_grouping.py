"""Which unmatched records of the enlargement pool are one person: keys as a floor, then Fellegi–Sunter.

The pool mixes sources that hold different fields (tax without sex, claims without nationality,
crossings with a passport), so nothing here may need a field a record lacks:

- **Key edges** (the floor). Records sharing a passport or national id are one person. Name keys
  (names or their nickname, initial or phonetic forms, and the date of birth) join the records
  that agree on them; sex is *compatible*, not required: a record without sex joins a key group
  whose records with sex all say the same, and where they disagree (a brother and a sister with
  the same initial) the key splits by sex and the record without it joins nothing on that key.
  A name-key group of more than ``MAX_KEY_GROUP`` records is a common value, not one person: it
  joins nothing on that key and is reported (key and size, never its values).
- **Probabilistic edges.** The pool's distinct identity profiles (the compared fields of a
  record: a frequent traveller's hundred crossings are one profile) are deduplicated with a
  Splink model: comparisons on the fields the pool fills (a missing value is Splink's null level,
  neutral, never a disagreement), u from random profile pairs, m started from what the source
  linkage models learnt on linked records and refined by EM on the pool. Profile pairs at or above
  ``enlargement.match_probability`` join.

Groups are made of both kinds of edge by spine.pool_clusters, where a record whose date of birth
is a placeholder (linkage.birth_dates) may join one person but never make two people one.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


from linkage import ComparisonSpec, ProbabilisticModel, default_comparison, score_pairs
from linkage._sql import fill_rates, materialise, quote_ident, sql_literal
from linkage.blocking import (DEFAULT_BLOCKING_RULES, DEFAULT_TRAINING_RULES, NAME_RULE, TIGHTENING_FIELDS,
                              YEAR_TYPO_RULE, tightening_order)
from spine.config import DERIVED_FEATURES
from spine.engine import Engine
from spine.linking import ID_FIELDS_COMPARED


KEY_GROUPS = "enlarge__key_groups"
PROFILES = "enlarge__profiles"
PROFILE_PAIRS = "enlarge__profile_pairs"
PROFILE_OF = "enlarge__profile_of"
FIRST_OF_PROFILE = "enlarge__first_of_profile"
PROFILE_SELF = "enlarge__profile_self_match"
#: A name-key group larger than this is a common name and date of birth, not one person.
MAX_KEY_GROUP = 50
#: Name keys: each must agree in full; sex is compatible (see the module docstring).
NAME_KEYS = (("first_name", "surname", "dob"),
             ("first_name_canonical", "surname", "dob"),    # BILL / WILLIAM
             ("first_initial", "surname", "dob"),           # a typo in the first name
             ("first_name_canonical", "surname_metaphone", "dob"),   # in the surname: SOTO/STOO
             ("first_name_metaphone", "surname_nysiis", "dob"),      # transliterations: WEI/WAY
             ("first_name_canonical", "surname", "dob_unordered"))   # day and month swapped
ID_KEYS = ("passport_no", "national_id")
#: The first keys of NAME_KEYS: names exact or nickname-resolved.
STRICT_NAME_KEYS = 2
#: Fields a profile is made of and the model may compare (each used where the pool fills it).
PROFILE_FIELDS = ("first_name", "surname", "dob", "sex", "nationality", "country_of_birth", "postcode",
                  "passport_no", "national_id")
#: Derived columns the comparisons and blocking rules read (functions of the profile fields).
PROFILE_FEATURES = ("first_name_canonical", "first_name_metaphone", "surname_nysiis", "surname_soundex",
                    "name_tokens", "birth_year")
#: The linkage defaults with the name rule whole (the pool is the few records left unlinked: its namesakes
#: born in other years cost little), and the identifiers.
BLOCKING_RULES = (*(NAME_RULE if r == YEAR_TYPO_RULE else r for r in DEFAULT_BLOCKING_RULES),
                  *((f,) for f in ID_FIELDS_COMPARED))
TRAINING_RULES = DEFAULT_TRAINING_RULES
#: Below this many distinct profiles (about 125,000 pairs) the pool model is not fitted: u of a
#: rare level and the prior cannot be estimated from so few pairs. The full key cascade is used.
MIN_PROFILES = 500


def key_edges(db: Engine, pool: str, *, strict: bool = False) -> tuple[str, dict[str, Any]]:
    """SQL of the key edges ``(a, b, kind, probability)`` between pool ids (kind ``id`` or ``name``,
    no probability), and the oversized key groups left out.

    ``strict``: only identifiers and the keys of exact or nickname-resolved names with a date of
    birth known to the day (the floor under a model, which weighs the looser agreements itself).
    """
    # An identifier is one person's however many records carry it (a frequent traveller).
    by_id = [f"""SELECT pool_id AS a, min(pool_id) OVER (PARTITION BY {key}) AS b, 'id' AS kind,
                        CAST(NULL AS DOUBLE) AS probability
                 FROM {pool} WHERE {key} IS NOT NULL""" for key in ID_KEYS]
    by_name = []
    for key in NAME_KEYS[:STRICT_NAME_KEYS] if strict else NAME_KEYS:
        cols = ", ".join(quote_ident(c) for c in key)
        complete = " AND ".join(f"{quote_ident(c)} IS NOT NULL" for c in key)
        if strict:   # a placeholder date is the model's to weigh (spine.pool_clusters)
            complete += " AND dob_known_to = 'day'"
        # '' where the group's sexes agree (all of it joins); the record's own sex where they
        # disagree (NULL then: joins nothing on this key).
        keyed = f"""SELECT pool_id, dob_known_to, {cols},
                           CASE WHEN min(sex) OVER k IS DISTINCT FROM max(sex) OVER k THEN sex ELSE '' END AS sex_key
                    FROM {pool} WHERE {complete} WINDOW k AS (PARTITION BY {cols})"""
        # Each record is joined to one of the group (a star); a record dated to the day where the
        # group has one, so the dated records' edges are strong (spine.pool_clusters).
        by_name.append(f"""SELECT {sql_literal(' + '.join(key))} AS key, pool_id,
                                  first_value(pool_id) OVER (g ORDER BY dob_known_to IS DISTINCT FROM 'day', pool_id) AS b,
                                  count(*) OVER g AS n
                           FROM ({keyed}) WHERE sex_key IS NOT NULL WINDOW g AS (PARTITION BY {cols}, sex_key)""")
    materialise(db, KEY_GROUPS, " UNION ALL ".join(by_name))
    oversized = {key: {"groups": int(groups), "records": int(records), "largest": int(largest)}
                 for key, groups, records, largest in db.run(f"""
                     SELECT key, count(DISTINCT b), count(*), max(n) FROM {KEY_GROUPS}
                     WHERE n > {MAX_KEY_GROUP} GROUP BY key ORDER BY key""")}
    edges = [*by_id, f"""SELECT pool_id AS a, b, 'name' AS kind, CAST(NULL AS DOUBLE) AS probability
                         FROM {KEY_GROUPS} WHERE n <= {MAX_KEY_GROUP}"""]
    return " UNION ALL ".join(edges), {"max_key_group": MAX_KEY_GROUP, "oversized_key_groups": oversized}


def probabilistic_edges(db: Engine, pool: str, *, threshold: float,
                        starting_m: dict[str, list[dict[str, Any]]]) -> tuple[str | None, dict[str, Any]]:
    """SQL of the edges ``(a, b, kind, probability)`` Splink finds between pool records (kind
    ``model``, or ``profile`` between identical records), and what it measured.

    ``starting_m``: per compared column, the levels (label, m) a linkage model learnt; each level
    of the same label starts EM there (the mean over the models that have it).
    """
    fills = fill_rates(db, pool, PROFILE_FIELDS)
    fields = [c for c in PROFILE_FIELDS if fills[c] > 0]
    if not {"first_name", "surname", "dob"} <= set(fields):
        return None, {"used": False, "why": "the pool has no names and date of birth to compare", "fill_rates": fills}
    profile_id = "md5(concat_ws(chr(31), " + ", ".join(
        f"coalesce(CAST({quote_ident(c)} AS VARCHAR), chr(0))" for c in fields) + "))"
    materialise(db, PROFILE_OF, f"SELECT pool_id, {profile_id} AS profile_id FROM {pool}")
    materialise(db, PROFILES, f"""
        SELECT o.profile_id AS record_id,
               {', '.join(f'any_value(p.{quote_ident(c)}) AS {quote_ident(c)}' for c in (*fields, *PROFILE_FEATURES))},
               count(*) AS records
        FROM {pool} AS p JOIN {PROFILE_OF} AS o USING (pool_id) GROUP BY o.profile_id""")
    n_profiles = db.run(f"SELECT count(*) FROM {PROFILES}")[0][0]
    # A date of birth shared by many (1 January for people whose day is unknown) says less.
    comparisons = tuple(dataclasses.replace(default_comparison(c), term_frequency=True) if c == "dob"
                        else default_comparison(c) for c in fields)
    comparisons = tuple(s if all(c in (*fields, *PROFILE_FEATURES) for c in s.columns)
                        else ComparisonSpec(s.column, s.kind, s.term_frequency) for s in comparisons)
    blocking = tuple(r for r in BLOCKING_RULES if all(c in (*fields, *PROFILE_FEATURES) for c in r))
    available = (*fields, *PROFILE_FEATURES)
    pair_fill = {c: min(fills[f] for f in DERIVED_FEATURES.get(c, (c,))) ** 2
                 for c in TIGHTENING_FIELDS if c in available}
    model = ProbabilisticModel(comparisons=comparisons, blocking_rules=blocking, training_rules=TRAINING_RULES,
                               starting_m=_starting_m(comparisons, starting_m), fix_starting_m=True,
                               tighten_with=tightening_order(pair_fill))
    if n_profiles < MIN_PROFILES:
        return None, {"used": False, "fill_rates": fills, "profiles": int(n_profiles),
                      "why": f"{n_profiles} distinct profiles, fewer than {MIN_PROFILES}: too few pairs to "
                             "estimate u and the prior; the full key cascade groups the pool"}
    scored = score_pairs(db, PROFILES, None, model, PROFILE_PAIRS)
    linked = db.run(f"SELECT count(*) FROM {PROFILE_PAIRS} WHERE match_probability >= {threshold!r}")[0][0]
    # A profile's edges are drawn from one of its records: one dated to the day where it has one
    # (sources reading 1 January differently can share a profile; spine.pool_clusters).
    materialise(db, FIRST_OF_PROFILE, f"""
        SELECT o.profile_id, coalesce(min(o.pool_id) FILTER (WHERE p.dob_known_to = 'day'), min(o.pool_id)) AS pool_id
        FROM {PROFILE_OF} AS o JOIN {pool} AS p USING (pool_id) GROUP BY 1""")
    materialise(db, PROFILE_SELF, _self_match_sql(comparisons, scored.parameters,
                                                   scored.probability_two_random_records_match))
    one_person, too_common = db.run(f"""
        SELECT count(*) FILTER (match_probability >= {threshold!r}), count(*) FILTER (match_probability < {threshold!r})
        FROM {PROFILE_SELF} WHERE records > 1""")[0]
    edges = f"""
        SELECT a.pool_id AS a, b.pool_id AS b, 'model' AS kind, p.match_probability AS probability
        FROM {PROFILE_PAIRS} AS p
        JOIN {FIRST_OF_PROFILE} AS a ON a.profile_id = p.left_id
        JOIN {FIRST_OF_PROFILE} AS b ON b.profile_id = p.right_id
        WHERE p.match_probability >= {threshold!r}
        UNION ALL   -- the records of a profile identifying enough to be one person
        SELECT o.pool_id, min(o.pool_id) OVER (PARTITION BY o.profile_id), 'profile', s.match_probability
        FROM {PROFILE_OF} AS o
        JOIN {PROFILE_SELF} AS s ON s.record_id = o.profile_id WHERE s.match_probability >= {threshold!r}"""
    return edges, {"used": True, "fill_rates": fills, "compared": [s.column for s in comparisons],
                   "blocking_rules": [r["rule"] for r in scored.pairs_per_rule if r["rule"] is not None],
                   "pairs_per_blocking_rule": scored.pairs_per_rule, "profiles": int(n_profiles),
                   "pairs_scored": sum(r["pairs"] for r in scored.pairs_per_rule if r["rule"] is not None),
                   "profile_pairs_joined": int(linked), "threshold": threshold,
                   "profiles_of_several_records_one_person": int(one_person),
                   "profiles_of_several_records_too_common": int(too_common),
                   "probability_two_random_records_match": scored.probability_two_random_records_match,
                   "seconds": round(scored.seconds.get("total", 0.0), 2)}


def _starting_m(comparisons: tuple[ComparisonSpec, ...],
                learnt: dict[str, list[dict[str, Any]]]) -> tuple[tuple[str, tuple[tuple[str, float], ...]], ...]:
    """(column, ((level label, m), ...)) for the compared columns some linkage model learnt."""
    out = []
    for spec in comparisons:
        levels = learnt.get(spec.column)
        if levels:
            out.append((spec.column, tuple((lv["level"], float(lv["m"])) for lv in levels
                                           if lv.get("m") is not None)))
    return tuple(out)


def _self_match_sql(comparisons: tuple[ComparisonSpec, ...], parameters: dict[str, Any], lam: float) -> str:
    """Each profile's match probability with an identical record: are two records that agree on
    every field the profile holds one person?

    The Fellegi–Sunter weight of full agreement, as the model scores it: the prior plus, for every
    field the profile fills, log2(m / u) of the exact level, u being the value's frequency among
    profiles for term-frequency comparisons (a common name says less). JOHN SMITH born 1970 with
    no day of birth can be two people; a full name, date of birth and nationality rarely are.
    """
    levels = {c["output_column_name"]: next((lv for lv in c["comparison_levels"]
                                             if lv.get("label_for_charts") == "exact match"), None)
              for c in parameters.get("comparisons", [])}
    lam = min(max(lam, 1e-12), 1 - 1e-12)
    terms = [f"{math.log2(lam / (1 - lam))!r}"]
    joins = []
    for spec in comparisons:
        level = levels.get(spec.column)
        if not level or not level.get("m_probability") or not level.get("u_probability"):
            continue
        c = quote_ident(spec.column)
        m, u = float(level["m_probability"]), float(level["u_probability"])
        if spec.term_frequency:
            alias = f"tf_{len(joins)}"
            joins.append(f"""LEFT JOIN (SELECT {c} AS value, count(*) / sum(count(*)) OVER () AS tf
                                       FROM {PROFILES} WHERE {c} IS NOT NULL GROUP BY 1) AS {alias}
                             ON {alias}.value = p.{c}""")
            u_sql = f"greatest({alias}.tf, 1e-9)"
        else:
            u_sql = repr(u)
        terms.append(f"CASE WHEN p.{c} IS NULL THEN 0 ELSE log2({m!r} / {u_sql}) END")
    weight = " + ".join(terms)
    return f"""SELECT p.record_id, p.records, {weight} AS match_weight,
                      1 / (1 + pow(2, -({weight}))) AS match_probability
               FROM {PROFILES} AS p {' '.join(joins)}"""
