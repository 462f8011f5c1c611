"""Linking records: standardisation, deterministic IDs, match-key cascade, Fellegi–Sunter, assignment.

Knows nothing of migration or of spines: functions take a connection and table names, write
tables and return their names (or small results).
"""

from linkage.assign import assign_links, check_decision
from linkage.comparisons import DEFAULT_COMPARISONS, ComparisonSpec, default_comparison, splink_comparison
from linkage.deterministic import (
    check_id_links,
    duplicate_identifiers,
    link_on_identifiers,
    link_on_identifiers_sql,
)
from linkage.errors import LinkageError
from linkage.features import FEATURES, add_linkage_features
from linkage.hybrid import assess_on_id_links, records_to_score
from linkage.matchkeys import DEFAULT_MATCH_KEYS, MatchKey, dedupe_on_match_keys, link_on_match_keys
from linkage.probabilistic import ProbabilisticModel, ScoreResult, count_blocked_pairs, score_pairs
from linkage.reference import create_reference_tables
from linkage.standardise import STANDARD_COLUMNS, standardise_records_sql

__all__ = [
    "DEFAULT_COMPARISONS",
    "DEFAULT_MATCH_KEYS",
    "FEATURES",
    "STANDARD_COLUMNS",
    "ComparisonSpec",
    "LinkageError",
    "MatchKey",
    "ProbabilisticModel",
    "ScoreResult",
    "add_linkage_features",
    "assess_on_id_links",
    "assign_links",
    "check_decision",
    "check_id_links",
    "count_blocked_pairs",
    "create_reference_tables",
    "dedupe_on_match_keys",
    "default_comparison",
    "duplicate_identifiers",
    "link_on_identifiers",
    "link_on_identifiers_sql",
    "link_on_match_keys",
    "records_to_score",
    "score_pairs",
    "splink_comparison",
    "standardise_records_sql",
]
