"""Every parse of spec SQL goes through here (plan/sql_refs.py `parse_trino`): held to budgets, and done once per
text while a plan is built.

Budgets. sqlglot's parser is recursive (about twenty frames per parenthesis: fifty nested ones exhaust Python's
stack), and so are its generator, copier and optimizer over the tree it returns; its column qualification grows
faster than linearly with the scopes of one statement (three thousand UNION branches: minutes). Airflow's
dag-processor gives a file 30 s before it kills it with an import error that names only a process id. So SQL
longer than `MAX_SQL_BYTES`, nested deeper than the parser can go or than `MAX_SQL_DEPTH`, or holding more than
`MAX_SQL_NODES` nodes or `MAX_SQL_SCOPES` scopes (queries, joins, CTEs) is refused with a `SqlOverBudget` (a
`SqlSyntaxError`) at its offset, before anything else walks it; every consumer (validate, DAG parse, the engines at run time, dbt
models, checks) parses through here, so none meets such a tree.

Once. Inside `parsing_once()` (the planner, `akko validate`), a text parsed before returns the same statements
(or raises the same error), and a text tokenized before the same tokens: the table references, the statement
kinds, the Trino allow-list and the embedded engine's checks share one parse. Consumers only read the trees (any rewrite starts from `.copy()`, as
plan/sql_support.py's `annotate` does); a unit test keeps that true.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from akko_orchestrator.plan.sql_refs import SqlSyntaxError

MAX_SQL_BYTES = 256 * 1024  # one query; a pipeline of 1,000 steps holds ~100 KB of SQL in all
MAX_SQL_DEPTH = 128  # tree levels: sqlglot's generator and optimizer handle ~300 from a shallow stack
MAX_SQL_NODES = 50_000
MAX_SQL_SCOPES = 500
_PARSER_DEPTH = 30  # parentheses inside each other from where sqlglot's parser may exhaust the stack
SET_OPERATIONS = ("Union", "Intersect", "Except")
SCOPES = ("Select", "Union", "Intersect", "Except", "Join", "CTE", "Subquery")
_MEMO: ContextVar[dict[Any, Any] | None] = ContextVar("akko_sql_memo", default=None)
_COUNT = {"parses": 0}  # sqlglot parses made through here (the planner's tests bound it)


class SqlOverBudget(SqlSyntaxError):
    """SQL that may parse, but costs more than AKKO plans (its `reason` says which budget and what to do)."""


@contextmanager
def parsing_once() -> Iterator[None]:
    """Within this block each SQL text is parsed once (nested blocks share the outer one's memo)."""
    token = _MEMO.set({}) if _MEMO.get() is None else None
    try:
        yield
    finally:
        if token is not None:
            _MEMO.reset(token)


def parse_count() -> int:
    """How many texts were parsed by sqlglot through here in this process."""
    return _COUNT["parses"]


def parse_guarded(sql: str, parse: Callable[[str], list[Any]]) -> list[Any]:
    """`parse(sql)` within the budgets (raises plan/sql_refs.py's `SqlSyntaxError`), memoised per text inside
    `parsing_once()`."""
    memo = _MEMO.get()
    found = memo.get(sql) if memo is not None else None
    if isinstance(found, Exception):
        raise copy.copy(found)
    if found is not None:
        return found
    try:
        statements = _parse_within_budget(sql, parse)
    except Exception as exc:
        if memo is not None:
            memo[sql] = exc
        raise
    if memo is not None:
        memo[sql] = statements
    return statements


def once_per_tree(what: str, tree: Any, compute: Callable[[], Any]) -> Any:
    """`compute()`, memoised per (what, tree object) inside `parsing_once()`. The memo holds the tree, so its id
    names no other tree while the memo lives."""
    memo = _MEMO.get()
    if memo is None:
        return compute()
    key = (what, id(tree))
    found = memo.get(key)
    if found is None or found[0] is not tree:
        found = memo[key] = (tree, compute())
    return found[1]


def tokenize_once(sql: str, tokenize: Callable[[str], list[Any]]) -> list[Any]:
    """`tokenize(sql)`, memoised per text inside `parsing_once()` (statement kinds, the Trino allow-list and error
    messages each read the tokens)."""
    memo = _MEMO.get()
    if memo is None:
        return tokenize(sql)
    key = ("tokens", sql)
    if key not in memo:
        memo[key] = tokenize(sql)  # type: ignore[index]
    return memo[key]  # type: ignore[index]


def _parse_within_budget(sql: str, parse: Callable[[str], list[Any]]) -> list[Any]:
    size = len(sql.encode("utf-8", errors="replace"))
    if size > MAX_SQL_BYTES:
        raise SqlOverBudget(too_long(size), 1, 1)
    _COUNT["parses"] += 1
    try:
        statements = parse(sql)
    except RecursionError:
        offset = _deepest_parenthesis(sql)
        reason = "nested too deeply for the SQL parser (parentheses or calls inside each other)"
        raise SqlOverBudget(f"{reason}: flatten it with CTEs", *_line_column(sql, offset)) from None
    problem = _over_budget(statements)
    if problem is not None:
        reason, node = problem
        offset = _offset(node)
        raise SqlOverBudget(reason, *_line_column(sql, offset)) from None
    return statements


def unparsed_reason(exc: SqlSyntaxError) -> str:
    """What a spec's issue says of SQL that was refused: over a budget as such, else a parse error."""
    return exc.reason if isinstance(exc, SqlOverBudget) else f"SQL does not parse as Trino: {exc.reason}"


def too_long(size: int) -> str:
    """The reason given for SQL of `size` bytes over `MAX_SQL_BYTES`."""
    return (
        f"the SQL is {size:,} bytes, more than the {MAX_SQL_BYTES:,} AKKO plans in one query: split it into "
        "steps, or load constant data as a table"
    )


def _over_budget(statements: list[Any]) -> tuple[str, Any] | None:
    """(reason, node) of the first budget a parsed statement exceeds, walking without recursion. A chain of
    UNION, INTERSECT or EXCEPT counts as one level (sqlglot walks it without recursing) but each of its queries
    as a scope."""
    nodes = scopes = 0
    stack = [(statement, 1) for statement in statements]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if type(node).__name__ in SCOPES:
            scopes += 1
        if depth > MAX_SQL_DEPTH:
            return f"nested more than {MAX_SQL_DEPTH} levels deep: flatten it with CTEs", node
        if nodes > MAX_SQL_NODES:
            return f"more than {MAX_SQL_NODES:,} syntax nodes in one query: split it into steps", node
        if scopes > MAX_SQL_SCOPES:
            reason = f"more than {MAX_SQL_SCOPES} queries, joins and CTEs in one query: split it into steps"
            return reason, node
        chain = type(node).__name__ in SET_OPERATIONS
        for child in node.iter_expressions():
            same_level = chain and type(child).__name__ in SET_OPERATIONS
            stack.append((child, depth if same_level else depth + 1))
    return None


def _offset(node: Any) -> int:
    """Where a node (or the first of its descendants that sqlglot located) starts in the text."""
    for candidate in node.walk():
        start = candidate.meta.get("start") if candidate.meta else None
        if start is not None:
            return int(start)
    return 0


def _deepest_parenthesis(sql: str) -> int:
    """Offset of the first opening parenthesis nested `_PARSER_DEPTH` deep (about where sqlglot's parser gives up),
    found by sqlglot's tokenizer, which does not recurse; 0 if there is none or the text does not tokenize."""
    from sqlglot.tokens import TokenType

    from akko_orchestrator.plan.sql_ast import tokenize

    try:
        tokens = tokenize(sql)
    except Exception:  # noqa: BLE001 - any tokenizer error: the start of the text will do
        return 0
    depth = 0
    for token in tokens:
        if token.token_type == TokenType.L_PAREN:
            depth += 1
            if depth == _PARSER_DEPTH:
                return token.start
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
    return 0


def _line_column(sql: str, offset: int) -> tuple[int, int]:
    line = sql.count("\n", 0, offset) + 1
    return line, offset - (sql.rfind("\n", 0, offset) + 1) + 1
