"""The last point before DuckDB runs text: every statement the embedded engine runs passes here, and DuckDB's own
parser judges the exact text.

DuckDB has no read-only directory: with allowed_directories set, `COPY ... TO '<allowed>/f.parquet'` and `ATTACH` of
an allowed file succeed even with enable_external_access off and the configuration locked. So whatever reached this
point (checked SQL or not), it runs only if DuckDB parses it as exactly one statement of a type its purpose allows:
- a query: SELECT, whose every table source in DuckDB's own parse tree (`json_serialize_sql`) is a view registered
  for it, a CTE visible where it is named, or UNNEST; so no file, table function, SHOW/DESCRIBE/SUMMARIZE or PRAGMA
  (DuckDB turns `PRAGMA x` into a SELECT of a function);
- AKKO's registration of a table: CREATE (of a schema or a view, built by the engine).
COPY, EXPORT, ATTACH, DETACH, INSTALL, LOAD, PRAGMA, SET, RESET, CALL, INSERT... never run, whatever folder they
name. The statement object DuckDB parsed is the one executed: the text is not parsed a second time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Set
from typing import TYPE_CHECKING, Any

from akko_orchestrator.errors import AkkoError
from akko_orchestrator.sql.build import render

if TYPE_CHECKING:
    import duckdb
    from sqlglot import exp

# DuckDB's parse tree (json_serialize_sql): table references it may hold. An UNNEST (Trino's, transpiled) is a table
# function of DuckDB's; every other table function, SHOW/DESCRIBE/SUMMARIZE (SHOW_REF) and anything unknown is not.
_TABLE_REFS = frozenset(
    {
        "BASE_TABLE",
        "TABLE_FUNCTION",
        "SHOW_REF",
        "COLUMN_DATA",
        "DELIM_GET",
        "BOUND_TABLE_REF",
        "CTE",
        "INVALID",
    }
)
_FUNCTIONS = frozenset({"unnest"})


class Refused(AkkoError):
    """Text the embedded engine will not run."""


def run_query(con: duckdb.DuckDBPyConnection, text: str, views: Set[str]) -> duckdb.DuckDBPyConnection:
    """Run `text` if it is one SELECT reading only `views` (`namespace.table`, lower case) and its CTEs; the
    connection, holding the result."""
    return con.execute(_query(con, text, views))


def relation(con: duckdb.DuckDBPyConnection, text: str, views: Set[str]) -> duckdb.DuckDBPyRelation:
    """`run_query`'s statement as a relation, not run (for its plan: `.explain()`)."""
    return con.sql(_query(con, text, views))


def register(con: duckdb.DuckDBPyConnection, statement: exp.Expression) -> None:
    """Run AKKO's registration of a table it reads: `CREATE SCHEMA IF NOT EXISTS "ns"` or `CREATE OR REPLACE VIEW
    "ns"."t" AS SELECT * FROM iceberg_scan('<metadata>'[, snapshot_from_id = <id>])`, given as the tree the engine
    built; nothing else is created."""
    import duckdb

    if not _registration(statement):
        raise Refused("the embedded engine creates only the schemas and views of the tables a query reads")
    text = render(statement, "duckdb")
    con.execute(_one(con, text, duckdb.StatementType.CREATE, "registering a table"))


def _registration(statement: Any) -> bool:
    """`statement` is exactly one of the two shapes `register` runs (nothing more in it: no WHERE, join, alias...)."""
    from sqlglot import exp

    if not isinstance(statement, exp.Create) or not _only(
        statement, "this", "kind", "exists", "replace", "expression"
    ):
        return False
    kind = str(statement.args.get("kind") or "").upper()
    if kind == "SCHEMA":
        return _name(statement.this, parts=1) and statement.expression is None
    scan = statement.expression
    if kind != "VIEW" or not _name(statement.this, parts=2) or not isinstance(scan, exp.Select):
        return False
    source = scan.args.get("from_")
    table = source.this if isinstance(source, exp.From) and _only(source, "this") else None
    call = table.this if isinstance(table, exp.Table) and _only(table, "this") else None
    if not _only(scan, "expressions", "from_") or [type(e) for e in scan.expressions] != [exp.Star]:
        return False
    if not isinstance(call, exp.Anonymous) or call.name.lower() != "iceberg_scan" or not call.expressions:
        return False
    location, *pins = call.expressions
    pinned = all(isinstance(p, exp.EQ) and isinstance(p.expression, exp.Literal) for p in pins)
    return isinstance(location, exp.Literal) and location.is_string and pinned


def _only(node: Any, *keys: str) -> bool:
    return all(key in keys for key, value in node.args.items() if value)


def _name(table: Any, parts: int) -> bool:
    """A table of `parts` quoted identifiers and nothing else."""
    from sqlglot import exp

    return (
        isinstance(table, exp.Table)
        and _only(table, "this", "db")
        and len(table.parts) == parts
        and all(isinstance(p, exp.Identifier) for p in table.parts)
    )


def _query(con: duckdb.DuckDBPyConnection, text: str, views: Set[str]) -> Any:
    import duckdb

    statement = _one(con, text, duckdb.StatementType.SELECT, "a query")
    tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [text]).fetchone()[0])
    if tree.get("error") or len(tree.get("statements") or []) != 1:
        # json_serialize_sql serializes SELECT statements only: a PRAGMA that DuckDB turned into a SELECT lands here
        raise Refused(
            f"the embedded engine runs queries only: {tree.get('error_message') or 'not one SELECT'}"
        )
    pairs = {tuple(view.lower().split(".", 1)) for view in views}  # (namespace, table): no dot ambiguity
    refused = sorted(set(_refused_sources(tree["statements"][0], frozenset(), pairs)))
    if refused:
        raise Refused(
            f"the query reads {', '.join(refused)}: the embedded engine reads only the lakehouse tables the "
            f"query names ({', '.join(sorted(views)) or 'none'}) and its CTEs"
        )
    return statement


def _one(con: duckdb.DuckDBPyConnection, text: str, allowed: Any, purpose: str) -> Any:
    """The one statement `text` holds, if DuckDB's parser says it is of type `allowed`."""
    import duckdb

    try:
        statements = con.extract_statements(text)
    except duckdb.Error as exc:
        raise Refused(f"DuckDB cannot parse the statement: {exc}") from None
    if len(statements) != 1:
        raise Refused(f"the embedded engine runs one statement at a time, not {len(statements)}")
    kind = statements[0].type
    if kind != allowed:
        raise Refused(f"{kind.name} is refused: the embedded engine runs only {allowed.name} for {purpose}")
    return statements[0]


def _refused_sources(node: Any, visible: frozenset[str], views: Set[tuple[str, ...]]) -> Iterator[str]:
    """What a DuckDB parse tree reads that is neither a view in `views` ((namespace, table)) nor a CTE in `visible` (a CTE is visible in
    the query defining it, in later CTEs of its WITH, in itself only if recursive; and in their subqueries)."""
    if isinstance(node, list):
        for item in node:
            yield from _refused_sources(item, visible, views)
        return
    if not isinstance(node, dict):
        return
    ctes = (node.get("cte_map") or {}).get("map") or []
    names = [str(entry["key"]).lower() for entry in ctes]
    for index, entry in enumerate(ctes):
        recursive = (entry["value"].get("query") or {}).get("node", {}).get("type") == "RECURSIVE_CTE_NODE"
        seen = visible | set(names[: index + 1 if recursive else index])
        yield from _refused_sources(entry["value"], seen, views)
    visible |= set(names)
    kind = node.get("type")
    if isinstance(kind, str) and kind in _TABLE_REFS and "class" not in node:
        reason = _table_ref(node, visible, views)
        if reason is not None:
            yield reason
    for key, value in node.items():
        if key != "cte_map":
            yield from _refused_sources(value, visible, views)


def _table_ref(node: dict[str, Any], visible: frozenset[str], views: Set[tuple[str, ...]]) -> str | None:
    kind = node["type"]
    if kind == "BASE_TABLE":
        catalog, schema = node.get("catalog_name") or "", node.get("schema_name") or ""
        table = str(node.get("table_name") or "")
        if not catalog and (schema.lower(), table.lower()) in views:
            return None
        if not catalog and not schema and table.lower() in visible:
            return None
        return ".".join(json.dumps(part) for part in (catalog, schema, table) if part)
    function = node.get("function") or {}
    name = str(function.get("function_name") or "").lower()
    if (
        kind == "TABLE_FUNCTION"
        and name in _FUNCTIONS
        and not function.get("schema")
        and not function.get("catalog")
    ):
        return None
    return f"{name}(...)" if name else kind.lower().replace("_", " ")
