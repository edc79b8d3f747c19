"""What the embedded engine cannot do with a step's Trino SQL, found on sqlglot's syntax tree.

The embedded profile runs spec SQL (Trino) on DuckDB through sqlglot's Trino -> DuckDB transpilation
(`engines/duckdb/`, which also corrects the differences it can: integer and decimal division, decimal
averages, date arithmetic on dates, regexp and JSON edge cases...). What remains is listed here: functions DuckDB
lacks, functions and constructs DuckDB would answer differently from Trino (a wrong answer, never returned silently),
and what sqlglot itself cannot translate. `embedded_unsupported` returns one `SqlSupportIssue` per use, with its
character offset in the SQL text, so a caller can point at file:line:column.

With `schema` (the Trino types of the tables read), checks that depend on a column's type run as well (e.g. a
DOUBLE cast to VARCHAR, which Trino writes as `1.25E-1` and DuckDB as `0.125`). Imports neither engines nor Airflow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from akko_orchestrator.plan.sql_ast import SqlSupportIssue, offset_of, written_name
from akko_orchestrator.plan.sql_refs import SqlSyntaxError, parse_trino

CLUSTER = "run this step on the `cluster` profile"
EMBEDDED = "not supported by the embedded engine (DuckDB)"

# Trino functions that sqlglot does not know (it passes them through unchanged) and that DuckDB has under the same
# name with the same answer. Every other unknown function is refused: DuckDB lacks it, or has a function of that
# name that answers differently.
SAME_IN_DUCKDB = frozenset({"map_concat", "map_values"})
# Why some unknown functions are refused although DuckDB has a function of that name (by Trino name).
ANSWERS_DIFFERENTLY: dict[str, str] = {
    "millisecond": "DuckDB's millisecond() counts the seconds too",
    "to_base": "DuckDB writes hexadecimal digits in upper case",
    "json_array_length": "DuckDB answers 0 for a value that is not an array, Trino NULL",
    "url_encode": "DuckDB encodes a space as %20, Trino as +",
    "url_decode": "DuckDB leaves + as is, Trino decodes it as a space",
    "to_milliseconds": "DuckDB's to_milliseconds makes an interval of a number",
    "bar": "DuckDB's bar() takes other arguments",
    "bit_count": "DuckDB's bit_count() takes other arguments",
    "geometric_mean": "Trino answers a real for decimals, DuckDB a double",
    "map_entries": "DuckDB names the entries' fields key and value",
    "timezone_hour": "DuckDB reads it in the session's time zone",
    "timezone_minute": "DuckDB reads it in the session's time zone",
    "timezone": "DuckDB's timezone() converts a timestamp",
    "histogram": "DuckDB's histogram() answers another map type",
}
# Better advice than only "run this step on the `cluster` profile", by Trino function name.
ALTERNATIVES: dict[str, str] = {
    "approx_distinct": "use count(DISTINCT ...), exact on both engines",
    "approx_percentile": "compute it in a `python` step",
    "format_datetime": "use date_format with MySQL-style patterns (%Y-%m-%d)",
    "parse_datetime": "use date_parse with MySQL-style patterns (%Y-%m-%d)",
    "to_iso8601": "use date_format(x, '%Y-%m-%dT%H:%i:%s')",
    "every": "use bool_and",
    "json_parse": "keep JSON as varchar and read it with json_extract_scalar or json_extract",
    "e": "use exp(1)",
    "nan": "use CAST('NaN' AS double)",
    "infinity": "use CAST('Infinity' AS double)",
    "format": "use concat and lpad, or a format string of %s, %d and %f only",
    "array_distinct": "use array_sort(array_distinct(...)) when the order does not matter",
    "with_timezone": "keep timestamps in UTC",
    "at_timezone": "keep timestamps in UTC",
}

# sqlglot expression classes (known to sqlglot) that DuckDB answers differently, and why. Keyed by class name so
# that nothing is imported at module import.
DIFFERENT_RESULT: dict[str, str] = {
    "ApproxDistinct": "DuckDB's estimate differs from Trino's: 1232 instead of 1008 for 1000 distinct values",
    "ApproxQuantile": "DuckDB's approximation differs from Trino's",
    "ParseJSON": "Trino sorts the keys of a parsed JSON object, DuckDB keeps them in order",
    "ParseDatetime": "it takes Joda-Time patterns, which DuckDB does not read",
    "Typeof": "DuckDB names types differently",
    "Repeat": "Trino's repeat builds an array, DuckDB's repeats a string",
    "ArrayDistinct": "DuckDB does not keep the order of first occurrence",
    "ArrayExcept": "DuckDB does not keep the order of first occurrence",
}
# ... and those DuckDB has no function for.
NOT_IN_DUCKDB = frozenset(
    {
        "Normalize",
        "StrToMap",
        "WidthBucket",
        "FromBase",
        "JSONArrayContains",
        "CurrentTimezone",
        "StDistance",
        "StPoint",
        "JSONValue",
    }
)
# Format specifiers DuckDB's printf reads like Java's String.format (what Trino's format uses).
PRINTF_SPECIFIER = re.compile(r"%(?:%|[-0+ ]*\d*(?:\.\d+)?[sdf])")
ANY_SPECIFIER = re.compile(r"%[^%]?")


def embedded_unsupported(
    sql: str, schema: Mapping[str, Mapping[str, str]] | None = None
) -> list[SqlSupportIssue]:
    """Everything in `sql` the embedded engine would not run: what is not Trino SQL (plan/trino_sql.py), and what
    DuckDB would answer differently from Trino; sorted by offset.

    `schema`: optional Trino column types of the tables read, as {"namespace.table": {"column": "decimal(12,2)"}};
    with it, checks that depend on a column's type run too. SQL that does not parse, or is no query, gives no issue
    (the planner reports its syntax error, plan/statements.py what is no query)."""
    from akko_orchestrator.plan.statements import QUERY_ROOTS

    try:
        statements = parse_trino(sql)
    except SqlSyntaxError:
        return []
    if any(type(s).__name__ not in QUERY_ROOTS for s in statements):
        return []  # not a query at all: plan/statements.py says so, and nothing of it runs
    return _judged(sql, statements, schema)


def embedded_unsupported_condition(text: str, condition: Any) -> list[SqlSupportIssue]:
    """The same for a check's `expression`, parsed alone from `text` (sql/parse.py): judged as the WHERE clause
    of a query, with offsets inside `text` (the condition's nodes keep their positions in it)."""
    from sqlglot import exp

    statement = exp.Select(expressions=[exp.Literal.number(1)]).where(condition.copy(), copy=False)
    return _judged(text, [statement], None)


def _judged(
    sql: str, statements: list[Any], schema: Mapping[str, Mapping[str, str]] | None
) -> list[SqlSupportIssue]:
    from akko_orchestrator.plan.trino_sql import not_trino

    # What is not Trino at all comes first: at an offset where it is found, that is the issue to report.
    found: dict[tuple[str, int], SqlSupportIssue] = {}
    for issue in not_trino(sql, statements):
        found.setdefault((issue.construct, issue.offset), issue)
    not_trino_at = {offset for _, offset in found}
    for statement in statements:
        for issue in _static_issues(statement, sql):
            if issue.offset in not_trino_at:
                continue
            found.setdefault((issue.construct, issue.offset), issue)
        typed = annotate(statement, schema or {}) if _has_typed_checks(statement) else None
        if typed is not None:
            for issue in _typed_issues(typed, sql):
                found.setdefault((issue.construct, issue.offset), issue)
    return sorted(found.values(), key=lambda issue: (issue.offset, issue.construct))


# ---------------------------------------------------------------------------------------------------------------
# Checks on the syntax tree alone


def _static_issues(statement: Any, sql: str) -> list[SqlSupportIssue]:
    from sqlglot import exp

    issues = []
    for node in statement.walk():
        issue = _construct_issue(node, sql)  # first: CAST and UNNEST are functions to sqlglot
        if issue is None and isinstance(node, exp.Func):
            issue = _function_issue(node, sql)
        if issue is not None:
            issues.append(issue)
    issues.extend(_untranslatable(statement, sql))
    return issues


def _function_issue(node: Any, sql: str) -> SqlSupportIssue | None:
    from sqlglot import exp

    name = written_name(node, sql)
    kind = type(node).__name__
    if isinstance(node, exp.Anonymous):
        lower = name.lower()
        if lower in SAME_IN_DUCKDB:
            return None
        return _issue(name, node, sql, ANSWERS_DIFFERENTLY.get(lower, "DuckDB has no such function"))
    if kind in DIFFERENT_RESULT:
        return _issue(name, node, sql, DIFFERENT_RESULT[kind])
    if kind in NOT_IN_DUCKDB:
        return _issue(name, node, sql, "DuckDB has no such function")
    if isinstance(node, exp.Format) and not printf_compatible(node):
        return _issue(
            name, node, sql, "its format string is Java's, which DuckDB reads only for %s, %d and %f"
        )
    if isinstance(node, exp.RegexpReplace) and not _literal_or_missing(node.args.get("replacement")):
        return _issue(
            name, node, sql, "the replacement is not a literal: its $1 group references cannot be translated"
        )
    return None


def _literal_or_missing(node: Any) -> bool:
    from sqlglot import exp

    return node is None or (isinstance(node, exp.Literal) and node.is_string)


def _construct_issue(node: Any, sql: str) -> SqlSupportIssue | None:
    from sqlglot import exp

    if isinstance(node, exp.TableSample):
        return _issue("TABLESAMPLE", node, sql, "sampling picks different rows on each engine")
    if isinstance(node, exp.AtTimeZone):
        return _issue(
            "AT TIME ZONE",
            node,
            sql,
            "DuckDB reads it as a local time, Trino as the same instant in another zone",
            "keep timestamps in UTC, or convert them in a `python` step",
        )
    if isinstance(node, exp.Unnest) and len(node.expressions) > 1:
        return _issue("UNNEST", node, sql, "UNNEST of several arrays at once (zipped) is Trino's")
    if isinstance(node, exp.Version):
        return _issue(
            "FOR VERSION/TIMESTAMP AS OF",
            node,
            sql,
            "the embedded engine reads each table's current snapshot",
        )
    if isinstance(node, exp.MatchRecognize):
        return _issue("MATCH_RECOGNIZE", node, sql, "DuckDB has no row pattern matching")
    if isinstance(node, exp.Table) and "$" in node.name:
        return _issue(
            f'"{node.name}"', node, sql, "Iceberg metadata tables are Trino's", "use `akko tables <table>`"
        )
    if isinstance(node, exp.Cast | exp.TryCast):
        return _cast_issue(node, sql)
    return None


def _cast_issue(node: Any, sql: str) -> SqlSupportIssue | None:
    from sqlglot import exp

    target = node.to
    if target.is_type(exp.DataType.Type.CHAR, exp.DataType.Type.NCHAR):
        return _issue(
            "CHAR(n)", node, sql, "Trino pads CHAR values with spaces, DuckDB does not", "cast to varchar"
        )
    if target.is_type(exp.DataType.Type.JSON):
        return _issue(
            "CAST(... AS JSON)",
            node,
            sql,
            "Trino makes a JSON string of a varchar and sorts object keys, DuckDB parses the text",
            "keep JSON as varchar and read it with json_extract_scalar",
        )
    return None


def _untranslatable(statement: Any, sql: str) -> list[SqlSupportIssue]:
    """What sqlglot itself reports it cannot translate to DuckDB (sha512, reduce with a finishing lambda...),
    located on the innermost expression whose translation fails."""
    import sqlglot
    from sqlglot import exp

    def fails(node: Any) -> str | None:
        try:
            node.sql(dialect="duckdb", unsupported_level=sqlglot.ErrorLevel.RAISE)
        except sqlglot.errors.UnsupportedError as exc:
            return str(exc).splitlines()[0]
        except Exception:  # other generator errors: not this check's business
            return None
        return None

    if fails(statement) is None:
        return []
    issues = []
    for node in statement.walk(bfs=False):
        if isinstance(node, exp.Query):
            continue
        reason = fails(node)
        if reason is None or any(fails(child) for child in node.iter_expressions()):
            continue
        name = written_name(node, sql) if isinstance(node, exp.Func) else node.key.upper()
        issues.append(_issue(name, node, sql, f"sqlglot cannot translate it to DuckDB: {reason}"))
    return issues


# ---------------------------------------------------------------------------------------------------------------
# Checks that need column types


def annotate(statement: Any, schema: Mapping[str, Mapping[str, str]]) -> Any | None:
    """A copy of `statement` with columns qualified and every expression's type annotated (Trino types), or None
    when sqlglot cannot qualify it. `schema`: {"namespace.table": {"column": "trino type"}}."""
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.schema import MappingSchema

    from akko_orchestrator.sql.build import identifier, render

    def quoted(name: str) -> str:  # sqlglot's schema parses its keys as SQL: `g -- h` would be column `g`
        return render(identifier(name.lower()))

    nested: dict[str, dict[str, dict[str, str]]] = {}
    for name, columns in schema.items():
        namespace, _, table = name.rpartition(".")
        nested.setdefault(quoted(namespace), {})[quoted(table)] = {quoted(c): t for c, t in columns.items()}
    try:
        mapping = MappingSchema(nested, dialect="trino")
        qualified = qualify(
            _without_lakehouse_catalog(statement.copy()),
            schema=mapping,
            dialect="trino",
            validate_qualify_columns=False,
            quote_identifiers=True,  # a column `SELECT *` expands to is named by data: `a" FROM x --` stays one name
            identify=False,  # names that need no quotes keep none
        )
        return annotate_types(qualified, schema=mapping, dialect="trino")
    except Exception:  # sqlglot's optimizer raises many error types; the checks then run untyped only
        return None


def _without_lakehouse_catalog(statement: Any) -> Any:
    from sqlglot import exp

    from akko_orchestrator.plan.sql_refs import LAKEHOUSE_SQL_CATALOG

    for table in statement.find_all(exp.Table):
        if table.catalog.lower() == LAKEHOUSE_SQL_CATALOG:
            table.set("catalog", None)
    return statement


def _has_typed_checks(statement: Any) -> bool:
    """Whether `_typed_issues` has anything to look at: typing a statement (a copy, qualified) costs more than
    parsing it, and most have no cast, subtraction or sequence."""
    from sqlglot import exp

    return statement.find(exp.Cast, exp.TryCast, exp.Sub, exp.GenerateSeries) is not None


def _typed_issues(typed: Any, sql: str) -> list[SqlSupportIssue]:
    from sqlglot import exp

    issues = []
    for node in typed.find_all(exp.Cast, exp.TryCast):
        source = node.this.type
        if source is None or not node.to.is_type(*exp.DataType.TEXT_TYPES):
            continue
        if source.is_type(exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT):
            issues.append(
                _issue(
                    "CAST(double AS varchar)",
                    node,
                    sql,
                    "Trino writes doubles in scientific notation (1.25E-1), DuckDB as 0.125",
                    "use format('%.2f', x) or cast to a decimal first",
                )
            )
        elif source.is_type(exp.DataType.Type.TIMESTAMPTZ):
            issues.append(
                _issue(
                    "CAST(timestamp with time zone AS varchar)",
                    node,
                    sql,
                    "Trino writes the zone name (2024-01-03 03:30:00.000000 UTC), DuckDB an offset (+00)",
                    "use date_format",
                )
            )
    for node in typed.find_all(exp.Sub):
        left, right = node.this.type, node.expression.type
        if left and right and left.is_type(exp.DataType.Type.DATE) and right.is_type(exp.DataType.Type.DATE):
            issues.append(
                _issue(
                    "DATE - DATE",
                    node,
                    sql,
                    "Trino answers an interval, DuckDB a number of days",
                    "use date_diff('day', a, b)",
                )
            )
    for node in typed.find_all(exp.GenerateSeries):
        start = node.args.get("start")
        if start is not None and start.type is not None and start.type.is_type(*exp.DataType.TEMPORAL_TYPES):
            issues.append(
                _issue("sequence", node, sql, "DuckDB's sequence of dates or timestamps is not Trino's")
            )
    return issues


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def printf_compatible(node: Any) -> bool:
    """True when a format() call can run as DuckDB's printf: a literal format string of %s, %d, %f (with flags,
    width and precision) and %%, the subset where Java's String.format and printf agree."""
    from sqlglot import exp

    pattern = node.this
    if not isinstance(pattern, exp.Literal) or not pattern.is_string:
        return False
    text = pattern.name
    return len(PRINTF_SPECIFIER.findall(text)) == len(ANY_SPECIFIER.findall(text))


def _issue(construct: str, node: Any, sql: str, why: str, alternative: str | None = None) -> SqlSupportIssue:
    advice = alternative or ALTERNATIVES.get(construct.lower())
    message = f"{construct}: {EMBEDDED} ({why}); {CLUSTER}" + (f" or {advice}" if advice else "")
    return SqlSupportIssue(construct, message, offset_of(node, sql))
