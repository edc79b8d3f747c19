"""An XCom backend refusing values over akko.yaml's `guardrails.xcom_max_bytes` ([core] xcom_backend in AKKO's
Airflow environment).

A policy sees DAGs at parse time, never values: the size is known only when a task pushes. Airflow's XCom
backends serialize every pushed value through `serialize_value` (Task SDK's BaseXCom) before sending it, so the
check sits there, on the bytes actually stored, and otherwise behaves exactly as Airflow's own backend.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from airflow.sdk.bases.xcom import BaseXCom


class XComTooLarge(Exception):
    """Raised as an AirflowFailException (see `_refuse`): the same value is as large on a retry."""


class GuardedXCom(BaseXCom):
    @staticmethod
    def serialize_value(
        value: Any,
        *,
        key: str | None = None,
        task_id: str | None = None,
        dag_id: str | None = None,
        run_id: str | None = None,
        map_index: int | None = None,
    ) -> Any:
        serialized = BaseXCom.serialize_value(
            value, key=key, task_id=task_id, dag_id=dag_id, run_id=run_id, map_index=map_index
        )
        from akko_orchestrator.guardrails.settings import project_rules

        task = _running_task(dag_id, task_id)
        if getattr(type(task), "akko_iceberg_writer", False):
            return (
                serialized  # AKKO's operators push bounded summaries, and the file lists a fan-out maps over
            )
        rules = project_rules(near=getattr(getattr(task, "dag", None), "fileloc", None))
        limit = int(rules.settings.xcom_max_bytes)
        if rules.settings.enabled:
            size = len(json.dumps(serialized, default=str).encode())
            if size > limit:
                _refuse(rules, size, limit, key, task, f"{dag_id}.{task_id}")
        return serialized


def _refuse(rules: Any, size: int, limit: int, key: str | None, task: Any, name: str) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from akko_orchestrator.guardrails.violations import Violation, display_path, locate

    fileloc = getattr(getattr(task, "dag", None), "fileloc", None)
    file = display_path(fileloc, rules.root) if fileloc else f"DAG {name.split('.')[0]}"
    line = locate(fileloc, name.split(".", 1)[1], "task") if fileloc else None
    violation = Violation(
        file,
        line,
        "xcom-size",
        f"task '{name}' pushed {size} bytes to XCom '{key}' (limit {limit} bytes)",
        "write large data to a table or the object store and pass its name; "
        "or raise guardrails.xcom_max_bytes",
    )
    raise AirflowFailException(violation.format())


def _running_task(dag_id: str | None, task_id: str | None) -> Any:
    """The pushing task. The XCom API passes ids only, and the task runner pushes a task's return value outside
    its context, so the running task instance (`ti`) is found on the caller's stack."""
    frame = sys._getframe(2)
    while frame is not None:
        ti = frame.f_locals.get("ti")
        task = getattr(ti, "task", None)
        dag = getattr(task, "dag", None)
        if dag is not None and getattr(ti, "task_id", None) == task_id and dag.dag_id == dag_id:
            return task
        frame = frame.f_back
    return None
