"""A guardrail violation, located in its DAG file: `<file>:<line>: [rule-id] message (how to fix)`.

Airflow records no source line for DAGs and tasks, so the line is found in the file's syntax tree (`ast`) by the
ids the objects carry: the call with `task_id=`/`dag_id=` equal to it, or the decorated function of that name.
Only done when a rule is broken, so a clean file pays nothing.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class Violation:
    file: str  # relative to the project folder when inside it (symlinks resolved)
    line: int | None
    rule: str
    message: str
    fix: str

    def format(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: [{self.rule}] {self.message} ({self.fix})"


def display_path(path: str | os.PathLike[str], root: Path) -> str:
    real = Path(os.path.realpath(path))
    return os.path.relpath(real, root) if real.is_relative_to(root) else str(real)


def locate(path: str, name: str, kind: str) -> int | None:
    """The line defining DAG (`kind="dag"`) or task (`kind="task"`) `name` in `path`; a task id inside a task
    group (`group.task`) is searched by its last part."""
    short = name.rsplit(".", 1)[-1]
    return _index(os.path.realpath(path), _mtime(path)).get((kind, short))


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


@lru_cache(maxsize=64)
def _index(path: str, _mtime_ns: int) -> dict[tuple[str, str], int]:
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return {}
    found: dict[tuple[str, str], int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            _from_call(node, found)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.decorator_list:
            kind = _decorated_kind(node)
            if kind:
                line = min(d.lineno for d in node.decorator_list)
                found.setdefault((kind, _decorator_id(node, kind) or node.name), line)
    return found


def _from_call(node: ast.Call, found: dict[tuple[str, str], int]) -> None:
    for keyword in node.keywords:
        if keyword.arg in ("task_id", "dag_id") and isinstance(keyword.value, ast.Constant):
            kind = "task" if keyword.arg == "task_id" else "dag"
            found.setdefault((kind, str(keyword.value.value)), node.lineno)
    if _callee(node.func) == "DAG" and node.args and isinstance(node.args[0], ast.Constant):
        found.setdefault(("dag", str(node.args[0].value)), node.lineno)


def _callee(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _decorated_kind(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        names = {_callee(target), _callee(target.value) if isinstance(target, ast.Attribute) else ""}
        if "dag" in names:
            return "dag"
        if "task" in names:
            return "task"
    return None


def _decorator_id(node: ast.FunctionDef | ast.AsyncFunctionDef, kind: str) -> str | None:
    """`@dag(dag_id="x")` / `@task(task_id="x")` name the object themselves."""
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call):
            for keyword in decorator.keywords:
                if keyword.arg == f"{kind}_id" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
    return None
