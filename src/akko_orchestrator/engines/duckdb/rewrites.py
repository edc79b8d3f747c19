"""Trino's answers on DuckDB beyond numbers: casts, dates, strings, regexps, JSON and arrays (each rewrite says what
DuckDB alone would answer)."""

from __future__ import annotations

from typing import Any

from akko_orchestrator.engines.duckdb.decimals import INTEGER_DIGITS
from akko_orchestrator.engines.duckdb.nodes import call, case_when, cast_as, number, sql_exp, type_is

# -- casts --------------------------------------------------------------------------------------------------------


def _cast_fix(node: Any, sql: str) -> Any | None:
    exp = sql_exp()
    target = node.to
    source = node.this
    if type_is(source, "DOUBLE", "FLOAT"):
        if target.this.name in INTEGER_DIGITS:  # Trino rounds half away from zero, DuckDB to even
            node.set("this", exp.Round(this=source.copy()))
        elif target.is_type(exp.DataType.Type.DECIMAL):  # Trino rounds the shortest decimal form half up
            node.set("this", cast_as(source.copy(), "VARCHAR"))
        return None
    if target.is_type(*exp.DataType.TEXT_TYPES):
        return _cast_to_text(node)
    return None


def _cast_to_text(node: Any) -> Any | None:
    exp = sql_exp()
    length = node.to.expressions
    if length:  # varchar(n): Trino truncates, DuckDB ignores the length
        text = cast_as(node.this.copy(), "VARCHAR")
        return exp.Substring(this=text, start=number(1), length=length[0].this.copy())
    source = getattr(node.this, "type", None)
    if source is not None and source.is_type(exp.DataType.Type.TIMESTAMP):
        precision = [p.this.name for p in source.expressions]
        fraction = {"0": "", "3": ".%g", "6": ".%f"}.get(precision[0] if precision else "")
        if fraction is not None:  # Trino writes every fractional digit of the type, DuckDB trims zeros
            pattern = exp.Literal.string(f"%Y-%m-%d %H:%M:%S{fraction}")
            return call("strftime", node.this.copy(), pattern)
    return None


# -- dates --------------------------------------------------------------------------------------------------------


def _on_date(node: Any, sql: str) -> Any | None:
    """date_trunc, date_add and `+ INTERVAL` on a DATE stay DATEs in Trino; DuckDB answers a TIMESTAMP."""
    exp = sql_exp()
    if isinstance(node, exp.Add | exp.Sub):
        sides = (node.this, node.expression)
        if not any(isinstance(s, exp.Interval) for s in sides) or not any(type_is(s, "DATE") for s in sides):
            return None
    elif not type_is(node.this, "DATE"):
        return None
    return cast_as(node.copy(), "DATE")


def _date_diff(node: Any, sql: str) -> Any:
    """Trino's date_diff counts whole units elapsed (DuckDB's date_sub); DuckDB's date_diff counts boundaries."""
    exp = sql_exp()
    unit = exp.Literal.string(node.text("unit") or "DAY")
    return call("date_sub", unit, node.expression.copy(), node.this.copy())


def _extract(node: Any, sql: str) -> Any | None:
    exp = sql_exp()
    part = node.this.name.upper()
    renamed = {"DOW": "ISODOW", "DAYOFWEEK": "ISODOW", "DAY_OF_WEEK": "ISODOW", "YEAR_OF_WEEK": "ISOYEAR"}
    if part in renamed:
        node.set("this", exp.Var(this=renamed[part]))
    return None


# -- strings, regexps, JSON, arrays --------------------------------------------------------------------------------


def _count_if(node: Any, sql: str) -> Any:
    """count_if counts TRUEs, 0 when none; DuckDB's count_if answers NULL over no TRUE and some NULLs."""
    exp = sql_exp()
    return exp.Count(this=case_when(node.this.copy(), number(1)))


def _regexp_extract(node: Any, sql: str) -> Any:
    """No match: Trino answers NULL, DuckDB ''."""
    matches = call("regexp_matches", node.this.copy(), node.expression.copy())
    return case_when(matches, node.copy())


def _regexp_replace(node: Any, sql: str) -> Any | None:
    """Trino (Java) writes groups as $1 in the replacement and escapes with a backslash; DuckDB (RE2) writes \\1."""
    exp = sql_exp()
    replacement = node.args.get("replacement")
    if isinstance(replacement, exp.Literal) and replacement.is_string:
        node.set("replacement", exp.Literal.string(java_replacement_to_re2(replacement.name)))
    return None


def java_replacement_to_re2(text: str) -> str:
    out, index = [], 0
    while index < len(text):
        char = text[index]
        following = text[index + 1] if index + 1 < len(text) else ""
        if char == "\\" and following:
            out.append("\\\\" if following == "\\" else following)
            index += 2
        elif char == "$" and following.isdigit():
            out.append("\\" + following)
            index += 2
        else:
            out.append("\\\\" if char == "\\" else char)
            index += 1
    return "".join(out)


def _json_scalar(node: Any, sql: str) -> Any:
    """json_extract_scalar of an object or array is NULL in Trino; DuckDB's ->> answers its text."""
    exp = sql_exp()
    kind = call("json_type", node.this.copy(), node.expression.copy())
    container = exp.In(this=kind, expressions=[exp.Literal.string("OBJECT"), exp.Literal.string("ARRAY")])
    return case_when(container, exp.Null(), node.copy())


def _split_part(node: Any, sql: str) -> Any:
    """Past the last part: Trino answers NULL, DuckDB ''."""
    exp = sql_exp()
    parts = call("len", call("string_split", node.this.copy(), node.args["delimiter"].copy()))
    within = exp.LTE(this=node.args["part_index"].copy(), expression=parts)
    return case_when(within, node.copy())


def _array_extreme(node: Any, sql: str) -> Any:
    """array_max/array_min of an array holding a NULL is NULL in Trino; DuckDB skips NULLs."""
    exp = sql_exp()
    holds_null = exp.LT(this=call("list_count", node.this.copy()), expression=call("len", node.this.copy()))
    return case_when(holds_null, exp.Null(), node.copy())


def _slice(node: Any, sql: str) -> Any | None:
    """Trino's slice(array, start, length); sqlglot passes the length as DuckDB's end index."""
    exp = sql_exp()
    length = node.args.get("end")
    if length is None or node.args.get("is_length"):
        return None
    start = node.args["start"]
    end = exp.Sub(this=exp.Add(this=start.copy(), expression=length.copy()), expression=number(1))
    negative = exp.LT(this=start.copy(), expression=number(0))
    end = case_when(negative, exp.Least(this=end.copy(), expressions=[number(-1)]), end)
    return exp.ArraySlice(this=node.this.copy(), start=start.copy(), end=end)


def _format(node: Any, sql: str) -> Any | None:
    """Trino's format is Java's String.format; for %s, %d and %f DuckDB's printf answers the same."""
    from akko_orchestrator.plan.sql_support import printf_compatible

    if not printf_compatible(node):
        return None
    return call("printf", node.this.copy(), *(e.copy() for e in node.expressions))


def _as_bigint(node: Any, sql: str) -> Any:
    """bitwise_* and array_position answer BIGINT in Trino."""
    return cast_as(node.copy(), "BIGINT")


def _as_integer(node: Any, sql: str) -> Any:
    """grouping() answers INTEGER in Trino."""
    return cast_as(node.copy(), "INT")


def _array_position(node: Any, sql: str) -> Any:
    """array_position answers 0 when the element is absent, as a BIGINT; DuckDB answers NULL, as an INTEGER."""
    exp = sql_exp()
    found = exp.Coalesce(this=node.copy(), expressions=[number(0)])
    return cast_as(
        case_when(exp.Is(this=node.this.copy(), expression=exp.Null()), exp.Null(), found), "BIGINT"
    )


def _upper(node: Any, sql: str) -> Any:
    """Trino keeps ß in upper(); DuckDB makes it ẞ. Upper-case the text between the ß."""
    exp = sql_exp()
    part = exp.to_identifier("akko_part")
    upper_part = exp.Lambda(this=exp.Upper(this=exp.column(part)), expressions=[part])
    parts = call(
        "list_transform", call("string_split", node.this.copy(), exp.Literal.string("ß")), upper_part
    )
    return call("array_to_string", parts, exp.Literal.string("ß"))


def _sha1(node: Any, sql: str) -> Any:
    """sha1 answers varbinary in Trino; DuckDB's sha1 answers hex text."""
    return sql_exp().Unhex(this=node.copy())


REWRITES: dict[str, tuple[Any, ...]] = {
    "Cast": (_cast_fix,),
    "TryCast": (_cast_fix,),
    "DateAdd": (_on_date,),
    "DateSub": (_on_date,),
    "DateTrunc": (_on_date,),
    "TimestampTrunc": (_on_date,),
    "Add": (_on_date,),
    "Sub": (_on_date,),
    "DateDiff": (_date_diff,),
    "Extract": (_extract,),
    "CountIf": (_count_if,),
    "RegexpExtract": (_regexp_extract,),
    "RegexpReplace": (_regexp_replace,),
    "JSONExtractScalar": (_json_scalar,),
    "SplitPart": (_split_part,),
    "ArrayMax": (_array_extreme,),
    "ArrayMin": (_array_extreme,),
    "ArraySlice": (_slice,),
    "Format": (_format,),
    "BitwiseAnd": (_as_bigint,),
    "BitwiseOr": (_as_bigint,),
    "BitwiseXor": (_as_bigint,),
    "BitwiseNot": (_as_bigint,),
    "ArrayPosition": (_array_position,),
    "Upper": (_upper,),
    "SHA": (_sha1,),
    "Grouping": (_as_integer,),
}
