"""The Spark engine: the same methods as :class:`~spine.engine.duckdb_engine.DuckDBEngine`, on a
Spark session (local or a cluster), for the stages whose SQL Spark can run.

Statements arrive in DuckDB's SQL and are spelled for Spark by :mod:`spine.engine.dialect`.
Tables are the session's temporary views, each computed once when written and kept as Parquet in
a folder of the engine's (a view that re-ran its whole lineage on every read would repeat each
earlier stage; a checkpoint would keep its lineage's size estimate, see ``_save``). What Spark's
views cannot do in place is done by rebuilding the table: ``INSERT`` (a union, by name where
DuckDB's ``BY NAME`` says so), ``DELETE … USING`` (an anti join), ``UPDATE … FROM`` (the matched
rows numbered and given their new values). What is not yet spelled raises
:class:`~spine.engine.dialect.NotPortable` (see ``docs/engine.md``).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlglot import exp

from linkage._sql import quote_ident
from spine.engine.base import EngineBase
from spine.engine.dialect import NotPortable, parse, string_literal, to_spark

logger = logging.getLogger(__name__)


#: The local session's memory (Spark's default, 1 GB, runs out in the link stage's plans and
#: Splink's tables even at a few hundred persons); ``spark.driver.memory`` in the job's conf sets it.
DRIVER_MEMORY = "4g"


class SparkEngine(EngineBase):
    """Runs the toolkit's statements on a Spark session; results come back fully read. Every
    failure is wrapped: Spark's (AnalysisException …) and the dialect's (NotPortable) alike."""

    kind = "spark"

    def __init__(self, session: Any, *, stage: str | None = None, own_checkpoints: str | None = None,
                 tables: _TableFiles | None = None) -> None:
        super().__init__(stage=stage)
        self.session = session
        self._own_checkpoints = own_checkpoints   # a folder local() made: removed by close()
        self._owns_tables = tables is None        # a cursor shares its engine's tables
        local_dir = session.sparkContext.getConf().get("spark.local.dir")
        self._tables = _TableFiles(local_dir.split(",")[0] if local_dir else None) if tables is None else tables

    @classmethod
    def local(cls, master: str = "local[2]", conf: dict[str, str] | None = None) -> SparkEngine:
        """A Spark session in this process (``local[2]``: two cores), quiet, in UTC, set up as Splink's
        demos set it up: Splink's jar of string similarity functions (added to any ``spark.jars``
        given) and a checkpoint folder (Splink checkpoints its tables; removed by :meth:`close`).
        A session already running in the process is reused, with the jar added to it."""
        from pyspark.sql import SparkSession
        from splink.backends.spark import similarity_jar_location

        jar = similarity_jar_location()
        conf = dict(conf or {})
        conf["spark.jars"] = ",".join(filter(None, [conf.get("spark.jars"), jar]))
        conf.setdefault("spark.driver.memory", DRIVER_MEMORY)
        builder = (SparkSession.builder.master(master).appName("migration-spine")
                   .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.session.timeZone", "UTC").config("spark.sql.shuffle.partitions", "8"))
        for key, value in conf.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("FATAL")   # failures reach Python as exceptions, once
        if jar not in session.sparkContext.getConf().get("spark.jars", ""):   # a session made before
            session.sql(f"ADD JAR '{jar}'").collect()
        _register_similarities(session)
        own = None
        if session.sparkContext.getCheckpointDir() is None:
            own = tempfile.mkdtemp(prefix="spine-spark-checkpoints-")
            session.sparkContext.setCheckpointDir(own)
        from pyspark.logger import PySparkLogger

        for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):   # each failure's query, as JSON
            PySparkLogger.getLogger(name).disabled = True
        return cls(session, own_checkpoints=own)

    # -- statements -------------------------------------------------------------------------------

    def run(self, sql: str, parameters: Any = None) -> list[tuple]:
        with self._naming(sql):
            frame = self._statement(sql, parameters)
            if isinstance(frame, _Count):
                return [(frame.n,)]
            return [] if frame is None else [tuple(row) for row in _doubles(frame).collect()]

    def records(self, sql: str, parameters: Any = None) -> list[dict[str, Any]]:
        with self._naming(sql):
            frame = self._statement(sql, parameters)
            if isinstance(frame, _Count):
                return [{frame.column: frame.n}]
            return [] if frame is None else [row.asDict() for row in _doubles(frame).collect()]

    def frame(self, sql: str, parameters: Any = None) -> Any:
        with self._naming(sql):
            frame = self._statement(sql, parameters)
            if isinstance(frame, _Count):
                import pandas as pd

                return pd.DataFrame({frame.column: [frame.n]})
            return None if frame is None else _doubles(frame).toPandas()

    def arrays(self, sql: str, parameters: Any = None) -> dict[str, Any]:
        table = self.frame(sql, parameters)
        return {name: table[name].to_numpy() for name in table.columns}

    def relation(self, table: str) -> Any:
        """A table as a Spark DataFrame (lazy)."""
        return self.session.table(table)

    def table_names(self) -> set[str]:
        """The names of the session's tables and temporary views."""
        return {table.name for table in self.session.catalog.listTables()}

    # -- frames -------------------------------------------------------------------------------------

    def register(self, name: str, data: Any) -> None:
        """Make a pandas or Arrow table readable as ``name`` (a pandas frame's types from its
        dtypes: Spark cannot infer them from no rows, or from a column of NULLs)."""
        schema = _pandas_schema(data)
        frame = self.session.createDataFrame(data, schema) if schema else self.session.createDataFrame(data)
        frame.createOrReplaceTempView(name)
        self._release(name)

    def unregister(self, name: str) -> None:
        self._drop(name)

    # -- connections --------------------------------------------------------------------------------

    def cursor(self) -> SparkEngine:
        """The same session (its views are shared; Spark has no per-cursor transaction)."""
        return SparkEngine(self.session, stage=self.current_stage, tables=self._tables)

    @contextmanager
    def shadowing(self, name: str) -> Iterator[tuple[SparkEngine, Callable[[str], str]]]:
        """A second session (Spark's ``newSession``: its own temporary views, the same cluster)
        holding a view of each of this engine's tables, under its name and as ``<name>__stored__<t>``
        (the function returned names the latter). Tables the second session writes are its own
        files; this engine's are only read. (Views made with ``CREATE VIEW`` and registered frames
        are not carried over.)"""
        session = self.session.newSession()
        _register_similarities(session)
        shadow = SparkEngine(session, stage=self.current_stage)
        for table, path in self._tables.files.items():
            frame = session.read.parquet(path)
            frame.createOrReplaceTempView(table)
            frame.createOrReplaceTempView(f"{name}__stored__{table}")
        try:
            yield shadow, lambda table: quote_ident(f"{name}__stored__{table}")
        finally:
            shadow.close()

    def splink_api(self) -> Any:
        from splink import SparkAPI

        return SparkAPI(spark_session=self.session)

    def splink_sql(self, condition: str) -> str:
        """A comparison level's condition in Spark's SQL, with Splink's jar's similarity functions."""
        if condition.strip().upper() == "ELSE":
            return condition
        select = parse(f"SELECT {condition}")
        return to_spark(select).removeprefix("SELECT ")

    def close(self) -> None:
        """Remove the tables' files and the checkpoint folder :meth:`local` made; the session
        itself belongs to whoever made it (``session.stop()``)."""
        if self._owns_tables:
            self._tables.remove()
        if self._own_checkpoints:
            shutil.rmtree(self._own_checkpoints, ignore_errors=True)
            self._own_checkpoints = None

    # -- what a statement does ----------------------------------------------------------------------

    def _query(self, tree: exp.Expression, parameters: Any) -> Any:
        if isinstance(tree, exp.Union) and tree.args.get("by_name"):
            return self._union_by_name(tree, parameters)
        if any(u.args.get("by_name") for u in tree.find_all(exp.Union)):
            raise NotPortable("UNION BY NAME inside a query (only a statement's own union is spelled)")
        sql = to_spark(self._stars_replaced(tree, parameters))
        return self.session.sql(sql, args=list(parameters)) if parameters else self.session.sql(sql)

    def _union_by_name(self, tree: exp.Union, parameters: Any) -> Any:
        """``a UNION [ALL] BY NAME b`` (Spark's SQL has no BY NAME): the two queries' frames united
        by column name, a column one lacks NULL there, as DuckDB unites them."""
        if parameters or any(tree.args.get(k) for k in ("with_", "order", "limit", "offset")):
            raise NotPortable("UNION BY NAME with parameters, a WITH, ORDER BY or LIMIT")
        united = self._query(tree.this, None).unionByName(self._query(tree.expression, None),
                                                           allowMissingColumns=True)
        return united.distinct() if tree.args.get("distinct") else united

    def _save(self, name: str, frame: Any) -> int:
        """``frame`` computed once, written as Parquet, and read back as the table ``name``; the
        table's earlier version removed. Not a checkpoint: a checkpointed frame keeps its plan's
        size estimate, and joins multiply estimates, so after some hundred statements Spark spent
        minutes multiplying numbers of millions of digits; a file's estimate is its size. Returns
        the rows written, read from the files' footers (a count would be another Spark job: about
        a tenth of a second each, and a run makes thousands of tables)."""
        path = self._tables.new_path()
        frame.write.parquet(path)
        self.session.read.parquet(path).createOrReplaceTempView(name)
        self._views_made_again(name)
        self._release(name)
        self._tables.files[name] = path
        self._tables.rows[name] = rows = _rows_written(path)   # the engine's folder is a local path
        return rows

    def _views_made_again(self, table: str, done: set[str] | None = None) -> None:
        """Every view reading ``table`` (and every view reading those) made again from its query, so
        that it reads the table as it is now, as a DuckDB view does: a Spark view made from a frame
        keeps the rows its tables had when it was made."""
        done = set() if done is None else done
        for view, reads in list(self._tables.view_reads.items()):
            if table in reads and view != table and view not in done and view in self._tables.view_queries:
                done.add(view)
                query, parameters = self._tables.view_queries[view]
                try:
                    self._query(query, parameters).createOrReplaceTempView(view)
                except Exception:   # noqa: BLE001 - a table it reads is gone: reading it fails, as in DuckDB
                    self._drop(view)
                    continue
                self._views_made_again(view, done)

    def _rows_of(self, name: str) -> int:
        """The rows of the table ``name``: known when this engine wrote it, else counted."""
        known = self._tables.rows.get(name)
        return known if known is not None else self.session.table(name).count()

    def _release(self, name: str) -> None:
        """The table (or view) ``name`` goes: its files removed, unless a view still reads them (a
        Spark view holds the files its table had when it was made; they go at :meth:`close`)."""
        self._tables.view_reads.pop(name, None)
        self._tables.view_queries.pop(name, None)
        self._tables.rows.pop(name, None)
        earlier = self._tables.files.pop(name, None)
        if earlier is not None and not any(name in reads for reads in self._tables.view_reads.values()):
            shutil.rmtree(earlier, ignore_errors=True)

    def _drop(self, name: str) -> bool:
        self._release(name)
        return self.session.catalog.dropTempView(name)

    def _count(self, n: int) -> _Count:
        """A one-row result holding ``n``: what DuckDB returns for a statement that writes rows."""
        return _Count(n)

    def _stars_replaced(self, tree: exp.Expression, parameters: Any = None) -> exp.Expression:
        """DuckDB's ``[t.]* [EXCLUDE (…)] REPLACE (expr AS c, …)`` as the columns it stands for, ``c``
        in its place: Spark has no REPLACE. Likewise any ``*`` of a query with ``QUALIFY``, which
        sqlglot spells for Spark as a filter around the query, and whose ``*`` would then keep the
        window's column (or, beside named columns, repeat them). The columns are asked of Spark (the
        query's FROM, analysed, not run), the innermost query first, with the CTEs in scope defined
        before it."""
        if not any(_star_to_expand(e, s) is not None for s in tree.find_all(exp.Select) for e in s.expressions):
            return tree   # most statements: no copy of the tree
        tree = tree.copy()
        for select in reversed(list(tree.find_all(exp.Select))):
            if not any(_star_to_expand(e, select) is not None for e in select.expressions):
                continue
            probe = select.copy()
            for clause in ("where", "group", "having", "qualify", "order", "limit", "offset", "windows", "distinct"):
                probe.set(clause, None)
            ctes = _ctes_in_scope(select)
            if ctes:
                probe.set("with_", exp.With(expressions=ctes))
            expanded = []
            for item in select.expressions:
                star = _star_to_expand(item, select)
                if star is None:
                    expanded.append(item)
                    continue
                qualifier = item.table if isinstance(item, exp.Column) else None
                probe.set("expressions", [exp.column(exp.Star(), table=qualifier) if qualifier else exp.Star()])
                spelled = to_spark(self._stars_replaced(probe, parameters))
                frame = self.session.sql(spelled, args=list(parameters)) if parameters else self.session.sql(spelled)
                columns = frame.columns
                replaced = {r.alias_or_name.lower(): r for r in star.args.get("replace") or []}
                excluded = {e.name.lower() for e in star.args.get("except_") or []}
                unknown = set(replaced) - {c.lower() for c in columns}
                if unknown:
                    raise NotPortable(f"* REPLACE of columns the query does not have: {sorted(unknown)}")
                for name in columns:
                    if name.lower() in excluded:
                        continue
                    given = replaced.get(name.lower())
                    kept = exp.column(name, table=qualifier, quoted=True)
                    expanded.append(given.copy() if given is not None else kept)
            select.set("expressions", expanded)
        return tree

    def _files_read(self, tree: exp.Expression) -> exp.Expression:
        """``read_csv(path, …)`` and ``read_parquet(path)`` in a FROM: Spark's readers, as views the
        statement reads instead. A CSV is read as DuckDB's ``all_varchar`` reads it: every column a
        string, an empty field NULL; with the header, delimiter, quote and escape given."""
        for table in list(tree.find_all(exp.Table)):
            reader = table.this
            if isinstance(reader, exp.ReadCSV):
                path, options = reader.this, _csv_options(reader.expressions)
                frame = self.session.read.options(**options).csv(string_literal(path, "a file read from a path"))
            elif isinstance(reader, exp.ReadParquet):
                if len(reader.expressions) != 1:
                    raise NotPortable("read_parquet with options")
                frame = self.session.read.parquet(string_literal(reader.expressions[0], "a file read from a path"))
            else:
                continue
            view = f"__file_{abs(hash(reader.sql(dialect='duckdb'))):x}"
            frame.createOrReplaceTempView(view)
            table.set("this", exp.to_identifier(view))
        return tree

    def _statement(self, sql: str, parameters: Any) -> Any:
        """Run one statement: a DataFrame of its result (the rows written, as DuckDB counts them,
        for CREATE … AS, INSERT, UPDATE and DELETE, and a table's rows when it is known, a
        :class:`_Count`), or None."""
        counted = None if parameters else _COUNT_OF_TABLE.fullmatch(sql)
        if counted and counted.group(1) in self._tables.rows:   # the stages count each table they make
            return _Count(self._tables.rows[counted.group(1)], "count_star()")
        tree = self._files_read(parse(sql))
        if isinstance(tree, exp.Create):
            name = _table_name(tree.this)
            query = tree.args.get("expression")
            if query is not None:
                frame = self._query(query, parameters)
                if str(tree.kind).upper() == "VIEW":
                    frame.createOrReplaceTempView(name)
                    self._release(name)
                    self._tables.view_reads[name] = {t.name for t in query.find_all(exp.Table)}
                    self._tables.view_queries[name] = (query.copy(), parameters)
                    self._views_made_again(name)
                    return None
                return self._count(self._save(name, frame))
            elif isinstance(tree.this, exp.Schema):   # CREATE TABLE t (column TYPE, ...)
                columns = ", ".join(c.sql(dialect="spark") for c in tree.this.expressions)
                self._save(name, self.session.createDataFrame([], columns))
            else:
                raise NotPortable(f"CREATE {tree.kind} without a query or columns")
            return None
        if isinstance(tree, exp.Insert):
            name = _table_name(tree.this)
            if isinstance(tree.this, exp.Schema):
                raise NotPortable("INSERT with a column list")
            source = tree.expression
            if isinstance(source, exp.Values):
                source = exp.select("*").from_(exp.alias_(source.copy(), "v", table=True))
            added = self._query(source, parameters)
            current = self.session.table(name)
            before = self._rows_of(name)
            if tree.args.get("by_name"):
                combined = current.unionByName(added.select(*current.columns))
            else:
                combined = current.union(added.toDF(*current.columns))
            return self._count(self._save(name, combined) - before)
        if isinstance(tree, exp.Drop):   # tables and views are both temporary views here
            if str(tree.args.get("kind") or "").upper() not in ("TABLE", "VIEW"):
                raise NotPortable(f"DROP {tree.args.get('kind')}")
            for table in tree.args.get("tables") or [tree.this]:
                if not self._drop(_table_name(table)) and not tree.args.get("exists"):
                    raise LookupError(f"Table with name {_table_name(table)} does not exist")   # as DuckDB
            return None
        if isinstance(tree, exp.Delete):
            return self._count(self._delete(tree, parameters))
        if isinstance(tree, exp.Update):
            return self._count(self._update(tree, parameters))
        if isinstance(tree, exp.Describe):
            columns = self.session.table(_table_name(tree.this)).schema
            return self.session.createDataFrame([(f.name, f.dataType.simpleString()) for f in columns],
                                                "column_name string, column_type string")
        if isinstance(tree, exp.Copy):
            self._copied_to_parquet(tree)
            return None
        if isinstance(tree, exp.Query):
            return self._query(tree, parameters)
        raise NotPortable(f"{type(tree).__name__.upper()} statement")

    def _copied_to_parquet(self, tree: exp.Copy) -> None:
        """``COPY table TO 'file' (FORMAT parquet)``: one Parquet file, as DuckDB writes it (Spark
        writes a folder of parts: written as one part beside the file, then moved into place)."""
        params = {p.this.name.lower(): p.expression for p in tree.args.get("params") or []}
        (file,) = tree.args.get("files") or [None]
        if tree.args.get("kind") is not False or set(params) != {"format"} \
                or params["format"].name.lower() != "parquet" or not isinstance(tree.this, exp.Table):
            raise NotPortable("COPY other than a table TO a file (FORMAT parquet)")
        target = Path(string_literal(file, "a file written to a path"))
        parts = target.with_name(f".{target.name}.parts")
        shutil.rmtree(parts, ignore_errors=True)
        self.session.table(_table_name(tree.this)).coalesce(1).write.parquet(str(parts))
        (written,) = parts.glob("part-*.parquet")
        os.replace(written, target)
        shutil.rmtree(parts, ignore_errors=True)

    def _delete(self, tree: exp.Delete, parameters: Any) -> int:
        """``DELETE FROM t [AS a] [USING s AS b] WHERE c``: t rebuilt from the rows c keeps."""
        target = tree.this
        name = _table_name(target)
        alias = target.alias_or_name
        where = tree.args.get("where")
        condition = where.this if where is not None else exp.true()
        using = tree.args.get("using") or []
        kept = exp.select(f"{alias}.*").from_(exp.to_table(name).as_(alias))
        if using:
            if len(using) != 1:
                raise NotPortable("DELETE USING more than one table")
            kept = kept.join(using[0].copy(), on=condition.copy(), join_type="LEFT ANTI")
        else:
            kept = kept.where(exp.not_(exp.func("COALESCE", exp.paren(condition.copy()), exp.false())))
        before = self._rows_of(name)
        return before - self._save(name, self._query(kept, parameters))

    def _update(self, tree: exp.Update, parameters: Any) -> int:
        """``UPDATE t [AS a] SET c = e, … [FROM s] WHERE w``: t rebuilt, each row that w matches (with
        any row of s: the first, as DuckDB takes one) taking the new values."""
        from pyspark.sql.functions import monotonically_increasing_id

        target = tree.this
        name, alias = _table_name(target), target.alias_or_name
        numbered, matched = "spine__update_rows", "spine__update_hits"
        self._save(numbered, self.session.table(name).withColumn("__row", monotonically_increasing_id()))
        changes = {item.this.name: (i, item.expression) for i, item in enumerate(tree.expressions)}
        hits = exp.select(f"{alias}.__row AS __row",
                          *[exp.alias_(e.copy(), f"__new_{i}") for i, e in changes.values()]
                          ).from_(exp.to_table(numbered).as_(alias))
        source = tree.args.get("from_")
        if source is not None:
            hits = hits.join(source.this.copy(), join_type="CROSS")
            for join in source.args.get("joins") or []:
                hits = hits.join(join.copy())
        where = tree.args.get("where")
        if where is not None:
            hits = hits.where(where.this.copy())
        updated = self._save(matched, self._query(hits, parameters).dropDuplicates(["__row"]))
        columns = [f"CASE WHEN h.__row IS NOT NULL THEN h.__new_{changes[c][0]} ELSE k.`{c}` END AS `{c}`"
                   if c in changes else f"k.`{c}`" for c in self.session.table(name).columns]
        rebuilt = self.session.sql(f"SELECT {', '.join(columns)} FROM {numbered} AS k "
                                   f"LEFT JOIN {matched} AS h ON h.__row = k.__row")
        self._save(name, rebuilt)
        for helper in (numbered, matched):
            self._drop(helper)
        return updated


def _register_similarities(session: Any) -> None:
    """Splink's jar's string similarity functions in ``session``, as ``SparkAPI`` registers them
    (it warns if it cannot): the stages' SQL may call them too."""
    from splink.internals.spark.jar_location import get_scala_udfs

    try:
        for udf in get_scala_udfs():
            session.udf.registerJavaFunction(*udf)
    except Exception as exc:   # noqa: BLE001 - py4j's and Spark's errors alike; a level using one then fails
        logger.warning("Splink's string similarity functions could not be registered in Spark: %s",
                       type(exc).__name__)


class _TableFiles:
    """Where an engine's tables are written: a folder of its own (made at the first table, removed
    by :meth:`SparkEngine.close`), one Parquet folder per version of each table."""

    def __init__(self, parent: str | None = None) -> None:
        self.parent = parent   # Spark's spill folder (``spark.local.dir``) where set, else the system's
        self.folder: str | None = None
        self.files: dict[str, str] = {}
        #: Rows of each table as written (the Parquet footers say).
        self.rows: dict[str, int] = {}
        #: Per view, the tables it reads (their files stay while it does).
        self.view_reads: dict[str, set[str]] = {}
        #: Per view, its query and parameters (made again when a table it reads is rewritten).
        self.view_queries: dict[str, tuple[Any, Any]] = {}
        self._written = 0

    def new_path(self) -> str:
        if self.folder is None:
            self.folder = tempfile.mkdtemp(prefix="spine-spark-tables-", dir=self.parent)
        self._written += 1
        return f"{self.folder}/{self._written:06d}"

    def remove(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder, self.files, self.rows = None, {}, {}


class _Count:
    """A one-row, one-column result the engine knows without asking Spark."""

    def __init__(self, n: int, column: str = "Count") -> None:
        self.n, self.column = int(n), column


#: ``SELECT count(*) FROM t``, as the stages count the tables they make.
_COUNT_OF_TABLE = re.compile(r"\s*SELECT\s+count\(\*\)\s+FROM\s+\"?(\w+)\"?\s*", re.IGNORECASE)


def _rows_written(path: str) -> int:
    """Rows in the Parquet files Spark wrote into the folder ``path`` (their footers' counts)."""
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(part).num_rows for part in Path(path).glob("part-*.parquet"))


def _table_name(node: exp.Expression) -> str:
    table = node.this if isinstance(node, exp.Schema) else node
    return table.name


#: pandas dtypes and the Spark types they stand for (an object column holds text here).
_PANDAS_TYPES = {"int64": "bigint", "int32": "int", "float64": "double", "bool": "boolean", "object": "string",
                 "string": "string", "datetime64[ns]": "timestamp"}


def _pandas_schema(data: Any) -> str | None:
    """A DDL schema for a pandas frame whose every dtype is one of ``_PANDAS_TYPES``; else None."""
    dtypes = getattr(data, "dtypes", None)
    if dtypes is None or not hasattr(data, "columns") or any(str(t) not in _PANDAS_TYPES for t in dtypes):
        return None
    return ", ".join(f"`{c}` {_PANDAS_TYPES[str(t)]}" for c, t in zip(data.columns, dtypes))


def _doubles(frame: Any) -> Any:
    """``frame`` with its decimal columns as doubles. Spark keeps a literal's decimals through
    averages and sums (``avg(CASE … THEN 1.0 …)`` is a decimal), DuckDB gives a double: results
    reach Python as DuckDB's would, floats, not ``Decimal``."""
    from pyspark.sql.types import DecimalType

    if not any(isinstance(field.dataType, DecimalType) for field in frame.schema.fields):
        return frame
    names = frame.columns   # by position: a name may be any text (``avg(… 1.0 …)``)
    plain = frame.toDF(*(f"c{i}" for i in range(len(names))))
    return plain.select(*(plain[f"c{i}"].cast("double") if isinstance(f.dataType, DecimalType) else plain[f"c{i}"]
                          for i, f in enumerate(frame.schema.fields))).toDF(*names)


#: DuckDB's ``read_csv`` options and Spark's CSV reader's names for them.
_CSV_OPTIONS = {"header": "header", "delim": "sep", "sep": "sep", "quote": "quote", "escape": "escape"}


def _csv_options(given: list[exp.Expression]) -> dict[str, str]:
    """``read_csv``'s ``name = value`` options as the Spark reader's. DuckDB detects what is not
    given, so ``all_varchar = true``, ``header`` and the delimiter must be (every column a string,
    an empty field NULL); quotes doubled inside a quoted value and newlines inside one are read
    as DuckDB reads them."""
    named = {o.this.name.lower() for o in given if isinstance(o, exp.EQ) and isinstance(o.this, exp.Column)}
    if not {"all_varchar", "header"} <= named or not named & {"delim", "sep"}:
        raise NotPortable("read_csv without all_varchar = true, header and delim (DuckDB would detect them)")
    options = {"header": "false", "inferSchema": "false", "escape": '"', "multiLine": "true"}
    for option in given:
        if not isinstance(option, exp.EQ) or not isinstance(option.this, exp.Column):
            raise NotPortable(f"read_csv option {option.sql(dialect='duckdb')}")
        name, value = option.this.name.lower(), option.expression
        text = value.this if isinstance(value, exp.Literal) else str(value.this).lower() \
            if isinstance(value, exp.Boolean) else None
        if name == "all_varchar":
            if not (isinstance(value, exp.Boolean) and value.this):
                raise NotPortable("read_csv with typed columns")
            continue
        if name == "skip":   # from the first line: Spark's reader always starts there
            if text != "0":
                raise NotPortable(f"read_csv option {option.sql(dialect='duckdb')} (Spark reads from the first line)")
            continue
        if name not in _CSV_OPTIONS or text is None:
            raise NotPortable(f"read_csv option {option.sql(dialect='duckdb')}")
        options[_CSV_OPTIONS[name]] = str(text)
    return options


def _star_to_expand(item: exp.Expression, select: exp.Select) -> exp.Star | None:
    """The ``*`` of ``[t.]* REPLACE (…)`` in a select list, or of any ``[t.]*`` in a select with
    ``QUALIFY``; else None."""
    star = item.this if isinstance(item, exp.Column) else item
    if not isinstance(star, exp.Star):
        return None
    return star if star.args.get("replace") or select.args.get("qualify") is not None else None


def _ctes_in_scope(select: exp.Select) -> list[exp.CTE]:
    """Copies of the CTEs a select may read: those of every query around it, outermost first,
    and in the WITH holding the select's own CTE only those defined before it (an inner name
    shadows an outer one)."""
    chain = _ancestors(select)
    by_name: dict[str, exp.CTE] = {}
    for ancestor in reversed(chain):
        with_ = ancestor.args.get("with_")
        if not with_:
            continue
        for cte in with_.expressions:
            if cte in chain:
                break
            by_name[cte.alias_or_name.lower()] = cte.copy()
    return list(by_name.values())


def _ancestors(node: exp.Expression) -> list[exp.Expression]:
    """``node`` and every expression it is part of, the nearest first."""
    found = []
    while node is not None:
        found.append(node)
        node = node.parent
    return found
