"""Where SQL runs: the engine every stage is given (DuckDB by default; Spark's is a first slice).

``linkage`` and ``rules`` take an engine and table names and return table names; they know the
engine's methods (``run``, ``records``, ``frame``, ``arrays``, ``relation``, ``register``,
``cursor``, ``splink_api``) and nothing of the database behind them.
"""

from spine.engine.duckdb_engine import DuckDBEngine
from spine.engine.errors import EngineError, statement_shape
from spine.engine.spark_engine import SparkEngine

#: The engine type the spine package passes around.
Engine = DuckDBEngine

__all__ = ["DuckDBEngine", "Engine", "EngineError", "SparkEngine", "statement_shape"]
