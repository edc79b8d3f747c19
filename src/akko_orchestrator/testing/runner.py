"""`run_pipeline`: one pipeline in this process on a temporary embedded lakehouse (pyiceberg SQL catalog on
SQLite, DuckDB, a local object store), with given input tables, through the runtime code its Airflow tasks run
(testing/tasks.py) and without Airflow: no metadata DB, no `import airflow` (~4 s), no scheduler loop."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from akko_orchestrator.config.models import ObjectStoreSettings, SqlCatalogSettings
from akko_orchestrator.config.project import Project, load_project
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.plan.model import Plan
from akko_orchestrator.runtime.context import StepContext
from akko_orchestrator.testing.result import PipelineResult, TaskRun
from akko_orchestrator.testing.tasks import Task, plan_tasks

INPUTS_STEP = "akko.testing.inputs"  # the step identity of input tables' snapshots


@dataclass(frozen=True)
class SandboxProject(Project):
    """The user's project (specs, python_path, akko.yaml), its lakehouse in a folder of the test's own: whatever
    AKKO_STATE_DIR says, nothing outside it is read or written."""

    sandbox: Path = Path()

    @property
    def state_dir(self) -> Path:
        return self.sandbox


def sandbox_project(
    project: str | Path | None, lakehouse: Path, profile: str | None = None
) -> SandboxProject:
    """`project`'s folder and settings, on an embedded profile whose catalog, warehouse and object store all live
    in `lakehouse` (whatever the profile configures)."""
    loaded = load_project(Path(project) if project is not None else None, profile or "local")
    chosen = loaded.profile
    if chosen.engine != "embedded":
        raise AkkoError(
            f"akko.testing runs on an embedded profile; profile '{loaded.profile_name}' is {chosen.engine}"
        )
    local = chosen.model_copy(update={"catalog": SqlCatalogSettings(), "object_store": ObjectStoreSettings()})
    config = loaded.config.model_copy(
        update={"profiles": {**loaded.config.profiles, loaded.profile_name: local}}
    )
    lakehouse.mkdir(parents=True, exist_ok=True)
    return SandboxProject(loaded.root, config, loaded.profile_name, sandbox=lakehouse.resolve())


def run_pipeline(
    pipeline: str | Path,
    inputs: Mapping[str, Any] | None = None,
    *,
    project: str | Path | None = None,
    params: Mapping[str, Any] | None = None,
    steps: Iterable[str] | None = None,
    profile: str | None = None,
    lakehouse: str | Path | None = None,
) -> PipelineResult:
    """Run `pipeline` (its id, or its spec file) of `project` (default: the nearest akko.yaml from the current
    folder, or AKKO_PROJECT_DIR) on a fresh lakehouse (`lakehouse`, default a temporary folder removed with the
    result) holding `inputs` (table name -> pyarrow Table, DataFrame or list of dicts).

    Steps run in the DAG's order; `steps` limits the run to those step ids, and by default a step whose every
    table is given in `inputs` is skipped (the input stands for it). `params` is the run's configuration
    (`akko run --conf`). A failed task does not raise: its error is in the result, the tasks after it are
    `upstream_failed`, and every table is as the gates left it."""
    keep = None
    if lakehouse is None:
        keep = tempfile.TemporaryDirectory(prefix="akko-test-lakehouse-")
        lakehouse = keep.name
    sandbox = sandbox_project(project, Path(lakehouse), profile)
    plan, spec = _plan(sandbox, pipeline)
    run_id = f"akko_test__{time.strftime('%Y%m%dT%H%M%S')}_{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    from akko_orchestrator.lakehouse.catalog import open_catalog

    catalog = open_catalog(sandbox)
    write_inputs(sandbox, catalog, inputs or {}, run_id)
    wanted = set(steps) if steps is not None else None
    if wanted is not None and (unknown := wanted - {s.id for s in plan.steps}):
        known = ", ".join(s.id for s in plan.steps)
        raise AkkoError(f"no step {', '.join(sorted(unknown))} in {plan.pipeline.pipeline} (steps: {known})")
    given = set(inputs or {})
    tasks = _run_tasks(sandbox, plan, spec, run_id, dict(params or {}), wanted, given)
    result = PipelineResult(
        plan.pipeline.pipeline, run_id, sandbox, catalog, tasks, time.monotonic() - started
    )
    result._keep = keep
    return result


def _plan(project: Project, pipeline: str | Path) -> tuple[Plan, Path]:
    from akko_orchestrator.config.tenancy import Tenancy
    from akko_orchestrator.dbt.sync import graph_builder
    from akko_orchestrator.plan.builder import build_plan
    from akko_orchestrator.spec.loader import load_spec

    spec = _spec_file(project, pipeline)
    display = str(spec.relative_to(project.root)) if spec.is_relative_to(project.root) else str(spec)
    loaded, source = load_spec(spec, display)
    plan = build_plan(
        loaded,
        source,
        profile=project.profile_name,
        engine="embedded",
        dbt_graphs=graph_builder("embedded"),
        tenancy=Tenancy.of(project.config),
    )
    return plan, spec


def _spec_file(project: Project, pipeline: str | Path) -> Path:
    """A spec path as given (relative to the project), else the spec declaring `pipeline: <id>`."""
    from akko_orchestrator.spec.loader import find_spec_files
    from akko_orchestrator.spec.yaml_source import SpecSource

    as_path = Path(pipeline)
    for candidate in (as_path, project.root / as_path):
        if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
            return candidate.resolve()
    known = []
    for spec in find_spec_files(project.pipelines_dir):
        try:
            data = SpecSource.read(spec).data
        except Exception:  # noqa: BLE001 - another spec's problem (`akko validate` reports it)
            continue
        if isinstance(data, dict) and data.get("pipeline"):
            known.append(str(data["pipeline"]))
            if data["pipeline"] == str(pipeline):
                return spec.resolve()
    raise AkkoError(
        f"no pipeline '{pipeline}' in {project.pipelines_dir} (pipelines: {', '.join(sorted(known))})"
    )


def write_inputs(project: Project, catalog: Any, inputs: Mapping[str, Any], run_id: str) -> None:
    """Each input as a table on `main`, through AKKO's writer (an Arrow table, a DataFrame or a list of dicts)."""
    from akko_orchestrator.lakehouse.arrow_io import normalize, to_arrow
    from akko_orchestrator.lakehouse.writer import write_table
    from akko_orchestrator.spec.models import Output

    identity = {"akko.pipeline": INPUTS_STEP, "akko.step": INPUTS_STEP, "akko.run-id": run_id}
    for name, value in inputs.items():
        catalog.create_namespace_if_not_exists(name.split(".")[0])
        data = normalize(to_arrow(value, f"input {name}"))
        write_table(catalog, Output(table=name, mode="overwrite"), data, identity, None)


def _run_tasks(
    project: Project,
    plan: Plan,
    spec: Path,
    run_id: str,
    params: dict[str, Any],
    wanted: set[str] | None,
    given: set[str],
) -> list[TaskRun]:
    results: dict[str, Any] = {}
    states: dict[str, str] = {}
    done: list[TaskRun] = []
    for task in plan_tasks(plan, spec):
        if not _selected(task, wanted, given):
            states[task.task_id] = "skipped"
            done.append(TaskRun(task.task_id, task.planned.id, "skipped", 0.0))
            continue
        if any(states.get(up) in ("failed", "upstream_failed") for up in task.upstream):
            states[task.task_id] = "upstream_failed"
            done.append(TaskRun(task.task_id, task.planned.id, "upstream_failed", 0.0))
            continue
        run = _run_task(project, plan, task, run_id, params, results)
        states[task.task_id] = run.state
        done.append(run)
    return done


def _selected(task: Task, wanted: set[str] | None, given: set[str]) -> bool:
    if wanted is not None:
        return task.planned.id in wanted
    tables = set(task.planned.tables)
    return not (tables and tables <= given)


def _run_task(
    project: Project, plan: Plan, task: Task, run_id: str, params: dict[str, Any], results: dict[str, Any]
) -> TaskRun:
    started = time.monotonic()
    try:
        if task.mapped_over is not None:
            items = results[task.mapped_over]
            value = [_execute(project, plan, task, run_id, params, item, i) for i, item in enumerate(items)]
        else:
            value = _execute(project, plan, task, run_id, params, results, -1)
    except Exception as exc:  # noqa: BLE001 - a failed task is a result, as in Airflow
        return TaskRun(task.task_id, task.planned.id, "failed", time.monotonic() - started, error=exc)
    results[task.task_id] = value
    return TaskRun(task.task_id, task.planned.id, "success", time.monotonic() - started, _summary(value))


def _execute(
    project: Project, plan: Plan, task: Task, run_id: str, params: dict[str, Any], arg: Any, map_index: int
) -> Any:
    """What AkkoStepOperator.execute does around its step: a StepContext, the team's rules, then the step."""
    ctx = StepContext(
        project=project,
        pipeline_id=plan.pipeline.pipeline,
        step_id=task.akko_step,
        run_id=run_id,
        map_index=map_index,
        params=dict(params),
        team=plan.pipeline.team,
    )
    try:
        ctx.check_step(task.planned)
        ctx.lineage.read(list(task.planned.reads))
        return task.run(ctx, arg)
    finally:
        ctx.close()


def _summary(value: Any) -> Any:
    from akko_orchestrator.lakehouse.writer import WriteResult
    from akko_orchestrator.runtime.results import write_summary

    return write_summary(value) if isinstance(value, WriteResult) else value
