"""Which Iceberg tables a Trino SQL query reads, found on sqlglot's syntax tree (never by regex)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from akko_orchestrator.errors import AkkoError

TRINO = "trino"
_TOKEN_REPR = re.compile(r"<Token token_type: [^,]+, text: ([^,]*), [^>]*>")


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

    @property
    def qualified(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name


def parse_trino(sql: str):  # -> list[sqlglot.exp.Expression]
    """Parse one or more Trino statements; raise `SqlSyntaxError` with a position inside `sql`."""
    import sqlglot  # deferred: parse time uses cached plans and must not pay this import

    try:
        statements = [s for s in sqlglot.parse(sql, read=TRINO) if s is not None]
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        reason = _TOKEN_REPR.sub(r"'\1'", first.get("description", str(exc)))
        highlight = first.get("highlight") or ""
        if highlight and f"'{highlight}'" not in reason:
            reason += f" near '{highlight}'"
        column = max(1, first.get("col", 1) - len(highlight) + 1)  # sqlglot points at the token's end
        raise SqlSyntaxError(reason, first.get("line", 1), column) from None
    except sqlglot.errors.TokenError as exc:
        raise SqlSyntaxError(f"cannot tokenize: {exc}", 1, 1) from None
    if not statements:
        raise SqlSyntaxError("empty SQL", 1, 1)
    return statements


def tables_read(sql: str) -> list[TableRef]:
    """Tables a query reads, excluding CTE names, sorted and de-duplicated."""
    from sqlglot import exp

    refs: dict[tuple[str, str, str], TableRef] = {}
    for statement in parse_trino(sql):
        cte_names = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
        for table in statement.find_all(exp.Table):
            if not table.name or (not table.db and table.name.lower() in cte_names):
                continue
            ref = TableRef(table.catalog.lower(), table.db.lower(), table.name.lower())
            refs[(ref.catalog, ref.namespace, ref.name)] = ref
    return [refs[key] for key in sorted(refs)]
