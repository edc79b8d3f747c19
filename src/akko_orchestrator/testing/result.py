"""What `akko.testing.run_pipeline` returns: each task's outcome, the checks recorded by the run, and the output
tables, read from the run's own temporary lakehouse."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from akko_orchestrator.config.project import Project
from akko_orchestrator.errors import AkkoError

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog


@dataclass(frozen=True)
class TaskRun:
    """One task as Airflow would show it: `state` is success, failed, upstream_failed or skipped (its tables
    were given as inputs); `result` what its operator would push to XCom; `error` why it failed."""

    task_id: str
    step: str
    state: str
    seconds: float
    result: Any = None
    error: BaseException | None = None


@dataclass(frozen=True)
class CheckOutcome:
    """One check of one table in this run, as recorded in `akko.check_results`; `status`: pass, warn or fail."""

    table: str
    step: str
    name: str
    kind: str
    severity: str
    status: str
    failing_rows: int | None
    observed: str
    expected: str

    @property
    def passed(self) -> bool:
        return self.status == "pass"


@dataclass
class PipelineResult:
    pipeline: str
    run_id: str
    project: Project
    catalog: Catalog
    tasks: list[TaskRun] = field(default_factory=list)
    seconds: float = 0.0
    _keep: Any = None  # the temporary lakehouse folder, removed with this result

    @property
    def ok(self) -> bool:
        return all(t.state in ("success", "skipped") for t in self.tasks)

    @property
    def state(self) -> str:
        return "success" if self.ok else "failed"

    @property
    def steps(self) -> dict[str, str]:
        """Each step's state: a step failed if any of its tasks did (a fanned-out ingest or a dbt step has several)."""
        states: dict[str, str] = {}
        for task in self.tasks:
            if states.get(task.step, "success") in ("success", "skipped"):
                states[task.step] = task.state
        return states

    def task(self, task_id: str) -> TaskRun:
        found = next((t for t in self.tasks if t.task_id == task_id), None)
        if found is None:
            raise AkkoError(
                f"no task {task_id} in {self.pipeline} (tasks: {', '.join(t.task_id for t in self.tasks)})"
            )
        return found

    @property
    def errors(self) -> dict[str, BaseException]:
        return {t.task_id: t.error for t in self.tasks if t.error is not None}

    def raise_for_failure(self) -> PipelineResult:
        """Raise the first failed task's error (with the task named), else return self."""
        for task in self.tasks:
            if task.error is not None:
                raise AkkoError(f"{self.pipeline}: task {task.task_id} failed: {task.error}") from task.error
        return self

    @property
    def checks(self) -> list[CheckOutcome]:
        """Every check this run recorded (`akko.check_results`), in table then check order."""
        from akko_orchestrator.quality.history import read_history

        history = read_history(self.catalog, self.pipeline)
        if history is None:
            return []
        rows = [r for r in history.to_pylist() if r["run_id"] == self.run_id]
        outcomes = [
            CheckOutcome(
                r["table_name"],
                r["step"],
                r["check_name"],
                r["kind"],
                r["severity"],
                r["status"],
                r["failing_rows"],
                r["observed"],
                r["expected"],
            )
            for r in rows
        ]
        return sorted(outcomes, key=lambda c: (c.table, c.name))

    def check(self, table: str, name: str) -> CheckOutcome:
        found = [c for c in self.checks if c.table == table and c.name == name]
        if not found:
            known = ", ".join(f"{c.table}:{c.name}" for c in self.checks) or "none"
            raise AkkoError(f"no check {name} on {table} in this run (checks: {known})")
        return found[0]

    def failed_checks(self, table: str | None = None) -> list[CheckOutcome]:
        return [c for c in self.checks if c.status == "fail" and table in (None, c.table)]

    def table(self, name: str, branch: str | None = None) -> pa.Table:
        """A table's rows on `main` (what readers see), or on `branch`."""
        table = self.catalog.load_table(name)
        if branch is None:
            return table.scan().to_arrow()
        ref = table.metadata.refs.get(branch)
        if ref is None:
            raise AkkoError(
                f"{name} has no branch {branch} (branches: {', '.join(sorted(table.metadata.refs))})"
            )
        return table.scan(snapshot_id=ref.snapshot_id).to_arrow()

    def rejected(self, name: str) -> pa.Table:
        """The rows a failed quality gate kept out of `name`: the head of the writing step's audit branch."""
        from akko_orchestrator.quality.report import ChecksFailed

        for task in self.tasks:
            if isinstance(task.error, ChecksFailed) and task.error.report.table == name:
                return self.table(name, branch=task.error.branch)
        raise AkkoError(f"no step of this run was stopped by the checks of {name}")

    def query(self, sql: str) -> pa.Table:
        """A read-only Trino SQL query on this run's lakehouse, through the embedded engine (as `akko query`)."""
        from akko_orchestrator.runtime.context import StepContext
        from akko_orchestrator.runtime.query import read_only_query

        ctx = StepContext(
            project=self.project, pipeline_id=self.pipeline, step_id="query", run_id=self.run_id
        )
        try:
            return read_only_query(ctx, sql)
        finally:
            ctx.close()
