"""DuckDB as the embedded SQL engine: Trino SQL transpiled by sqlglot, Iceberg tables read with DuckDB's iceberg
extension at the snapshot current when the step starts, or at the snapshot a query pins (`snapshot_from_id`).
Results return as Arrow and are written by pyiceberg.

sqlglot translates the syntax; `trino_semantics` then corrects what DuckDB would answer differently from Trino, so a
step gives the same rows and types on both profiles (tests/integration/test_sql_parity.py runs both): integer
division, exact decimal division and averages (Trino rounds half up to its decimal type, DuckDB answers a double),
date arithmetic on dates, date_diff counting whole units, count_if, regexp_extract and json_extract_scalar with no
match, split_part past the end, array_max with NULLs, slice, day_of_week, sha1, doubles cast to integers or decimals,
varchar(n) casts, the types of bitwise functions, sign and round. The corrections that depend on a column's type use
sqlglot's type annotation with the tables' Iceberg schemas. What cannot be corrected is listed by
`plan/sql_support.embedded_unsupported`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from akko_orchestrator.engines.base import Capabilities, SqlEngine, pinned_versions, register
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.catalog import split_table

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from pyiceberg.catalog import Catalog

    from akko_orchestrator.config.project import Project

# Loaded from the duckdb-extension-* PyPI packages in this order (iceberg needs the other two); never downloaded.
EXTENSIONS = ("parquet", "avro", "iceberg")
# Trino semantics on every connection: `/` of two integers is an integer division (truncated toward zero), also
# where sqlglot cannot tell the operands' types; and the macros the rewrites below call:
# - akko_div_half_up(n, d): n / d for integers, rounded half away from zero (Trino's decimal division);
# - akko_fdiv(a, b): a / b for doubles with IEEE infinities and NaN (DuckDB's `/` with integer_division answers
#   NULL for a zero divisor).
SETUP = (
    "SET integer_division = true",
    "CREATE MACRO akko_nonzero(d) AS CASE WHEN d = 0 THEN error('Division by zero') ELSE d END",
    "CREATE MACRO akko_div_half_up(n, d) AS CASE WHEN d = 0 THEN error('Division by zero') "
    "ELSE sign(n) * sign(d) * ((2 * abs(n) + abs(d)) // (2 * abs(d))) END",
    "CREATE MACRO akko_fdiv(a, b) AS CASE WHEN b <> 0 OR a IS NULL OR b IS NULL THEN a / b "
    "WHEN a > 0 THEN CAST('Infinity' AS DOUBLE) WHEN a < 0 THEN CAST('-Infinity' AS DOUBLE) "
    "ELSE CAST('NaN' AS DOUBLE) END",
)


def extension_path(name: str) -> Path:
    try:
        module = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError:
        raise AkkoError(f"DuckDB extension package missing: install duckdb-extension-{name}") from None
    found = sorted(Path(str(module.__file__)).parent.glob("extensions/*/*.duckdb_extension"))
    if not found:
        raise AkkoError(f"duckdb-extension-{name} ships no extension binary")
    return found[-1]


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with parquet, avro and iceberg loaded offline, set up for Trino semantics."""
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    for name in EXTENSIONS:
        con.load_extension(str(extension_path(name)))
    for statement in SETUP:
        con.execute(statement)
    return con


def to_duckdb_sql(sql: str, schema: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """Trino SQL -> DuckDB SQL with Trino's answers; the lakehouse catalog prefix (iceberg.ns.t) is dropped.
    `schema`: the Trino column types of the tables read ({"ns.table": {"column": "decimal(12,2)"}})."""
    import sqlglot
    from sqlglot import exp

    from akko_orchestrator.plan.builder import LAKEHOUSE_SQL_CATALOG
    from akko_orchestrator.plan.sql_support import annotate

    tree = sqlglot.parse_one(sql, read="trino")
    for table in tree.find_all(exp.Table):
        if table.catalog.lower() == LAKEHOUSE_SQL_CATALOG:
            table.set("catalog", None)
    for cast in list(tree.find_all(exp.Cast)):
        if cast.to.is_type(exp.DataType.Type.DECIMAL) and not cast.to.expressions:
            cast.replace(_decimal_literal_or_default(cast, sql))
    typed = annotate(tree, schema or {})
    return trino_semantics(typed if typed is not None else tree, sql).sql(dialect="duckdb")


class DuckDBEngine(SqlEngine):
    capabilities = Capabilities(dialect="duckdb", reads_iceberg_natively=True)

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.con = connect()

    def query(self, sql: str, tables: list[str], versions: Mapping[str, int] | None = None) -> pa.Table:
        # Pinned tables are pinned in their views, so the SQL (and its refusal of time travel) is unchanged.
        schema = self._register(tables, pinned_versions(tables, versions))
        # What DuckDB would answer differently from Trino is refused, never answered: `akko validate` already
        # refused the rest; the checks that need the tables' column types can only run here.
        from akko_orchestrator.plan.sql_support import embedded_unsupported

        refused = embedded_unsupported(sql, schema)
        if refused:
            raise AkkoError("; ".join(issue.message for issue in refused))
        translated = to_duckdb_sql(sql, schema)
        try:
            return self._trino_types(self.con.sql(translated)).to_arrow_table()
        except Exception as exc:  # duckdb raises many error classes; all are the query's fault here
            raise AkkoError(
                f"DuckDB could not run the query: {exc}\n--- as run on DuckDB:\n{translated}"
            ) from None

    def _register(
        self, tables: list[str], versions: Mapping[str, int] | None = None
    ) -> dict[str, dict[str, str]]:
        """One view per table, pinned to the table's current metadata file (a consistent snapshot), or to the
        snapshot `versions` names for it (lower-case names); returns the tables' columns with their Trino types."""
        from pyiceberg.exceptions import NoSuchTableError

        versions = versions or {}
        schema = {}
        for name in tables:
            namespace, table = split_table(name)
            try:
                loaded = self.catalog.load_table(name)
            except NoSuchTableError:
                raise AkkoError(
                    f"table {name} does not exist yet: run the pipeline that writes it first"
                ) from None
            scan = f"'{_quote(loaded.metadata_location)}'"
            fields = loaded.schema().fields
            snapshot_id = versions.get(name.lower())
            if snapshot_id is not None:
                scan += f", snapshot_from_id = {snapshot_id}"
                fields = _snapshot_schema(loaded, name, snapshot_id).fields
            self.con.execute(f'CREATE SCHEMA IF NOT EXISTS "{namespace}"')
            self.con.execute(
                f'CREATE OR REPLACE VIEW "{namespace}"."{table}" AS SELECT * FROM iceberg_scan({scan})'
            )
            schema[name] = {field.name: trino_type(field.field_type) for field in fields}
        return schema

    @staticmethod
    def _trino_types(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
        """DuckDB sums BIGINTs into HUGEINT (int128); Trino keeps BIGINT. Cast back so results match Trino's."""
        columns = relation.columns
        if not any(str(t) == "HUGEINT" for t in relation.dtypes):
            return relation
        select = ", ".join(
            f'CAST("{c}" AS BIGINT) AS "{c}"' if str(t) == "HUGEINT" else f'"{c}"'
            for c, t in zip(columns, relation.dtypes, strict=True)
        )
        return relation.project(select)

    def close(self) -> None:
        self.con.close()


def _snapshot_schema(table: Any, name: str, snapshot_id: int) -> Any:
    """The schema a snapshot was written with (iceberg_scan reads the snapshot with it); the table's current schema
    for a snapshot that does not record one."""
    snapshot = table.snapshot_by_id(snapshot_id)
    if snapshot is None:
        raise AkkoError(f"table {name} has no snapshot {snapshot_id}")
    if snapshot.schema_id is not None:
        found = table.metadata.schema_by_id(snapshot.schema_id)
        if found is not None:
            return found
    return table.schema()


def _quote(text: str) -> str:
    return text.replace("'", "''")


def trino_type(iceberg_type: Any) -> str:
    """The Trino type of an Iceberg column (what Trino's Iceberg connector shows)."""
    from pyiceberg import types as t

    simple = {
        t.BooleanType: "boolean",
        t.IntegerType: "integer",
        t.LongType: "bigint",
        t.FloatType: "real",
        t.DoubleType: "double",
        t.StringType: "varchar",
        t.BinaryType: "varbinary",
        t.FixedType: "varbinary",
        t.DateType: "date",
        t.TimeType: "time(6)",
        t.TimestampType: "timestamp(6)",
        t.TimestamptzType: "timestamp(6) with time zone",
        t.UUIDType: "uuid",
    }
    if type(iceberg_type) in simple:
        return simple[type(iceberg_type)]
    if isinstance(iceberg_type, t.DecimalType):
        return f"decimal({iceberg_type.precision}, {iceberg_type.scale})"
    if isinstance(iceberg_type, t.ListType):
        return f"array({trino_type(iceberg_type.element_type)})"
    if isinstance(iceberg_type, t.MapType):
        return f"map({trino_type(iceberg_type.key_type)}, {trino_type(iceberg_type.value_type)})"
    if isinstance(iceberg_type, t.StructType):
        fields = ", ".join(f'"{f.name}" {trino_type(f.field_type)}' for f in iceberg_type.fields)
        return f"row({fields})"
    return "unknown"


# ---------------------------------------------------------------------------------------------------------------
# Trino semantics on DuckDB: rewrites of the (type-annotated) Trino syntax tree before DuckDB SQL is generated.


def trino_semantics(tree: Any, sql: str) -> Any:
    """Rewrite the nodes DuckDB would answer differently, innermost first (a rewritten node keeps the type its
    parent's rewrite needs)."""
    for node in reversed(list(tree.walk(bfs=False))):
        for rewrite in _REWRITES.get(type(node).__name__, ()):
            replacement = rewrite(node, sql)
            if replacement is not None:
                if node is tree:
                    return trino_semantics(replacement, sql)
                node.replace(replacement)
                break
    return tree


def _exp():  # sqlglot's expressions, imported when the first query is translated
    from sqlglot import exp

    return exp


def _type_is(node: Any, *kinds: str) -> bool:
    exp = _exp()
    dtype = getattr(node, "type", None)
    return dtype is not None and dtype.is_type(*(exp.DataType.Type[k] for k in kinds))


def _cast(node: Any, to: str) -> Any:
    exp = _exp()
    cast = exp.Cast(this=node, to=exp.DataType.build(to, dialect="duckdb"))
    cast.type = exp.DataType.build(to, dialect="duckdb")
    return cast


def _call(name: str, *args: Any) -> Any:
    return _exp().Anonymous(this=name, expressions=list(args))


def _case(condition: Any, then: Any, otherwise: Any | None = None) -> Any:
    exp = _exp()
    case = exp.Case().when(condition, then)
    return case.else_(otherwise) if otherwise is not None else case


def _number(value: int) -> Any:
    return _exp().Literal.number(value)


# -- decimals -----------------------------------------------------------------------------------------------------

INTEGER_DIGITS = {"TINYINT": 3, "SMALLINT": 5, "INT": 10, "BIGINT": 19}
INTEGER_TYPES = {digits: name for name, digits in INTEGER_DIGITS.items()}


def _is_float(node: Any) -> bool:
    exp = _exp()
    if isinstance(node, exp.Literal) and not node.is_string:
        return "e" in node.name.lower()
    return _type_is(node, "DOUBLE", "FLOAT")


def decimal_type(node: Any) -> tuple[int, int, bool] | None:
    """Trino's exact numeric type of `node` as (precision, scale, is_integer), integers as decimal(n, 0); None when
    the node is not an exact number or its type is not known for sure.

    Derived by Trino's rules, not taken from sqlglot's annotation (which keeps decimal(12, 2) for a product of two
    decimal(12, 2), where Trino has decimal(24, 4)): only the columns of lakehouse tables come from the annotation,
    and a column of a subquery, CTE or VALUES is the type of what it selects."""
    exp = _exp()
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
    exp = _exp()
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
    exp = _exp()
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
    exp = _exp()
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
    exp = _exp()
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
    exp = _exp()
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
    exp = _exp()
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
    exp = _exp()
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
    exp = _exp()
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
    exp = _exp()
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
    exp = _exp()
    shifted = exp.Mul(this=exp.Paren(this=node), expression=_number(10**scale)) if scale else node
    return _cast(shifted, "HUGEINT")


def _scaled(unscaled: Any, precision: int, scale: int) -> Any:
    """The HUGEINT digits of a decimal back to DECIMAL(precision, scale), exactly."""
    exp = _exp()
    as_decimal = _cast(unscaled, "DECIMAL(38, 0)")
    if scale:
        as_decimal = exp.Mul(this=as_decimal, expression=exp.Literal.number("0." + "0" * (scale - 1) + "1"))
    return _cast(as_decimal, f"DECIMAL({precision}, {scale})")


def _divide(node: Any, sql: str) -> Any | None:
    """Trino divides exact numbers exactly: integers truncated toward zero (DuckDB's `/` with integer_division),
    decimals rounded half up to decimal(p1 + s2 + max(0, s2 - s1), max(s1, s2)); both fail on a zero divisor."""
    left, right = decimal_type(node.this), decimal_type(node.expression)
    if left is None or right is None:
        if _is_float(node.this) or _is_float(node.expression):  # IEEE: x / 0 is an infinity or NaN
            quotient = _call("akko_fdiv", node.this.copy(), node.expression.copy())
            both_real = _type_is(node.this, "FLOAT") and _type_is(node.expression, "FLOAT")
            return _cast(quotient, "REAL") if both_real else _cast(quotient, "DOUBLE")
        return None
    if left[2] and right[2]:
        _nonzero_divisor(node)
        return _cast(node.copy(), INTEGER_TYPES[max(left[0], right[0])])
    precision, scale, _ = _arithmetic_type(node) or (38, 0, False)
    (_, s1, _), (_, s2, _) = left, right
    numerator = _unscaled(node.this.copy(), s1)
    shift = scale + s2 - s1
    if shift:
        numerator = _exp().Mul(this=numerator, expression=_cast(_number(10**shift), "HUGEINT"))
    quotient = _call("akko_div_half_up", numerator, _unscaled(node.expression.copy(), s2))
    return _scaled(quotient, precision, scale)


def _nonzero_divisor(node: Any) -> Any | None:
    exp = _exp()
    divisor = node.expression
    if isinstance(divisor, exp.Literal) and divisor.name not in ("0", "0.0"):
        return None
    node.set("expression", _call("akko_nonzero", divisor.copy()))
    return None  # changed in place


def _modulo(node: Any, sql: str) -> Any | None:
    left, right = decimal_type(node.this), decimal_type(node.expression)
    if left is not None and right is not None:
        _nonzero_divisor(node)
    return None


def _aggregate_wrappers(node: Any) -> tuple[Any, list[Any]]:
    """The outermost of `node`'s FILTER and OVER wrappers, and the wrappers from the inside out."""
    exp = _exp()
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
    exp = _exp()
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
        _call("akko_div_half_up", _unscaled(total, scale), _cast(count, "HUGEINT")), precision, scale
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
    return _cast(node.copy(), f"DECIMAL({found[0]}, {found[1]})")


def _round(node: Any, sql: str) -> Any | None:
    """round(decimal(p, s), n) keeps the scale in Trino: decimal(p + 1, s). DuckDB answers decimal(p, n)."""
    found = decimal_type(node.this)
    if found is None or found[2] or node.args.get("decimals") is None:
        return None
    precision, scale, _ = found
    return _cast(node.copy(), f"DECIMAL({min(38, precision + 1)}, {scale})")


def _sign(node: Any, sql: str) -> Any | None:
    found = decimal_type(node.this)
    if found is not None:
        return None if found[2] else _cast(node.copy(), "DECIMAL(1, 0)")
    if _type_is(node.this, "FLOAT"):
        return _cast(node.copy(), "REAL")
    if _is_float(node.this):
        return _cast(node.copy(), "DOUBLE")
    return None


# -- casts --------------------------------------------------------------------------------------------------------


def _cast_fix(node: Any, sql: str) -> Any | None:
    exp = _exp()
    target = node.to
    source = node.this
    if _type_is(source, "DOUBLE", "FLOAT"):
        if target.this.name in INTEGER_DIGITS:  # Trino rounds half away from zero, DuckDB to even
            node.set("this", exp.Round(this=source.copy()))
        elif target.is_type(exp.DataType.Type.DECIMAL):  # Trino rounds the shortest decimal form half up
            node.set("this", _cast(source.copy(), "VARCHAR"))
        return None
    if target.is_type(*exp.DataType.TEXT_TYPES):
        return _cast_to_text(node)
    return None


def _decimal_literal_or_default(node: Any, sql: str) -> Any | None:
    """DECIMAL '1.50' is decimal(3, 2) in Trino, and CAST(x AS DECIMAL) is decimal(38, 0); sqlglot parses both as
    a cast to DECIMAL, which DuckDB reads as decimal(18, 3)."""
    exp = _exp()
    value = node.this
    start = value.meta.get("start") if isinstance(value, exp.Literal) else None
    if value.is_string and isinstance(start, int) and sql[:start].rstrip().lower().endswith("decimal"):
        found = _literal_type(value.name.strip())
        if found is not None:
            return _typed_cast(value.copy(), f"DECIMAL({found[0]}, {found[1]})", node)
    return _typed_cast(value.copy(), "DECIMAL(38, 0)", node)


def _typed_cast(value: Any, to: str, like: Any) -> Any:
    """A cast in Trino's type names, of the same class as `like` (CAST or TRY_CAST), for sqlglot to annotate."""
    exp = _exp()
    return type(like)(this=value, to=exp.DataType.build(to, dialect="trino"))


def _cast_to_text(node: Any) -> Any | None:
    exp = _exp()
    length = node.to.expressions
    if length:  # varchar(n): Trino truncates, DuckDB ignores the length
        text = _cast(node.this.copy(), "VARCHAR")
        return exp.Substring(this=text, start=_number(1), length=length[0].this.copy())
    source = getattr(node.this, "type", None)
    if source is not None and source.is_type(exp.DataType.Type.TIMESTAMP):
        precision = [p.this.name for p in source.expressions]
        fraction = {"0": "", "3": ".%g", "6": ".%f"}.get(precision[0] if precision else "")
        if fraction is not None:  # Trino writes every fractional digit of the type, DuckDB trims zeros
            pattern = exp.Literal.string(f"%Y-%m-%d %H:%M:%S{fraction}")
            return _call("strftime", node.this.copy(), pattern)
    return None


# -- dates --------------------------------------------------------------------------------------------------------


def _on_date(node: Any, sql: str) -> Any | None:
    """date_trunc, date_add and `+ INTERVAL` on a DATE stay DATEs in Trino; DuckDB answers a TIMESTAMP."""
    exp = _exp()
    if isinstance(node, exp.Add | exp.Sub):
        sides = (node.this, node.expression)
        if not any(isinstance(s, exp.Interval) for s in sides) or not any(_type_is(s, "DATE") for s in sides):
            return None
    elif not _type_is(node.this, "DATE"):
        return None
    return _cast(node.copy(), "DATE")


def _date_diff(node: Any, sql: str) -> Any:
    """Trino's date_diff counts whole units elapsed (DuckDB's date_sub); DuckDB's date_diff counts boundaries."""
    exp = _exp()
    unit = exp.Literal.string(node.text("unit") or "DAY")
    return _call("date_sub", unit, node.expression.copy(), node.this.copy())


def _extract(node: Any, sql: str) -> Any | None:
    exp = _exp()
    part = node.this.name.upper()
    renamed = {"DOW": "ISODOW", "DAYOFWEEK": "ISODOW", "DAY_OF_WEEK": "ISODOW", "YEAR_OF_WEEK": "ISOYEAR"}
    if part in renamed:
        node.set("this", exp.Var(this=renamed[part]))
    return None


# -- strings, regexps, JSON, arrays --------------------------------------------------------------------------------


def _count_if(node: Any, sql: str) -> Any:
    """count_if counts TRUEs, 0 when none; DuckDB's count_if answers NULL over no TRUE and some NULLs."""
    exp = _exp()
    return exp.Count(this=_case(node.this.copy(), _number(1)))


def _regexp_extract(node: Any, sql: str) -> Any:
    """No match: Trino answers NULL, DuckDB ''."""
    matches = _call("regexp_matches", node.this.copy(), node.expression.copy())
    return _case(matches, node.copy())


def _regexp_replace(node: Any, sql: str) -> Any | None:
    """Trino (Java) writes groups as $1 in the replacement and escapes with a backslash; DuckDB (RE2) writes \\1."""
    exp = _exp()
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
    exp = _exp()
    kind = _call("json_type", node.this.copy(), node.expression.copy())
    container = exp.In(this=kind, expressions=[exp.Literal.string("OBJECT"), exp.Literal.string("ARRAY")])
    return _case(container, exp.Null(), node.copy())


def _split_part(node: Any, sql: str) -> Any:
    """Past the last part: Trino answers NULL, DuckDB ''."""
    exp = _exp()
    parts = _call("len", _call("string_split", node.this.copy(), node.args["delimiter"].copy()))
    within = exp.LTE(this=node.args["part_index"].copy(), expression=parts)
    return _case(within, node.copy())


def _array_extreme(node: Any, sql: str) -> Any:
    """array_max/array_min of an array holding a NULL is NULL in Trino; DuckDB skips NULLs."""
    exp = _exp()
    holds_null = exp.LT(this=_call("list_count", node.this.copy()), expression=_call("len", node.this.copy()))
    return _case(holds_null, exp.Null(), node.copy())


def _slice(node: Any, sql: str) -> Any | None:
    """Trino's slice(array, start, length); sqlglot passes the length as DuckDB's end index."""
    exp = _exp()
    length = node.args.get("end")
    if length is None or node.args.get("is_length"):
        return None
    start = node.args["start"]
    end = exp.Sub(this=exp.Add(this=start.copy(), expression=length.copy()), expression=_number(1))
    negative = exp.LT(this=start.copy(), expression=_number(0))
    end = _case(negative, exp.Least(this=end.copy(), expressions=[_number(-1)]), end)
    return exp.ArraySlice(this=node.this.copy(), start=start.copy(), end=end)


def _format(node: Any, sql: str) -> Any | None:
    """Trino's format is Java's String.format; for %s, %d and %f DuckDB's printf answers the same."""
    from akko_orchestrator.plan.sql_support import printf_compatible

    if not printf_compatible(node):
        return None
    return _call("printf", node.this.copy(), *(e.copy() for e in node.expressions))


def _as_bigint(node: Any, sql: str) -> Any:
    """bitwise_* and array_position answer BIGINT in Trino."""
    return _cast(node.copy(), "BIGINT")


def _as_integer(node: Any, sql: str) -> Any:
    """grouping() answers INTEGER in Trino."""
    return _cast(node.copy(), "INT")


def _array_position(node: Any, sql: str) -> Any:
    """array_position answers 0 when the element is absent, as a BIGINT; DuckDB answers NULL, as an INTEGER."""
    exp = _exp()
    found = exp.Coalesce(this=node.copy(), expressions=[_number(0)])
    return _cast(_case(exp.Is(this=node.this.copy(), expression=exp.Null()), exp.Null(), found), "BIGINT")


def _upper(node: Any, sql: str) -> Any:
    """Trino keeps ß in upper(); DuckDB makes it ẞ. Upper-case the text between the ß."""
    exp = _exp()
    part = exp.to_identifier("akko_part")
    upper_part = exp.Lambda(this=exp.Upper(this=exp.column(part)), expressions=[part])
    parts = _call(
        "list_transform", _call("string_split", node.this.copy(), exp.Literal.string("ß")), upper_part
    )
    return _call("array_to_string", parts, exp.Literal.string("ß"))


def _sha1(node: Any, sql: str) -> Any:
    """sha1 answers varbinary in Trino; DuckDB's sha1 answers hex text."""
    return _exp().Unhex(this=node.copy())


_REWRITES: dict[str, tuple[Any, ...]] = {
    "Div": (_divide,),
    "Mod": (_modulo, _decimal_arithmetic),
    "Avg": (_average,),
    "Round": (_round,),
    "Sign": (_sign,),
    "Cast": (_cast_fix,),
    "TryCast": (_cast_fix,),
    "DateAdd": (_on_date,),
    "DateSub": (_on_date,),
    "DateTrunc": (_on_date,),
    "TimestampTrunc": (_on_date,),
    "Add": (_on_date, _decimal_arithmetic),
    "Sub": (_on_date, _decimal_arithmetic),
    "Mul": (_decimal_arithmetic,),
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


@register("duckdb")
def _factory(project: Project, catalog: Catalog) -> SqlEngine:
    return DuckDBEngine(catalog)
