"""One operator per step kind, plus the three operators of a fanned-out file ingest (list, stage, commit).

Operators keep the typed step as an attribute; Airflow does not serialize it (workers re-parse the shim), so DAG
serialization stays small and deterministic. Heavy imports (pyiceberg, DuckDB) happen inside `execute` only.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from akko_orchestrator.guardrails.iceberg import akko_writer_scope
from akko_orchestrator.plan.model import PlannedStep
from akko_orchestrator.spec.models import IngestStep, SqlStep


class AkkoStepOperator(BaseOperator):
    """Base: resolves the project from the spec file and runs `run(ctx)` with a `StepContext`."""

    ui_color = "#dbeafe"
    akko_iceberg_writer = (
        True  # guardrails: may declare Iceberg outlets and commit tables (in its writer scope)
    )

    def __init__(
        self,
        *,
        spec_file: str,
        pipeline_id: str,
        planned: PlannedStep,
        akko_step: str | None = None,
        team: str | None = None,
        warning_targets: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.warning_targets = warning_targets or []  # alert targets of `check_warning` (alerts/notify.py)
        self.spec_file = spec_file
        self.pipeline_id = pipeline_id
        self.team = team  # the pipeline's team: with akko.yaml `teams`, what the step may touch
        self.planned = planned
        self.akko_step = akko_step or planned.id  # the identity in snapshots: `<step>.<model>` in a dbt step

    def execute(self, context: Any) -> Any:
        from akko_orchestrator.config.project import load_project
        from akko_orchestrator.runtime.context import StepContext

        ti = context["ti"]
        ctx = StepContext(
            project=load_project(Path(self.spec_file).parent),
            pipeline_id=self.pipeline_id,
            step_id=self.akko_step,
            run_id=context["run_id"],
            try_number=ti.try_number,
            map_index=getattr(ti, "map_index", -1),
            params=dict(getattr(context.get("dag_run"), "conf", None) or {}),  # the run's `--conf`
            team=self.team,
        )
        self._akko_lineage = ctx.lineage  # for the OpenLineage methods below, called after execute
        self._akko_identity = {
            "pipeline": self.pipeline_id,
            "step": self.akko_step,
            "runId": ctx.run_id,
            "tryNumber": ctx.try_number,
            "profile": ctx.project.profile_name,
        }
        started, outcome = time.monotonic(), "failed"
        try:
            ctx.check_step(self.planned)  # the team's rules, again, before anything is read or written
            ctx.lineage.read(self.lineage_reads())
            with akko_writer_scope(f"{self.pipeline_id}.{self.akko_step}"):
                result = self.run(ctx, context)
            outcome = "success"
        except Exception as exc:
            from akko_orchestrator.config.tenancy import TenancyError
            from akko_orchestrator.quality.report import ChecksFailed

            # the same data fails the same checks, a team's rules refuse the same again: retrying would only waste time
            if isinstance(exc, ChecksFailed | TenancyError):
                from airflow.sdk.exceptions import AirflowFailException

                raise AirflowFailException(str(exc)) from None
            raise
        finally:
            from akko_orchestrator.observability.metrics import step_finished

            step_finished(self.pipeline_id, self.task_id, time.monotonic() - started, outcome)
            ctx.close()
        self._alert_warnings(result, context)
        return result

    def _alert_warnings(self, result: Any, context: Any) -> None:
        """A step that published with `warn` checks failing alerts; an alert that cannot go out never fails it."""
        if not self.warning_targets:
            return
        from akko_orchestrator.alerts.notify import send_check_warnings

        try:
            send_check_warnings(self.pipeline_id, self.akko_step, result, self.warning_targets, context)
        except Exception:  # noqa: BLE001 - alerts are best effort; the step's data is published
            self.log.exception("check-warning alert failed")

    def run(self, ctx: Any, context: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- OpenLineage (apache-airflow-providers-openlineage calls these; lineage/hooks.py answers) ----------

    def lineage_reads(self) -> list[str]:
        return list(self.planned.reads)

    def lineage_writes(self) -> list[str]:
        return list(self.planned.tables)

    def get_openlineage_facets_on_start(self) -> Any:
        from akko_orchestrator.lineage.hooks import on_start

        return on_start(self)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from akko_orchestrator.lineage.hooks import on_end

        return on_end(self)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        from akko_orchestrator.lineage.hooks import on_end

        return on_end(self)

    @staticmethod
    def summary(result: Any) -> Any:
        from akko_orchestrator.lakehouse.writer import WriteResult
        from akko_orchestrator.runtime.results import write_summary

        return write_summary(result) if isinstance(result, WriteResult) else result


class IngestOperator(AkkoStepOperator):
    ui_color = "#dcfce7"

    def run(self, ctx: Any, context: Any) -> Any:
        from akko_orchestrator.runtime.ingest import ingest

        assert isinstance(self.planned.step, IngestStep)
        return self.summary(ingest(ctx, self.planned.step))


class ListFilesOperator(AkkoStepOperator):
    ui_color = "#dcfce7"

    def lineage_writes(self) -> list[str]:
        return []  # the group's `commit` writes the table

    def run(self, ctx: Any, context: Any) -> list[str]:
        from akko_orchestrator.runtime.ingest import list_files

        return list_files(ctx, self.planned.step)  # type: ignore[arg-type]


class StageFileOperator(AkkoStepOperator):
    """Mapped: one task instance per file."""

    ui_color = "#dcfce7"

    def lineage_writes(self) -> list[str]:
        return []  # staged files are no table; the group's `commit` writes it

    def __init__(self, *, path: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.path = path

    def run(self, ctx: Any, context: Any) -> dict[str, Any]:
        from akko_orchestrator.runtime.ingest import stage_file

        return stage_file(ctx, self.planned.step, self.path)  # type: ignore[arg-type]


class CommitStagedOperator(AkkoStepOperator):
    ui_color = "#dcfce7"

    def __init__(self, *, stage_task_id: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.stage_task_id = stage_task_id

    def run(self, ctx: Any, context: Any) -> Any:
        from akko_orchestrator.runtime.ingest import commit_staged

        keys = context["ti"].xcom_pull(task_ids=self.stage_task_id) or []
        if isinstance(keys, str | dict):  # one staged file (a bare key: staged by an earlier AKKO)
            keys = [keys]
        listed = context["ti"].xcom_pull(task_ids=self.stage_task_id.replace(".load_file", ".list_files"))
        ctx.lineage.files.extend(listed if isinstance(listed, list) else [])  # the files the group read
        return self.summary(commit_staged(ctx, self.planned.step, list(keys)))  # type: ignore[arg-type]


class SqlStepOperator(AkkoStepOperator):
    ui_color = "#fef3c7"

    def run(self, ctx: Any, context: Any) -> Any:
        from akko_orchestrator.runtime.transforms import run_sql

        step = self.planned.step
        assert isinstance(step, SqlStep)
        if step.queries is not None:
            texts = dict(step.queries)
        elif step.sql is not None:
            texts = {"sql": step.sql}
        else:
            texts = {"sql": (Path(self.spec_file).parent / str(step.file)).read_text(encoding="utf-8")}
        return self.summary(run_sql(ctx, self.planned, texts))


class PythonStepOperator(AkkoStepOperator):
    ui_color = "#ede9fe"

    def run(self, ctx: Any, context: Any) -> Any:
        from akko_orchestrator.runtime.transforms import run_python

        return self.summary(run_python(ctx, self.planned))


class SparkStepOperator(AkkoStepOperator):
    ui_color = "#fde2e2"

    def run(self, ctx: Any, context: Any) -> Any:
        from akko_orchestrator.runtime.spark_steps import run_spark

        return self.summary(run_spark(ctx, self.planned, Path(self.spec_file)))
