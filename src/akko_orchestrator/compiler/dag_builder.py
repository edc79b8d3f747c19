"""Build one Airflow DAG from a `Plan` with the Task SDK. Parse-time code: no catalog, network or engine."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from akko_orchestrator.compiler.alerting import deadline_alerts, task_alert_args
from akko_orchestrator.compiler.assets import table_asset
from akko_orchestrator.plan.model import Plan, PlannedStep
from akko_orchestrator.spec.alerts import AlertRule
from akko_orchestrator.spec.models import AssetSchedule, Pipeline, duration_seconds

if TYPE_CHECKING:
    from airflow.sdk import DAG


def build_dag(
    plan: Plan, spec_file: str, lakehouse: str, project_alerts: list[AlertRule] | None = None
) -> DAG:
    """`project_alerts`: akko.yaml's alert rules, which the spec's own `alerts` extend."""
    from airflow.sdk import DAG

    pipeline = plan.pipeline
    assets = _Assets(lakehouse)
    dag = DAG(
        dag_id=pipeline.pipeline,
        description=pipeline.description,
        schedule=_schedule(pipeline, assets),
        start_date=dt.datetime.combine(pipeline.start_date, dt.time(), tzinfo=dt.UTC),
        catchup=pipeline.catchup,
        max_active_runs=pipeline.max_active_runs,
        tags=sorted({*pipeline.tags, f"team:{pipeline.team}", "akko"}),
        default_args=_default_args(pipeline),
        doc_md=_doc(plan, spec_file),
        deadline=deadline_alerts(plan, project_alerts or [], spec_file) or None,
    )
    alert_args = task_alert_args(plan, project_alerts or [])
    with dag:
        ends: dict[str, Any] = {}
        starts: dict[str, Any] = {}
        for planned in plan.steps:
            starts[planned.id], ends[planned.id] = _add_step(planned, plan, spec_file, assets, alert_args)
        for planned in plan.steps:
            for upstream in planned.upstream:
                ends[upstream] >> starts[planned.id]
    return dag


class _Assets(dict):
    """One `Asset` per table within a DAG (a table read by several steps is one object, built once)."""

    def __init__(self, lakehouse: str):
        super().__init__()
        self.lakehouse = lakehouse

    def __missing__(self, table: str) -> Any:
        asset = self[table] = table_asset(self.lakehouse, table)
        return asset


def _schedule(pipeline: Pipeline, assets: _Assets) -> Any:
    if isinstance(pipeline.schedule, AssetSchedule):
        from airflow.sdk import AssetAny

        # A plain list would mean *all* of them changed (Airflow wraps it in AssetAll); `on:` promises *any*.
        return AssetAny(*(assets[table] for table in pipeline.schedule.on))
    return None if pipeline.schedule == "manual" else pipeline.schedule


def _default_args(pipeline: Pipeline) -> dict[str, Any]:
    defaults = pipeline.defaults
    args: dict[str, Any] = {
        "owner": pipeline.owner,
        "retries": defaults.retries,
        "retry_delay": dt.timedelta(seconds=duration_seconds(defaults.retry_delay)),
    }
    if defaults.timeout:
        args["execution_timeout"] = dt.timedelta(seconds=duration_seconds(defaults.timeout))
    return args


def _step_args(
    planned: PlannedStep, plan: Plan, spec_file: str, assets: _Assets, alert_args: dict[str, Any]
) -> dict[str, Any]:
    step = planned.step
    args: dict[str, Any] = {
        "spec_file": spec_file,
        "pipeline_id": plan.pipeline.pipeline,
        "team": plan.pipeline.team,
        "planned": planned,
        "inlets": [assets[t] for t in planned.reads],
        "doc_md": step.description,
        **alert_args,  # on_failure_callback, warning_targets (compiler/alerting.py)
    }
    if step.retries is not None:
        args["retries"] = step.retries
    if step.retry_delay is not None:
        args["retry_delay"] = dt.timedelta(seconds=duration_seconds(step.retry_delay))
    if step.timeout is not None:
        args["execution_timeout"] = dt.timedelta(seconds=duration_seconds(step.timeout))
    return args


def _add_step(
    planned: PlannedStep, plan: Plan, spec_file: str, assets: _Assets, alert_args: dict[str, Any]
) -> tuple[Any, Any]:
    """Add a step's task(s); return its first and last task for wiring dependencies."""
    from akko_orchestrator.operators import steps as ops

    args = _step_args(planned, plan, spec_file, assets, alert_args)
    outlets = [assets[planned.writes]] if planned.writes else []
    if planned.dbt is not None:
        return _add_dbt(planned, args, assets)
    if planned.fans_out:
        return _add_fan_out(planned, args, outlets)
    operator = {
        "ingest": ops.IngestOperator,
        "sql": ops.SqlStepOperator,
        "python": ops.PythonStepOperator,
        "spark": ops.SparkStepOperator,
    }
    task = operator[planned.kind](task_id=planned.id, outlets=outlets, **args)
    return task, task


def _add_fan_out(planned: PlannedStep, args: dict[str, Any], outlets: list[Any]) -> tuple[Any, Any]:
    """list_files -> load_file (one mapped task per file, staged) -> commit (one atomic Iceberg commit)."""
    from airflow.sdk import TaskGroup

    from akko_orchestrator.operators import steps as ops

    with TaskGroup(group_id=planned.id, tooltip=planned.step.description or "") as group:
        listing = ops.ListFilesOperator(task_id="list_files", **{**args, "inlets": []})
        stage = ops.StageFileOperator.partial(task_id="load_file", **{**args, "inlets": []}).expand(
            path=listing.output
        )
        commit = ops.CommitStagedOperator(
            task_id="commit", stage_task_id=f"{group.group_id}.load_file", outlets=outlets, **args
        )
        stage >> commit
    return listing, commit


def _add_dbt(planned: PlannedStep, args: dict[str, Any], assets: _Assets) -> tuple[Any, Any]:
    """compile -> one task per model and seed (dbt's dependencies between them), in a task group named after the
    step; each model task reads its sources and refs (inlets) and writes its table (outlet)."""
    from airflow.sdk import TaskGroup

    from akko_orchestrator.operators.dbt import DbtCompileOperator, DbtNodeOperator

    graph = planned.dbt
    assert graph is not None
    with TaskGroup(group_id=planned.id, tooltip=planned.step.description or "") as group:
        compile_task = DbtCompileOperator(task_id="compile", **args)
        tasks: dict[str, Any] = {}
        for node in graph.nodes:
            node_args = {**args, "inlets": [assets[t] for t in _node_reads(graph, node)]}
            task = DbtNodeOperator(
                task_id=node.task_id,
                node=node,
                akko_step=f"{planned.id}.{node.task_id}",
                outlets=[assets[node.table]],
                **node_args,
            )
            tasks[node.unique_id] = task
            if node.resource_type == "model" or node.tests:  # a seed waits for compile only for its tests
                compile_task >> task
            for parent in node.depends_on:
                tasks[parent] >> task
    return group, group


def _node_reads(graph: Any, node: Any) -> list[str]:
    """The tables a model reads: its sources and refs outside the step, and the tables of the nodes it refs."""
    return sorted({*node.reads, *(graph.node(parent).table for parent in node.depends_on)})


def _doc(plan: Plan, spec_file: str) -> str:
    pipeline = plan.pipeline
    lines = [f"**{pipeline.pipeline}** — generated by AKKO Orchestrator from `{plan.spec_file}`.", ""]
    if pipeline.description:
        lines += [pipeline.description, ""]
    lines.append(f"Owner: {pipeline.owner} · team: {pipeline.team}")
    if plan.tables_written:
        lines.append("Writes: " + ", ".join(f"`{t}`" for t in plan.tables_written))
    if plan.external_reads:
        lines.append("Reads: " + ", ".join(f"`{t}`" for t in plan.external_reads))
    return "\n".join(lines)
