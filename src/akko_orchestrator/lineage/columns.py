"""Column-level lineage of a Trino query: for every column the query outputs, the columns of lakehouse tables it is
computed from, and how, in OpenLineage's terms:

- DIRECT (the output's value is derived from the input's): IDENTITY (only renamed), TRANSFORMATION (`a * b`,
  `CAST`, `coalesce`...), AGGREGATION (`sum(a)`);
- INDIRECT, for a column that only decides which value the output takes, not the value itself: CONDITIONAL (a
  `CASE`/`IF` condition), WINDOW (a window's `PARTITION BY` / `ORDER BY`), FILTER (an aggregate's
  `FILTER (WHERE ...)`). A column used both ways is DIRECT.

sqlglot's lineage walks the query's scopes (CTEs, subqueries, joins, unions, `SELECT *` expanded with the tables'
columns) down to the tables, with the same Trino parser the rest of AKKO uses; each step from an output column to
the column it references is classified by where that reference sits in the expression. A query sqlglot cannot
trace gives no column lineage (the table-level lineage still stands).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

AGGREGATES = (
    "Sum",
    "Count",
    "Avg",
    "Min",
    "Max",
    "ArrayAgg",
    "GroupConcat",
    "Stddev",
    "Variance",
    "CountIf",
    "ApproxDistinct",
    "ArgMax",
    "ArgMin",
    "LogicalAnd",
    "LogicalOr",
    "AnyValue",
)
DIRECT = ("IDENTITY", "TRANSFORMATION", "AGGREGATION")
# (expression type, the argument holding the reference) -> the INDIRECT subtype a reference there gets
INDIRECT_POSITIONS = {
    ("If", "this"): "CONDITIONAL",  # CASE WHEN <condition> THEN ..., IF(<condition>, ...)
    ("Case", "this"): "CONDITIONAL",  # CASE <operand> WHEN ...
    ("Window", "partition_by"): "WINDOW",
    ("Window", "order"): "WINDOW",
    ("Filter", "expression"): "FILTER",  # agg(...) FILTER (WHERE <condition>)
}


@dataclass(frozen=True)
class SourceColumn:
    table: str  # namespace.table (lower case)
    column: str
    subtype: str  # DIRECT: IDENTITY | TRANSFORMATION | AGGREGATION; INDIRECT: CONDITIONAL | WINDOW | FILTER

    @property
    def type(self) -> str:
        return "DIRECT" if self.subtype in DIRECT else "INDIRECT"


def column_lineage(sql: str, schema: Mapping[str, Mapping[str, str]]) -> dict[str, list[SourceColumn]]:
    """{output column: its source columns} for `sql`, given the Trino types of the tables it reads
    ({"ns.table": {"column": "type"}}); {} when the query cannot be traced."""
    import sqlglot
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import build_scope

    from akko_orchestrator.plan.sql_support import _without_lakehouse_catalog

    mapping = _nested(schema)
    try:
        tree = _without_lakehouse_catalog(sqlglot.parse_one(sql, read="trino"))
        qualified = qualify(tree, schema=mapping, dialect="trino", validate_qualify_columns=False)
        scope = build_scope(qualified)
    except Exception:  # sqlglot's optimizer raises many error types: no column lineage for this query
        return {}
    if scope is None or not isinstance(qualified, sqlglot.exp.Query):
        return {}  # not a query (sqlglot scopes an INSERT's SELECT, for one)
    found: dict[str, list[SourceColumn]] = {}
    for name in qualified.named_selects:
        if name == "*":  # a star sqlglot could not expand (a table function's): its columns are unknown
            continue
        sources = _trace(name, qualified, mapping, scope)
        if sources is not None:
            found[name] = sources
    return found


def _trace(name: str, qualified: Any, mapping: dict, scope: Any) -> list[SourceColumn] | None:
    from sqlglot.lineage import lineage

    try:
        root = lineage(name, qualified, schema=mapping, dialect="trino", scope=scope, trim_selects=False)
    except Exception:  # a column sqlglot cannot follow
        return None
    found: dict[tuple[str, str], SourceColumn] = {}
    for leaf, path in _leaves(root):
        table = leaf.expression
        if type(table).__name__ != "Table" or not table.db:
            continue
        column = leaf.name.rsplit(".", 1)[-1].strip('"')
        if column == "*":  # a star over a table of unknown columns: nothing to name
            continue
        key = (f"{table.db}.{table.name}".lower(), column.lower())
        subtype = _path_subtype(path)
        previous = found.get(key)
        if previous is None or _rank(subtype) > _rank(previous.subtype):
            found[key] = SourceColumn(key[0], key[1], subtype)
    return [found[k] for k in sorted(found)]


def _leaves(root: Any) -> list[tuple[Any, list[Any]]]:
    """Every table column the lineage tree ends in, with the nodes from the output column down to it."""
    leaves, stack = [], [(root, [root])]
    while stack:
        node, path = stack.pop()
        if not node.downstream:
            leaves.append((node, path))
        for child in node.downstream:
            stack.append((child, [*path, child]))
    return leaves


def _path_subtype(path: list[Any]) -> str:
    """How the output column (path[0]) comes from the table column (path[-1]): INDIRECT (the subtype of the first
    step that is) if any step is, else the strongest DIRECT subtype of its steps (IDENTITY if all only rename)."""
    strongest = "IDENTITY"
    for parent, child in zip(path, path[1:], strict=False):
        step = _step_subtype(parent, child)
        if step not in DIRECT:
            return step
        strongest = max(strongest, step, key=_rank)
    return strongest


def _step_subtype(parent: Any, child: Any) -> str:
    """How `parent`'s expression uses `child`'s column: from where its references to it sit. A step with no
    reference to match (a UNION's branch, a scalar subquery, a star) passes the value on: IDENTITY."""
    from sqlglot import exp
    from sqlglot.optimizer.scope import find_all_in_scope

    expression = parent.expression
    if not isinstance(expression, exp.Expression) or isinstance(expression, exp.Star | exp.Table):
        return "IDENTITY"
    kinds = [
        _reference_subtype(column, expression)
        for column in find_all_in_scope(expression, exp.Column)
        if child.name in (column.sql(comments=False), f"{column.table}.{column.name}")
    ]
    if not kinds:
        return "IDENTITY"
    direct = [k for k in kinds if k in DIRECT]
    return max(direct, key=_rank) if direct else kinds[0]


def _reference_subtype(column: Any, root: Any) -> str:
    """The subtype of one column reference within a select expression, from the expressions around it."""
    from sqlglot import exp

    aggregated, transformed = False, False
    node = column
    while node is not root and node.parent is not None:
        parent = node.parent
        indirect = INDIRECT_POSITIONS.get((type(parent).__name__, node.arg_key))
        if indirect is not None:
            return indirect
        if type(parent).__name__ in AGGREGATES:
            aggregated = True
        elif not isinstance(parent, exp.Alias | exp.Paren):
            transformed = True
        node = parent
    return "AGGREGATION" if aggregated else "TRANSFORMATION" if transformed else "IDENTITY"


def _rank(subtype: str) -> int:
    """DIRECT above INDIRECT; within DIRECT, the more the value is changed the higher."""
    return {"IDENTITY": 3, "TRANSFORMATION": 4, "AGGREGATION": 5}.get(subtype, 0)


def _nested(schema: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, dict[str, str]]]:
    nested: dict[str, dict[str, dict[str, str]]] = {}
    for name, columns in schema.items():
        namespace, _, table = name.lower().rpartition(".")
        nested.setdefault(namespace, {})[table] = {c.lower(): t for c, t in columns.items()}
    return nested
