"""A synthetic migration universe: a population register, administrative sources and the truth,
under a *regime* that sets every behaviour the data of a real country varies on.

The fictional country has the user-assigned code ``XSY``. Persons are natives, foreign residents,
immigrants arriving in the window, their dependent children, short-term visitors and (as a regime
sets) seasonal workers and would-be immigrants who never come. Every record of every source knows
its true person (``truth/records.csv``); the true itinerary, residence spells and migration events
(UN 12 months on the true itinerary, checked on every universe) are written beside the sources.
The parameters, their ranges and the named regimes: docs/synthetic.md and ``spine synth --help``.

Modules: ``regimes`` (the parameters and presets), ``universe`` (the true population and its
timeline), ``records`` (identity fields as sources write them), ``sources`` (the seven files),
``truth`` (truth tables, the checks, the follow-up sample), ``writer`` (:func:`generate`).
"""

from spine.synthetic.regimes import (REGIMES, Regime, describe_parameters, describe_regimes, named_regime,
                                     parse_value, random_regime)
from spine.synthetic.writer import PREFIXES, SyntheticUniverse, generate

__all__ = ["PREFIXES", "REGIMES", "Regime", "SyntheticUniverse", "describe_parameters", "describe_regimes",
           "generate", "named_regime", "parse_value", "random_regime"]
