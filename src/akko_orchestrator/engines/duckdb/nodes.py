"""Small builders of sqlglot nodes for the Trino-on-DuckDB rewrites (sqlglot is imported on first use)."""

from __future__ import annotations

from typing import Any


def sql_exp():  # sqlglot's expressions, imported when the first query is translated
    from sqlglot import exp

    return exp


def type_is(node: Any, *kinds: str) -> bool:
    exp = sql_exp()
    dtype = getattr(node, "type", None)
    return dtype is not None and dtype.is_type(*(exp.DataType.Type[k] for k in kinds))


def cast_as(node: Any, to: Any) -> Any:
    """CAST(node AS to): `to` a constant type name (`"BIGINT"`) or a DataType node (`decimal(p, s)`)."""
    exp = sql_exp()
    cast = exp.Cast(this=node, to=exp.DataType.build(to, dialect="duckdb"))
    cast.type = exp.DataType.build(to, dialect="duckdb")
    return cast


def decimal(precision: int, scale: int) -> Any:
    """The type DECIMAL(precision, scale) as a node (the numbers are literals of the tree, never pasted text)."""
    exp = sql_exp()
    params = [exp.DataTypeParam(this=exp.Literal.number(int(n))) for n in (precision, scale)]
    return exp.DataType(this=exp.DataType.Type.DECIMAL, expressions=params, nested=False)


def call(name: str, *args: Any) -> Any:
    return sql_exp().Anonymous(this=name, expressions=list(args))


def case_when(condition: Any, then: Any, otherwise: Any | None = None) -> Any:
    exp = sql_exp()
    case = exp.Case().when(condition, then)
    return case.else_(otherwise) if otherwise is not None else case


def number(value: int) -> Any:
    return sql_exp().Literal.number(value)
