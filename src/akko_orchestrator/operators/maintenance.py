"""The task of AKKO's maintenance DAG: maintain one table (maintenance/runner.py), unless a pipeline writing it
is running. Heavy imports (pyiceberg, Trino) happen inside `execute` only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

BUSY_STATES = ["queued", "running"]


class MaintainTableOperator(BaseOperator):
    ui_color = "#fef3c7"
    akko_iceberg_writer = True  # guardrails: AKKO's own commits (compaction, expiry, retention)
    template_fields = ()

    def __init__(self, *, table: str, writers: list[str], project_dir: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.table = table
        self.writers = writers  # the DAGs of the pipelines writing the table
        self.project_dir = project_dir

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from akko_orchestrator.config.project import load_project
        from akko_orchestrator.maintenance.run import maintain

        busy = self.busy_writers(context["ti"])
        if busy:
            # Deferred to the next run: the writer's commits would race with the rewrite (one of them would fail).
            raise AirflowSkipException(
                f"{self.table}: skipped, its pipeline(s) {', '.join(busy)} are running"
            )
        from akko_orchestrator.guardrails.iceberg import akko_writer_scope

        with akko_writer_scope(f"maintenance.{self.table}"):
            [report] = maintain(load_project(Path(self.project_dir)), [self.table])
        self.log.info("%s: %s", self.table, report.summary())
        if report.status == "failed":
            from akko_orchestrator.errors import AkkoError

            raise AkkoError(f"{self.table}: {report.reason}")
        if report.status == "skipped":
            raise AirflowSkipException(f"{self.table}: {report.reason}")
        return report.as_dict()

    def busy_writers(self, ti: Any) -> list[str]:
        """Writer DAGs with a queued or running run (the Task SDK's `get_dr_count`, answered by the API server)."""
        return [dag_id for dag_id in self.writers if ti.get_dr_count(dag_id=dag_id, states=BUSY_STATES) > 0]
