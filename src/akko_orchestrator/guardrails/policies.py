"""AKKO's Airflow cluster policies, imported by the airflow_local_settings.py AKKO writes in its Airflow home
(local_airflow/environment.py), so every Airflow process of AKKO's environment applies them: the dag-processor
(a refused DAG is its file's import error), task processes, `akko run` and `akko ci`.

`check_dag_file` is the library entry for `akko ci`: it imports one DAG file as the dag-processor does (Airflow's
DagBag) and returns every violation, instead of stopping at the first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from akko_orchestrator.guardrails import parse_watch
from akko_orchestrator.guardrails.rules import dag_violations, is_akko_shim, task_violations
from akko_orchestrator.guardrails.settings import ProjectRules, project_rules
from akko_orchestrator.guardrails.violations import Violation, display_path

_collecting: list[Violation] | None = None  # set by check_dag_file: record instead of raising


def get_dagbag_import_timeout(dag_file_path: str) -> float:
    """Airflow asks this right before it imports a DAG file: the start of the file's import window
    (parse_watch). Returns Airflow's own setting, unchanged."""
    from airflow.configuration import conf

    if is_akko_shim(dag_file_path):
        parse_watch.stop()  # a shim reads its spec by design: neither its I/O nor its time is judged
    else:
        parse_watch.start(dag_file_path)
    return conf.getfloat("core", "dagbag_import_timeout")


def dag_policy(dag: Any) -> None:
    """Every rule on the DAG and its tasks; all violations in one AirflowClusterPolicyViolation."""
    rules = project_rules(near=dag.fileloc)
    _refuse(dag_violations(dag, rules, parse_watch.window_for(dag.fileloc or "")))


def task_policy(task: Any) -> None:
    """Task rules (dag_policy already applied them to tasks of a DAG; this serves tasks judged alone)."""
    _refuse(
        task_violations(
            task, project_rules(near=getattr(task.dag, "fileloc", None) if task.has_dag() else None)
        )
    )


def _refuse(found: list[Violation]) -> None:
    if not found:
        return
    if _collecting is not None:
        _collecting.extend(v for v in found if v not in _collecting)
        return
    from airflow.exceptions import AirflowClusterPolicyViolation

    raise AirflowClusterPolicyViolation("\n".join(v.format() for v in found))


def check_dag_file(path: str | os.PathLike[str], rules: ProjectRules | None = None) -> list[Violation]:
    """Import one DAG file with Airflow's DagBag (as the dag-processor does) and return its violations, in file
    order: every guardrail rule (`rules`, default: the project of AKKO_PROJECT_DIR), and an `import-error` for a
    file that does not import. Needs Airflow configured (AKKO's environment applied)."""
    from airflow.dag_processing.dagbag import DagBag

    path = os.path.realpath(path)
    rules = rules or project_rules(near=path)
    found: list[Violation] = []
    with _collect(found):
        parse_watch.start(path)  # the timeout policy restarts it when registered; the same window
        bag = DagBag(dag_folder=path, safe_mode=False)
        window = parse_watch.window_for(path)
        for dag in bag.dags.values():
            for violation in dag_violations(dag, rules, window):
                if violation not in found:
                    found.append(violation)
    for _file, error in sorted(bag.import_errors.items()):
        found.extend(_import_error(path, str(error), rules))
    return sorted(found, key=lambda v: (v.file, v.line or 0, v.rule, v.message))


@contextmanager
def _collect(found: list[Violation]) -> Iterator[None]:
    global _collecting
    previous, _collecting = _collecting, found
    try:
        yield
    finally:
        _collecting = previous


def _import_error(path: str, error: str, rules: ProjectRules) -> list[Violation]:
    """A file that does not import; its line is the deepest frame of this file in the traceback."""
    lines = re.findall(rf'File "{re.escape(path)}", line (\d+)', error)
    message = error.strip().splitlines()[-1] if error.strip() else "import failed"
    return [
        Violation(
            display_path(path, rules.root),
            int(lines[-1]) if lines else None,
            "import-error",
            message,
            "fix the error; the dag-processor shows the same",
        )
    ]


def hand_written_files(root: Path, folders: Sequence[Any]) -> list[Path]:
    """The .py files of the hand-written DAG folders (akko.yaml `dags`: folder names, or its entries), sorted."""
    files: set[Path] = set()
    for folder in folders:
        base = (root / str(getattr(folder, "path", folder))).resolve()
        if base.is_dir():
            files.update(p for p in base.rglob("*.py") if "__pycache__" not in p.parts)
    return sorted(files)
