"""Issue 21, class 8 (writes outside the gate): a step's code commits nothing itself, through any catalog or
thread, even inside AKKO's writer scope; through Airflow's real retry (`retries: 1`), an append-then-raise leaves
nothing and the rows a step returns are written once; a Spark step whose earlier try published runs nothing again.
Real components: the demo project with its teams, pyiceberg on SQLite, Airflow's `dag.test()` for the retries (no
Spark: the Spark case stops before a session is needed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from akko_orchestrator.config.project import Project
from akko_orchestrator.lakehouse.catalog import open_catalog
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.runtime.step_api import StepWriteRefused
from akko_orchestrator.spec.models import Output
from tests.security.step_code_project import BANKING, make_project, planned, state, step_ctx


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    yield from make_project(tmp_path_factory.mktemp("step_code_writes"))


def test_no_commit_while_step_code_runs_even_in_akkos_writer_scope(project: Project) -> None:
    """The second layer alone: inside the user-code scope (nested in the writer scope, as in an AKKO operator),
    a pyiceberg commit through the platform's own catalog is refused; after the code returned, AKKO's writer
    commits as before."""
    from akko_orchestrator.guardrails.iceberg import akko_writer_scope, in_user_code, user_code_scope

    catalog = open_catalog(project)
    before = state(project, "demo.ledger")
    with akko_writer_scope("step_code.scope"):
        with user_code_scope("step_code.scope"), pytest.raises(StepWriteRefused, match="demo.ledger"):
            catalog.load_table("demo.ledger").append(pa.table({"id": pa.array([8], pa.int64())}))
        assert not in_user_code()
        assert state(project, "demo.ledger") == before
        written = write_table(
            catalog, Output(table="demo.scoped"), pa.table({"id": pa.array([1], pa.int64())})
        )
    assert written.rows == 1


def test_a_spark_step_published_in_an_earlier_try_runs_nothing_again(
    project: Project, tmp_path: Path
) -> None:
    """Exactly-once for Spark steps, also for a function that commits its table itself (its commits carry the
    run's identity): the retry of a try that published finds its snapshot before the script is even loaded."""
    from akko_orchestrator.runtime.spark_steps import run_spark
    from akko_orchestrator.spec.models import SparkStep

    script = tmp_path / "never.py"
    script.write_text("raise RuntimeError('the script ran again')\n")
    spec_file = tmp_path / "spec.yaml"
    step = SparkStep(id="wrote_itself", kind="spark", script="never.py", output=Output(table="demo.by_spark"))
    first = step_ctx(project, step="wrote_itself", run_id="manual__1", try_number=1)
    write_table(first.catalog, Output(table="demo.by_spark"), BANKING, first.snapshot_properties)
    retry = step_ctx(project, step="wrote_itself", run_id="manual__1", try_number=2)
    result = run_spark(retry, planned(step), spec_file)  # type: ignore[arg-type]
    assert result.already_published and result.rows == 2  # type: ignore[union-attr]
    assert retry.lineage.outputs["demo.by_spark"].already_published
    other_run = step_ctx(project, step="wrote_itself", run_id="manual__2")
    with pytest.raises(RuntimeError, match="the script ran again"):
        run_spark(other_run, planned(step), spec_file)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ through Airflow's retries


def _airflow_run(project: Project, pipeline: str) -> Any:
    from akko_orchestrator.local_airflow.inprocess import run_pipeline

    return run_pipeline(project, pipeline)


def _write_spec(project: Project, name: str, steps: str) -> None:
    marks = project.root / ".akko" / "marks" / name
    text = (
        f"pipeline: {name}\nowner: tests\nteam: demo\nschedule: manual\n"
        "defaults: {retries: 1, retry_delay: 1s}\nsteps:\n"
        + steps.format(marks=marks, catalog_uri=project.catalog_uri, warehouse=project.warehouse)
    )
    (project.root / "pipelines" / f"{name}.yaml").write_text(text)


def _tries(project: Project, name: str) -> list[str]:
    return sorted(p.name for p in (project.root / ".akko" / "marks" / name).iterdir())


@pytest.mark.e2e
def test_append_then_raise_with_retries_leaves_nothing(project: Project) -> None:
    """The issue's probe through Airflow: the append is refused (the way to write named), the step fails once
    and for good (a refusal is not retried: it would be refused again), demo.ledger is as it was."""
    _write_spec(
        project,
        "append_then_raise",
        "  - id: append\n    kind: python\n    function: step_code_functions:append_then_raise\n"
        "    params: {{marks: '{marks}'}}\n",
    )
    before = state(project, "demo.ledger")
    report = _airflow_run(project, "append_then_raise")
    assert report.state == "failed"
    error = " ".join(t.error or "" for t in report.failed)
    assert "table demo.ledger (read-only).append refused" in error and "`output:`" in error, error
    assert _tries(project, "append_then_raise") == ["append.1"]
    assert state(project, "demo.ledger") == before


@pytest.mark.e2e
def test_careless_code_retried_by_airflow_writes_its_rows_once(project: Project) -> None:
    """Writes the code tries itself (its ctx, its own catalog, a thread) are refused and swallowed; its first try
    fails, Airflow retries it, the second returns rows: demo.ledger unchanged, the output written once."""
    _write_spec(
        project,
        "careless_retried",
        "  - id: careless\n    kind: python\n    function: step_code_functions:careless_then_retried\n"
        "    params: {{marks: '{marks}', catalog_uri: '{catalog_uri}', warehouse: '{warehouse}'}}\n"
        "    output: {{table: demo.retried, mode: append}}\n",
    )
    before = state(project, "demo.ledger")
    report = _airflow_run(project, "careless_retried")
    assert report.state == "success", report.failed
    assert _tries(project, "careless_retried") == ["careless.1", "careless.2"]
    assert state(project, "demo.ledger") == before
    retried = open_catalog(project).load_table("demo.retried")
    assert sorted(retried.scan().to_arrow().column("id").to_pylist()) == [1, 2, 3]
    assert len(retried.snapshots()) == 1
    assert retried.current_snapshot().summary["akko.try-number"] == "2"
