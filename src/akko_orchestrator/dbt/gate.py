"""The statement gate of the DuckDB connections dbt opens: what a model, a macro or dbt itself may run there.

DuckDB has no read-only folders: on a locked connection (engines/duckdb/sandbox.py) `COPY ... TO` a file of an
allowed folder, `EXPORT DATABASE` into one or `ATTACH` of one all succeed. So every statement dbt-duckdb runs is
first split and classified by DuckDB's own parser (`extract_statements`, the parser that then runs it: no second
grammar to disagree with), and only what compiling needs passes: queries (SELECT, also DESCRIBE, SHOW, SUMMARIZE
and the pragmas DuckDB turns into queries), transactions, and creating or dropping tables, views and schemas of the
compile database itself. Everything else is refused: COPY, EXPORT, ATTACH/DETACH, INSTALL/LOAD, PRAGMA, SET/RESET
(and USE), CALL, PREPARE/EXECUTE, EXPLAIN (ANALYZE runs its statement), CREATE SECRET and every kind of statement
DuckDB may add later. What a query may read stays DuckDB's own rule (`allowed_directories`).

The statements run are the parsed ones (`execute(statement)`), never the text parsed a second time: what was
checked is what runs (`IMPORT DATABASE`, expanded by the parser from files, cannot change in between).

A shared helper: it imports neither dbt nor AKKO's engines (see the report of issue 21 for merging it with the
engine's sandbox).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from akko_orchestrator.errors import AkkoError

if TYPE_CHECKING:
    import duckdb

# CREATE <modifiers> <kind>: the kinds a compile may create in its own database (a SECRET holds credentials, a
# PERSISTENT one is written to a file; the rest is not needed to compile).
CREATABLE = frozenset({"TABLE", "VIEW", "SCHEMA"})
CREATE_MODIFIERS = frozenset({"OR", "REPLACE", "TEMP", "TEMPORARY"})
SHOWN = 120  # characters of a refused statement shown in the message
_WORD = re.compile(r"[A-Za-z_]+")


class StatementRefused(AkkoError):
    """A statement dbt was about to run on DuckDB reaches files, settings or extensions."""


def _allowed_types() -> frozenset[Any]:
    from duckdb import StatementType

    return frozenset({StatementType.SELECT, StatementType.TRANSACTION, StatementType.DROP})


def checked(con: duckdb.DuckDBPyConnection, sql: str) -> list[Any]:
    """The statements of `sql` as DuckDB parsed them, each one allowed; raises `StatementRefused` otherwise."""
    from duckdb import StatementType

    try:
        statements = list(con.extract_statements(sql))
    except Exception as exc:  # a parse error (any duckdb error class): nothing runs
        raise StatementRefused(
            f"DuckDB could not parse the statement: {' '.join(str(exc).split())}"
        ) from None
    allowed = _allowed_types()
    for statement in statements:
        kind = statement.type
        if kind in allowed or (kind == StatementType.CREATE and _creates_relation(statement.query)):
            continue
        raise StatementRefused(_refusal(statement))
    return statements


def execute(con: duckdb.DuckDBPyConnection, sql: str, bindings: Sequence[Any] | None = None) -> Any:
    """Run `sql` on `con` as DuckDB would (the parameters bind the last statement), once every statement of it
    passed `checked`; returns what `con.execute` returns."""
    statements = checked(con, sql)
    if not statements:  # only comments or semicolons: DuckDB runs nothing either
        return con.execute(sql)
    for statement in statements[:-1]:
        con.execute(statement)
    if bindings is None:
        return con.execute(statements[-1])
    return con.execute(statements[-1], bindings)


def _creates_relation(query: str) -> bool:
    """`CREATE [OR REPLACE] [TEMP] TABLE|VIEW|SCHEMA ...`, read with DuckDB's tokenizer (which skips comments)."""
    import duckdb

    words = []
    for start, kind in duckdb.tokenize(query):
        word = _WORD.match(query, start)
        words.append(word.group(0).upper() if word and kind == duckdb.token_type.keyword else "")
    if not words or words[0] != "CREATE":
        return False
    rest = words[1:]
    while rest and rest[0] in CREATE_MODIFIERS:
        rest.pop(0)
    return bool(rest) and rest[0] in CREATABLE


def _without_leading_comments(query: str) -> str:
    """The statement from its first token on (dbt prefixes each one with a `/* {"app": "dbt", ...} */`)."""
    import duckdb

    tokens = duckdb.tokenize(query)
    return query[tokens[0][0] :] if tokens else query


def _refusal(statement: Any) -> str:
    try:
        kind = statement.type.name
    except Exception:  # a statement type this duckdb cannot name
        kind = "unknown"
    text = " ".join(_without_leading_comments(str(statement.query)).split())
    shown = text if len(text) <= SHOWN else text[:SHOWN] + "..."
    return (
        f"refused on dbt's DuckDB: `{shown}` is a {kind} statement; dbt models and macros may only query the "
        "lakehouse (SELECT, transactions, tables, views and schemas of the compile database), never reach "
        "files, settings or extensions (COPY, EXPORT, ATTACH, INSTALL, LOAD, PRAGMA, SET, CALL, CREATE SECRET)"
    )
