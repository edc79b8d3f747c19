"""A python step's `module:function` checked at parse time without importing it, as the step will import it.

The module is looked for where the running step imports it from (runtime/transforms.py): akko.yaml's
`python_path` of the project holding the spec, then the installed packages; found, it is parsed with `ast`, never
executed (importing user code at validate or DAG parse time would run it). Refused, each located: a module found
nowhere (at `function`), a syntax error (in the module's file, at its line and column), a function the module does
not define, an `async` function (AKKO calls it and would get a coroutine), and parameters the arguments cannot fill:
a required one nothing provides, `*args`, a positional-only one (the rules of `match_arguments`: AKKO passes
arguments by name). The same parameter rules apply to a Spark step's function (plan/spark_script.py finds it).
A module AKKO cannot read as source (compiled, built in) or that defines names dynamically (`__getattr__`,
`import *`) is taken on trust.
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from akko_orchestrator.errors import SpecIssue
from akko_orchestrator.spec.models import PythonStep, SparkStep
from akko_orchestrator.spec.yaml_source import SpecSource, format_loc

DEFAULT_PYTHON_PATH = ("pipelines",)
BY_NAME = "AKKO passes arguments by name (runtime/transforms.py)"


@dataclass(frozen=True)
class Found:
    """A module located without importing it: its source file, or None when it has none AKKO can parse."""

    name: str
    file: Path | None


def python_paths(spec_file: Path) -> tuple[Path, ...]:
    """The folders a step of `spec_file` imports from: akko.yaml's `python_path`, relative to the project root (the
    nearest akko.yaml upward, as when the step runs)."""
    from akko_orchestrator.config.project import PROJECT_FILE, find_root

    root = find_root(spec_file.parent)
    try:
        stamp = (root / PROJECT_FILE).stat().st_mtime_ns
    except OSError:
        stamp = 0
    return _configured_paths(root, stamp)


@lru_cache(maxsize=16)
def _configured_paths(root: Path, stamp: int) -> tuple[Path, ...]:
    """Only `python_path` is read (no profile, no secret); a broken akko.yaml keeps the default, reported when a
    command loads the project."""
    from akko_orchestrator.config.project import PROJECT_FILE, read_project_file
    from akko_orchestrator.errors import AkkoError

    try:
        data = read_project_file(root / PROJECT_FILE) if stamp else {}
    except AkkoError:
        data = {}
    configured = data.get("python_path") if isinstance(data, dict) else None
    if not isinstance(configured, list) or not all(isinstance(p, str) for p in configured):
        configured = list(DEFAULT_PYTHON_PATH)
    return tuple((root / p).resolve() for p in configured)


def locate(module: str, paths: Collection[Path]) -> Found | None:
    """Find `module` on `paths` then `sys.path` without executing anything (no parent package is imported)."""
    from importlib.machinery import PathFinder

    if module in sys.builtin_module_names:
        return Found(module, None)
    parts = module.split(".")
    search: list[str] | None = [str(p) for p in paths] + sys.path
    spec = PathFinder.find_spec(parts[0], search) or _meta_path_spec(parts[0])
    for index in range(1, len(parts)):
        if spec is None:
            return None
        if spec.submodule_search_locations is None:
            return Found(module, None)  # a module's attribute registered as a module (`os.path`): trusted
        spec = PathFinder.find_spec(".".join(parts[: index + 1]), list(spec.submodule_search_locations))
    if spec is None:
        return None
    origin = spec.origin if spec.has_location else None
    return Found(module, Path(origin) if origin and origin.endswith(".py") else None)


def _meta_path_spec(name: str):  # -> ModuleSpec | None
    """A top-level module another finder provides (an editable install's hook): asking it imports nothing."""
    import importlib.util

    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def function_issues(source: SpecSource, index: int, step: PythonStep | SparkStep) -> list[SpecIssue]:
    """Problems of steps[`index`]'s `function`: its module (a Spark step's script: plan/spark_script.py), the
    function, and its parameters."""
    if isinstance(step, SparkStep):
        from akko_orchestrator.plan.spark_script import script_issues

        return script_issues(source, index, step) or spark_argument_issues(source, index, step)
    module, _, name = step.function.partition(":")
    paths = python_paths(source.path)
    found = locate(module, paths)
    at = ("steps", index, "function")
    if found is None:
        reason = f"no module '{module}' in python_path ({_shown(paths, source)}) nor among installed packages"
        return [source.issue(at, reason, _module_hint(module, paths))]
    if found.file is None:
        return []  # compiled or built in: nothing to parse
    tree = _parse(found.file, _display(source, found.file), at)
    if isinstance(tree, SpecIssue):
        return [tree]
    available = {"inputs", "ctx", *(t.split(".", 1)[1] for t in step.inputs), *step.params}
    return _definition_issues(source, at, tree, name, _display(source, found.file), available)


def spark_argument_issues(source: SpecSource, index: int, step: SparkStep) -> list[SpecIssue]:
    """A Spark step's function against the arguments AKKO passes (its script exists and parses: see
    plan/spark_script.py, which reports otherwise)."""
    path = (source.path.parent / step.script).resolve()
    shown = _display(source, path)
    tree = _parse(path, shown, ("steps", index, "script"))
    if isinstance(tree, SpecIssue):
        return []  # reported by plan/spark_script.py
    shorts = (t.split(".", 1)[1] for t in step.inputs)
    available = {"spark", "inputs", "ctx", *shorts, *step.sources, *step.params}
    return _definition_issues(source, ("steps", index, "function"), tree, step.function, shown, available)


def _parse(path: Path, display: str, at: tuple) -> ast.Module | SpecIssue:
    import importlib.util

    try:
        text = importlib.util.decode_source(path.read_bytes())  # honours a `# coding:` line
        return ast.parse(text, filename=display)
    except OSError as exc:
        return SpecIssue(display, 1, 1, format_loc(at), f"cannot read {display}: {exc.strerror or exc}")
    except (SyntaxError, ValueError) as exc:
        line, column = (exc.lineno or 1, exc.offset or 1) if isinstance(exc, SyntaxError) else (1, 1)
        reason = f"Python syntax error: {getattr(exc, 'msg', None) or exc}"
        return SpecIssue(display, line, column, format_loc(at), reason, "fix the module: the step imports it")


def _definition_issues(
    source: SpecSource, at: tuple, tree: ast.Module, name: str, file: str, available: set[str]
) -> list[SpecIssue]:
    """`name` defined in the module parsed as `tree` (shown as `file`), with parameters AKKO can fill."""
    bindings, dynamic = top_level_bindings(tree)
    if name not in bindings:
        if dynamic:
            return []  # `__getattr__` or `import *` may define it
        reason = f"{file} defines no function '{name}'"
        return [source.issue(at, reason, _name_hint(name, bindings))]
    node = bindings[name][0] if len(bindings[name]) == 1 else None
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.decorator_list:
        return []  # bound otherwise, several times or decorated: its signature is not the def's
    problem = signature_problem(node, available)
    if problem is None:
        return []
    reason, hint = problem
    return [source.issue(at, f"function '{name}' ({file}:{node.lineno}) {reason}", hint)]


def signature_problem(
    node: ast.FunctionDef | ast.AsyncFunctionDef, available: set[str]
) -> tuple[str, str] | None:
    """Why AKKO's call `function(**arguments)` cannot work with this def (arguments matched by name from
    `available`), and how to fix it; None when it can."""
    if isinstance(node, ast.AsyncFunctionDef):
        return "is `async`: AKKO calls it and would get a coroutine, not its result", "make it a plain `def`"
    args = node.args
    if args.vararg is not None:
        return f"takes `*{args.vararg.arg}`, which receives nothing: {BY_NAME}", "name each parameter"
    positional = [*args.posonlyargs, *args.args]
    required = positional[: len(positional) - len(args.defaults)]
    required += [a for a, default in zip(args.kwonlyargs, args.kw_defaults, strict=True) if default is None]
    for arg in args.posonlyargs:
        if arg in required or arg.arg in available:
            return f"has the positional-only parameter '{arg.arg}': {BY_NAME}", "remove the `/`"
    for arg in required:
        if arg.arg not in available:
            reason = f"needs argument '{arg.arg}', which nothing provides (available: {', '.join(sorted(available))})"
            return reason, _argument_hint(arg.arg, available)
    return None


def top_level_bindings(tree: ast.Module) -> tuple[dict[str, list[ast.AST]], bool]:
    """Names the module binds at its top level (also inside top-level if/try/with/for blocks) with the statements
    binding them, and whether it may bind others dynamically (`__getattr__`, `from x import *`)."""
    bindings: dict[str, list[ast.AST]] = {}
    dynamic = False
    for statement, name in _bound(tree.body):
        if name == "*" or name == "__getattr__":
            dynamic = True
        bindings.setdefault(name, []).append(statement)
    return bindings, dynamic


def _bound(body: list[ast.stmt]) -> Iterator[tuple[ast.stmt, str]]:
    for statement in body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield statement, statement.name
        elif isinstance(statement, ast.Import | ast.ImportFrom):
            for alias in statement.names:
                yield statement, alias.asname or alias.name.split(".")[0]
        else:
            for target in _targets(statement):
                yield statement, target
            for block in ("body", "orelse", "finalbody"):  # if / for / while / with / try
                yield from _bound(getattr(statement, block, []))
            for handler in getattr(statement, "handlers", []):
                yield from _bound(handler.body)


def _targets(statement: ast.stmt) -> Iterator[str]:
    """Names an assignment-like statement binds (`x = ...`, `x: int = ...`, `for x in`, `with ... as x`)."""
    targets: list[ast.expr] = []
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, ast.AnnAssign | ast.AugAssign | ast.For | ast.AsyncFor):
        targets = [statement.target]
    elif isinstance(statement, ast.With | ast.AsyncWith):
        targets = [item.optional_vars for item in statement.items if item.optional_vars is not None]
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                yield node.id


def _close(word: str, candidates: Collection[str]) -> str | None:
    import difflib  # deferred: only error messages need it

    close = difflib.get_close_matches(word, sorted(candidates), n=1)
    return close[0] if close else None


def _name_hint(name: str, bindings: dict[str, list[ast.AST]]) -> str:
    functions = sorted(
        n
        for n, nodes in bindings.items()
        if any(isinstance(s, ast.FunctionDef) for s in nodes) and n[0] != "_"
    )
    close = _close(name, functions or bindings)
    return f"did you mean `{close}`?" if close else f"functions: {', '.join(functions) or 'none'}"


def _argument_hint(name: str, available: set[str]) -> str:
    close = _close(name, available)
    if close:
        return f"did you mean `{close}`? rename the parameter, or add `{name}` to the step's `params`"
    return f"add `{name}` to the step's `params`, or give the parameter a default"


def _module_hint(module: str, paths: Collection[Path]) -> str:
    names = set()
    for folder in paths:
        try:
            names.update(_module_names(folder))
        except OSError:
            continue
    close = _close(module.split(".")[0], names)
    if close:
        return f"did you mean `{close}`?"
    return "put the module in a python_path folder (akko.yaml `python_path`), or install its package"


def _module_names(folder: Path) -> Iterator[str]:
    for entry in os.scandir(folder):
        if entry.name.endswith(".py"):
            yield entry.name[:-3]
        elif entry.is_dir() and (Path(entry.path) / "__init__.py").is_file():
            yield entry.name


def _display(source: SpecSource, path: Path) -> str:
    """A file as messages show it: relative like the spec's display path (absolute outside the project)."""
    relative = os.path.relpath(path, source.path.parent)
    shown = os.path.normpath(os.path.join(os.path.dirname(source.display), relative))
    return str(path) if shown.startswith("..") else shown


def _shown(paths: Collection[Path], source: SpecSource) -> str:
    return ", ".join(_display(source, p) for p in paths) or "empty"
