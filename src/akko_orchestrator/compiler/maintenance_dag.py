"""AKKO's own maintenance DAG `akko_maintenance`, written by `akko sync` as one more shim when akko.yaml has a
`maintenance:` section. Parse-time code: no catalog, network or engine.

Its tables are what the pipelines write (each spec planned as its own shim plans it, through the same per-shim
cache), plus `akko.check_results` when a pipeline has checks; one task per table, named `<namespace>__<table>`,
which knows the pipelines writing it (their DAGs are asked for running runs before it touches the table). A spec
that does not plan is left out here: its own shim shows its import error.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from akko_orchestrator.config.maintenance import MaintenanceSettings
from akko_orchestrator.config.project import PROJECT_FILE
from akko_orchestrator.errors import AkkoError

if TYPE_CHECKING:
    from airflow.sdk import DAG

DAG_ID = "akko_maintenance"
SHIM = f"{DAG_ID}.py"
HISTORY_TABLE = "akko.check_results"  # quality/history.py's table (not imported: it imports pyarrow)
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
TEMPLATE = """{marker} Do not edit: akko.yaml's `maintenance:` drives it.
# AKKO's table maintenance as an Airflow DAG: one task per table the pipelines write (docs/maintenance.md).
from akko_orchestrator.compiler.maintenance_dag import load_maintenance_dag

dag = load_maintenance_dag(__file__, {root!r})
"""


def read_settings(root: Path) -> MaintenanceSettings | None:
    """akko.yaml's `maintenance:` only (never a profile or a secret); None without the section."""
    from pydantic import ValidationError

    from akko_orchestrator.config.project import read_project_file

    section = read_project_file(root / PROJECT_FILE).get("maintenance")
    if section is None:
        return None
    try:
        return MaintenanceSettings.model_validate(section)
    except ValidationError:
        from akko_orchestrator.config.project import load_project

        load_project(root)  # raises the located error
        raise


def render_shim(root: Path, dags_dir: Path, marker: str) -> str:
    import os

    return TEMPLATE.format(marker=marker, root=os.path.relpath(root.resolve(), dags_dir.resolve()))


def maintained_tables(root: Path, dags_dir: Path | None = None) -> dict[str, tuple[str, ...]]:
    """Every table the project's pipelines write -> the pipelines writing it, sorted."""
    from akko_orchestrator.compiler.entry import CACHE_DIR, compile_plan
    from akko_orchestrator.compiler.shims import shim_name
    from akko_orchestrator.config.project import read_project_file
    from akko_orchestrator.spec.loader import find_spec_files

    data = read_project_file(root / PROJECT_FILE)
    pipelines_dir = (root / str(data.get("pipelines") or "pipelines")).resolve()
    writers: dict[str, set[str]] = {}
    for spec in find_spec_files(pipelines_dir):
        cache = (
            dags_dir / CACHE_DIR / f"{Path(shim_name(spec, pipelines_dir)).stem}.json" if dags_dir else None
        )
        try:
            plan = compile_plan(spec, root, cache)
        except AkkoError:
            continue
        for table in plan.tables_written:
            writers.setdefault(table, set()).add(plan.pipeline.pipeline)
        if any(getattr(s.step, "checks", None) for s in plan.steps):
            writers.setdefault(HISTORY_TABLE, set())
    return {table: tuple(sorted(names)) for table, names in sorted(writers.items())}


def task_id(table: str) -> str:
    return table.replace(".", "__")


def load_maintenance_dag(shim_file: str, root_relpath: str) -> DAG | None:
    from airflow.sdk import DAG

    from akko_orchestrator.operators.maintenance import MaintainTableOperator

    shim = Path(shim_file)
    root = (shim.parent / root_relpath).resolve()
    settings = read_settings(root)
    if settings is None:
        return None
    tables = maintained_tables(root, shim.parent)
    dag = DAG(
        dag_id=DAG_ID,
        description="AKKO's Iceberg table maintenance (akko.yaml `maintenance:`)",
        schedule=settings.schedule,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        tags=["akko", "maintenance"],
        default_args=_default_args(),
        doc_md=_doc(tables),
    )
    with dag:
        for table, writers in tables.items():
            MaintainTableOperator(
                task_id=task_id(table), table=table, writers=list(writers), project_dir=str(root)
            )
    return dag


def _default_args() -> dict[str, Any]:
    # A conflict with a writer fails the task; the next scheduled run (or one retry later) tries again.
    return {"owner": "akko", "retries": 1, "retry_delay": dt.timedelta(minutes=10)}


def _doc(tables: dict[str, tuple[str, ...]]) -> str:
    lines = ["Iceberg table maintenance, compiled from akko.yaml `maintenance:`.", ""]
    lines += [f"- `{t}` (written by {', '.join(w) or 'AKKO'})" for t, w in tables.items()]
    return "\n".join(lines)
