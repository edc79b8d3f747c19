"""Where a step's SQL text comes from (inline through any YAML scalar style, or a .sql file), and issues located
at a character of it: file:line:column in the spec or the .sql file. Imports neither Airflow nor engines."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from akko_orchestrator.errors import AkkoError, SpecIssue
from akko_orchestrator.plan.sql_parse import MAX_SQL_BYTES, too_long
from akko_orchestrator.spec.models import SqlStep
from akko_orchestrator.spec.yaml_safety import YamlFileError, read_text
from akko_orchestrator.spec.yaml_source import SpecSource, format_loc


@dataclass
class SqlText:
    """The SQL of a step and where it came from, to map parse errors back to the spec or .sql file."""

    text: str
    loc: tuple[str | int, ...]
    file: Path | None = None
    display: str | None = None  # the .sql file as shown in messages (relative like the spec's display path)


class SqlFileUnreadable(AkkoError):
    """A step's `.sql` file that is not UTF-8 text (`line`/`column`: its first bad byte), or too long (None)."""

    def __init__(self, display: str, reason: str, hint: str | None, line: int | None, column: int | None):
        super().__init__(f"{display}: {reason}")
        self.display, self.reason, self.hint, self.line, self.column = display, reason, hint, line, column


def sql_position(
    source: SpecSource, loc: tuple, sql_line: int, sql_col: int
) -> tuple[int | None, int | None]:
    """Map a (line, column) inside an SQL string to the spec file, through YAML scalar styles."""
    node, found = source.node_at(loc)
    if not found or node is None or not isinstance(node.value, str):
        return None, None
    return source.scalar_position(loc, offset_of_line(node.value, sql_line, sql_col))


def step_sql_texts(source: SpecSource, index: int, step: SqlStep) -> list[SqlText]:
    """The SQL of `steps[index]` with where each text comes from; raises `OSError` if its `file` cannot be read,
    `SqlFileUnreadable` if it is not UTF-8 text or longer than a query may be."""
    if step.queries is not None:
        return [SqlText(q, ("steps", index, "queries", name)) for name, q in step.queries.items()]
    if step.sql is not None:
        return [SqlText(step.sql, ("steps", index, "sql"))]
    path = (source.path.parent / str(step.file)).resolve()
    display = os.path.normpath(os.path.join(os.path.dirname(source.display), str(step.file)))
    return [SqlText(read_sql_file(path, display), ("steps", index, "file"), path, display)]


def readable_sql_texts(
    source: SpecSource, index: int, step: SqlStep
) -> tuple[list[SqlText], SpecIssue | None]:
    """`step_sql_texts`, or none and the issue of a `.sql` file that cannot be read: at `file`, or at the first
    byte of it that is not UTF-8."""
    where = ("steps", index, "file")
    try:
        return step_sql_texts(source, index, step), None
    except OSError as exc:
        reason = f"cannot read SQL file '{step.file}': {exc.strerror or exc}"
        hint = f"the path is relative to the spec file's folder; looked for {exc.filename}"
        return [], source.issue(where, reason, hint)
    except SqlFileUnreadable as exc:
        if exc.line is None:
            return [], source.issue(where, exc.reason, exc.hint)
        return [], SpecIssue(exc.display, exc.line, exc.column, format_loc(where), exc.reason, exc.hint)


def read_sql_file(path: Path, display: str) -> str:
    """A `.sql` file's text: a regular file (never a FIFO or a device, which could block or never end), UTF-8,
    at most `MAX_SQL_BYTES`."""
    if not path.is_file():
        raise FileNotFoundError(2, "not a file" if path.exists() else "No such file or directory", str(path))
    if path.stat().st_size > MAX_SQL_BYTES:
        raise SqlFileUnreadable(display, too_long(path.stat().st_size), None, None, None)
    try:
        return read_text(path, MAX_SQL_BYTES)
    except YamlFileError as exc:  # not UTF-8 (at its first bad byte), or grown past the limit since `stat`
        line, column = (exc.line, exc.column) if exc.at_byte else (None, None)
        raise SqlFileUnreadable(display, exc.reason, exc.hint, line, column) from None


def sql_issue(
    source: SpecSource, sql: SqlText, offset: int | None, reason: str, suggestion: str | None = None
) -> SpecIssue:
    """An issue at character `offset` of an SQL text: in the .sql file, or in the spec through YAML styles."""
    field = format_loc(sql.loc)
    if sql.file is not None:
        line, column = line_column(sql.text, offset) if offset is not None else (1, 1)
        return SpecIssue(sql.display or str(sql.file), line, column, field, reason, suggestion)
    issue = source.issue(sql.loc, reason, suggestion)
    if offset is None:
        return issue
    line, column = source.scalar_position(sql.loc, offset)
    return SpecIssue(issue.file, line or issue.line, column or issue.column, field, reason, suggestion)


def offset_of_line(text: str, line: int, column: int) -> int:
    lines = text.split("\n")
    return sum(len(part) + 1 for part in lines[: max(line - 1, 0)]) + max(column - 1, 0)


def line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1
