"""A static scan of src/ for SQL built from text (f-strings, str.format, %-formatting, + and join).

Every statement AKKO generates is a sqlglot tree (akko_orchestrator/sql/build.py); text assembled around a name or
value is how a column called `a" FROM x --` ends AKKO's statement and starts one of its own. The scan reads each
module with Python's `ast` and judges every place where text is assembled:

- the assembled text's constant parts, with a placeholder for each value put in, are SQL when they hold an SQL
  keyword in upper case (or a lower-case statement such as `select ... from`) AND sqlglot parses them as a
  statement, a clause or an expression; prose that names a keyword (`a step's SQL is one SELECT`) does not parse;
- a value put between identifier quotes next to a dot (`"{schema}"."{table}"`), a known SQL function applied to a
  value (`max({column})`), or a quote doubled by hand (`.replace("'", "''")`) is SQL whatever the rest;
- any assembled text handed straight to something that runs SQL (`.sql(`, `.execute(`, `.query(`...).

An exemption is a comment `# sql-text-ok: <reason>` on the flagged line; there should be almost none.
Run as `python -m tests.security.sql_text_scan [src]`: prints each finding as path:line.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

SLOT = "\x00"  # where a value goes into the text
EXEMPT = re.compile(r"#\s*sql-text-ok:\s*\S")
UPPER_KEYWORDS = re.compile(
    r"\b(SELECT|FROM|JOIN|WHERE|INSERT|MERGE|UPDATE|DELETE|CREATE|ALTER|DROP|TRUNCATE|COPY|ATTACH|DETACH|EXPORT"
    r"|IMPORT|INSTALL|LOAD|PRAGMA|SET|RESET|CALL|EXECUTE|GRANT|REVOKE|VALUES|UNION|INTERSECT|EXCEPT|GROUP BY"
    r"|ORDER BY|HAVING|LIMIT|OFFSET|DISTINCT|INTO|USING|MATCHED|AS|ON|AND|OR|NOT|IS|IN|LIKE|BETWEEN|CASE|WHEN"
    r"|THEN|ELSE|END|CAST|OVER|PARTITION BY|PARTITIONED BY|TBLPROPERTIES|OWNER|AUTHORIZATION|ROLE|DATABASE|SCHEMA"
    r"|TABLE|VIEW|NAMESPACE|FOR VERSION|FOR TIMESTAMP|SHOW|DESCRIBE|EXPLAIN|VACUUM|CHECKPOINT)\b"
)
LOWER_STATEMENTS = re.compile(
    r"(^|[;(]\s*)(select\b[\s\S]*\bfrom\b|with\s+\w+\s+as\s*\(|insert\s+into\b|merge\s+into\b|delete\s+from\b"
    r"|update\s+\S+\s+set\b|create\s+(or\s+replace\s+)?(temp\w*\s+)?(table|view|schema|namespace|database|role"
    r"|secret|macro)\b|alter\s+(table|role|database|schema)\b|drop\s+(table|view|schema|database|role)\b"
    r"|copy\s+\S+\s+(to|from)\b|attach\s|pragma\s)"
)
QUOTED_QUALIFIED = re.compile(rf'["`]{SLOT}["`]\.(["`\w]|{SLOT})|(["`\w]|{SLOT})\.["`]{SLOT}["`]')
SQL_FUNCTIONS = re.compile(
    rf"\b(count|count_if|max|min|sum|avg|coalesce|cast|iceberg_scan|read_parquet|read_csv|read_csv_auto"
    rf"|read_json|read_json_auto|parquet_scan|glob|row)\s*\([^)]*{SLOT}",
    re.IGNORECASE,
)
SQL_SINKS = frozenset(
    {"sql", "execute", "executemany", "executescript", "query", "query_aggregates", "explain", "run_query"}
)
DIALECTS = ("trino", "duckdb", "spark", "postgres")
WRAPS = ("{}", "SELECT {}", "SELECT 1 FROM t WHERE {}", "SELECT 1 FROM t {}", "SELECT 1 FROM {}")
COMMAND_TOKENS = frozenset({"SHOW", "COMMAND", "EXECUTE", "FETCH"})
STATEMENT_START = re.compile(r"^[\s(]*[A-Z]+\b")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    text: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.why}: {self.text!r}"


def holds_sql(template: str) -> str | None:
    """Why `template` (constant text, SLOT where a value goes) is SQL, or None."""
    if QUOTED_QUALIFIED.search(template):
        return "a value quoted by hand as a qualified identifier"
    if SQL_FUNCTIONS.search(template):
        return "a value put into an SQL function call"
    words = _words(template)
    if not (UPPER_KEYWORDS.search(words) or LOWER_STATEMENTS.search(words)):
        return None
    return "SQL text around a value" if _parses(template) else None


def _words(template: str) -> str:
    """The text as SQL tokens, without comments and string literals (`--at X: expected TABLE=...` is a comment);
    the text itself when it does not tokenize as SQL (prose with an apostrophe)."""
    import sqlglot

    text = template.replace(SLOT, "akko_slot")
    for dialect in DIALECTS:
        try:
            tokens = sqlglot.tokenize(text, read=dialect)
        except Exception:  # sqlglot's TokenError and friends: try the next dialect
            continue
        kept = [
            t.text
            for before, t in zip([None, *tokens], tokens, strict=False)
            if t.token_type.name not in ("STRING", "NATIONAL_STRING")
            or (before is not None and before.token_type.name in COMMAND_TOKENS)  # SHOW's tail is a "string"
        ]
        return " ".join(kept)
    return text


def _parses(template: str) -> bool:
    """sqlglot reads the text (values as a plain name) as SQL: a statement, a select item, a condition, a
    clause after FROM, or a table source."""
    import logging

    import sqlglot
    from sqlglot import exp

    text = template.replace(SLOT, "akko_slot")
    if not text.strip():
        return False
    logging.getLogger("sqlglot").setLevel(logging.CRITICAL)
    for wrap in WRAPS:
        for dialect in DIALECTS:
            try:
                trees = [t for t in sqlglot.parse(wrap.format(text), read=dialect) if t is not None]
            except Exception:  # sqlglot raises parse, token and other errors: not SQL this way
                continue
            commands = [t for t in trees if isinstance(t, exp.Command)]
            if not trees or (commands and not STATEMENT_START.match(text)):
                continue  # sqlglot's fallback for any word it does not know: only a real statement keyword
            return True
    return False


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str, source: str, tree: ast.Module):
        self.path = path
        self.lines = source.splitlines()
        self.findings: list[Finding] = []
        self.constants = _module_strings(tree)
        self.seen: set[int] = set()

    # -- the ways text is assembled ------------------------------------------------------------------------

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        self._judge(node, _fstring(node))
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Mod) and (text := self._string(node.left)) is not None:
            self._judge(node, re.sub(r"%(\([^)]*\))?[-#0 +]*\d*(\.\d+)?[sdrfia]", SLOT, text))
        elif isinstance(node.op, ast.Add) and id(node) not in self.seen:
            parts = _flatten_add(node, self.seen)
            known = [self._string(p) is not None for p in parts]
            if any(known) and not all(known):
                self._judge(node, "".join(self._piece(p) for p in parts))
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.op, ast.Add) and (text := self._string(node.value)) is not None:
            self._judge(node, SLOT + text)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr == "format" and (text := self._string(func.value)) is not None:
                self._judge(node, re.sub(r"\{[^{}]*\}", SLOT, text))
            elif func.attr == "join" and (sep := self._string(func.value)) is not None:
                listed = node.args[0] if node.args else None
                items = listed.elts if isinstance(listed, ast.List | ast.Tuple) else []
                pieces = [self._piece(i) for i in items] or [SLOT, SLOT]
                self._judge(node, sep.join(pieces))
            elif func.attr == "replace" and [self._string(a) for a in node.args[:2]] in (
                ["'", "''"],
                ['"', '""'],
                ["`", "``"],
            ):
                self._flag(node, "".join(self._string(a) or "" for a in node.args), "a quote doubled by hand")
            if func.attr in SQL_SINKS and node.args and _assembled(node.args[0]):
                self._flag(node, ast.unparse(node.args[0])[:80], "text assembled for something that runs SQL")
        self.generic_visit(node)

    # -- helpers -------------------------------------------------------------------------------------------

    def _string(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name) and node.id in self.constants:
            return self.constants[node.id]
        return None

    def _piece(self, node: ast.AST) -> str:
        if isinstance(node, ast.JoinedStr):
            return _fstring(node)
        text = self._string(node)
        return text if text is not None else SLOT

    def _judge(self, node: ast.AST, template: str) -> None:
        why = holds_sql(template)
        if why is not None:
            self._flag(node, template.replace(SLOT, "{}"), why)

    def _flag(self, node: ast.AST, text: str, why: str) -> None:
        line = getattr(node, "lineno", 0)
        end = getattr(node, "end_lineno", line) or line
        if any(EXEMPT.search(self.lines[n - 1]) for n in range(line, end + 1) if 0 < n <= len(self.lines)):
            return
        self.findings.append(Finding(self.path, line, text[:120], why))


def _fstring(node: ast.JoinedStr) -> str:
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            parts.append(value.value)
        elif isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.JoinedStr):
            parts.append(_fstring(value.value))  # f"{f'...'}": its text is part of this one
        else:
            parts.append(SLOT)
    return "".join(parts)


def _flatten_add(node: ast.AST, seen: set[int]) -> list[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        seen.add(id(node))
        return _flatten_add(node.left, seen) + _flatten_add(node.right, seen)
    return [node]


def _assembled(node: ast.AST) -> bool:
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"


def _module_strings(tree: ast.Module) -> dict[str, str]:
    """`NAME = "text"` (or `"a" if c else "b"`) anywhere in the module: a template kept in a name is judged where
    it is formatted or added to (by name only, whatever the scope: a detector may err towards a finding)."""
    found: dict[str, str] = {}
    for statement in ast.walk(tree):
        if not isinstance(statement, ast.Assign):
            continue
        value = statement.value
        options = [value.body, value.orelse] if isinstance(value, ast.IfExp) else [value]
        texts = [o.value for o in options if isinstance(o, ast.Constant) and isinstance(o.value, str)]
        if not texts:
            continue
        for target in statement.targets:
            if isinstance(target, ast.Name):
                found[target.id] = max([found.get(target.id, ""), *texts], key=len)
    return found


def scan_file(path: Path, shown: str) -> list[Finding]:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    scanner = _Scanner(shown, source, tree)
    scanner.visit(tree)
    return sorted(set(scanner.findings), key=lambda f: (f.path, f.line, f.text))


def scan(root: Path) -> list[Finding]:
    """Every finding under `root` (a folder of Python modules), paths relative to root's parent (`src/...`)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        found += scan_file(path, str(path.relative_to(root.parent)))
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[0] if argv else "src")
    findings = scan(root)
    for finding in findings:
        print(finding)
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
