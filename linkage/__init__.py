"""Comparing records: standardisation and deterministic linkage (probabilistic and hybrid follow).

Knows nothing of migration or of spines: functions take a connection and table names and
return the names of the tables they wrote.
"""

from linkage.deterministic import link_on_identifiers, link_on_identifiers_sql
from linkage.errors import LinkageError
from linkage.standardise import STANDARD_COLUMNS, standardise_records_sql

__all__ = [
    "LinkageError",
    "STANDARD_COLUMNS",
    "link_on_identifiers",
    "link_on_identifiers_sql",
    "standardise_records_sql",
]
