"""What a query may read: every table it names is a lakehouse table or a CTE visible where it is named; never a
file, a table function or another database.

DuckDB reads as a file whatever name it cannot find as a table (a replacement scan: `FROM "/wh/banking/t/*.parquet"`,
`FROM 'x.csv'`, `demo."x.parquet"` read as the path `demo.x.parquet`), reads files through table functions
(`read_parquet(...)`, `query_table('...')`), and names attached databases as `catalog.schema.table`. So each table
source of a query, found on sqlglot's scopes (a CTE's name counts only where the CTE is visible: not in its own
body unless recursive, not in the CTEs before it, not outside the subquery defining it), must be
1. a name, not a function or `TABLE(...)`,
2. in the lakehouse catalog (`iceberg.` or none),
3. with a namespace (`namespace.table`),
4. of plain identifiers only (letters, digits, `_`, not starting with a digit: how lakehouse tables are named,
   spec/base.py), so that no part can be a path.
`akko validate` reports each refusal at the table's name (1: the Trino allow-list, plan/trino_sql.py; 2 and 3: the
planner, and `check_source_issues` for checks; 4: plan/statements.py on every query). At run time the embedded
engine checks the DuckDB tree it runs against the views it registered for the query (`unregistered`), and its gate
checks DuckDB's own parse tree of the exact text (engines/duckdb/gate.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from akko_orchestrator.plan.sql_ast import SqlSupportIssue, offset_of
from akko_orchestrator.plan.sql_refs import LAKEHOUSE_SQL_CATALOG, SqlSyntaxError, parse_trino

PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
FUNCTION, CATALOG, NAMESPACE, PATH = "function", "catalog", "namespace", "path"
_WHY = {
    FUNCTION: "is not a table: table functions read files and other databases; read lakehouse tables "
    "(namespace.table), and load files with an `ingest` step",
    CATALOG: "is not in the lakehouse: DuckDB would read another database (or a file) by it; copy it into the "
    "lakehouse with an `ingest` step whose source is `sql`, and read that table",
    NAMESPACE: "is not a lakehouse table: a table is named namespace.table (e.g. demo.sales), or is a CTE of the "
    "query where it is used; DuckDB would read anything else as a file",
    PATH: "is not a lakehouse table name: DuckDB would read it as a file; name tables as namespace.table, each part "
    "of letters, digits and _",
}


def real_sources(statement: Any, dialect: str = "trino", copy: bool = True) -> list[Any]:
    """The table sources (sqlglot `Table` nodes) of a parsed statement that are not CTEs visible where they are
    named, in tree order. Judged with identifiers normalized as `dialect` compares them: on a copy (its nodes are
    returned, positions kept), or with `copy=False` on `statement` itself (a tree only the caller holds), then
    once per tree while a plan is built (the planner and its statement checks both ask: plan/sql_parse.py)."""
    if copy:
        return _real_sources(statement.copy(), dialect)
    from akko_orchestrator.plan.sql_parse import once_per_tree

    return list(once_per_tree("real_sources", statement, lambda: _real_sources(statement, dialect)))


def _real_sources(tree: Any, dialect: str) -> list[Any]:
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
    from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
    from sqlglot.optimizer.scope import traverse_scope

    tree = normalize_identifiers(tree, dialect=dialect)
    tables = list(tree.find_all(exp.Table))
    try:
        real = {
            id(s)
            for scope in traverse_scope(tree)
            for s in scope.sources.values()
            if isinstance(s, exp.Table)
        }
    except SqlglotError:
        return tables  # no scopes: no table counts as a CTE (refused rather than guessed)
    cte_names = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    # A node sqlglot resolved to a CTE is in no scope's sources as a table; any other node that is not named like a
    # CTE is judged too (fail closed where the scopes missed it).
    return [
        t
        for t in tables
        if id(t) in real or t.args.get("db") or t.args.get("catalog") or t.name not in cte_names or not t.name
    ]


def category(table: Any) -> str | None:
    """Which rule (FUNCTION, CATALOG, NAMESPACE, PATH) a Trino table source breaks, first one first; None: it is a
    lakehouse table name."""
    from sqlglot import exp

    if not isinstance(table.this, exp.Identifier):
        return FUNCTION
    catalog = table.args.get("catalog")
    if catalog is not None and catalog.name.lower() != LAKEHOUSE_SQL_CATALOG:
        return CATALOG
    if not table.args.get("db"):
        return NAMESPACE
    parts = [p for p in (table.args.get("db"), table.this) if p is not None]
    if not all(isinstance(p, exp.Identifier) and PLAIN.fullmatch(p.name) for p in parts):
        return PATH
    return None


def source_issues(
    sql: str, categories: Iterable[str] = (PATH,), statements: list[Any] | None = None
) -> list[SqlSupportIssue]:
    """The table sources of `sql` breaking one of `categories`, at the source's name; none if `sql` does not parse
    (its syntax error is reported elsewhere; `statements`: `sql` already parsed). By default what no other check reports: a name of a lakehouse table's
    form with a part that is no plain identifier. A name without namespace or in another catalog is reported where
    the tables read are listed (plan/builder.py), a table function by the Trino allow-list on the embedded profile
    (plan/trino_sql.py) and by Trino itself on a cluster."""
    wanted = set(categories)
    try:
        statements = statements if statements is not None else parse_trino(sql)
    except SqlSyntaxError:
        return []
    issues = []
    for statement in statements:
        for table in real_sources(statement, copy=False):
            broken = category(table)
            if broken in wanted:
                issues.append(_issue(table, sql, broken, _WHY[broken]))
    return issues


def check_source_issues(sql: str) -> list[SqlSupportIssue]:
    """A check's SQL: the names outside the lakehouse (its paths are reported with its other query issues). A
    check's `expression` reads no table at all: sql/parse.py `condition` refuses one there."""
    return source_issues(sql, (CATALOG, NAMESPACE))


def unregistered(tree: Any, views: Iterable[str], dialect: str = "duckdb") -> list[str]:
    """The table sources of a final (DuckDB) tree that are not one of `views` (`namespace.table`, lower case):
    what the engine refuses to run, as the tree names them."""
    from sqlglot import exp

    known = {tuple(view.lower().split(".", 1)) for view in views}  # (namespace, table): no dot ambiguity
    refused = []
    for table in real_sources(tree, dialect):
        named = (
            isinstance(table.this, exp.Identifier) and not table.args.get("catalog") and table.args.get("db")
        )
        if not named or (table.db.lower(), table.name.lower()) not in known:
            refused.append(table.sql(dialect=dialect))
    return refused


def _issue(table: Any, sql: str, construct: str, why: str) -> SqlSupportIssue:
    """At the source's first character, showing it as written."""
    from sqlglot import exp

    if not isinstance(table.this, exp.Identifier):
        return SqlSupportIssue(
            construct, f"{table.this.sql(dialect='trino')} {why}", offset_of(table.this, sql)
        )
    placed = [p.meta for p in table.parts if isinstance(p.meta.get("start"), int)]
    if not placed:
        return SqlSupportIssue(construct, f"{table.sql(dialect='trino')} {why}", 0)
    start, end = min(m["start"] for m in placed), max(m["end"] for m in placed)
    return SqlSupportIssue(construct, f"{sql[start : end + 1]} {why}", start)
