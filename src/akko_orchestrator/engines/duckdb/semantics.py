"""Trino semantics on DuckDB: rewrites of the (type-annotated) Trino syntax tree before DuckDB SQL is generated.

sqlglot translates the syntax; these rewrites then correct what DuckDB would answer differently from Trino, so a
step gives the same rows and types on both profiles (tests/integration/test_sql_parity.py runs both): integer
division, exact decimal division and averages (Trino rounds half up to its decimal type, DuckDB answers a double),
date arithmetic on dates, date_diff counting whole units, count_if, regexp_extract and json_extract_scalar with no
match, split_part past the end, array_max with NULLs, slice, day_of_week, sha1, doubles cast to integers or decimals,
varchar(n) casts, the types of bitwise functions, sign and round. The corrections that depend on a column's type use
sqlglot's type annotation with the tables' Iceberg schemas. What cannot be corrected is refused by
`plan/sql_support.embedded_unsupported`.
"""

from __future__ import annotations

from typing import Any

from akko_orchestrator.engines.duckdb import decimals, rewrites


def _merge(*tables: dict[str, tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
    """One table of rewrites by node class; for a class in several, the first module's rewrites are tried first."""
    merged: dict[str, tuple[Any, ...]] = {}
    for table in tables:
        for kind, functions in table.items():
            merged[kind] = merged.get(kind, ()) + functions
    return merged


# Dates before decimals: `date + INTERVAL` is a date rewrite, `decimal + decimal` a decimal one.
_REWRITES = _merge(rewrites.REWRITES, decimals.REWRITES)


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
