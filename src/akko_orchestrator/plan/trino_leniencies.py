"""DuckDB leniencies sqlglot's Trino parser accepts and Trino's grammar refuses, each at its offset with the Trino
way: SQL that would run on the embedded profile and fail on `cluster` (or the other way round, never validate).

sqlglot reads `SELECT a, b, FROM t` (a trailing comma), `LIMIT 1, 2`, `INTERVAL 1 DAY`, `x IS TRUE`, `x NOTNULL`,
`AS 'alias'`, `ORDER BY ALL`, `UNION BY NAME`, `AS MATERIALIZED`, `IN ()`, `IN [1, 2]` and `JOIN t` without ON or USING as
Trino, and DuckDB runs what it transpiles them to; Trino's grammar (SqlBase.g4) has none of them. Found on
sqlglot's tokens (the tree keeps no trace of most) and, for joins, on the tree.

On the embedded profile plan/trino_sql.py reports these among everything else that is not Trino SQL; on other
profiles `grammar_issues` reports them with the other DuckDB-only syntax, so `akko validate` refuses on every
profile what Trino would refuse when the step runs. Imports neither engines nor Airflow.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from akko_orchestrator.plan.sql_ast import SqlSupportIssue, offset_of, tokenize

GRAMMAR = "not in Trino's grammar (DuckDB accepts it)"
# Tokens that end a list: a comma before one of them ends the list with nothing after it. Only words Trino reserves
# (a non-reserved word such as `limit` or `window` may name a column after a comma).
LIST_ENDS = frozenset(
    {
        "FROM", "WHERE", "GROUP_BY", "HAVING", "ORDER_BY", "UNION", "INTERSECT", "EXCEPT", "JOIN", "INNER",
        "LEFT", "RIGHT", "FULL", "CROSS", "NATURAL", "ON", "USING", "R_PAREN", "R_BRACKET", "SEMICOLON",
        "THEN", "ELSE", "END", "WHEN", "AND", "OR",
    }
)  # fmt: skip
EXPRESSION_ENDS = frozenset(
    {"VAR", "IDENTIFIER", "R_PAREN", "R_BRACKET", "NUMBER", "STRING", "NULL", "TRUE", "FALSE"}
)
SKIPPED_BEFORE_RELATION = frozenset({"L_PAREN", "LATERAL", "UNNEST"})


def leniencies(sql: str, statements: list[Any], tokens: list[Any] | None = None) -> list[SqlSupportIssue]:
    """Every DuckDB leniency in `sql` (parsed as `statements`), sorted by offset."""
    tokens = tokenize(sql) if tokens is None else tokens
    found = list(_token_leniencies(tokens))
    for statement in statements:
        found.extend(_joins_without_criteria(statement, sql, tokens))
    return sorted(found, key=lambda issue: issue.offset)


def grammar_issues(
    sql: str, engine: str | None, statements: list[Any] | None = None
) -> list[SqlSupportIssue]:
    """On a profile whose engine is not the embedded one (where plan/trino_sql.py's allow-lists already report
    them): the leniencies, and the DuckDB-only syntax Trino refuses (`FROM t SELECT`, `SELECT * EXCLUDE`, `::`...).
    SQL that does not parse gives none (the planner reports its syntax error)."""
    if engine == "embedded":
        return []
    from akko_orchestrator.plan.sql_refs import SqlSyntaxError, parse_trino
    from akko_orchestrator.plan.trino_sql import duckdb_syntax

    try:
        statements = parse_trino(sql) if statements is None else statements
    except SqlSyntaxError:
        return []
    tokens = tokenize(sql)
    found = {(i.construct, i.offset): i for i in duckdb_syntax(sql, statements, tokens, GRAMMAR)}
    for issue in leniencies(sql, statements, tokens):
        found.setdefault((issue.construct, issue.offset), issue)
    return sorted(found.values(), key=lambda issue: issue.offset)


def lenient(construct: str, offset: int, way: str) -> SqlSupportIssue:
    return SqlSupportIssue(construct, f"{construct}: {GRAMMAR} ({way})", offset)


def _token_leniencies(tokens: list[Any]) -> Iterator[SqlSupportIssue]:
    for index, token in enumerate(tokens):
        check = _TOKEN_CHECKS.get(token.token_type.name)
        found = check(tokens, index) if check is not None else None
        if found is not None:
            yield found


def _kind(tokens: list[Any], index: int) -> str | None:
    return tokens[index].token_type.name if 0 <= index < len(tokens) else None


def _word(tokens: list[Any], index: int) -> str:
    return tokens[index].text.upper() if 0 <= index < len(tokens) else ""


def _trailing_comma(tokens: list[Any], index: int) -> SqlSupportIssue | None:
    after = _kind(tokens, index + 1)
    if after is not None and after not in LIST_ENDS:
        return None
    where = f"before `{_word(tokens, index + 1)}`" if after else "at the end"
    return lenient(
        "trailing comma", tokens[index].start, f"remove the comma {where}: Trino's lists end without one"
    )


def _limit(tokens: list[Any], index: int) -> SqlSupportIssue | None:
    if _kind(tokens, index + 1) != "NUMBER":
        return None
    if _kind(tokens, index + 2) == "COMMA":
        return lenient("LIMIT m, n", tokens[index].start, "write OFFSET m LIMIT n")
    if _kind(tokens, index + 2) == "MOD" or _word(tokens, index + 2) == "PERCENT":
        return lenient("LIMIT n PERCENT", tokens[index].start, "Trino's LIMIT takes a number of rows")
    return None


def _interval(tokens: list[Any], index: int) -> SqlSupportIssue | None:
    number = index + 2 if _kind(tokens, index + 1) in ("DASH", "PLUS") else index + 1
    if _kind(tokens, number) != "NUMBER":
        return None
    return lenient("INTERVAL without quotes", tokens[index].start, "quote the number: INTERVAL '1' DAY")


def _is_truth(tokens: list[Any], index: int) -> SqlSupportIssue | None:
    value = index + 2 if _kind(tokens, index + 1) == "NOT" else index + 1
    if _kind(tokens, value) not in ("TRUE", "FALSE"):
        return None
    return lenient(
        "IS TRUE / IS FALSE", tokens[index].start, "compare with = true, or use coalesce(x, false)"
    )


def _postfix_null(tokens: list[Any], index: int) -> SqlSupportIssue | None:
    """`x ISNULL`: after an expression (a column named `isnull` after a comma, or a call `isnull(x)`, is not it)."""
    if _kind(tokens, index - 1) not in EXPRESSION_ENDS or _kind(tokens, index + 1) == "L_PAREN":
        return None
    kind = tokens[index].token_type.name
    return lenient(kind, tokens[index].start, "write IS NULL" if kind == "ISNULL" else "write IS NOT NULL")


def _alias(tokens: list[Any], index: int) -> SqlSupportIssue | None:
    if _kind(tokens, index + 1) == "STRING":
        return lenient(
            "a string as an alias", tokens[index + 1].start, 'quote names with double quotes: AS "name"'
        )
    words = [_word(tokens, i) for i in range(index + 1, index + 4)]
    if words[:2] == ["MATERIALIZED", "("] or words == ["NOT", "MATERIALIZED", "("]:
        return lenient("AS MATERIALIZED", tokens[index + 1].start, "write name AS (query)")
    return None


def _order_by_all(tokens: list[Any], index: int) -> SqlSupportIssue | None:
    if _kind(tokens, index + 1) != "ALL":
        return None
    return lenient("ORDER BY ALL", tokens[index].start, "name the sort columns")


def _by_name(tokens: list[Any], index: int) -> SqlSupportIssue | None:
    first = index + 2 if _word(tokens, index + 1) in ("ALL", "DISTINCT") else index + 1
    if [_word(tokens, first), _word(tokens, first + 1)] != ["BY", "NAME"]:
        return None
    construct = f"{_word(tokens, index)} BY NAME"
    return lenient(construct, tokens[index].start, "select the same columns in the same order")


def _in_list(tokens: list[Any], index: int) -> SqlSupportIssue | None:
    if _kind(tokens, index + 1) == "L_BRACKET":
        return lenient("IN [...]", tokens[index + 1].start, "write the values in parentheses: IN (1, 2)")
    if _kind(tokens, index + 1) != "L_PAREN" or _kind(tokens, index + 2) != "R_PAREN":
        return None
    return lenient("IN ()", tokens[index].start, "give at least one value, or drop the condition")


_TOKEN_CHECKS = {
    "COMMA": _trailing_comma,
    "LIMIT": _limit,
    "INTERVAL": _interval,
    "IS": _is_truth,
    "ISNULL": _postfix_null,
    "NOTNULL": _postfix_null,
    "ALIAS": _alias,
    "ORDER_BY": _order_by_all,
    "UNION": _by_name,
    "INTERSECT": _by_name,
    "EXCEPT": _by_name,
    "IN": _in_list,
}


def _joins_without_criteria(statement: Any, sql: str, tokens: list[Any]) -> Iterator[SqlSupportIssue]:
    """`JOIN t` with neither ON nor USING: sqlglot makes it a cross join; Trino's grammar requires the criteria
    (only CROSS JOIN and NATURAL JOIN go without). A comma join has no JOIN keyword and is fine."""
    from sqlglot import exp

    for join in statement.find_all(exp.Join):
        args = join.args
        if args.get("on") is not None or args.get("using") or args.get("kind") or args.get("method"):
            continue
        nested = not isinstance(
            join.this, exp.Table
        )  # a subquery, LATERAL, UNNEST: starts at its parenthesis
        keyword = _keyword_before(tokens, offset_of(join.this, sql), nested)
        if keyword is not None:
            way = "add ON condition or USING (columns), or write CROSS JOIN"
            yield lenient("JOIN without ON", keyword.start, way)


def _keyword_before(tokens: list[Any], offset: int, nested: bool) -> Any | None:
    """The JOIN token that introduces the relation whose first recorded position is `offset`, if a JOIN does (a
    comma join has none). A nested relation is walked back to the parenthesis that opens it."""
    index = next((i for i, t in enumerate(tokens) if t.start >= offset), len(tokens)) - 1
    depth = 0
    while nested and index >= 0:
        kind = tokens[index].token_type.name
        index -= 1
        if kind == "R_PAREN":
            depth += 1
        elif kind == "L_PAREN" and depth == 0:
            break
        elif kind == "L_PAREN":
            depth -= 1
    while index >= 0 and tokens[index].token_type.name in SKIPPED_BEFORE_RELATION:
        index -= 1
    return tokens[index] if index >= 0 and tokens[index].token_type.name == "JOIN" else None
