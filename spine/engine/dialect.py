"""DuckDB's SQL, which the stages write, spelled for Spark: every dialect difference in one place.

The stages write DuckDB SQL; :func:`to_spark` parses it with sqlglot and rewrites what Spark
spells differently or lacks, then lets sqlglot's Spark generator print it. A construct with no
faithful Spark spelling raises :class:`NotPortable` naming it, never a silently different query.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import sqlglot
from sqlglot import exp

#: DuckDB's ``datesub(part, start, end)``: whole parts between two dates, in Spark.
_DATESUB = {
    "year": "CAST(FLOOR(MONTHS_BETWEEN({end}, {start}) / 12) AS BIGINT)",
    "month": "CAST(FLOOR(MONTHS_BETWEEN({end}, {start})) AS BIGINT)",
    "day": "CAST(DATEDIFF({end}, {start}) AS BIGINT)",
}


#: String similarities: DuckDB's name and the name Splink's Spark jar registers (``SparkEngine.local``
#: registers them as Splink's ``SparkAPI`` does). Levenshtein is built into both.
_SIMILARITIES = {"jaro_winkler_similarity": "jaro_winkler", "jaro_similarity": "jaro_sim",
                 "damerau_levenshtein": "damerau_levenshtein"}


class NotPortable(ValueError):
    """A statement uses DuckDB SQL that has no Spark spelling here yet."""


#: sqlglot walks a tree recursively; the standardisation's names nest a few hundred calls deep.
_RECURSION_LIMIT = 10_000


@contextmanager
def _deep_trees() -> Iterator[None]:
    """Python's recursion limit raised for the length of a parse or a translation."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(max(before, _RECURSION_LIMIT))
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def parse(sql: str) -> exp.Expression:
    """One DuckDB statement as a sqlglot tree."""
    with _deep_trees():
        return sqlglot.parse_one(sql, read="duckdb")


def to_spark(tree: exp.Expression) -> str:
    """The statement ``tree`` (parsed from DuckDB SQL) as Spark SQL."""
    with _deep_trees():
        return _spelled_for_spark(tree)


def _spelled_for_spark(tree: exp.Expression) -> str:
    tree = tree.copy()
    for transform in (_materialized_ctes, _days_added, _intervals_added, _datesub, _mode_ordered,
                      _ordered_lists, _series_tables, _any_values, _finite, _asof_joins, _list_slices,
                      _rows_in_order_read, _hex_numbers, _divisions_in_double, _parsed_with_formats,
                      _array_overlaps, _full_matches, _first_replacements, _accents_stripped,
                      _string_similarities):
        tree = transform(tree)
    return tree.sql(dialect="spark")


def _materialized_ctes(tree: exp.Expression) -> exp.Expression:
    """``AS MATERIALIZED`` is a DuckDB planning hint: Spark decides that itself."""
    for cte in tree.find_all(exp.CTE):
        cte.set("materialized", None)
    return tree


def _days_added(tree: exp.Expression) -> exp.Expression:
    """``date ± to_days(n)``: ``DATE_ADD``/``DATE_SUB`` (an INT in Spark), as a TIMESTAMP as in DuckDB."""
    for days in list(tree.find_all(exp.ToDays)):
        parent = days.parent
        if isinstance(parent, exp.Add | exp.Sub) and parent.expression is days:
            func = "DATE_ADD" if isinstance(parent, exp.Add) else "DATE_SUB"
            parent.replace(_timestamp(exp.Anonymous(this=func, expressions=[parent.this.copy(), _int(days.this)])))
        elif isinstance(parent, exp.Add) and parent.this is days:
            parent.replace(_timestamp(exp.Anonymous(this="DATE_ADD",
                                                    expressions=[parent.expression.copy(), _int(days.this)])))
        else:
            raise NotPortable("to_days() outside a date plus or minus days")
    return tree


def _int(days: exp.Expression) -> exp.Expression:
    """Spark's DATE_ADD takes an INT number of days (DuckDB's counts are BIGINT)."""
    return exp.cast(days.copy(), "INT")


def _timestamp(date: exp.Expression) -> exp.Expression:
    """DuckDB's date plus days is a TIMESTAMP (midnight): kept so, for comparisons and casts alike."""
    return exp.cast(date, "TIMESTAMP")


def _intervals_added(tree: exp.Expression) -> exp.Expression:
    """``date ± INTERVAL n DAY`` is a TIMESTAMP in DuckDB, a DATE in Spark: the date is made a
    timestamp first, so both give the same value of the same type."""
    for interval in list(tree.find_all(exp.Interval)):
        parent = interval.parent
        if isinstance(parent, exp.Add | exp.Sub) and parent.expression is interval:
            parent.set("this", _timestamp(parent.this.copy()))
    return tree


def _datesub(tree: exp.Expression) -> exp.Expression:
    """DuckDB's ``datesub('year', a, b)`` (whole years from a to b: an age)."""
    for call in list(tree.find_all(exp.Anonymous)):
        if str(call.this).lower() != "datesub":
            continue
        part, start, end = call.expressions
        spelling = _DATESUB.get(str(part.this).lower()) if isinstance(part, exp.Literal) else None
        if spelling is None:
            raise NotPortable(f"datesub({part.sql()}, …)")
        call.replace(sqlglot.parse_one(spelling.format(start=start.sql(dialect="spark"), end=end.sql(dialect="spark")),
                                       read="spark"))
    return tree


def _mode_ordered(tree: exp.Expression) -> exp.Expression:
    """``mode(x ORDER BY x)`` (ties to the lowest): Spark's deterministic ``mode(x, true)``."""
    for mode in list(tree.find_all(exp.Mode)):
        order = mode.this
        if isinstance(order, exp.Order):
            keys = order.expressions
            if len(keys) != 1 or keys[0].args.get("desc") or keys[0].this != order.this:
                raise NotPortable("mode() ordered by another column or descending")
            mode.replace(exp.Anonymous(this="MODE", expressions=[order.this.copy(), exp.true()]))
    return tree


def _ordered_lists(tree: exp.Expression) -> exp.Expression:
    """``list(x ORDER BY k)``: Spark's ``collect_list`` keeps no order, so the pairs (k, x) are
    collected, sorted (nulls last, as DuckDB's default) and x taken back out."""
    for agg in list(tree.find_all(exp.ArrayAgg)):
        order = agg.this
        if not isinstance(order, exp.Order):   # DuckDB's list keeps NULLs, Spark's collect_list drops them
            distinct = isinstance(order, exp.Distinct)
            value = (order.expressions[0] if distinct else order).sql(dialect="spark")
            kept = f"TRANSFORM(COLLECT_LIST(STRUCT({value} AS v)), s -> s.v)"
            agg.replace(sqlglot.parse_one(f"ARRAY_DISTINCT({kept})" if distinct else kept, read="spark"))
            continue
        keys = order.expressions
        if any(k.args.get("desc") for k in keys):
            raise NotPortable("list() ordered descending")
        fields = ", ".join(f"{k.this.sql(dialect='spark')} AS k{i}" for i, k in enumerate(keys))
        value = order.this.sql(dialect="spark")
        agg.replace(sqlglot.parse_one(
            f"TRANSFORM(ARRAY_SORT(COLLECT_LIST(STRUCT({fields}, {value} AS v))), s -> s.v)", read="spark"))
    return tree


def _series_tables(tree: exp.Expression) -> exp.Expression:
    """``range(a, b) AS t(y)`` in a FROM or JOIN: a derived table of one column, a sequence exploded
    (``(SELECT EXPLODE(…) AS y) AS t``, which a later join's condition can name, unlike Spark's
    ``LATERAL VIEW``), empty when b <= a as DuckDB's (Spark's ``SEQUENCE`` would count down)."""
    for table in list(tree.find_all(exp.Table)):
        series = table.this
        if not isinstance(series, exp.GenerateSeries):
            continue
        alias = table.args.get("alias")
        if alias is None or len(alias.columns) != 1 or series.args.get("step") is not None \
                or not series.args.get("is_end_exclusive"):
            raise NotPortable("range(…) in a FROM without a step and named as t(column)")
        start, end = series.args["start"], series.args["end"]
        last = exp.Sub(this=exp.paren(end.copy()), expression=exp.Literal.number(1))
        values = exp.If(this=exp.GT(this=exp.paren(end.copy()), expression=exp.paren(start.copy())),
                        true=exp.Anonymous(this="SEQUENCE", expressions=[start.copy(), last]),
                        false=exp.Anonymous(this="ARRAY", expressions=[]))
        column = alias.columns[0].name
        table.replace(exp.select(exp.alias_(exp.Explode(this=values), column)).subquery(alias.name))
    return tree


def _any_values(tree: exp.Expression) -> exp.Expression:
    """``any_value(x)`` skips NULLs in DuckDB: Spark's ``any_value(x, true)`` (which, unlike the
    ``IGNORE NULLS`` sqlglot writes, takes a ``FILTER``)."""
    for value in list(tree.find_all(exp.AnyValue)):
        spelled = exp.Anonymous(this="ANY_VALUE", expressions=[value.this.copy(), exp.true()])
        (value.parent if isinstance(value.parent, exp.IgnoreNulls) else value).replace(spelled)
    return tree


def _finite(tree: exp.Expression) -> exp.Expression:
    """DuckDB's ``isfinite(x)`` (NULL for NULL): neither NaN nor infinite."""
    for call in list(tree.find_all(exp.Anonymous)):
        if str(call.this).lower() == "isfinite" and len(call.expressions) == 1:
            x = call.expressions[0].sql(dialect="spark")
            call.replace(exp.paren(sqlglot.parse_one(
                f"CASE WHEN {x} IS NULL THEN NULL ELSE NOT ISNAN({x}) AND ABS({x}) <> DOUBLE('inf') END", read="spark")))
    return tree


def _asof_joins(tree: exp.Expression) -> exp.Expression:
    """``a ASOF JOIN s ON keys AND a.x >= s.t``: the row of s with the largest t not after a.x. In
    Spark, each row of s learns the next t of its keys (``LEAD``), and the join keeps the one whose
    interval [t, next t) holds a.x: the same row, as a range join."""
    for join in list(tree.find_all(exp.Join)):
        if str(join.args.get("method") or "").upper() != "ASOF":
            continue
        alias = join.this.alias_or_name
        inequality, keys = None, []
        for part in join.args["on"].flatten() if isinstance(join.args["on"], exp.And) else [join.args["on"]]:
            if isinstance(part, exp.EQ):
                keys += [c.name for c in part.find_all(exp.Column) if c.table == alias]
            elif isinstance(part, exp.GTE) and isinstance(part.expression, exp.Column) and part.expression.table == alias:
                inequality = (part.this, part.expression.name)
            elif isinstance(part, exp.LTE) and isinstance(part.this, exp.Column) and part.this.table == alias:
                inequality = (part.expression, part.this.name)
            else:
                raise NotPortable("ASOF JOIN condition other than keys and one >=")
        if inequality is None:
            raise NotPortable("ASOF JOIN without an inequality")
        outer, column = inequality
        inner = join.this.copy()
        inner.set("alias", None)
        inner_sql = inner.sql(dialect="duckdb")
        if isinstance(inner, exp.Subquery):
            inner_sql = inner.this.sql(dialect="duckdb")
        partition = f"PARTITION BY {', '.join(keys)} " if keys else ""
        ranged = parse(f"""SELECT * FROM (SELECT *, lead({column}) OVER ({partition}ORDER BY {column}) AS __asof_next
                                         FROM ({inner_sql}) AS __asof_inner) AS {alias}""").args["from_"].this
        bound = parse(f"SELECT 1 WHERE {alias}.__asof_next IS NULL OR {outer.sql(dialect='duckdb')} < "
                      f"{alias}.__asof_next").args["where"].this
        join.set("this", ranged)
        join.set("method", None)
        join.set("on", exp.and_(join.args["on"].copy(), exp.paren(bound)))
    return tree


#: strftime directives a format may use to parse, and Spark's pattern letters for each. ``%y``
#: (DuckDB puts 69-99 in the 1900s, Spark every year in the 2000s) and the 12-hour clock are not here.
_FORMAT_FIELDS = {"%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss", "%f": "SSSSSS",
                  "%b": "MMM", "%B": "MMMM", "%%": "%"}
#: What DuckDB skips around a value it parses.
_SPACES = " \t\n\r\x0b\x0c"


def _rows_in_order_read(tree: exp.Expression) -> exp.Expression:
    """DuckDB's ``row_number() OVER ()`` numbers a table's rows in the order it reads them (a
    file's rows in the file's order: the data row numbers the checks show). Spark requires an
    order: the file each row comes from (a table is a folder of parts, written and named in the
    order of its rows; Spark reads the largest first), then ``monotonically_increasing_id()``,
    which increases in the order of the rows of each. Over a join (no one file order; Spark has
    no file name there) only the latter: the numbers are then merely distinct, as in DuckDB."""
    for window in tree.find_all(exp.Window):
        if isinstance(window.this, exp.RowNumber) and not window.args.get("partition_by") \
                and not window.args.get("order"):
            select = window.find_ancestor(exp.Select)
            joined = select is not None and bool(select.args.get("joins"))
            names = ("MONOTONICALLY_INCREASING_ID",) if joined else ("INPUT_FILE_NAME", "MONOTONICALLY_INCREASING_ID")
            window.set("order", exp.Order(expressions=[
                exp.Ordered(this=exp.Anonymous(this=name, expressions=[])) for name in names]))
    return tree


def _divisions_in_double(tree: exp.Expression) -> exp.Expression:
    """DuckDB's ``/`` always gives a DOUBLE; Spark's keeps decimals (``n / 4503599627370496.0``, the
    uniform draws, is a decimal rounded to a few places there): the dividend made a DOUBLE first."""
    for division in tree.find_all(exp.Div):
        division.set("this", exp.cast(division.this.copy(), "DOUBLE"))
    return tree


def _hex_numbers(tree: exp.Expression) -> exp.Expression:
    """DuckDB reads ``'0x' || h`` cast to an integer as hexadecimal (the uniform draws hash a text
    into one: ``CAST('0x' || left(md5(t), 13) AS UBIGINT)``): Spark's ``CONV(h, 16, 10)``, as a
    BIGINT (Spark has no unsigned type: 15 hexadecimal digits at most, which the draws use)."""
    for cast in _innermost_first(tree.find_all(exp.Cast)):
        inner = cast.this.unnest() if isinstance(cast.this, exp.Paren) else cast.this
        if not (cast.to.this in (exp.DataType.Type.UBIGINT, exp.DataType.Type.BIGINT) and isinstance(inner, exp.DPipe)
                and isinstance(inner.this, exp.Literal) and inner.this.is_string and inner.this.this == "0x"):
            continue
        digits = inner.expression
        if not (isinstance(digits, exp.Left) and isinstance(digits.expression, exp.Literal)
                and int(digits.expression.this) <= 15):
            raise NotPortable("a hexadecimal cast of more than left(…, 15) digits (Spark has no unsigned BIGINT)")
        cast.replace(exp.cast(exp.Anonymous(this="CONV", expressions=[
            digits.copy(), exp.Literal.number(16), exp.Literal.number(10)]), "BIGINT"))
    return tree


def _list_slices(tree: exp.Expression) -> exp.Expression:
    """DuckDB's ``list[a:b]`` (from the a-th to the b-th element, counted from 1): Spark's
    ``SLICE(list, a, b - a + 1)``, for whole numbers 1 <= a <= b; other bounds are not spelled."""
    for bracket in _innermost_first(tree.find_all(exp.Bracket)):
        if not any(isinstance(e, exp.Slice) for e in bracket.expressions):
            continue
        (bounds,) = bracket.expressions
        first, last = bounds.this, bounds.expression
        if not all(isinstance(b, exp.Literal) and not b.is_string and b.this.isdigit() for b in (first, last)) \
                or not 1 <= int(first.this) <= int(last.this):
            raise NotPortable(f"list slice {bracket.sql(dialect='duckdb')} (only list[a:b], 1 <= a <= b, is spelled)")
        length = exp.Literal.number(int(last.this) - int(first.this) + 1)
        bracket.replace(exp.Anonymous(this="SLICE", expressions=[bracket.this.copy(), first.copy(), length]))
    return tree


def string_literal(node: exp.Expression | None, what: str) -> str:
    """The text of a string literal, or NotPortable naming ``what`` (a spelling that reads the
    value at translation time cannot take a column or an expression)."""
    if not isinstance(node, exp.Literal) or not node.is_string:
        raise NotPortable(f"{what} that is not a string literal")
    return node.this


def _spark_format(duckdb_format: exp.Expression) -> exp.Expression:
    """A strftime pattern (``'%d/%m/%Y'``) as Spark's datetime pattern for parsing (``'d/M/yyyy'``).
    DuckDB reads ``5/3/2020`` with ``%d/%m``: a two-digit field between separators takes one digit
    too in Spark as well (fields that touch, as in ``yyyyMMdd``, keep their widths: Spark cannot
    tell where one ends). Letters of the format itself (the ``T`` of ``%Y-%m-%dT%H``) are quoted."""
    spelled = []
    for token in re.findall(r"%.|[^%]", string_literal(duckdb_format, "a date format")):
        if token.startswith("%"):
            if token not in _FORMAT_FIELDS:
                raise NotPortable(f"date format {token} (spelled for Spark: {', '.join(_FORMAT_FIELDS)})")
            spelled.append(_FORMAT_FIELDS[token])
        else:
            spelled.append(f"'{token}'" if token.isalpha() or token == "'" else token)
    pattern = "".join(spelled)
    return exp.Literal.string(re.sub(r"(?<![A-Za-z])(dd|MM|HH|mm|ss)(?![A-Za-z])", lambda m: m.group(1)[0], pattern))


def _parsed_with_formats(tree: exp.Expression) -> exp.Expression:
    """``try_strptime(x, format)`` (NULL where x does not parse): Spark's ``TRY_TO_TIMESTAMP`` of x
    with the white space around it trimmed (DuckDB skips it) and the pattern spelled for Spark; a
    list of formats is tried in its order, as DuckDB does."""
    for call in _innermost_first(tree.find_all(exp.Anonymous)):
        if str(call.this).lower() != "try_strptime" or len(call.expressions) != 2:
            continue
        value, formats = call.expressions
        listed = formats.expressions if isinstance(formats, exp.Array) else [formats]
        trimmed = exp.Trim(this=value.copy(), expression=exp.Literal.string(_SPACES), position="BOTH")
        tries = [exp.Anonymous(this="TRY_TO_TIMESTAMP", expressions=[trimmed.copy(), _spark_format(f)]) for f in listed]
        call.replace(tries[0] if len(tries) == 1 else exp.Coalesce(this=tries[0], expressions=tries[1:]))
    return tree


def _array_overlaps(tree: exp.Expression) -> exp.Expression:
    """``list_has_any(a, b)`` (sqlglot's ``a && b``): Spark's ``ARRAYS_OVERLAP``."""
    for overlap in _innermost_first(tree.find_all(exp.ArrayOverlaps)):
        overlap.replace(exp.Anonymous(this="ARRAYS_OVERLAP", expressions=[overlap.this.copy(),
                                                                          overlap.expression.copy()]))
    return tree


def _string_similarities(tree: exp.Expression) -> exp.Expression:
    """Jaro(-Winkler) and Damerau-Levenshtein by the names of Splink's Spark jar, NULL where an
    argument is (the jar gives 0 or 100) and, for Jaro, 0 where one is empty (the jar gives 1 for
    two empty strings); ``hamming(a, b)`` as a count of the positions where they differ, NULL for
    strings of different lengths (where DuckDB raises). The jar's Jaro-Winkler is Apache Commons
    Text's, whose scores differ a little from DuckDB's for some pairs (MACDONALDSON, MCDONALDSON:
    0.9068 against 0.9205): see docs/engine.md."""
    for call in _innermost_first(tree.find_all(exp.Anonymous, exp.JarowinklerSimilarity)):
        name = "jaro_winkler_similarity" if isinstance(call, exp.JarowinklerSimilarity) else str(call.this).lower()
        args = [call.this, call.expression] if isinstance(call, exp.JarowinklerSimilarity) else call.expressions
        if len(args) != 2 or (name not in _SIMILARITIES and name != "hamming"):
            continue
        a, b = (x.sql(dialect="spark") for x in args)
        if name == "hamming":
            value = (f"CASE WHEN LENGTH({a}) = LENGTH({b}) THEN AGGREGATE(SEQUENCE(1, LENGTH({a})), 0, "
                     f"(__hamming_n, __hamming_i) -> __hamming_n + IF(SUBSTRING({a}, __hamming_i, 1) <> "
                     f"SUBSTRING({b}, __hamming_i, 1), 1, 0)) END")
        else:
            empty = f"WHEN {a} = '' OR {b} = '' THEN 0.0 " if name != "damerau_levenshtein" else ""
            value = f"CASE WHEN {a} IS NULL OR {b} IS NULL THEN NULL {empty}ELSE {_SIMILARITIES[name]}({a}, {b}) END"
        call.replace(exp.paren(sqlglot.parse_one(value, read="spark")))
    return tree


def _java_regex(pattern: exp.Expression, what: str) -> str:
    """A pattern DuckDB (RE2) reads as Java (Spark) reads it, or NotPortable: RE2's POSIX classes
    (``[[:digit:]]``) and named groups ``(?P<…>)`` mean other things or nothing in Java."""
    text = string_literal(pattern, f"{what} with a pattern")
    if "[[:" in text or "(?P<" in text:
        raise NotPortable(f"{what} with a POSIX class or a named group")
    return _end_of_text(text)


def _end_of_text(pattern: str) -> str:
    """RE2's ``$`` is the end of the text; Java's also matches before a final newline: ``\\z``.
    A ``$`` escaped or inside a character class is a dollar sign in both."""
    out, escaped, in_class = [], False, False
    for c in pattern:
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == "[" and not in_class:
            in_class = True
        elif c == "]" and in_class:
            in_class = False
        elif c == "$" and not in_class:
            out.append("\\z")
            continue
        out.append(c)
    return "".join(out)


def _full_matches(tree: exp.Expression) -> exp.Expression:
    """``regexp_full_match(x, p)``: the whole of x matches p (Spark's ``RLIKE`` finds p anywhere;
    ``\\z``, as Java's ``$`` would also match before a final newline)."""
    for match in _innermost_first(tree.find_all(exp.RegexpFullMatch)):
        if match.args.get("options") is not None:
            raise NotPortable("regexp_full_match with options")
        pattern = _java_regex(match.expression, "regexp_full_match")
        match.replace(exp.RegexpLike(this=match.this.copy(), expression=exp.Literal.string(f"^(?:{pattern})\\z")))
    return tree


def _can_match_once_only(pattern: str) -> bool:
    """A pattern whose every match replaces the same text as its first: anchored at the start, or
    ending in one or more of something at the end (``'[A-Z]+$'``, which cannot match empty there
    again), and no alternation."""
    return "|" not in pattern and (pattern.startswith("^") or (pattern.endswith("+$") and not pattern.endswith("\\+$")))


def _java_replacement(text: str) -> str:
    """DuckDB's replacement (``\\1`` a group, ``\\\\`` a backslash, ``$`` itself) as Java's (``$1``,
    ``\\\\``, ``\\$``), in one pass from the left."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1].isdigit():
            out.append("$" + text[i + 1])
            if i + 2 < len(text) and text[i + 2].isdigit():
                raise NotPortable("a replacement group followed by a digit")
            i += 2
        elif c == "\\" and i + 1 < len(text) and text[i + 1] == "\\":
            out.append("\\\\")
            i += 2
        elif c == "$":
            out.append("\\$")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _first_replacements(tree: exp.Expression) -> exp.Expression:
    """``regexp_replace`` without ``'g'`` replaces the first match in DuckDB and every match in
    Spark: the same only for a pattern that can match once (:func:`_can_match_once_only`); any
    other raises, as do flags other than ``'g'``. The replacement is spelled for Java."""
    for replace in list(tree.find_all(exp.RegexpReplace)):
        modifiers = replace.args.get("modifiers")
        flags = str(modifiers.this) if modifiers is not None else ""
        if set(flags) - {"g"}:
            raise NotPortable(f"regexp_replace with flags {flags!r}")
        pattern = _java_regex(replace.expression, "regexp_replace")
        if "g" not in flags and not _can_match_once_only(replace.expression.this):
            raise NotPortable("regexp_replace of the first match only (no 'g') with a pattern that may match again")
        replace.set("expression", exp.Literal.string(pattern))
        replacement = string_literal(replace.args.get("replacement"), "regexp_replace with a replacement")
        replace.set("replacement", exp.Literal.string(_java_replacement(replacement)))
        replace.set("modifiers", None)
    return tree


@functools.lru_cache(maxsize=1)
def accent_table() -> tuple[str, str]:
    """DuckDB's ``strip_accents`` as a translation: every character of the Basic Multilingual Plane
    it changes (to one letter, or to nothing for a combining mark), asked of DuckDB itself, so the
    table is DuckDB's own answer."""
    chars = [chr(cp) for cp in range(128, 0x10000) if not 0xD800 <= cp <= 0xDFFF]
    con = duckdb.connect()
    try:
        rows = con.execute("SELECT c, strip_accents(c) FROM unnest(?) AS t(c) WHERE strip_accents(c) <> c",
                           [chars]).fetchall()
    finally:
        con.close()
    if any(len(s) > 1 for _, s in rows):   # a DuckDB whose strip_accents gives several letters
        raise NotPortable("strip_accents: DuckDB turns a character into several")
    mapped = [(c, s) for c, s in rows if len(s) == 1]
    dropped = [c for c, s in rows if s == ""]
    return "".join(c for c, _ in mapped) + "".join(dropped), "".join(s for _, s in mapped)


def _accents_stripped(tree: exp.Expression) -> exp.Expression:
    """``strip_accents(x)``: Spark's ``TRANSLATE`` with DuckDB's own table (:func:`accent_table`)."""
    for call in _innermost_first(tree.find_all(exp.Anonymous)):
        if str(call.this).lower() == "strip_accents" and len(call.expressions) == 1:
            accented, plain = accent_table()
            translated = exp.Anonymous(this="TRANSLATE", expressions=[
                call.expressions[0].copy(), exp.Literal.string(accented), exp.Literal.string(plain)])
            # DuckDB drops every mark; the table holds the plane's, this the others' (U+1D167 …)
            call.replace(exp.RegexpReplace(this=translated, expression=exp.Literal.string("\\p{M}"),
                                           replacement=exp.Literal.string(""), modifiers=exp.Literal.string("g")))
    return tree


def _innermost_first(nodes: Iterator[exp.Expression]) -> list[exp.Expression]:
    """Nodes of a breadth-first walk, deepest first: a rewrite that copies a node's arguments (or
    prints them) then sees them rewritten already."""
    return list(nodes)[::-1]
