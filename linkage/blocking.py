"""Blocking rules: exact pair counts, and default rules tightened until they fit a budget.

A rule's pairs grow with the square of the records sharing a key value: a rule on surname code
and birth year that gives 15 M pairs at 100,000 persons gives 150 M at 300,000 and billions at
ten million. Counting is cheap (a GROUP BY per side, no pair is built), so before predicting every
rule is counted; a rule over the budget that the tool chose itself (a default) gets one more
field at a time until it fits, and what was done is reported. Rules a user wrote are never
changed: they get a clear error instead (``linkage.probabilistic``).

Which field is added: the first, in the order given, that cuts the rule's pairs by at least a
tenth. Callers give the order from the data (fill rates measured on both sides) and, among
equally filled fields, time-invariant ones first: a true pair is lost by a tightened rule only
when it disagrees on (or lacks) the added field, and sex or a birth year is rarely wrong where a
postcode often is. The other rules still find many of the pairs one rule loses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


from linkage._sql import Engine, quote_ident

BlockingRule = tuple[str, ...]

#: A field is only worth adding if it cuts the rule's pairs by at least this share.
MIN_CUT = 0.1
#: At most this many fields are added to one rule; still over budget, the rule is dropped.
MAX_ADDED = 3


def count_rule_pairs(db: Engine, left: str, right: str | None, rule: BlockingRule) -> int:
    """Exact pairs one rule generates. Link: sum over key values of left x right counts. Dedupe
    (``right`` None): sum of n(n-1)/2. Rows with a NULL in any key field generate no pairs."""
    keys = ", ".join(quote_ident(c) for c in rule)
    not_null = " AND ".join(f"{quote_ident(c)} IS NOT NULL" for c in rule)

    def per_key(table: str) -> str:
        return f"SELECT {keys}, count(*) AS n FROM {quote_ident(table)} WHERE {not_null} GROUP BY ALL"

    if right is None:
        sql = f"SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM ({per_key(left)})"
    else:
        sql = (f"SELECT coalesce(sum(l.n * r.n), 0) FROM ({per_key(left)}) AS l "
               f"JOIN ({per_key(right)}) AS r USING ({keys})")
    return int(db.run(sql)[0][0])


def count_blocked_pairs(db: Engine, left: str, right: str | None,
                        rules: Sequence[BlockingRule]) -> list[dict[str, Any]]:
    """Exact pairs each rule generates on its own (before de-duplication across rules)."""
    return [{"rule": list(rule), "pairs": count_rule_pairs(db, left, right, rule)} for rule in rules]


def fit_rules_to_budget(db: Engine, left: str, right: str | None,
                        rules: Sequence[BlockingRule], budget: int,
                        tighten_with: Sequence[str]) -> list[dict[str, Any]]:
    """Count each rule; tighten the ones over ``budget`` with fields from ``tighten_with``.

    Returns one entry per rule given, in order: ``rule`` (what runs, or None when no field brought
    it under the budget and it was dropped), ``pairs`` (of what runs; of the rule given if
    dropped) and, when changed, ``given`` and ``pairs_given``.
    """
    fitted = []
    for rule in rules:
        pairs = count_rule_pairs(db, left, right, rule)
        entry: dict[str, Any] = {"rule": list(rule), "pairs": pairs}
        if pairs > budget:
            entry.update(given=list(rule), pairs_given=pairs)
            tightened, tightened_pairs = _tighten(db, left, right, tuple(rule), pairs, budget, tighten_with)
            if tightened_pairs <= budget:
                entry.update(rule=list(tightened), pairs=tightened_pairs)
            else:
                entry.update(rule=None)
        fitted.append(entry)
    return fitted


def _tighten(db: Engine, left: str, right: str | None, rule: BlockingRule, pairs: int,
             budget: int, tighten_with: Sequence[str]) -> tuple[BlockingRule, int]:
    """Add fields (first useful one in order) until the rule fits or ``MAX_ADDED`` were added."""
    for _ in range(MAX_ADDED):
        for field in tighten_with:
            if field in rule:
                continue
            candidate_pairs = count_rule_pairs(db, left, right, (*rule, field))
            if candidate_pairs <= (1 - MIN_CUT) * pairs:
                rule, pairs = (*rule, field), candidate_pairs
                break
        else:
            break   # no field cuts the rule any further
        if pairs <= budget:
            break
    return rule, pairs


#: Fields a default rule may be tightened with: time-invariant and rarely mistyped ones first. Not
#: the full date of birth: the rules without it are there to find pairs whose dates differ (a
#: rule tightened with it is one the date-of-birth rule mostly covers); dropped is more honest.
TIGHTENING_FIELDS = ("sex", "birth_year", "first_initial", "surname_soundex", "country_of_birth",
                     "nationality", "postcode")


def tightening_order(fill: dict[str, float]) -> tuple[str, ...]:
    """The fields to tighten with, given each one's share of pairs where both sides hold it
    (``fill``: the product of the two sides' fill rates): only fields both sides fill, the best
    filled first (to a tenth), then in ``TIGHTENING_FIELDS`` order."""
    usable = [f for f in TIGHTENING_FIELDS if fill.get(f, 0.0) > 0]
    return tuple(sorted(usable, key=lambda f: -round(fill[f], 1)))


# -- the default rules (a job that states none gets these, limited to the fields both sides fill) --

#: First name and surname code alone: namesakes born in any year. Used as a default only where a side
#: holds no date of birth; otherwise split into the rules below, which keep the pairs it alone finds.
NAME_RULE = ("first_name_canonical", "surname_soundex")
#: The pairs the name rule adds to the rules on dates are namesakes born in other years: three in four of
#: all pairs at 100,000 persons, ten times as many per record at a million, and none of the model's true
#: links in seven worlds of the robustness benchmark. What it can find that no other rule does: a year
#: of birth mistyped (1985 for 1975: the month and day still agree), a record with no date of birth,
#: and a date wholly wrong (FEBRL's corruptions), which only other evidence can make a link: an address.
YEAR_TYPO_RULE = ("first_name_canonical", "surname_soundex", "birth_month_day")
#: The name rule for a record whose date of birth is missing, on either side (Splink rules: a side
#: without the field is not an equality).
NO_BIRTH_YEAR_RULES = tuple(
    f"l.first_name_canonical = r.first_name_canonical AND l.surname_soundex = r.surname_soundex "
    f"AND {side}.birth_year IS NULL" for side in ("l", "r"))
#: Address parts the name rule is split by where both sides hold them (not nationality or country of
#: birth: most people share them, so they would bring nearly every namesake back).
NAME_RULE_ADDRESS_PARTS = ("postcode", "locality", "street", "house_number")
DEFAULT_BLOCKING_RULES = (("dob",), ("surname_soundex", "birth_year"), YEAR_TYPO_RULE,
                          ("first_name", "postcode"), ("surname", "postcode"), ("name_tokens", "birth_year"),
                          ("postcode", "birth_year"), ("first_name_canonical", "birth_year", "surname_initial"),
                          ("first_name_canonical", "birth_year_month"),
                          ("house_number", "street"), ("house_number", "postcode"), ("street", "postcode"),
                          ("name_tokens", "postcode"))
DEFAULT_TRAINING_RULES = (("dob",), ("first_name", "surname", "birth_year"))


def default_blocking_rules(both: Callable[[str], bool]) -> tuple[Any, ...]:
    """The default rules whose columns ``both`` sides fill, in order. The name rule stands whole where
    a side holds no birth year; else its pairs come from the year-typo and no-birth-year rules and,
    for a date wholly wrong, from the name rule within each address part both sides hold."""
    rules: list[Any] = [r for r in DEFAULT_BLOCKING_RULES if all(both(c) for c in r)]
    if all(both(c) for c in NAME_RULE):
        if YEAR_TYPO_RULE in rules and both("birth_year"):
            within_address = [(*NAME_RULE, part) for part in NAME_RULE_ADDRESS_PARTS if both(part)]
            at = rules.index(YEAR_TYPO_RULE) + 1
            rules[at:at] = [*NO_BIRTH_YEAR_RULES, *within_address]
        else:   # where the year-typo rule would have stood
            at = DEFAULT_BLOCKING_RULES.index(YEAR_TYPO_RULE)
            rules.insert(sum(1 for r in DEFAULT_BLOCKING_RULES[:at] if r in rules), NAME_RULE)
    return tuple(rules)
