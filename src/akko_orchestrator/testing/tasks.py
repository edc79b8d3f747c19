"""A plan as the tasks its DAG has (compiler/dag_builder.py), each calling the runtime function its operator's
`execute` calls (operators/steps.py, operators/dbt.py), without Airflow: what `akko.testing` runs in process.

Airflow adds scheduling, retries and XCom around these calls, not behaviour: the tables, the write-audit-publish
gates and the check history come from the same runtime code. Keep this table in step with the operators (a unit
test compares the task ids with the compiled DAG's)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from akko_orchestrator.plan.model import Plan, PlannedStep
from akko_orchestrator.runtime.context import StepContext

Run = Callable[[StepContext, dict[str, Any]], Any]  # (context, results of earlier tasks) -> result


@dataclass(frozen=True)
class Task:
    task_id: str
    planned: PlannedStep
    upstream: tuple[str, ...]
    run: Run
    akko_step: str  # the step identity recorded in snapshots and check results
    mapped_over: str | None = None  # a mapped task: one run per item of that task's result (map_index)


@dataclass
class _Builder:
    spec_file: Path
    tasks: list[Task] = field(default_factory=list)
    last: dict[str, tuple[str, ...]] = field(default_factory=dict)  # step id -> its final task ids

    def add(self, planned: PlannedStep) -> None:
        upstream = tuple(t for step in planned.upstream for t in self.last.get(step, ()))
        if planned.dbt is not None:
            self._dbt(planned, upstream)
        elif planned.fans_out:
            self._fan_out(planned, upstream)
        else:
            self.tasks.append(Task(planned.id, planned, upstream, self._single(planned), planned.id))
            self.last[planned.id] = (planned.id,)

    def _single(self, planned: PlannedStep) -> Run:
        from akko_orchestrator.runtime import ingest, transforms

        spec_file, step = self.spec_file, planned.step
        if planned.kind == "ingest":
            return lambda ctx, _: ingest.ingest(ctx, step)  # type: ignore[arg-type]
        if planned.kind == "sql":
            return lambda ctx, _: transforms.run_sql(ctx, planned, _sql_texts(step, spec_file))
        if planned.kind == "python":
            return lambda ctx, _: transforms.run_python(ctx, planned)
        if planned.kind == "spark":
            from akko_orchestrator.runtime.spark_steps import run_spark

            return lambda ctx, _: run_spark(ctx, planned, spec_file)
        raise NotImplementedError(f"step kind {planned.kind}")

    def _fan_out(self, planned: PlannedStep, upstream: tuple[str, ...]) -> None:
        """list_files -> load_file (one run per file) -> commit, as the DAG's task group."""
        from akko_orchestrator.runtime.ingest import commit_staged, list_files, stage_file

        step, sid = planned.step, planned.id
        listing, load, commit = f"{sid}.list_files", f"{sid}.load_file", f"{sid}.commit"

        def commit_run(ctx: StepContext, results: dict[str, Any]) -> Any:
            ctx.lineage.files.extend(results[listing])  # the files the group read
            return commit_staged(ctx, step, list(results[load]))  # type: ignore[arg-type]

        self.tasks += [
            Task(listing, planned, upstream, lambda ctx, _: list_files(ctx, step), sid),  # type: ignore[arg-type]
            Task(load, planned, (listing,), lambda ctx, path: stage_file(ctx, step, path), sid, listing),  # type: ignore[arg-type]
            Task(commit, planned, (load,), commit_run, sid),
        ]
        self.last[sid] = (commit,)

    def _dbt(self, planned: PlannedStep, upstream: tuple[str, ...]) -> None:
        """compile -> one task per model and seed, in dbt's order."""
        from akko_orchestrator.dbt.compile import compile_step
        from akko_orchestrator.dbt.models import run_node
        from akko_orchestrator.plan.dbt_steps import project_folder

        step, graph, sid = planned.step, planned.dbt, planned.id
        assert graph is not None
        folder = project_folder(self.spec_file, step)  # type: ignore[arg-type]
        compile_id = f"{sid}.compile"
        self.tasks.append(
            Task(compile_id, planned, upstream, lambda ctx, _: compile_step(ctx, step, graph, folder), sid)  # type: ignore[arg-type]
        )
        ids = {n.unique_id: f"{sid}.{n.task_id}" for n in graph.nodes}
        for node in graph.nodes:
            waits = (compile_id,) if node.resource_type == "model" or node.tests else upstream
            parents = tuple(ids[p] for p in node.depends_on)

            def node_run(ctx: StepContext, _: dict[str, Any], node: Any = node) -> Any:
                return run_node(ctx, step, graph, node, folder)  # type: ignore[arg-type]

            task_id = ids[node.unique_id]
            self.tasks.append(Task(task_id, planned, (*waits, *parents), node_run, task_id))
        self.last[sid] = tuple(ids.values())


def plan_tasks(plan: Plan, spec_file: Path) -> list[Task]:
    """The plan's tasks in an order where every task comes after its upstream tasks."""
    builder = _Builder(spec_file)
    for planned in plan.steps:  # topological order
        builder.add(planned)
    return builder.tasks


def _sql_texts(step: Any, spec_file: Path) -> dict[str, str]:
    """The texts a `sql` step runs, as its operator reads them: named queries, inline SQL, or its `.sql` file."""
    if step.queries is not None:
        return dict(step.queries)
    if step.sql is not None:
        return {"sql": step.sql}
    return {"sql": (spec_file.parent / str(step.file)).read_text(encoding="utf-8")}
