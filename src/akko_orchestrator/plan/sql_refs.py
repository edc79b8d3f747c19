"""Which Iceberg tables a Trino SQL query reads, found on sqlglot's syntax tree (never by regex)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from akko_orchestrator.errors import AkkoError

TRINO = "trino"
LAKEHOUSE_SQL_CATALOG = "iceberg"  # the Trino catalog name that means "our Iceberg lakehouse" in SQL text
_TOKEN_REPR = re.compile(r"<Token token_type: [^,]+, text: ([^,]*), [^>]*>")
_MISSING_KEYWORD = re.compile(r"Required keyword: '\w+' missing for <class '[\w.]+'>")
_UNCLOSED = re.compile(r"Missing (.+) from \d+:(\d+)")
_FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*([A-Za-z_]+)", re.DOTALL)
DUCKDB_STATEMENTS = frozenset({"ATTACH", "DETACH", "INSTALL", "LOAD", "PRAGMA", "COPY", "EXPORT", "IMPORT"})
STATEMENTS = (
    "SELECT",
    "WITH",
    "VALUES",
    "TABLE",
    "INSERT",
    "MERGE",
    "DELETE",
    "UPDATE",
    "CREATE",
    "SHOW",
    "EXPLAIN",
)


@dataclass
class SqlSyntaxError(AkkoError):
    reason: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.reason}"


@dataclass
class TableRef:
    catalog: str
    namespace: str
    name: str
    offset: int | None = field(default=None, compare=False)  # where the reference starts in the SQL text

    @property
    def qualified(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name


def parse_trino(sql: str):  # -> list[sqlglot.exp.Expression]
    """Parse one or more Trino statements; raise `SqlSyntaxError` with a position inside `sql`. Within budgets
    (size, depth, nodes) and once per text while a plan is built: plan/sql_parse.py."""
    from akko_orchestrator.plan.sql_parse import parse_guarded

    return parse_guarded(sql, _parse_trino)


def _trino_parser():  # -> sqlglot.parser.Parser
    from sqlglot.dialects.trino import Trino

    return Trino().parser()


def _parse_trino(sql: str):  # -> list[sqlglot.exp.Expression]
    import sqlglot  # deferred: parse time uses cached plans and must not pay this import

    from akko_orchestrator.plan.sql_ast import tokenize

    try:
        with _quiet_sqlglot():  # SHOW, EXPLAIN...: "falling back to parsing as a 'Command'" is no news here
            # the tokens the statement checks read too (tokenized once per text while a plan is built)
            statements = [s for s in _trino_parser().parse(tokenize(sql), sql) if s is not None]
    except sqlglot.errors.ParseError as exc:
        known = _not_trino_statement(sql) or _misspelt_statement(sql) or _unknown_call(sql)
        if known is not None:
            raise known from None
        first = exc.errors[0] if exc.errors else {}
        highlight = first.get("highlight") or ""
        reason = _parse_reason(first.get("description", str(exc)), highlight)
        column = max(1, first.get("col", 1) - len(highlight) + 1)  # sqlglot points at the token's end
        raise SqlSyntaxError(reason, first.get("line", 1), column) from None
    except sqlglot.errors.TokenError as exc:
        raise _token_error(sql, exc) from None
    if not statements:
        raise SqlSyntaxError("empty SQL: write a query", 1, 1)
    return statements


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _position(sql: str, offset: int) -> tuple[int, int]:
    line = sql.count("\n", 0, offset) + 1
    return line, offset - (sql.rfind("\n", 0, offset) + 1) + 1


def _not_trino_statement(sql: str) -> SqlSyntaxError | None:
    """DuckDB's ATTACH, INSTALL, PRAGMA... make the parser fail somewhere after them: name the statement."""
    match = _FIRST_WORD.match(sql)
    if match is None or match.group(1).upper() not in DUCKDB_STATEMENTS:
        return None
    word = match.group(1).upper()
    return SqlSyntaxError(
        f"{word} is not a Trino statement (it is DuckDB's)", *_position(sql, match.start(1))
    )


def _unknown_call(sql: str) -> SqlSyntaxError | None:
    """A call of a function Trino lacks (DuckDB's `glob('/etc/*')`) can make the parser fail: name it."""
    from sqlglot.parser import Parser

    from akko_orchestrator.plan.sql_ast import NAME, NOT_A_CALL, tokenize
    from akko_orchestrator.plan.trino_functions import trino_functions
    from akko_orchestrator.plan.trino_sql import SPECIAL_FORMS

    tokens = tokenize(sql)
    for index, (token, following) in enumerate(zip(tokens, tokens[1:], strict=False)):
        name = token.text.lower()
        after_as = index > 0 and tokens[index - 1].text.upper() == "AS"  # CAST(x AS decimal(10, 2)
        if following.text != "(" or not NAME.fullmatch(token.text) or name in NOT_A_CALL or after_as:
            continue
        if token.token_type in Parser.TYPE_TOKENS:
            continue
        if name not in trino_functions() and name not in SPECIAL_FORMS:
            return SqlSyntaxError(f"{token.text} is not a Trino function", *_position(sql, token.start))
    return None


def _misspelt_statement(sql: str) -> SqlSyntaxError | None:
    """`SELEC ...` confuses the parser into an error further on; name the misspelt first word instead."""
    import difflib

    match = _FIRST_WORD.match(sql)
    if match is None or match.group(1).upper() in STATEMENTS:
        return None
    close = difflib.get_close_matches(match.group(1).upper(), STATEMENTS, n=1)
    if not close:
        return None
    offset = match.start(1)
    line = sql.count("\n", 0, offset) + 1
    column = offset - (sql.rfind("\n", 0, offset) + 1) + 1
    return SqlSyntaxError(f"'{match.group(1)}' is not a statement: did you mean {close[0]}?", line, column)


def _parse_reason(description: str, highlight: str) -> str:
    """sqlglot's parser message in plain words (no Python class names or token reprs)."""
    reason = _TOKEN_REPR.sub(r"'\1'", description).replace("'SENTINEL'", "the end of the SQL")
    near = f" near '{highlight}'" if highlight else ""
    if _MISSING_KEYWORD.match(reason):
        return (
            f"incomplete SQL: an expression is missing after '{highlight}'" if highlight else "incomplete SQL"
        )
    if reason.startswith("Invalid expression / Unexpected token"):
        return f"unexpected '{highlight}'" if highlight else "unexpected token"
    if reason.startswith("Expecting "):
        return f"expected '{reason.removeprefix('Expecting ')}'{near}"
    reason = reason[:1].lower() + reason[1:]
    return reason if f"'{highlight}'" in reason else reason + near


def _token_error(sql: str, exc: Exception) -> SqlSyntaxError:
    """An unclosed quote is reported where it opens; other tokenizer errors at the start of the SQL."""
    match = _UNCLOSED.match(str(exc.__cause__ or ""))
    if match is None:
        return SqlSyntaxError(f"cannot tokenize the SQL: {exc}", 1, 1)
    quote, offset = match.group(1), int(match.group(2))
    what = "string" if quote == "'" else "quoted identifier"
    line = sql.count("\n", 0, offset) + 1
    column = offset - (sql.rfind("\n", 0, offset) + 1) + 1
    return SqlSyntaxError(f"unclosed {what}: add the closing {quote}", line, column)


def tables_read(sql: str) -> list[TableRef]:
    """Tables a query reads (every table source that is not a CTE visible where it is named, plan/sql_sources.py),
    sorted and de-duplicated; table functions are not tables (plan/sql_sources.py refuses them)."""
    from akko_orchestrator.plan.sql_sources import real_sources

    refs: dict[tuple[str, str, str], TableRef] = {}
    for statement in parse_trino(sql):
        for table in real_sources(statement, copy=False):
            if not table.name:
                continue
            ref = TableRef(table.catalog.lower(), table.db.lower(), table.name.lower(), _offset(table))
            refs.setdefault((ref.catalog, ref.namespace, ref.name), ref)
    return [refs[key] for key in sorted(refs)]


def _offset(table) -> int | None:  # table: sqlglot.exp.Table
    """Offset of the table reference's first identifier in the SQL text (sqlglot records it on identifiers)."""
    parts = table.parts
    return parts[0].meta.get("start") if parts else None
