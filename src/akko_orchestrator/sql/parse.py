"""SQL a user wrote, as the tree AKKO embeds in its own statements, never as text pasted into them.

A `sql` check's query becomes a subquery node and an `expression` check's condition an expression node of AKKO's
statement (quality/checks.py), so whatever their text holds (`1) FROM banking.x --`, a `;`, a quote) it can only
be the one query or the one condition it parses as: text that is not exactly that is refused here, with a
message naming what was expected. Pure functions over sqlglot: no engine, no catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from akko_orchestrator.errors import AkkoError

if TYPE_CHECKING:
    from sqlglot import exp

QUERY_RULE = "one Trino query returning rows (SELECT, WITH, VALUES or TABLE)"
CONDITION_RULE = (
    "one Trino condition on a row of the checked table, such as `revenue = quantity * unit_price`"
)
# Trino's niladic functions that sqlglot reads as columns: never qualified with the checked table's alias.
NOT_COLUMNS = frozenset({"current_schema", "current_path"})


@dataclass
class SqlRefused(AkkoError):
    """User SQL that is not the one query or condition its place takes; `line`/`column` are 1-based in its text
    (0 when the problem has no position, e.g. a second statement found after parsing)."""

    what: str
    reason: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        where = f" (line {self.line}, column {self.column})" if self.line else ""
        return f"{self.what}: {self.reason}{where}"


def query(text: str, what: str = "SQL", dialect: str = "trino") -> exp.Query:
    """The one query `text` holds, as a tree; refused if it does not parse, holds another statement kind, or
    more than one statement."""
    from sqlglot import exp

    statements = [s for s in _parse(text, what, dialect) if s is not None]
    if len(statements) != 1:
        found = f"{len(statements)} statements" if statements else "no statement"
        raise SqlRefused(what, f"must be {QUERY_RULE}, found {found}")
    statement = statements[0]
    if not isinstance(statement, exp.Query | exp.Values):
        kind = statement.key.upper()
        raise SqlRefused(what, f"must be {QUERY_RULE}, not {kind}")
    return statement


def condition(text: str, what: str = "expression", dialect: str = "trino") -> exp.Expression:
    """The one condition `text` holds, as an expression node reading only the row it is evaluated on: refused
    if it is not exactly one expression (`1) FROM banking.x --` is not), or if it reads a table (a subquery:
    compare with another table in a `sql` check instead)."""
    import sqlglot
    from sqlglot import exp

    if not text.strip():
        raise SqlRefused(what, f"is empty: write {CONDITION_RULE}")
    try:
        node = sqlglot.parse_one(text, read=dialect, into=exp.Condition)
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        raise SqlRefused(what, _condition_reason(first), *_position(first, text)) from None
    except sqlglot.errors.TokenError as exc:
        raise SqlRefused(what, f"SQL does not parse as Trino: {exc}") from None
    # located at the table it reads where there is one (else at the subquery or VALUES)
    reads = next((n for n in node.walk() if isinstance(n, exp.Table)), None) or next(
        (n for n in node.walk() if isinstance(n, exp.Query | exp.Values)), None
    )
    if reads is not None:
        raise SqlRefused(
            what,
            "reads a table (a subquery): a condition is judged on each row of the checked table alone; "
            "compare with another table in a `sql` check",
            *_node_position(reads, text),
        )
    return node


def qualify(node: exp.Expression, table: str) -> exp.Expression:
    """`node` with each column it names unqualified read from the table alias `table` (so no column of a joined
    table can take its place); lambda variables and table-qualified columns are left as they are."""
    from sqlglot import exp

    from akko_orchestrator.sql.build import identifier

    for column in list(node.find_all(exp.Column)):
        if column.table or isinstance(column.this, exp.Star) or column.name.lower() in NOT_COLUMNS:
            continue
        column.set("table", identifier(table))
    return node


def _parse(text: str, what: str, dialect: str) -> list[exp.Expression | None]:
    import sqlglot

    try:
        return sqlglot.parse(text, read=dialect)
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        reason = first.get("description") or str(exc).splitlines()[0]
        raise SqlRefused(what, f"does not parse as Trino SQL: {reason}", *_position(first, text)) from None
    except sqlglot.errors.TokenError as exc:
        raise SqlRefused(what, f"does not parse as Trino SQL: {exc}") from None


def _condition_reason(error: dict) -> str:
    """sqlglot's error in words: what is missing, or what comes after the one condition."""
    description, highlight = error.get("description") or "", error.get("highlight") or ""
    if description.startswith("Required keyword") or not highlight:
        return f"SQL does not parse as Trino: incomplete SQL: an expression is missing after '{highlight}'"
    if description.startswith("Expecting"):
        return f"SQL does not parse as Trino: {description.lower()} near '{highlight}'"
    return f"'{highlight}' cannot come here: an `expression` is {CONDITION_RULE}, nothing before or after it"


def _position(error: dict, text: str) -> tuple[int, int]:
    """sqlglot's error position (it points at the end of the offending token), or the text's end."""
    line = error.get("line") or text.count("\n") + 1
    column = max(1, (error.get("col") or 1) - len(error.get("highlight") or "") + 1)
    return line, column


def _node_position(node: exp.Expression, text: str) -> tuple[int, int]:
    starts = [n.meta["start"] for n in node.walk() if isinstance(n.meta.get("start"), int)]
    if not starts:
        return 0, 0
    offset = min(starts)
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1
