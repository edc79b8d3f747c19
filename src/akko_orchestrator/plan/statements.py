"""Which statements SQL text holds: a step's SQL is exactly one query, and `akko query` runs only what reads.

Checked on sqlglot's syntax tree and tokens, on every profile: a `sql` step's result is written by AKKO (one atomic
commit, exactly-once), so a statement that writes, loads, attaches or configures something itself has no place in a
spec; and `akko query` refuses anything but SELECT, WITH, VALUES, TABLE, SHOW, DESCRIBE and EXPLAIN of a query
before it runs. Imports neither engines nor Airflow.
"""

from __future__ import annotations

import re
from typing import Any

from akko_orchestrator.plan.sql_ast import SqlSupportIssue, tokenize
from akko_orchestrator.plan.sql_refs import parse_trino

QUERY_ROOTS = frozenset({"Select", "Union", "Intersect", "Except", "Values", "Subquery"})
READ_ONLY = frozenset({"SHOW", "DESCRIBE", "EXPLAIN"})
_EXPLAIN = re.compile(r"EXPLAIN(?:\s+ANALYZE)?(?:\s+VERBOSE)?(?:\s*\([^)]*\))?\s*", re.IGNORECASE)
_WRITES = "set the step's `output` (append, overwrite or merge): AKKO writes it in one atomic commit"
WAY = {
    "INSERT": _WRITES,
    "MERGE": _WRITES,
    "UPDATE": _WRITES,
    "DELETE": _WRITES,
    "CREATE": _WRITES,
    "DROP": _WRITES,
    "ALTER": _WRITES,
    "TRUNCATE": _WRITES,
    "COPY": "set the step's `output` to write a table; files land through `ingest` steps",
    "EXPORT": "set the step's `output` to write a table",
    "ATTACH": "read another database with an `ingest` step whose source is `sql`",
    "INSTALL": "extensions are not part of spec SQL",
    "LOAD": "extensions are not part of spec SQL",
    "SET": "settings are not part of spec SQL",
    "RESET": "settings are not part of spec SQL",
    "PRAGMA": "settings are not part of spec SQL",
    "CALL": "procedures are not part of spec SQL",
}


def statement_kinds(sql: str, statements: list[Any] | None = None) -> list[tuple[str, int]]:
    """Each statement's kind (`QUERY`, or its first keyword: `COPY`, `INSERT`, `SHOW`...) and offset, in order
    (`statements`: `sql` already parsed). Raises `SqlSyntaxError` when the SQL does not parse."""
    statements = statements if statements is not None else parse_trino(sql)
    starts = _statement_starts(tokenize(sql))
    kinds = []
    for index, statement in enumerate(statements):
        offset, word = starts[index] if index < len(starts) else (0, "")
        query = type(statement).__name__ in QUERY_ROOTS
        kinds.append(("QUERY" if query else word.upper() or type(statement).__name__.upper(), offset))
    return kinds


def query_issues(sql: str) -> list[SqlSupportIssue]:
    """A step's SQL must be exactly one query, reading tables only (no table function, no name DuckDB would read
    as a file: plan/sql_sources.py); raises `SqlSyntaxError` when it does not parse."""
    from akko_orchestrator.plan.sql_sources import source_issues

    statements = parse_trino(sql)
    kinds = statement_kinds(sql, statements)
    issues = source_issues(sql, statements=statements)
    if len(kinds) > 1:
        why = "a second statement: a step's SQL is one query, whose result AKKO writes"
        issues.append(SqlSupportIssue("statement 2", why, kinds[1][1]))
    kind, offset = kinds[0]
    if kind != "QUERY":
        why = f"{kind} is not a query: a step's SQL is one SELECT (or WITH, VALUES, TABLE), whose result AKKO writes"
        way = WAY.get(kind)
        issues.append(SqlSupportIssue(kind, why + (f" ({way})" if way else ""), offset))
    return issues


def read_only_refusal(sql: str) -> str | None:
    """Why `akko query` refuses `sql`, or None: it runs one query, SHOW, DESCRIBE or EXPLAIN of a query (EXPLAIN
    ANALYZE runs its statement, so that statement must be a query too)."""
    kinds = statement_kinds(sql)
    if len(kinds) > 1:
        return "akko query runs one statement at a time"
    kind = kinds[0][0]
    if kind == "EXPLAIN":
        return _explained_refusal(sql, kinds[0][1])
    if kind == "QUERY" or kind in READ_ONLY:
        return None
    return (
        f"akko query is read-only: {kind} is refused (it runs SELECT, WITH, VALUES, TABLE, SHOW, DESCRIBE or "
        "EXPLAIN); pipelines write tables"
    )


def _explained_refusal(sql: str, offset: int) -> str | None:
    """sqlglot keeps EXPLAIN as raw text (a Command): the explained statement is what follows its options."""
    match = _EXPLAIN.match(sql, offset)
    inner = sql[match.end() :] if match else ""
    if not inner.strip(" \t\n;"):
        return "EXPLAIN needs a query to explain"
    refusal = read_only_refusal(inner)
    if refusal is None and statement_kinds(inner)[0][0] != "QUERY":
        return "akko query explains queries only"
    return refusal


def _statement_starts(tokens: list[Any]) -> list[tuple[int, str]]:
    """The offset and first word of each statement (statements are separated by `;`)."""
    starts, expecting = [], True
    for token in tokens:
        if token.text == ";":
            expecting = True
        elif expecting:
            starts.append((token.start, token.text))
            expecting = False
    return starts
