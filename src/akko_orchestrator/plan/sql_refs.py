"""Which Iceberg tables a Trino SQL query reads, found on sqlglot's syntax tree (never by regex)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from akko_orchestrator.errors import AkkoError

TRINO = "trino"
_TOKEN_REPR = re.compile(r"<Token token_type: [^,]+, text: ([^,]*), [^>]*>")
_MISSING_KEYWORD = re.compile(r"Required keyword: '\w+' missing for <class '[\w.]+'>")
_UNCLOSED = re.compile(r"Missing (.+) from \d+:(\d+)")
_FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*([A-Za-z_]+)", re.DOTALL)
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
    """Parse one or more Trino statements; raise `SqlSyntaxError` with a position inside `sql`."""
    import sqlglot  # deferred: parse time uses cached plans and must not pay this import

    try:
        statements = [s for s in sqlglot.parse(sql, read=TRINO) if s is not None]
    except sqlglot.errors.ParseError as exc:
        misspelt = _misspelt_statement(sql)
        if misspelt is not None:
            raise misspelt from None
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
    """Tables a query reads, excluding CTE names, sorted and de-duplicated."""
    from sqlglot import exp

    refs: dict[tuple[str, str, str], TableRef] = {}
    for statement in parse_trino(sql):
        cte_names = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
        for table in statement.find_all(exp.Table):
            if not table.name or (not table.db and table.name.lower() in cte_names):
                continue
            ref = TableRef(table.catalog.lower(), table.db.lower(), table.name.lower(), _offset(table))
            refs.setdefault((ref.catalog, ref.namespace, ref.name), ref)
    return [refs[key] for key in sorted(refs)]


def _offset(table) -> int | None:  # table: sqlglot.exp.Table
    """Offset of the table reference's first identifier in the SQL text (sqlglot records it on identifiers)."""
    parts = table.parts
    return parts[0].meta.get("start") if parts else None
