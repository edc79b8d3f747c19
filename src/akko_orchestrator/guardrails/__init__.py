"""Guardrails for hand-written DAGs: Airflow cluster policies, a size-limited XCom backend and the Iceberg writer
scope (see docs/guardrails.md).

`check_dag_file`, `hand_written_files`, `project_rules` and `Violation` are importable from here; they load on
first use, since AKKO's operators import this package's light `iceberg` module in every task.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "check_dag_file": "policies",
    "hand_written_files": "policies",
    "project_rules": "settings",
    "Violation": "violations",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
