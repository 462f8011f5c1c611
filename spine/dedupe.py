"""People registered twice in the base register, found before anything links to it.

A register holds some people under two record ids (a re-registration under a new number, a
typo in a name at a second registration). Left alone, each admin record of such a person ties
between two spine persons and stays unlinked. Strict match-keys (names or their nickname,
phonetic or initial form, date of birth, sex and postcode) find the pairs; a key value shared by more
than two records is a common value, not one person, and is never used. The pairs are reported
in quality.json as pseudonymous person ids; ``action: merge`` (the default) makes each pair one
person (each group of pairs that chain, Bill–William on the nickname and William–Wiliam
phonetically, one person: the person of its first record in id order), as Norway reconciles two
numbers given to one person. Two registrations of one person are one life: a returning emigrant
registered anew under a new number shows the departure and the return only on one timeline (in the
robustness benchmark's worlds where a third or more of returners are: event F1 +0.007 to +0.014,
BENCHMARKS.md).
Only pairs whose first names agree (exactly, as nicknames or phonetically) at one postcode are
merged by default; a pair found on the first initial alone, or on a register without postcodes,
is reported and kept as two persons in every respect (same-sex twins at one address share all but
the first name; namesakes born the same day are common in a national register): with ``action:
report`` the rules read a pair's activity as one person's (rules.signs_of_life), with ``merge`` a
pair kept apart is two people.

A merge outlives its key: the keys hold the postcode, so when one of the two registrations moves
house the pair is no longer found. With ``action: merge`` a rerun (spine.history) keeps the merges
of the previous run whose records are still in the register (pairs ``previous_run``): a person's id
does not change because an address did.
"""

from __future__ import annotations

from typing import Any


from linkage import MatchKey, dedupe_on_match_keys
from linkage._sql import materialise, quote_ident, sql_in_list, sql_literal
from spine.config import JobConfig
from spine.engine import Engine
from spine.history import PREVIOUS_LINKS, ensure_history_tables
from spine.pool_clusters import components

#: Strict keys only: a wrong merge in the register is worse than a missed one. Every key holds the
#: postcode: on the 20k synthetic universe names + dob + sex alone paired 8 namesakes and no
#: duplicate (see BENCHMARKS.md). Registers without postcodes fall back to the name keys below.
DEFAULT_BASE_KEYS = (
    MatchKey("full", ("first_name", "surname", "dob", "sex", "postcode")),
    MatchKey("nickname_dob_sex_postcode", ("first_name_canonical", "surname", "dob", "sex", "postcode")),
    MatchKey("phonetic_names_dob_sex_postcode", ("first_name_metaphone", "surname_nysiis", "dob", "sex", "postcode")),
    MatchKey("initial_surname_dob_sex_postcode", ("first_initial", "surname", "dob", "sex", "postcode")),
)
NO_POSTCODE_KEYS = (
    MatchKey("name_dob_sex", ("first_name", "surname", "dob", "sex")),
    MatchKey("nickname_dob_sex", ("first_name_canonical", "surname", "dob", "sex")),
)
#: The default keys whose pairs ``action: merge`` merges: the first names agree at one postcode.
#: (A job's own keys are all merged: it chose them.)
MERGED_DEFAULT_KEYS = ("full", "nickname_dob_sex_postcode", "phonetic_names_dob_sex_postcode")
BASE_PAIRS = "spine__base_duplicates"
REPORTED_PAIRS = 100
#: Each record of a merged pair and the first record of its group (working table, dropped after use).
GROUPS = "spine__base_duplicate_groups"
#: The key name of the pairs the previous run merged (carried over with ``action: merge``).
PREVIOUS_RUN_KEY = "previous_run"


def deduplicate_base(db: Engine, job: JobConfig, base_links: str, features: str) -> dict[str, Any]:
    """Find duplicate pairs in the base register; merge them if configured; return the report."""
    config = job.base_deduplication
    if config.method == "none":
        return {"method": "none"}
    available = job.sources[job.base].maps
    defaults = DEFAULT_BASE_KEYS if available("postcode") else NO_POSTCODE_KEYS
    keys = ([MatchKey(k.name, tuple(k.fields)) for k in config.keys] if config.keys
            else [k for k in defaults if all(available(f) for f in k.fields)])
    if not keys:
        return {"method": config.method, "skipped": "the base register maps too few fields for a strict key"}
    dedupe_on_match_keys(db, features, keys, BASE_PAIRS, max_group=2)
    carried = _carry_previous_merges(db, job.base, base_links) if config.action == "merge" else 0
    rows = _person_pairs(db, base_links)
    by_key: dict[str, int] = {}
    for key, _, _ in rows:
        by_key[key] = by_key.get(key, 0) + 1
    report = {"method": config.method, "action": config.action, "pairs": len(rows), "pairs_per_key": by_key}
    if config.action == "merge" and rows:
        merged_keys = [k.name for k in keys] if config.keys else [k for k in MERGED_DEFAULT_KEYS if k in by_key]
        merged_keys += [PREVIOUS_RUN_KEY] if carried else []
        report["persons_merged"] = _merge(db, base_links, merged_keys) if merged_keys else 0
        report["pairs_not_merged"] = {k: n for k, n in by_key.items() if k not in merged_keys}
        rows = _person_pairs(db, base_links)   # the pairs kept apart: both persons exist
    report["person_pairs"] = [[a, b] for _, a, b in rows[:REPORTED_PAIRS]]
    if config.action == "merge":
        report["pairs_from_the_previous_run"] = carried
    return report


def _carry_previous_merges(db: Engine, base: str, base_links: str) -> int:
    """Add to ``BASE_PAIRS`` (as ``PREVIOUS_RUN_KEY``) each pair of base records the previous run
    made one person that no key found this time, both still linked in ``base_links``: each record
    with the group's first. Return how many."""
    ensure_history_tables(db)   # a spine built outside a job's run has no previous run
    links = quote_ident(base_links)
    materialise(db, BASE_PAIRS, f"""   -- rewritten in place
        WITH now AS (SELECT record_id FROM {links} WHERE status = 'linked'),
        before AS (
            SELECT p.record_id, p.person_id FROM {PREVIOUS_LINKS} AS p JOIN now USING (record_id)
            WHERE p.source = {sql_literal(base)} AND p.status = 'linked'),
        groups AS (SELECT person_id, min(record_id) AS first_id FROM before GROUP BY 1 HAVING count(*) > 1)
        SELECT left_id, right_id, matched_on, key_rank FROM {BASE_PAIRS}
        UNION ALL
        SELECT g.first_id, b.record_id, {sql_literal(PREVIOUS_RUN_KEY)}, {len(DEFAULT_BASE_KEYS) + 100}
        FROM groups AS g JOIN before AS b USING (person_id)
        WHERE b.record_id <> g.first_id
          AND NOT EXISTS (SELECT 1 FROM {BASE_PAIRS} AS f WHERE f.left_id = g.first_id AND f.right_id = b.record_id)""")
    return int(db.run(f"SELECT count(*) FROM {BASE_PAIRS} WHERE matched_on = {sql_literal(PREVIOUS_RUN_KEY)}")[0][0])


def _person_pairs(db: Engine, base_links: str) -> list[tuple[str, str, str]]:
    """The pairs found whose records are two persons: (key, person, other person), in id order."""
    return db.run(f"""
        SELECT p.matched_on, a.entity_id, b.entity_id FROM {BASE_PAIRS} AS p
        JOIN {quote_ident(base_links)} AS a ON a.record_id = p.left_id
        JOIN {quote_ident(base_links)} AS b ON b.record_id = p.right_id
        WHERE a.entity_id <> b.entity_id ORDER BY a.entity_id, b.entity_id""")


def _merge(db: Engine, base_links: str, keys: list[str]) -> int:
    """Make each group of records joined by pairs found on ``keys`` one person, the person of its
    first record in id order (pairs chain: A–B on one key, B–C on another); return the records moved."""
    links = quote_ident(base_links)
    pairs = f"SELECT left_id, right_id FROM {BASE_PAIRS} WHERE matched_on IN ({sql_in_list(keys)})"
    components(db, GROUPS, f"SELECT left_id AS node FROM ({pairs}) UNION SELECT right_id FROM ({pairs})",
               f"SELECT left_id AS x, right_id AS y FROM ({pairs})")
    materialise(db, base_links, f"""   -- rewritten in place
        SELECT l.record_id, coalesce(f.entity_id, l.entity_id) AS entity_id, l.status, l.method, l.matched_on,
               l.match_probability, l.match_weight,
               CASE WHEN f.entity_id <> l.entity_id THEN 'merged_duplicate' ELSE l.reason END AS reason
        FROM {links} AS l LEFT JOIN {GROUPS} AS g ON g.node = l.record_id
        LEFT JOIN {links} AS f ON f.record_id = g.component""")
    db.run(f"DROP TABLE {GROUPS}")
    n = db.run(f"SELECT count(*) FROM {links} WHERE reason = 'merged_duplicate'")[0][0]
    return int(n)
