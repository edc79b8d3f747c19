"""Every SQL statement AKKO generates is built here as a sqlglot tree, never pasted together as text.

A name or value that reaches SQL (a column a check names, a result column's alias, a table, a snapshot id, a
file location) is a node of the tree: identifiers are always quoted by `identifier` (the one quoting function),
values are typed literals by `literal`, and the dialect's generator escapes both. So `a" FROM x --` as a column
name stays one column name whatever the engine (tests/security/test_sql_generation.py fuzzes it).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlglot import exp

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?")
_TIME = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.(\d+))?)?\s*([+-]\d{2}(?::?\d{2})?|[A-Za-z][\w/+-]*)?$")


def identifier(name: str) -> exp.Identifier:
    """The one quoting function: `name` as a quoted identifier, whatever characters it holds."""
    from sqlglot import exp

    if not isinstance(name, str) or not name:
        raise ValueError(f"an SQL identifier must be a non-empty string, not {name!r}")
    return exp.to_identifier(name, quoted=True)


def column(name: str, table: str | None = None) -> exp.Column:
    """A column, optionally qualified by a table alias: both quoted."""
    from sqlglot import exp

    return exp.Column(this=identifier(name), table=identifier(table) if table else None)


def table(name: str, alias: str | None = None, catalog: str | None = None) -> exp.Table:
    """A lakehouse table `namespace.table` (the one dot separates them: a table name may hold dots of its own
    only if the namespace is given apart), each part quoted; optionally in a catalog and with an alias."""
    from sqlglot import exp

    namespace, _, short = name.partition(".")
    if not short:
        namespace, short = "", namespace
    return exp.Table(
        this=identifier(short),
        db=identifier(namespace) if namespace else None,
        catalog=identifier(catalog) if catalog else None,
        alias=exp.TableAlias(this=identifier(alias)) if alias else None,
    )


def literal(value: Any) -> exp.Expression:
    """A typed Trino literal: NULL, booleans, numbers as written, dates and timestamps typed (also ISO text, as
    YAML specs give them), everything else a string (escaped by the generator)."""
    from sqlglot import exp

    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float | decimal.Decimal):
        if isinstance(value, float) and value != value:  # NaN has no literal
            raise ValueError("NaN cannot be an SQL literal")
        return exp.Literal.number(repr(value) if isinstance(value, float) else str(value))
    if isinstance(value, dt.datetime):
        return typed("TIMESTAMP", value.isoformat(sep=" "))
    if isinstance(value, dt.date):
        return typed("DATE", value.isoformat())
    text = str(value)
    if _ISO_DATE.fullmatch(text):
        return typed("DATE", text)
    if _ISO_TIMESTAMP.fullmatch(text):
        return typed("TIMESTAMP", text.replace("T", " "))
    return exp.Literal.string(text)


def typed(kind: str, text: str) -> exp.Expression:
    """`DATE '2026-01-01'`, `TIMESTAMP '...'`: a string literal cast to the type, as sqlglot reads Trino's typed
    literal (a timestamp's precision is its fraction's digits, as in Trino: a bare TIMESTAMP would be
    timestamp(3) and round a microsecond bound)."""
    from sqlglot import exp

    to = exp.DataType.build(kind)
    if to.this == exp.DataType.Type.TIMESTAMP:
        time = _TIME.search(text)
        if time is not None and time.group(2):  # a zone: Trino's literal is a timestamp with time zone
            to = exp.DataType(this=exp.DataType.Type.TIMESTAMPTZ)
        digits = len(time.group(1) or "") if time is not None else 0
        to.set("expressions", [exp.DataTypeParam(this=exp.Literal.number(digits))])
    return exp.cast(exp.Literal.string(text), to)


def render(tree: exp.Expression, dialect: str = "trino") -> str:
    """The SQL text of a tree, in the dialect of the engine that runs it."""
    return tree.sql(dialect=dialect)


def alias(node: exp.Expression, name: str) -> exp.Alias:
    """`node AS "name"`."""
    from sqlglot import exp

    return exp.Alias(this=node, alias=identifier(name))


def star(table: str | None = None) -> exp.Expression:
    """`*`, or `"table".*` for the columns of one table alias only."""
    from sqlglot import exp

    return exp.Column(this=exp.Star(), table=identifier(table)) if table else exp.Star()


def subquery(query: exp.Expression, name: str) -> exp.Subquery:
    """`(query) AS "name"`: a query (AKKO's own, or a user's parsed by sql/parse.py) as a table source."""
    from sqlglot import exp

    return exp.Subquery(this=query, alias=exp.TableAlias(this=identifier(name)))


def call(name: str, *args: exp.Expression, dialect: str = "trino") -> exp.Expression:
    """A call of the function `name` of `dialect` on nodes: sqlglot's own node for a function it knows
    (`count_if` -> CountIf), an anonymous call otherwise. `name` is AKKO's, never a user's."""
    from sqlglot import exp

    return exp.func(name, *args, dialect=dialect)


def named_argument(name: str, value: exp.Expression) -> exp.Kwarg:
    """`name => value`, a named argument of a Trino procedure (`name` is the procedure's, written as Trino's
    documentation writes it: Trino resolves procedure arguments by their unquoted, canonical names)."""
    from sqlglot import exp

    return exp.Kwarg(this=exp.var(name), expression=value)


def string(text: str) -> exp.Literal:
    """A string literal, always (`literal` types ISO dates): names passed as values, e.g. to PostgreSQL's
    `format('... %I ...', name)`."""
    from sqlglot import exp

    return exp.Literal.string(text)


def select_all(table_name: str) -> exp.Select:
    """`SELECT * FROM "namespace"."table"`, e.g. a query AKKO suggests (add `.where(node)` for a filter)."""
    from sqlglot import exp

    return exp.Select(expressions=[star()]).from_(table(table_name), copy=False)
