"""Run one pipeline through real Airflow in this process (`dag.test()`: real DagRun, task instances, XComs,
asset events in the metadata DB), reporting progress through an Airflow listener. The tasks run here, so the
secrets they register with Airflow's masker (`config/secrets.py`) mask this process' output and the errors
reported."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from akko_orchestrator.config.project import Project
from akko_orchestrator.config.secrets import mask_environment, redact
from akko_orchestrator.errors import AkkoError, SpecError, SpecIssue
from akko_orchestrator.local_airflow import environment
from akko_orchestrator.observability.settings import start_airflow_stats

ProgressCallback = Callable[[str, str, int, str | None], None]  # event, task_id, map_index, detail


@dataclass
class TaskReport:
    task_id: str
    map_index: int
    state: str
    duration: float | None
    result: Any = None
    error: str | None = None


@dataclass
class RunReport:
    dag_id: str
    run_id: str
    state: str
    duration: float
    tasks: list[TaskReport] = field(default_factory=list)

    @property
    def failed(self) -> list[TaskReport]:
        return [t for t in self.tasks if t.state not in ("success", "skipped")]

    def result_of(self, task_id: str) -> Any:
        return next((t.result for t in self.tasks if t.task_id == task_id), None)


class _ProgressListener:
    """Airflow listener (pluggy hooks) forwarding task state changes to the CLI."""

    def __init__(self, callback: ProgressCallback | None):
        self.callback = callback
        self.errors: dict[tuple[str, int], str] = {}

    def _emit(self, event: str, ti: Any, detail: str | None = None) -> None:
        if self.callback is not None:
            self.callback(event, ti.task_id, getattr(ti, "map_index", -1), detail)

    def hooks(self) -> Any:
        from airflow.listeners import hookimpl

        outer = self

        class Hooks:
            @hookimpl
            def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
                outer._emit("running", task_instance)

            @hookimpl
            def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
                outer._emit("success", task_instance)

            @hookimpl
            def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
                reason = redact(str(error)) if error else "failed"
                outer.errors[(task_instance.task_id, getattr(task_instance, "map_index", -1))] = reason
                outer._emit("failed", task_instance, reason)

        return Hooks()


def pipeline_shim(project: Project, pipeline_id: str) -> Path:
    """The shim of the spec declaring `pipeline: <pipeline_id>` (specs are scanned without full validation)."""
    from akko_orchestrator.compiler.shims import shim_name, sync_shims
    from akko_orchestrator.spec.loader import find_spec_files
    from akko_orchestrator.spec.yaml_safety import load_file
    from akko_orchestrator.spec.yaml_source import SpecLoader

    # Only this pipeline's dbt graphs are brought up to date: a run does not pay for other pipelines' projects.
    sync_shims(project.pipelines_dir, project.dags_dir, project.root, dbt_graphs=False)
    known = []
    for spec in find_spec_files(project.pipelines_dir):
        try:
            data = load_file(spec, SpecLoader)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("pipeline"):
            known.append(str(data["pipeline"]))
            if data["pipeline"] == pipeline_id:
                from akko_orchestrator.dbt.sync import refresh_graphs

                refresh_graphs([spec])
                return project.dags_dir / shim_name(spec, project.pipelines_dir)
    raise AkkoError(
        f"no pipeline '{pipeline_id}' in {project.pipelines_dir} (pipelines: {', '.join(sorted(known))})"
    )


def run_pipeline(
    project: Project,
    pipeline_id: str,
    progress: ProgressCallback | None = None,
    conf: dict[str, Any] | None = None,
) -> RunReport:
    environment.apply(project)
    mask_environment()  # the connections and secrets Airflow and the steps find in the environment
    start_airflow_stats()  # no scheduler or task runner does it for dag.test()
    shim = pipeline_shim(project, pipeline_id)
    dag = _load_dag(shim, pipeline_id)
    environment.ensure_database()
    listener = _ProgressListener(progress)
    started = time.monotonic()
    with _listening(listener):
        # Airflow 3.3.2's dag.test() keeps the deadline alerts' definitions on its scheduler DAG where a run's
        # success expects their ids (DeadlineAlertModel.get_by_id fails on them): an in-process run has no
        # deadline. Deadlines are the scheduler's (`akko dev`, a deployed Airflow); failures still alert.
        dag.deadline = None
        dag_run = dag.test(run_conf=conf)
    return _report(dag_run, time.monotonic() - started, listener)


def run_maintenance(project: Project, progress: ProgressCallback | None = None) -> RunReport:
    """AKKO's maintenance DAG (`akko_maintenance`, compiled from akko.yaml `maintenance:`) run now, in this
    process, through `dag.test()` like a pipeline."""
    from akko_orchestrator.compiler.maintenance_dag import DAG_ID, SHIM
    from akko_orchestrator.compiler.shims import sync_shims

    environment.apply(project)
    mask_environment()
    sync_shims(project.pipelines_dir, project.dags_dir, project.root, dbt_graphs=False)
    shim = project.dags_dir / SHIM
    if not shim.is_file():
        raise AkkoError(f"{project.root / 'akko.yaml'} has no `maintenance:` section: no maintenance DAG")
    dag = _load_dag(shim, DAG_ID)
    environment.ensure_database()
    listener = _ProgressListener(progress)
    started = time.monotonic()
    with _listening(listener):
        dag_run = dag.test()
    return _report(dag_run, time.monotonic() - started, listener)


def _load_dag(shim: Path, pipeline_id: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(shim), safe_mode=False)
    if bag.import_errors:
        message = next(iter(bag.import_errors.values()))
        raise SpecError([SpecIssue(str(shim), None, None, "", _last_line(message))])
    dag = bag.dags.get(pipeline_id)
    if dag is None:
        profile = os.environ.get("AKKO_PROFILE", "?")
        raise AkkoError(
            f"pipeline {pipeline_id} has no DAG on profile '{profile}': its `profiles` leave this profile out"
        )
    return dag


def _last_line(message: str) -> str:
    lines = [line for line in message.strip().splitlines() if line.strip()]
    return lines[-1].split(": ", 1)[-1] if lines else message


class _listening:
    def __init__(self, listener: _ProgressListener):
        self.listener = listener
        self.hooks: Any = None

    def __enter__(self) -> None:
        from airflow.sdk.listener import get_listener_manager

        self.hooks = self.listener.hooks()
        get_listener_manager().add_listener(self.hooks)

    def __exit__(self, *exc: object) -> None:
        from airflow.sdk.listener import get_listener_manager

        get_listener_manager().pm.unregister(self.hooks)


def _report(dag_run: Any, duration: float, listener: _ProgressListener) -> RunReport:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    tasks = []
    with create_session() as session:
        for ti in sorted(
            dag_run.get_task_instances(session=session), key=lambda t: (t.start_date or 0, t.task_id)
        ):
            query = XComModel.get_many(
                run_id=dag_run.run_id,
                key="return_value",
                dag_ids=dag_run.dag_id,
                task_ids=ti.task_id,
                map_indexes=ti.map_index,
            )
            xcom = session.scalars(query).first()
            result = XComModel.deserialize_value(xcom) if xcom is not None else None
            state = str(ti.state.value if hasattr(ti.state, "value") else ti.state)
            error = listener.errors.get((ti.task_id, ti.map_index))
            tasks.append(TaskReport(ti.task_id, ti.map_index, state, ti.duration, result, error))
        state = str(dag_run.state.value if hasattr(dag_run.state, "value") else dag_run.state)
    return RunReport(dag_run.dag_id, dag_run.run_id, state, duration, tasks)
