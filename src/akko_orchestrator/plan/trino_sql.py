"""Only Trino SQL reaches the embedded engine: an allow-list of what Trino has, never a deny-list of DuckDB names.

sqlglot's Trino parser is lenient: it also reads DuckDB's `read_csv('/etc/passwd')`, `x::int`, `GROUP BY ALL`,
`LIMIT 1 OFFSET 2` or `FROM t SELECT a`, which DuckDB would then run although Trino has none of them, so a spec valid on `local`
would fail on `cluster` (and could read files). Everything in a statement must be on one of these lists:
- functions: Trino's own (`trino_functions.txt`, what Trino 476's `SHOW FUNCTIONS` lists) and the few Trino special
  forms written like calls (`if`, `coalesce`, `cast`, `extract`...); a call is known by the name the SQL writes,
  whatever sqlglot's class for it;
- syntax: the sqlglot node classes Trino's grammar produces (`SYNTAX`), with the DuckDB-only variants of some
  refused (`SELECT * EXCLUDE`, `DISTINCT ON`, `NATURAL`/`ASOF` joins, `GROUP BY ALL`, a string as a table);
- symbols: Trino's operators and punctuation (`::`, `{}`, `&`, `?`, `$1` are not);
- statements: one query (plan/statements.py).
Each issue has its character offset and says the Trino way. What the embedded engine then cannot answer as Trino
does is plan/sql_support.py's business. Imports neither engines nor Airflow.
"""

from __future__ import annotations

import re
from typing import Any

from akko_orchestrator.plan.sql_ast import SqlSupportIssue, call_name, offset_of, tokenize, words
from akko_orchestrator.plan.trino_functions import trino_functions

NOT_TRINO = "not Trino SQL; the embedded engine runs only Trino SQL"
DUCKDB_ONLY = "DuckDB syntax, not Trino's; the embedded engine runs only Trino SQL"
NOT_A_FUNCTION = "not a Trino function; the embedded engine runs only Trino SQL"
# Trino syntax written like a call that SHOW FUNCTIONS does not list.
SPECIAL_FORMS = words(
    "if coalesce nullif try cast try_cast extract format position grouping row exists unnest json_exists "
    "json_query json_value json_array json_object current_time current_timestamp localtime localtimestamp "
    "current_user current_catalog current_schema current_path"
)
# sqlglot function classes Trino writes without a call: CASE (its WHEN branches are `If`s), ARRAY[...], typed
# literals (DATE '2024-01-01' is a cast) and CURRENT_DATE.
SYNTAX_FUNCTIONS = words(
    "Case If Array Struct Cast TryCast CurrentDate CurrentTime CurrentTimestamp Localtime Localtimestamp "
    "CurrentUser CurrentCatalog CurrentSchema"
)
# sqlglot node classes (other than functions) of Trino's grammar: queries, clauses, operators, literals, types.
SYNTAX = words(
    "Select From Join Where Group Having Order Ordered Limit Offset Fetch LimitOptions Window WindowSpec "
    "Filter Distinct With CTE Subquery Union Intersect Except Values Tuple Table TableAlias Alias Column "
    "Identifier Star Dot Bracket Literal Boolean Null HexString UnicodeString Var Interval DataType "
    "DataTypeParam ColumnDef Lambda Paren Neg Not And Or EQ NEQ GT GTE LT LTE Is In Between Like Escape "
    "Add Sub Mul Div Mod DPipe NullSafeEQ NullSafeNEQ Any All Exists Lateral Unnest Cube Rollup "
    "GroupingSets IgnoreNulls RespectNulls WithinGroup JSONPath JSONPathKey JSONPathRoot "
    "JSONPathSubscript JSONPathWildcard TableSample AtTimeZone Version MatchRecognize BitwiseAnd "
    "BitwiseOr BitwiseXor BitwiseNot BitwiseLeftShift BitwiseRightShift"
)
# Trino constructs the embedded engine refuses as a whole (plan/sql_support.py): their insides are not judged.
OPAQUE = frozenset({"MatchRecognize"})
# Written as symbols the token check refuses: no second issue for the node.
SYMBOL_NODES = frozenset({"Placeholder", "Parameter", "PropertyEQ", "Kwarg", "Into"})
# Operators and punctuation of Trino's grammar (a word, literal or quoted identifier is no symbol).
SYMBOLS = words("( ) [ ] , . + - * / % || = <> != < <= > >= -> ;")
# DuckDB's operators Trino has no use for anywhere (on `cluster` the symbol allow-list does not apply: Trino's row
# patterns use `|`, `^`, `{}`...).
DUCKDB_OPERATORS = words(":: == ** // ->>")
KEYWORD = re.compile(r"[A-Za-z_]\w*(?:\s+[A-Za-z_]\w*)*")  # sqlglot keeps `GROUP BY` as one token
WORDLIKE = frozenset({"STRING", "NUMBER", "IDENTIFIER", "HEX_STRING", "BIT_STRING", "NATIONAL_STRING"})
# The Trino way, by construct as the issue names it.
TRINO_WAY = {
    "read_csv": "load files with an `ingest` step (`source.files`) and query its table",
    "read_csv_auto": "load files with an `ingest` step (`source.files`) and query its table",
    "read_parquet": "load files with an `ingest` step (`source.files`) and query its table",
    "read_json": "load files with an `ingest` step (`source.files`) and query its table",
    "read_json_auto": "load files with an `ingest` step (`source.files`) and query its table",
    "read_text": "load files with an `ingest` step (`source.files`) and query its table",
    "glob": "list files with an `ingest` step whose `source.files` is a glob",
    "iceberg_scan": "name the table (namespace.table); `akko query --at` reads a branch or snapshot",
    "list_value": "use ARRAY[...]",
    "struct_pack": "use CAST(ROW(...) AS ROW(name type, ...))",
    "strftime": "use date_format",
    "strptime": "use date_parse",
    "epoch": "use to_unixtime",
    "ifnull": "use coalesce",
    "len": "use length or cardinality",
    "list_contains": "use contains",
    "::": "use CAST(x AS type)",
    "{": "use CAST(ROW(...) AS ROW(name type, ...))",
    "&": "use bitwise_and(a, b)",
    "|": "use bitwise_or(a, b)",
    "^": "use bitwise_xor(a, b), or power(a, b)",
    "~": "use bitwise_not(a), or regexp_like",
    "<<": "use bitwise_left_shift",
    ">>": "use bitwise_right_shift",
    "//": "divide integers with /, which truncates in Trino",
    "**": "use power(a, b)",
    "FROM-first": "write SELECT ... FROM ...",
    "SELECT * EXCLUDE": "list the columns",
    "SELECT * REPLACE": "list the columns",
    "DISTINCT ON": "keep row_number() OVER (PARTITION BY ...) = 1 in a subquery",
    "NATURAL JOIN": "use JOIN ... USING (columns)",
    "ASOF JOIN": "use a join on a range, or a window function",
    "GROUP BY ALL": "name the grouping columns",
    "SELECT INTO": "set the step's `output`",
    "LIMIT ... OFFSET": "write OFFSET n before LIMIT m",
    "a string in FROM": "name a lakehouse table (namespace.table); load files with an `ingest` step",
    "TABLE(...)": "run this step on the `cluster` profile",
}


def not_trino(sql: str, statements: list[Any]) -> list[SqlSupportIssue]:
    """What in `statements` (parsed from `sql`) is not on the allow-list of Trino SQL."""
    from akko_orchestrator.plan.trino_leniencies import leniencies

    tokens = tokenize(sql)
    issues = (
        _symbol_issues(tokens) + duckdb_syntax(sql, statements, tokens) + leniencies(sql, statements, tokens)
    )
    for statement in statements:
        for node in statement.walk(prune=lambda n: type(n).__name__ in OPAQUE):
            found = _node_issue(node, sql, tokens)
            if found is not None:
                issues.append(found)
    unique = {(i.construct, i.offset): i for i in reversed(issues)}  # `::` is a symbol and DuckDB syntax
    return sorted(unique.values(), key=lambda i: i.offset)


def duckdb_syntax(
    sql: str, statements: list[Any], tokens: list[Any], why: str = DUCKDB_ONLY
) -> list[SqlSupportIssue]:
    """DuckDB's own syntax, which sqlglot reads as Trino and Trino refuses whatever the engine: `FROM t SELECT`,
    `LIMIT m OFFSET n`, DuckDB's operators, and the DuckDB variants of Trino's clauses (`SELECT * EXCLUDE`,
    `DISTINCT ON`, `GROUP BY ALL`, NATURAL/ASOF/SEMI/ANTI joins, a string in FROM, `SELECT INTO`)."""
    issues = []
    if tokens and tokens[0].text.upper() == "FROM":
        issues.append(issue("FROM-first", tokens[0].start, why))
    issues.extend(_offset_after_limit(tokens, why))
    issues.extend(issue(t.text, t.start, why) for t in tokens if t.text in DUCKDB_OPERATORS)
    for statement in statements:
        for node in statement.walk(prune=lambda n: type(n).__name__ in OPAQUE):
            found = _variant_issue(node, sql, why) if type(node).__name__ in SYNTAX else None
            if found is not None:
                issues.append(found)
    return issues


def issue(construct: str, offset: int, why: str = NOT_TRINO) -> SqlSupportIssue:
    way = TRINO_WAY.get(construct) or TRINO_WAY.get(construct.lower())
    return SqlSupportIssue(construct, f"{construct}: {why}" + (f" ({way})" if way else ""), offset)


# ---------------------------------------------------------------------------------------------------------------
# Symbols


def _symbol_issues(tokens: list[Any]) -> list[SqlSupportIssue]:
    issues = []
    braces = 0  # inside DuckDB's {...} struct literal, reported once at its `{`
    for token in tokens:
        kind, text = token.token_type.name, token.text
        if kind in WORDLIKE or KEYWORD.fullmatch(text):
            continue
        if braces or text == "{":
            braces += {"{": 1, "}": -1}.get(text, 0)
            if text != "{" or braces > 1:
                continue
        if text not in SYMBOLS:
            issues.append(issue(text, token.start))
    return issues


def _offset_after_limit(tokens: list[Any], why: str) -> list[SqlSupportIssue]:
    """Trino writes `OFFSET n` before `LIMIT m`; DuckDB also takes `LIMIT m OFFSET n` (one query level at a time)."""
    issues, depth, limited = [], 0, set()
    for token in tokens:
        text = token.text.upper()
        if text == "(":
            depth += 1
        elif text == ")":
            limited.discard(depth)
            depth -= 1
        elif text == "LIMIT":
            limited.add(depth)
        elif text == "OFFSET" and depth in limited:
            issues.append(issue("LIMIT ... OFFSET", token.start, why))
        elif text in ("UNION", "INTERSECT", "EXCEPT"):
            limited.discard(depth)
    return issues


# ---------------------------------------------------------------------------------------------------------------
# Functions and syntax


def _node_issue(node: Any, sql: str, tokens: list[Any]) -> SqlSupportIssue | None:
    from sqlglot import exp

    kind = type(node).__name__
    if kind in SYMBOL_NODES:
        return None
    if isinstance(node, exp.Func) and kind not in SYNTAX:
        return _function_issue(node, sql, tokens)
    if kind not in SYNTAX:
        return issue(_construct_name(node), offset_of(node, sql))
    return None  # its DuckDB variants: `duckdb_syntax`


def _function_issue(node: Any, sql: str, tokens: list[Any]) -> SqlSupportIssue | None:
    kind = type(node).__name__
    name = call_name(node, sql, tokens)
    if name is None:
        return None if kind in SYNTAX_FUNCTIONS else issue(_construct_name(node), offset_of(node, sql))
    lower = name.lower()
    table_functions = "Trino's table functions are not supported by the embedded engine"
    if lower == "table" and kind == "Anonymous":
        return issue("TABLE(...)", offset_of(node, sql), table_functions)
    if trino_functions().get(lower) == frozenset({"table"}):
        return issue(name, offset_of(node, sql), table_functions)
    if lower in SPECIAL_FORMS or lower in trino_functions():
        return None
    return issue(name, offset_of(node, sql), NOT_A_FUNCTION)


def _construct_name(node: Any) -> str:
    """A construct as an issue names it: the SQL keyword sqlglot's class stands for, in upper case."""
    return {
        "ILike": "ILIKE",
        "Glob": "GLOB",
        "SimilarTo": "SIMILAR TO",
        "Qualify": "QUALIFY",
        "Pivot": "PIVOT",
        "Unpivot": "UNPIVOT",
        "Placeholder": "?",
        "Parameter": "@",
        "Collate": "COLLATE",
        "Columns": "COLUMNS(...)",
    }.get(type(node).__name__, type(node).__name__.upper())


def _variant_issue(node: Any, sql: str, why: str) -> SqlSupportIssue | None:
    """DuckDB's variants of Trino syntax, which sqlglot parses into the same classes."""
    from sqlglot import exp

    found = None
    if isinstance(node, exp.Star):
        found = next((label for a, label in _STAR_MODIFIERS if node.args.get(a)), None)
        if found is None and (node.args.get("rename") or node.args.get("ilike")):
            found = "SELECT * RENAME"
    elif isinstance(node, exp.Distinct) and node.args.get("on") is not None:
        found = "DISTINCT ON"
    elif isinstance(node, exp.Group) and node.args.get("all"):
        return issue("GROUP BY ALL", _group_all_offset(node, sql), why)
    elif isinstance(node, exp.Select) and node.args.get("into") is not None:
        return issue("SELECT INTO", offset_of(node.args["into"], sql), why)
    elif isinstance(node, exp.Join):
        found = _join_issue(node)
        if found is not None:  # at its keyword, which sqlglot keeps no position for
            return issue(found, sql.upper().rfind(found.split()[0], 0, offset_of(node, sql)), why)
    elif isinstance(node, exp.Table):
        found = _string_table(node, sql)
    if found is None:
        return None
    where = node.this if isinstance(node, exp.Table) else node
    return issue(found, offset_of(where, sql), why)


def _group_all_offset(group: Any, sql: str) -> int:
    """sqlglot records no position for GROUP BY ALL: the first `GROUP BY ALL` after the query's first column."""
    match = re.compile(r"GROUP\s+BY\s+ALL\b", re.IGNORECASE).search(sql, offset_of(group.parent, sql))
    return match.start() if match else 0


_STAR_MODIFIERS = (("except_", "SELECT * EXCLUDE"), ("replace", "SELECT * REPLACE"))  # (arg, construct named)


def _join_issue(join: Any) -> str | None:
    method = (join.args.get("method") or "").upper()
    if method:
        return f"{method} JOIN"
    kind = (join.args.get("kind") or "").upper()
    if kind in ("SEMI", "ANTI"):
        return f"{kind} JOIN"
    return None


def _string_table(table: Any, sql: str) -> str | None:
    """`FROM '/etc/passwd'`: DuckDB reads a file named by a string in FROM."""
    start = table.this.meta.get("start") if table.this is not None else None
    return "a string in FROM" if isinstance(start, int) and sql[start : start + 1] == "'" else None
