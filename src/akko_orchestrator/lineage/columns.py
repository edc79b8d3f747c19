"""Column-level lineage of a Trino query: for every column the query outputs, the columns of lakehouse tables it is
computed from, and how (OpenLineage's DIRECT transformations: IDENTITY, TRANSFORMATION, AGGREGATION).

sqlglot's lineage walks the query's scopes (CTEs, subqueries, joins, unions, `SELECT *` expanded with the tables'
columns) down to the tables, with the same Trino parser the rest of AKKO uses. A query sqlglot cannot trace gives
no column lineage (the table-level lineage still stands).
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


@dataclass(frozen=True)
class SourceColumn:
    table: str  # namespace.table (lower case)
    column: str
    subtype: str  # IDENTITY | TRANSFORMATION | AGGREGATION


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
    if scope is None:
        return {}
    found: dict[str, list[SourceColumn]] = {}
    for name in qualified.named_selects:
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
        key = (f"{table.db}.{table.name}".lower(), column.lower())
        subtype = _subtype(path)
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


def _subtype(path: list[Any]) -> str:
    """AGGREGATION if an aggregate is on the way, IDENTITY if every step only renames a column, else
    TRANSFORMATION."""
    from sqlglot import exp

    identity = True
    for node in path[:-1]:
        expression = node.expression.this if isinstance(node.expression, exp.Alias) else node.expression
        if any(type(n).__name__ in AGGREGATES for n in expression.walk()):
            return "AGGREGATION"
        if not isinstance(expression, exp.Column):
            identity = False
    return "IDENTITY" if identity else "TRANSFORMATION"


def _rank(subtype: str) -> int:
    return {"IDENTITY": 0, "TRANSFORMATION": 1, "AGGREGATION": 2}[subtype]


def _nested(schema: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, dict[str, str]]]:
    nested: dict[str, dict[str, dict[str, str]]] = {}
    for name, columns in schema.items():
        namespace, _, table = name.lower().rpartition(".")
        nested.setdefault(namespace, {})[table] = {c.lower(): t for c, t in columns.items()}
    return nested
