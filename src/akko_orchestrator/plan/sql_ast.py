"""Shared by the SQL checks of this layer (plan/trino_sql.py, plan/sql_support.py, plan/statements.py): the issue
type they return, where a sqlglot node starts in the SQL text, and the name a function call is written with.
Imports neither engines nor Airflow; sqlglot is imported on first use."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

NAME = re.compile(r"[A-Za-z_]\w*")


def words(text: str) -> frozenset[str]:
    """A set of words written as one string (keeps the long word lists of the SQL checks readable)."""
    return frozenset(text.split())


# Words that can stand before a "(" without naming a function: `WHERE (a AND b)` is no call of `where`.
NOT_A_CALL = words(
    "select from where and or not on when then else in by as is like between case end distinct all any "
    "some values with join having over filter using lateral escape order group limit offset union "
    "intersect except return"
)


@dataclass(frozen=True)
class SqlSupportIssue:
    """One use of something the engine cannot run as Trino would, or that is not Trino SQL at all."""

    construct: str  # the function as written (`approx_percentile`) or the construct (`TABLESAMPLE`)
    message: str  # "<construct>: <why>; <the way to do it>"
    offset: int  # character offset of the construct in the SQL text

    def __str__(self) -> str:
        return self.message


def written_name(node: Any, sql: str) -> str:
    """A function's name as the SQL text spells it (sqlglot's own name may be another dialect's)."""
    from sqlglot import exp

    start, end = node.meta.get("start"), node.meta.get("end")
    if isinstance(start, int) and isinstance(end, int) and NAME.fullmatch(sql[start : end + 1]):
        return sql[start : end + 1]
    if isinstance(node, exp.Anonymous):
        return str(node.name)
    return node.sql_name().lower()


def call_name(node: Any, sql: str, tokens: list[Any]) -> str | None:
    """The name `node` is called with when the SQL writes it as a call `name(...)`, else None (CASE, operators,
    ARRAY[...], typed literals). sqlglot records the name's position for most calls; for those its dedicated
    parsers build (CAST, EXTRACT, TRIM, max_by...) the name is the word before the "(" that opens the call, found by
    walking the tokens back from the first position recorded inside it."""
    start, end = node.meta.get("start"), node.meta.get("end")
    if isinstance(start, int) and isinstance(end, int) and NAME.fullmatch(sql[start : end + 1]):
        return sql[start : end + 1]
    inner = [n.meta["start"] for n in node.walk() if isinstance(n.meta.get("start"), int)]
    if not inner:
        return None
    index = next((i for i, t in enumerate(tokens) if t.start >= min(inner)), len(tokens))
    depth = 0
    for position in range(index - 1, -1, -1):
        text = tokens[position].text
        if text == ")":
            depth += 1
        elif text == "(" and depth:
            depth -= 1
        elif text == "(":
            before = tokens[position - 1].text if position else ""
            if NAME.fullmatch(before) and before.lower() not in NOT_A_CALL:
                return before
        elif depth == 0 and text in (",", ";"):
            return None
    return None


def tokenize(sql: str) -> list[Any]:
    """sqlglot's Trino tokens of `sql` (each with its text and start/end offsets); once per text while a plan is
    built (plan/sql_parse.py)."""
    from akko_orchestrator.plan.sql_parse import tokenize_once

    return tokenize_once(sql, _tokenize)


def _tokenize(sql: str) -> list[Any]:
    from sqlglot.dialects.trino import Trino

    return Trino().tokenize(sql)


# Keywords that start a construct sqlglot records no position for: its offset is that of the keyword before the
# first position recorded inside it.
_KEYWORDS = {
    "Cast": "cast",
    "TryCast": "try_cast",
    "TableSample": "tablesample",
    "Version": "for",
    "Unnest": "unnest",
    "MatchRecognize": "match_recognize",
}


def offset_of(node: Any, sql: str) -> int:
    """Where `node` starts in `sql`: its own recorded position, else the first one recorded inside it (moved back to
    the construct's keyword, e.g. CAST, when the node has one); 0 when sqlglot recorded none."""
    start = node.meta.get("start")
    if isinstance(start, int):
        return start
    inner = [n for n in node.walk() if isinstance(n.meta.get("start"), int)]
    if not inner:
        return 0
    first = min(inner, key=lambda n: n.meta["start"])
    offset = first.meta["start"]
    keyword = _KEYWORDS.get(type(node).__name__)
    if keyword is None:
        return offset
    # CAST(CAST(x AS int) AS varchar): the outer cast's keyword is the second one back from x.
    depth, parent = 0, first
    while parent is not None:
        depth += type(parent) is type(node)
        parent = None if parent is node else parent.parent
    for _ in range(depth):
        found = sql.lower().rfind(keyword, 0, offset)
        if found < 0:
            break
        offset = found
    return offset
