"""Only AKKO's writer commits Iceberg tables from Airflow tasks (akko.yaml `guardrails.iceberg_writes`).

AKKO's operators run inside `akko_writer_scope()` (a context variable: the scope of one task's execute, in this
thread). Every pyiceberg commit goes through `Table._do_commit` (appends, overwrites, deletes, schema and branch
changes, a staged table's creation), and tables are created, registered, renamed or dropped through the catalog:
those are wrapped, in Airflow processes, to refuse the change when a task is running outside that scope. pyiceberg
has no commit hook or listener, hence the wrapper.

pyiceberg takes most of a second to import and most Airflow processes never do: the wrapper is applied when
pyiceberg's modules are first imported, by a post-import hook on `sys.meta_path` (written here: the standard
library has none since PEP 369 was withdrawn, and `wrapt`, which has one, is not a dependency of AKKO).
Spark and Trino commit outside this process: a hand-written task reaching them is caught by the `iceberg-outlet`
policy only if it declares the table, and fully only by the catalog's own permissions.

A step's own code (a python or spark step's function, and its module's import) runs in `user_code_scope()`: while it
runs, no pyiceberg commit and no catalog change at all is allowed in this process, in any thread and whatever the
writer scope or `guardrails` settings say, through the catalog AKKO hands it or one it opened itself. AKKO writes
the step's output after the function returned (staged, checked, published once per run). This is a guard against
careless code, not a sandbox: the function runs in the worker's process and can reach anything Python can.
"""

from __future__ import annotations

import contextvars
import functools
import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_SCOPE: contextvars.ContextVar[str | None] = contextvars.ContextVar("akko_iceberg_writer", default=None)
# Steps whose own code runs in this process now: process-wide, not a context variable, so that threads the code
# starts (which begin with an empty context) are held too.
_USER_CODE: list[str] = []
_USER_CODE_LOCK = threading.Lock()

# `commit_table` too: a commit asked of the catalog directly does not pass through `Table._do_commit`
_TABLE_CHANGES = ("create_table", "register_table", "rename_table", "drop_table", "commit_table")
# Refused in user code only (namespaces and views are no table: the hand-written tasks' rule is about tables)
_CATALOG_CHANGES = ("create_namespace", "drop_namespace", "update_namespace_properties")
# module -> (class, methods changing a table's or the catalog's state)
_TARGETS = {
    "pyiceberg.table": ("Table", ("_do_commit",)),
    "pyiceberg.catalog.sql": ("SqlCatalog", _TABLE_CHANGES + _CATALOG_CHANGES),
    "pyiceberg.catalog.rest": (
        "RestCatalog",
        (*_TABLE_CHANGES, *_CATALOG_CHANGES, "create_view", "drop_view"),
    ),
}
_USER_CODE_ONLY = frozenset({*_CATALOG_CHANGES, "create_view", "drop_view"})
_MARK = "__akko_guarded__"


@contextmanager
def akko_writer_scope(writer: str = "akko") -> Iterator[None]:
    """Iceberg commits inside are AKKO's (its step operators; any future AKKO operator, e.g. maintenance)."""
    token = _SCOPE.set(writer)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def in_writer_scope() -> bool:
    return _SCOPE.get() is not None


@contextmanager
def user_code_scope(step: str) -> Iterator[None]:
    """A step's own code runs inside (`step`: `<pipeline>.<step>`, named in the refusal): no Iceberg change at all
    until it returns, in this process (pyiceberg's commit paths are guarded from here on, also outside Airflow)."""
    install()
    with _USER_CODE_LOCK:
        _USER_CODE.append(step)
    try:
        yield
    finally:
        with _USER_CODE_LOCK:
            _USER_CODE.remove(step)


def in_user_code() -> bool:
    return bool(_USER_CODE)


def install() -> None:
    """Guard pyiceberg's commit paths in this process: now for modules already imported, else on import."""
    for name in _TARGETS:
        if name in sys.modules:
            _patch(sys.modules[name])
    if not any(isinstance(finder, _PostImportFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PostImportFinder())


def _patch(module: Any) -> None:
    class_name, methods = _TARGETS[module.__name__]
    cls = getattr(module, class_name, None)
    for method in methods if cls is not None else ():
        original = cls.__dict__.get(method)
        if original is not None and not getattr(original, _MARK, False):
            setattr(cls, method, _guarded(original, method))


def _guarded(original: Callable[..., Any], method: str) -> Callable[..., Any]:
    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _USER_CODE:
            _refuse_user_code(self, method, args, kwargs)
        elif method not in _USER_CODE_ONLY and not in_writer_scope():
            _check(self, method, args, kwargs)
        return original(self, *args, **kwargs)

    setattr(wrapper, _MARK, True)
    return wrapper


def _check(target: Any, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse when an Airflow task is running (outside one, e.g. `akko tables`, nothing is checked)."""
    from akko_orchestrator.guardrails.settings import project_rules

    task = _running_task()
    if task is None or getattr(type(task), "akko_iceberg_writer", False):
        return  # no task; or an AKKO operator's thread outside its scope (a context variable is per thread)
    dag = getattr(task, "dag", None)
    fileloc = getattr(dag, "fileloc", None)
    rules = project_rules(near=fileloc)
    if not rules.settings.enabled or rules.settings.iceberg_writes == "allow":
        return
    from airflow.sdk.exceptions import AirflowFailException

    from akko_orchestrator.guardrails.violations import Violation, display_path, locate

    table = _table_name(target, args, kwargs)
    violation = Violation(
        display_path(fileloc, rules.root) if fileloc else f"DAG {getattr(dag, 'dag_id', '?')}",
        locate(fileloc, task.task_id, "task") if fileloc else None,
        "iceberg-write",
        f"task '{task.task_id}' changes Iceberg table {table} ({method}) outside AKKO's writer",
        "write the table with an AKKO spec step, which commits it exactly once and audits it",
    )
    raise AirflowFailException(violation.format())


def _refuse_user_code(target: Any, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    from akko_orchestrator.runtime.step_api import StepWriteRefused

    step = _USER_CODE[-1] if _USER_CODE else "?"
    what = "namespace" if "namespace" in method else "view" if "view" in method else "table"
    raise StepWriteRefused(
        f"step {step}: its code changes Iceberg {what} {_table_name(target, args, kwargs)} ({method}) itself; "
        f"refused: {StepWriteRefused.WAY}"
    )


def _running_task() -> Any:
    if "airflow.sdk.definitions._internal.contextmanager" not in sys.modules:
        return None
    from airflow.sdk.definitions._internal.contextmanager import _CURRENT_CONTEXT

    if not _CURRENT_CONTEXT:
        return None
    ti = _CURRENT_CONTEXT[-1].get("ti")
    return getattr(ti, "task", None)


def _table_name(target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    name = getattr(target, "_identifier", None)  # a Table
    if name is None and args and hasattr(args[0], "_identifier"):  # commit_table(table, ...)
        name = args[0]._identifier
    if name is None:
        name = (
            args[0]
            if args
            else kwargs.get("identifier", kwargs.get("from_identifier", kwargs.get("namespace", "?")))
        )
    return ".".join(name) if isinstance(name, tuple) else str(name)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for a guarded module, asks the other finders and patches once it has executed."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in _TARGETS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader)
                return spec
        return None


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any):
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        _patch(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_code... for tracebacks and tools
        return getattr(self._loader, name)
