"""End to end through real Airflow (in-process dag.test) on the embedded lakehouse: tables, snapshots, mapped
tasks, idempotent re-runs, and failed steps that leave every table as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from akko_orchestrator.config.project import Project, load_project
from akko_orchestrator.lakehouse.catalog import open_catalog
from akko_orchestrator.local_airflow.inprocess import RunReport, run_pipeline
from tests.conftest import copy_project

pytestmark = pytest.mark.e2e
HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """One project (and one Airflow metadata DB) for the module: Airflow reads its configuration once per process."""
    root = copy_project(tmp_path_factory.mktemp("e2e") / "project", teams=True)  # as shipped: with tenancy
    for extra in (HERE / "pipelines").iterdir():
        shutil.copy(extra, root / "pipelines" / extra.name)
    saved = {k: os.environ.get(k) for k in ("AKKO_PROJECT_DIR", "AKKO_STATE_DIR", "AKKO_PROFILE")}
    os.environ.update(AKKO_PROJECT_DIR=str(root), AKKO_STATE_DIR=str(root / ".akko"))
    os.environ.pop("AKKO_PROFILE", None)
    yield load_project(root)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def run(project: Project, pipeline: str) -> RunReport:
    return run_pipeline(project, pipeline)


def snapshot_id(project: Project, table: str) -> int | None:
    catalog = open_catalog(project)
    if not catalog.table_exists(table):
        return None
    snapshot = catalog.load_table(table).current_snapshot()
    return snapshot.snapshot_id if snapshot else None


def read(project: Project, table: str, key: str):
    return open_catalog(project).load_table(table).scan().to_arrow().sort_by(key)


def test_demo_pipeline_writes_partitioned_sales_and_is_idempotent(project: Project) -> None:
    report = run(project, "akko_e2e_pipeline")
    assert report.state == "success", report.failed
    sales = read(project, "demo.sales", "sale_id")
    assert sales.num_rows == 12
    rows = sales.to_pylist()
    assert all(r["revenue"] == r["quantity"] * r["unit_price"] for r in rows)
    table = open_catalog(project).load_table("demo.sales")
    assert [f.name for f in table.spec().fields] == ["region"]
    summary = table.current_snapshot().summary
    assert summary["akko.run-id"] == report.run_id and summary["akko.step"] == "transform_sales"
    verify = report.result_of("verify_sales")["queries"]
    assert verify["row_count"]["rows"] == [[12]]
    assert sorted(r[0] for r in verify["revenue_by_region"]["rows"]) == ["APAC", "EU", "US"]
    assert report.result_of("summary")["result"]["total_revenue"] == round(sum(r["revenue"] for r in rows), 2)

    again = run(project, "akko_e2e_pipeline")
    assert again.state == "success"
    assert read(project, "demo.sales", "sale_id").to_pylist() == rows
    assert read(project, "demo.raw_sales", "sale_id").num_rows == 12


def test_asset_triggered_mart(project: Project) -> None:
    report = run(project, "sales_by_region_mart")
    assert report.state == "success"
    mart = read(project, "marts.revenue_by_region", "region").to_pylist()
    sales = read(project, "demo.sales", "sale_id").to_pylist()
    assert [m["region"] for m in mart] == ["APAC", "EU", "US"]
    assert sum(m["sales"] for m in mart) == len(sales)


def test_fan_out_maps_one_task_per_file_and_commits_once(project: Project) -> None:
    report = run(project, "orders_fanout_ingest")
    assert report.state == "success"
    mapped = [t for t in report.tasks if t.task_id == "load_orders.load_file"]
    assert sorted(t.map_index for t in mapped) == [0, 1, 2]
    orders = read(project, "demo.orders", "order_id").to_pylist()
    assert [o["order_id"] for o in orders] == list(range(1, 11))  # overlapping ids merged, last file wins
    assert next(o for o in orders if o["order_id"] == 4)["order_ts"].day == 2
    table = open_catalog(project).load_table("demo.orders")
    # three files, one data commit (the table's checks made it create the table empty first, then publish)
    data_commits = [s for s in table.snapshots() if int(s.summary.get("added-records") or 0) > 0]
    assert len(data_commits) == 1 and data_commits[0].snapshot_id == table.current_snapshot().snapshot_id
    assert read(project, "marts.daily_orders", "order_date").num_rows == 3


@pytest.mark.parametrize(
    ("pipeline", "table", "reason"),
    [
        ("failing_sql", "demo.sales", "no_such_column"),
        ("schema_conflict", "demo.sales", "incompatible type change refused"),
        ("missing_files", "demo.raw_sales", "no file matches"),
        ("corrupt_fanout", "demo.orders", "b.jsonl:1: not valid JSON"),
    ],
)
def test_failed_step_leaves_tables_unchanged(
    project: Project, pipeline: str, table: str, reason: str
) -> None:
    if snapshot_id(project, table) is None:
        run(
            project,
            "akko_e2e_pipeline" if table.startswith("demo.s") or "raw" in table else "orders_fanout_ingest",
        )
    before = snapshot_id(project, table)
    rows_before = read(
        project, table, read(project, table, "region" if "sales" in table else "order_id").column_names[0]
    )
    report = run(project, pipeline)
    assert report.state == "failed"
    assert any(reason in (t.error or "") for t in report.failed), [t.error for t in report.failed]
    assert snapshot_id(project, table) == before
    assert read(project, table, rows_before.column_names[0]).equals(rows_before)


def test_killed_task_process_commits_nothing(project: Project) -> None:
    if snapshot_id(project, "demo.sales") is None:
        run(project, "akko_e2e_pipeline")
    before = snapshot_id(project, "demo.sales")
    env = {**os.environ, "AKKO_PROJECT_DIR": str(project.root), "AKKO_STATE_DIR": str(project.state_dir)}
    akko = Path(sys.executable).parent / "akko"
    done = subprocess.run(
        [str(akko), "run", "killed_writer"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    assert snapshot_id(project, "demo.sales") == before
    assert read(project, "demo.sales", "sale_id").num_rows == 12


def test_cli_run_failure_names_the_step(project: Project) -> None:
    env = {**os.environ, "AKKO_PROJECT_DIR": str(project.root), "AKKO_STATE_DIR": str(project.state_dir)}
    akko = Path(sys.executable).parent / "akko"
    done = subprocess.run(
        [str(akko), "run", "missing_files"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1
    assert "step load_nothing" in done.stderr and "no file matches" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_cli_tables_and_query_inspect_the_lakehouse(project: Project) -> None:
    from typer.testing import CliRunner

    from akko_orchestrator.cli.console import console
    from akko_orchestrator.cli.main import app

    console.width = 200  # rich wraps at 80 columns when not on a terminal

    if snapshot_id(project, "demo.sales") is None:
        run(project, "akko_e2e_pipeline")
    runner = CliRunner()
    listing = runner.invoke(app, ["tables"], terminal_width=200)
    assert listing.exit_code == 0, listing.output
    assert "demo.sales" in listing.output and "identity(region)" in listing.output
    detail = runner.invoke(app, ["tables", "demo.sales"], terminal_width=200)
    assert (
        detail.exit_code == 0
        and "revenue" in detail.output
        and "akko_e2e_pipeline/transform_sales" in detail.output
    )
    answer = runner.invoke(app, ["query", "SELECT count(*) AS n FROM iceberg.demo.sales"], terminal_width=200)
    assert answer.exit_code == 0 and "12" in answer.output
    bad = runner.invoke(app, ["query", "SELEC 1"])
    assert bad.exit_code == 1 and "does not parse as Trino" in bad.output


def _asset_events(run_id: str) -> list[tuple[str, str]]:
    """(source task, asset URI) of the asset events a run emitted, from Airflow's metadata DB."""
    import sqlalchemy as sa
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = (
            sa.select(AssetEvent.source_task_id, AssetModel.uri)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetEvent.source_run_id == run_id)
        )
        return sorted((task, uri) for task, uri in session.execute(query).all())


def test_failing_checks_keep_main_and_trigger_nothing_downstream(project: Project) -> None:
    """Write-audit-publish through Airflow: a good run publishes demo.sales and emits its asset event; a run whose
    data breaks demo.sales' checks leaves main as it was, emits no event for it (the asset-triggered mart does not
    run), skips the steps after it, and keeps the rejected rows on the audit branch."""
    good = run_pipeline(project, "akko_e2e_pipeline")
    assert good.state == "success", good.failed
    assert any(t.endswith("demo/sales") for _, t in _asset_events(good.run_id))
    transform = good.result_of("transform_sales")
    assert transform["checks"]["failed"] == [] and transform["checks"]["passed"] >= 6
    before, rows_before = snapshot_id(project, "demo.sales"), read(project, "demo.sales", "sale_id")
    mart_before = snapshot_id(project, "marts.revenue_by_region")

    bad = run_pipeline(project, "akko_e2e_pipeline", conf={"bad_rows": 3})
    assert bad.state == "failed"
    states = {t.task_id: t.state for t in bad.tasks}
    assert states["transform_sales"] == "failed"
    assert states["verify_sales"] == states["summary"] == "upstream_failed"
    error = next(t.error for t in bad.tasks if t.task_id == "transform_sales")
    assert "unique_sale_id" in error and "accepted_values_region" in error and "MARS" in error
    assert [(task, uri) for task, uri in _asset_events(bad.run_id) if uri.endswith("demo/sales")] == []
    assert snapshot_id(project, "demo.sales") == before
    assert read(project, "demo.sales", "sale_id").equals(rows_before)
    assert snapshot_id(project, "marts.revenue_by_region") == mart_before
    sales = open_catalog(project).load_table("demo.sales")
    branch = "akko_audit__akko_e2e_pipeline__transform_sales"
    assert sales.scan().use_ref(branch).to_arrow().num_rows == 15  # kept for inspection
