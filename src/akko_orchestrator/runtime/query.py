"""`akko query`: read the lakehouse in Trino SQL, never change it.

The SQL is refused before anything runs unless it is one SELECT (WITH, VALUES, TABLE), SHOW, DESCRIBE or EXPLAIN of
a query (plan/statements.py), on every profile; on `cluster` Trino's own access control applies as well. Queries
run on the profile's engine (DuckDB on `local`, behind its Trino allow-list and locked-down connection). On the
embedded profile, which has no Trino to ask, SHOW SCHEMAS / TABLES / COLUMNS and DESCRIBE are answered from the
Iceberg catalog in Trino's columns, and EXPLAIN shows DuckDB's plan of the translated query.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from akko_orchestrator.errors import AkkoError
from akko_orchestrator.plan.sql_refs import LAKEHOUSE_SQL_CATALOG, SqlSyntaxError, tables_read
from akko_orchestrator.plan.statements import read_only_refusal, statement_kinds
from akko_orchestrator.runtime.context import StepContext

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog

_SHOW = re.compile(
    r"^\s*(?:SHOW\s+(?P<what>SCHEMAS|TABLES|COLUMNS)(?:\s+(?:FROM|IN)\s+(?P<where>[\w.\"]+))?"
    r"|(?:DESCRIBE|DESC)\s+(?P<described>[\w.\"]+))\s*;?\s*$",
    re.IGNORECASE,
)


def refuse_unless_read_only(sql: str) -> str:
    """`sql`'s statement kind if it only reads; else an `AkkoError` saying why (nothing has run)."""
    try:
        refusal = read_only_refusal(sql)
        kind = statement_kinds(sql)[0][0]
    except SqlSyntaxError as exc:
        raise AkkoError(f"SQL does not parse as Trino: {exc}") from None
    if refusal is not None:
        raise AkkoError(refusal)
    return kind


def read_only_query(ctx: StepContext, sql: str, versions: Mapping[str, int] | None = None) -> pa.Table:
    """Run `sql` if it only reads (else an `AkkoError` saying why, before it runs); `versions` pins tables to a
    snapshot (`--at`)."""
    kind = refuse_unless_read_only(sql)
    embedded = ctx.project.profile.sql_engine == "duckdb"
    if kind in ("SHOW", "DESCRIBE") and embedded:
        return _describe_catalog(ctx.catalog, sql)
    if kind in ("SHOW", "DESCRIBE"):
        return ctx.sql_engine.query(sql, [])
    if kind == "EXPLAIN":
        inner = re.sub(r"^\s*EXPLAIN\b", "", sql, flags=re.IGNORECASE)
        return ctx.sql_engine.explain(sql, inner, _tables(inner, embedded))
    return ctx.sql_engine.query(sql, _tables(sql, embedded), versions=versions or None)


def _tables(sql: str, lakehouse_only: bool) -> list[str]:
    """The tables a query reads. The embedded engine reads only lakehouse tables (a table of another catalog or
    without a namespace is refused); Trino reads its other catalogs too, under its own access control."""
    try:
        refs = tables_read(sql)
    except SqlSyntaxError as exc:
        raise AkkoError(f"SQL does not parse as Trino: {exc}") from None
    for ref in refs if lakehouse_only else ():
        if ref.catalog not in ("", LAKEHOUSE_SQL_CATALOG) or not ref.namespace:
            name = ".".join(p for p in (ref.catalog, ref.namespace, ref.name) if p)
            raise AkkoError(
                f"{name} is not a lakehouse table: name tables as namespace.table (e.g. demo.sales)"
            )
    return [ref.qualified for ref in refs if ref.catalog in ("", LAKEHOUSE_SQL_CATALOG)]


def _describe_catalog(catalog: Catalog, sql: str) -> pa.Table:
    """SHOW SCHEMAS / TABLES / COLUMNS and DESCRIBE on the embedded catalog, as Trino answers them."""
    import pyarrow as pa

    match = _SHOW.match(sql)
    if match is None:
        raise AkkoError(
            "on the embedded profile akko query answers SHOW SCHEMAS, SHOW TABLES [FROM ns], SHOW COLUMNS FROM "
            "table and DESCRIBE table; `akko tables` shows snapshots and branches"
        )
    what = (match.group("what") or "COLUMNS").upper()
    where = _unqualified(match.group("where") or match.group("described") or "")
    if what == "SCHEMAS":
        names = sorted(".".join(ns) for ns in catalog.list_namespaces())
        return pa.table({"Schema": names})
    if what == "TABLES":
        if not where:
            raise AkkoError("SHOW TABLES FROM <namespace>: the embedded catalog has no current schema")
        return pa.table({"Table": sorted(t[-1] for t in catalog.list_tables(where))})
    return _columns(catalog, where)


def _columns(catalog: Catalog, name: str) -> pa.Table:
    import pyarrow as pa

    from akko_orchestrator.engines.duckdb.engine import trino_type

    if not name or not catalog.table_exists(name):
        raise AkkoError(f"no table {name or '(none named)'}; `akko tables` lists them")
    fields = catalog.load_table(name).schema().fields
    return pa.table(
        {
            "Column": [f.name for f in fields],
            "Type": [trino_type(f.field_type) for f in fields],
            "Extra": ["" for _ in fields],
            "Comment": [f.doc or "" for f in fields],
        }
    )


def _unqualified(name: str) -> str:
    """`iceberg.demo.sales` or `"demo"."sales"` -> `demo.sales` (the lakehouse catalog's prefix dropped)."""
    parts = [p.strip('"') for p in name.split(".") if p]
    if parts and parts[0].lower() == LAKEHOUSE_SQL_CATALOG and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)
