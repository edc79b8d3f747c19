"""Trino's exact numbers on DuckDB: the decimal type Trino gives an expression, and the rewrites that make DuckDB
answer it (exact decimal division and averages rounded half up, integer division, result precision and scale)."""

from __future__ import annotations

from typing import Any

from akko_orchestrator.engines.duckdb.nodes import call, cast_as, decimal, number, sql_exp, type_is

INTEGER_DIGITS = {"TINYINT": 3, "SMALLINT": 5, "INT": 10, "BIGINT": 19}
INTEGER_TYPES = {digits: name for name, digits in INTEGER_DIGITS.items()}


def _is_float(node: Any) -> bool:
    exp = sql_exp()
    if isinstance(node, exp.Literal) and not node.is_string:
        return "e" in node.name.lower()
    return type_is(node, "DOUBLE", "FLOAT")


def decimal_type(node: Any) -> tuple[int, int, bool] | None:
    """Trino's exact numeric type of `node` as (precision, scale, is_integer), integers as decimal(n, 0); None when
    the node is not an exact number or its type is not known for sure.

    Derived by Trino's rules, not taken from sqlglot's annotation (which keeps decimal(12, 2) for a product of two
    decimal(12, 2), where Trino has decimal(24, 4)): only the columns of lakehouse tables come from the annotation,
    and a column of a subquery, CTE or VALUES is the type of what it selects."""
    exp = sql_exp()
    if isinstance(
        node, exp.Paren | exp.Neg | exp.Abs | exp.Window | exp.Filter | exp.Min | exp.Max | exp.AnyValue
    ):
        return decimal_type(node.this)
    if isinstance(node, exp.Literal) and not node.is_string:
        return _literal_type(node.name)
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div | exp.Mod):
        return _arithmetic_type(node)
    if isinstance(node, exp.Cast | exp.TryCast):
        return _declared(node.to)
    if isinstance(node, exp.Column):
        return _column_type(node)
    return _aggregate_or_conditional_type(node)


def _aggregate_or_conditional_type(node: Any) -> tuple[int, int, bool] | None:
    exp = sql_exp()
    if isinstance(node, exp.Sum):
        found = decimal_type(node.this)
        return (19, 0, True) if found and found[2] else (38, found[1], False) if found else None
    if isinstance(node, exp.Avg):
        found = decimal_type(node.this)
        return found if found and not found[2] else None
    if isinstance(node, exp.Round) and node.args.get("decimals") is not None:
        found = decimal_type(node.this)
        return (min(38, found[0] + 1), found[1], False) if found and not found[2] else None
    if isinstance(node, exp.Coalesce):
        return _unify([node.this, *node.expressions])
    if isinstance(node, exp.If):
        return _unify([node.args.get("true"), node.args.get("false")])
    if isinstance(node, exp.Case):
        return _unify(
            [*(when.args.get("true") for when in node.args.get("ifs") or []), node.args.get("default")]
        )
    # Other functions answering an integer (count, length, year, rank...) answer a BIGINT in Trino, whatever
    # integer type sqlglot annotates (TINYINT for year()).
    dtype = getattr(node, "type", None)
    if isinstance(node, exp.Func) and dtype is not None and dtype.this.name in INTEGER_DIGITS:
        return INTEGER_DIGITS["BIGINT"], 0, True
    return None


def _declared(dtype: Any) -> tuple[int, int, bool] | None:
    exp = sql_exp()
    if dtype is None:
        return None
    if dtype.this.name in INTEGER_DIGITS:
        return INTEGER_DIGITS[dtype.this.name], 0, True
    if dtype.is_type(exp.DataType.Type.DECIMAL):
        params = [p.this.name for p in dtype.expressions]
        if len(params) == 2:
            return int(params[0]), int(params[1]), False
    return None


def _unify(nodes: list[Any]) -> tuple[int, int, bool] | None:
    """Trino's common type of CASE branches, COALESCE arguments, VALUES rows or UNION branches (NULLs aside)."""
    exp = sql_exp()
    types = [decimal_type(n) for n in nodes if n is not None and not isinstance(n, exp.Null)]
    if not types or any(t is None for t in types):
        return None
    known = [t for t in types if t is not None]
    if all(t[2] for t in known):
        return max(t[0] for t in known), 0, True
    scale = max(t[1] for t in known)
    digits = max(t[0] - t[1] for t in known)
    return min(38, digits + scale), scale, False


def _column_type(column: Any) -> tuple[int, int, bool] | None:
    exp = sql_exp()
    source = _source_of(column)
    if isinstance(source, exp.Table):
        cte = _cte(source)
        if cte is None:  # a lakehouse table: sqlglot's annotation read the type from its Iceberg schema
            return _declared(getattr(column, "type", None))
        return _projection_type(cte.this, column.name)
    if isinstance(source, exp.Subquery):
        return _projection_type(source.this, column.name)
    if isinstance(source, exp.Values):
        names = [c.name for c in source.args["alias"].columns] if source.args.get("alias") else []
        if column.name not in names:
            return None
        index = names.index(column.name)
        return _unify([row.expressions[index] for row in source.expressions if len(row.expressions) > index])
    return None


def _source_of(column: Any) -> Any | None:
    """The FROM or JOIN item a qualified column reads (a table, subquery, VALUES...)."""
    exp = sql_exp()
    alias = column.table
    node = column.parent
    while alias and node is not None:
        if isinstance(node, exp.Select):
            from_ = node.args.get("from_") or node.args.get("from")
            items = ([from_.this] if from_ else []) + [join.this for join in node.args.get("joins") or []]
            for item in items:
                if item.alias_or_name == alias:
                    return item
        node = node.parent
    return None


def _cte(table: Any) -> Any | None:
    exp = sql_exp()
    if table.db:
        return None
    node = table.parent
    while node is not None:
        with_ = node.args.get("with_") or node.args.get("with")
        if isinstance(with_, exp.With):
            for cte in with_.expressions:
                if cte.alias == table.name:
                    return cte
        node = node.parent
    return None


def _projection_type(query: Any, name: str) -> tuple[int, int, bool] | None:
    exp = sql_exp()
    selects = _leftmost(query).selects if _leftmost(query) is not None else []
    names = [s.alias_or_name for s in selects]
    if name not in names:
        return None
    index = names.index(name)
    branches = _branches(query)
    if any(b is None or len(b.selects) <= index for b in branches):
        return None
    projections = [b.selects[index] for b in branches]
    return _unify([p.this if isinstance(p, exp.Alias) else p for p in projections])


def _leftmost(query: Any) -> Any | None:
    branches = _branches(query)
    return branches[0] if branches else None


def _branches(query: Any) -> list[Any]:
    exp = sql_exp()
    if isinstance(query, exp.Subquery | exp.Paren):
        return _branches(query.this)
    if isinstance(query, exp.SetOperation):
        return _branches(query.this) + _branches(query.expression)
    return [query] if isinstance(query, exp.Select) else [None]


def _literal_type(text: str) -> tuple[int, int, bool] | None:
    if "e" in text.lower():
        return None  # 1e3 is a double in Trino
    if "." not in text:
        return (10, 0, True) if abs(int(text)) < 2**31 else (19, 0, True)
    whole, fraction = text.lstrip("-").split(".", 1)
    digits = len(whole.lstrip("0")) + len(fraction)
    return max(digits, 1), len(fraction), False


def _arithmetic_type(node: Any) -> tuple[int, int, bool] | None:
    exp = sql_exp()
    left, right = decimal_type(node.this), decimal_type(node.expression)
    if left is None or right is None:
        return None
    (p1, s1, int1), (p2, s2, int2) = left, right
    if int1 and int2:
        return max(p1, p2), 0, True
    scale = max(s1, s2)
    if isinstance(node, exp.Add | exp.Sub):
        return min(38, max(p1 - s1, p2 - s2) + scale + 1), scale, False
    if isinstance(node, exp.Mul):
        return min(38, p1 + p2), s1 + s2, False
    if isinstance(node, exp.Div):
        return min(38, p1 + s2 + max(0, s2 - s1)), scale, False
    return min(38, min(p1 - s1, p2 - s2) + scale), scale, False  # Mod


def _unscaled(node: Any, scale: int) -> Any:
    """An exact number as the HUGEINT of its digits at `scale` (12.34 at scale 2 -> 1234)."""
    exp = sql_exp()
    shifted = exp.Mul(this=exp.Paren(this=node), expression=number(10**scale)) if scale else node
    return cast_as(shifted, "HUGEINT")


def _scaled(unscaled: Any, precision: int, scale: int) -> Any:
    """The HUGEINT digits of a decimal back to DECIMAL(precision, scale), exactly."""
    exp = sql_exp()
    as_decimal = cast_as(unscaled, "DECIMAL(38, 0)")
    if scale:
        as_decimal = exp.Mul(this=as_decimal, expression=exp.Literal.number("0." + "0" * (scale - 1) + "1"))
    return cast_as(as_decimal, decimal(precision, scale))


def _divide(node: Any, sql: str) -> Any | None:
    """Trino divides exact numbers exactly: integers truncated toward zero (DuckDB's `/` with integer_division),
    decimals rounded half up to decimal(p1 + s2 + max(0, s2 - s1), max(s1, s2)); both fail on a zero divisor."""
    left, right = decimal_type(node.this), decimal_type(node.expression)
    if left is None or right is None:
        if _is_float(node.this) or _is_float(node.expression):  # IEEE: x / 0 is an infinity or NaN
            quotient = call("akko_fdiv", node.this.copy(), node.expression.copy())
            both_real = type_is(node.this, "FLOAT") and type_is(node.expression, "FLOAT")
            return cast_as(quotient, "REAL") if both_real else cast_as(quotient, "DOUBLE")
        return None
    if left[2] and right[2]:
        _nonzero_divisor(node)
        return cast_as(node.copy(), INTEGER_TYPES[max(left[0], right[0])])
    precision, scale, _ = _arithmetic_type(node) or (38, 0, False)
    (_, s1, _), (_, s2, _) = left, right
    numerator = _unscaled(node.this.copy(), s1)
    shift = scale + s2 - s1
    if shift:
        numerator = sql_exp().Mul(this=numerator, expression=cast_as(number(10**shift), "HUGEINT"))
    quotient = call("akko_div_half_up", numerator, _unscaled(node.expression.copy(), s2))
    return _scaled(quotient, precision, scale)


def _nonzero_divisor(node: Any) -> Any | None:
    exp = sql_exp()
    divisor = node.expression
    if isinstance(divisor, exp.Literal) and divisor.name not in ("0", "0.0"):
        return None
    node.set("expression", call("akko_nonzero", divisor.copy()))
    return None  # changed in place


def _modulo(node: Any, sql: str) -> Any | None:
    left, right = decimal_type(node.this), decimal_type(node.expression)
    if left is not None and right is not None:
        _nonzero_divisor(node)
    return None


def _aggregate_wrappers(node: Any) -> tuple[Any, list[Any]]:
    """The outermost of `node`'s FILTER and OVER wrappers, and the wrappers from the inside out."""
    exp = sql_exp()
    wrappers, top = [], node
    while isinstance(top.parent, exp.Filter | exp.Window) and top.parent.this is top:
        top = top.parent
        wrappers.append(top)
    return top, wrappers


def _wrapped(aggregate: Any, wrappers: list[Any]) -> Any:
    for wrapper in wrappers:
        copy = wrapper.copy()
        copy.set("this", aggregate)
        aggregate = copy
    return aggregate


def _average(node: Any, sql: str) -> Any | None:
    """avg(decimal(p, s)) is decimal(p, s) in Trino, rounded half up; DuckDB answers a double."""
    exp = sql_exp()
    argument = node.this
    value = (
        argument.expressions[0] if isinstance(argument, exp.Distinct) and argument.expressions else argument
    )
    found = decimal_type(value)
    if found is None or found[2]:
        return None
    precision, scale, _ = found
    top, wrappers = _aggregate_wrappers(node)
    total = _wrapped(exp.Sum(this=argument.copy()), wrappers)
    count = _wrapped(exp.Count(this=argument.copy()), wrappers)
    result = _scaled(
        call("akko_div_half_up", _unscaled(total, scale), cast_as(count, "HUGEINT")), precision, scale
    )
    if top is node:
        return result
    top.replace(result)
    return None


def _decimal_arithmetic(node: Any, sql: str) -> Any | None:
    """+, - and * of decimals have Trino's result type (precision and scale) rather than DuckDB's."""
    found = _arithmetic_type(node)
    if found is None or found[2]:
        return None
    return cast_as(node.copy(), decimal(found[0], found[1]))


def _round(node: Any, sql: str) -> Any | None:
    """round(decimal(p, s), n) keeps the scale in Trino: decimal(p + 1, s). DuckDB answers decimal(p, n)."""
    found = decimal_type(node.this)
    if found is None or found[2] or node.args.get("decimals") is None:
        return None
    precision, scale, _ = found
    return cast_as(node.copy(), decimal(min(38, precision + 1), scale))


def _sign(node: Any, sql: str) -> Any | None:
    found = decimal_type(node.this)
    if found is not None:
        return None if found[2] else cast_as(node.copy(), "DECIMAL(1, 0)")
    if type_is(node.this, "FLOAT"):
        return cast_as(node.copy(), "REAL")
    if _is_float(node.this):
        return cast_as(node.copy(), "DOUBLE")
    return None


def decimal_literal_or_default(node: Any, sql: str) -> Any | None:
    """DECIMAL '1.50' is decimal(3, 2) in Trino, and CAST(x AS DECIMAL) is decimal(38, 0); sqlglot parses both as
    a cast to DECIMAL, which DuckDB reads as decimal(18, 3)."""
    exp = sql_exp()
    value = node.this
    start = value.meta.get("start") if isinstance(value, exp.Literal) else None
    if value.is_string and isinstance(start, int) and sql[:start].rstrip().lower().endswith("decimal"):
        found = _literal_type(value.name.strip())
        if found is not None:
            return _typed_cast(value.copy(), decimal(found[0], found[1]), node)
    return _typed_cast(value.copy(), "DECIMAL(38, 0)", node)


def _typed_cast(value: Any, to: Any, like: Any) -> Any:
    """A cast in Trino's type names, of the same class as `like` (CAST or TRY_CAST), for sqlglot to annotate."""
    exp = sql_exp()
    return type(like)(this=value, to=exp.DataType.build(to, dialect="trino"))


REWRITES: dict[str, tuple[Any, ...]] = {
    "Div": (_divide,),
    "Mod": (_modulo, _decimal_arithmetic),
    "Avg": (_average,),
    "Round": (_round,),
    "Sign": (_sign,),
    "Add": (_decimal_arithmetic,),
    "Sub": (_decimal_arithmetic,),
    "Mul": (_decimal_arithmetic,),
}
