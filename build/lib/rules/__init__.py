"""Logic over linked tables: itineraries and migration events (residence, signs of life and
family association follow). Knows nothing of how links were made."""

from rules.errors import RuleError
from rules.events import derive_long_term_events, derive_long_term_events_sql
from rules.itinerary import flag_itineraries, flag_itineraries_sql

__all__ = [
    "RuleError",
    "derive_long_term_events",
    "derive_long_term_events_sql",
    "flag_itineraries",
    "flag_itineraries_sql",
]
