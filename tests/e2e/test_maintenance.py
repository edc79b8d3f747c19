"""Iceberg maintenance on the embedded lakehouse: a table written by 200 small appends (AKKO's writer, each with
its run identity) is compacted by the `akko_maintenance` DAG through real Airflow, reads the same through DuckDB
before and after, and a retry of a recent run still finds its publish; then, with the clock moved on, retention
of audit branches, expiry that keeps what a branch needs, and orphan removal that spares young files."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from akko_orchestrator.config.project import Project, load_project
from akko_orchestrator.lakehouse.catalog import open_catalog
from akko_orchestrator.lakehouse.wap import audit_branch, find_published
from akko_orchestrator.lakehouse.writer import WriteResult, write_table
from akko_orchestrator.spec.models import Output
from tests.conftest import copy_project

pytestmark = pytest.mark.e2e
APPENDS = 200
TABLE = "demo.sales"
PIPELINE, STEP = "akko_e2e_pipeline", "load_sales"
MAINTENANCE = """
maintenance:
  schedule: "@daily"
  compact: {target_file_size: 64MB, min_input_files: 5}
  tables:
    banking.transactions: {enabled: false}
"""
QUERIES = [
    "SELECT region, count(*) AS n, sum(amount) AS total, min(id) AS first FROM demo.sales GROUP BY region "
    "ORDER BY region",
    "SELECT * FROM demo.sales ORDER BY id",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = copy_project(tmp_path_factory.mktemp("maintenance") / "project")
    (root / "akko.yaml").write_text((root / "akko.yaml").read_text() + MAINTENANCE)
    saved = {k: os.environ.get(k) for k in ("AKKO_PROJECT_DIR", "AKKO_STATE_DIR", "AKKO_PROFILE")}
    os.environ.update(AKKO_PROJECT_DIR=str(root), AKKO_STATE_DIR=str(root / ".akko"))
    os.environ.pop("AKKO_PROFILE", None)
    yield load_project(root)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def identity(run: int) -> dict[str, str]:
    return {"akko.pipeline": PIPELINE, "akko.step": STEP, "akko.run-id": f"run-{run}", "akko.try-number": "1"}


def small_appends(catalog, name: str, count: int) -> None:
    """`count` commits of two rows each, with a run identity: the first through AKKO's writer (creating the table,
    partitioned by region), the others as plain pyiceberg appends on the same table object (no reload between
    commits: the fast way to 200 snapshots)."""
    table = None
    for run in range(count):
        rows = pa.table(
            {
                "id": pa.array([2 * run, 2 * run + 1], pa.int64()),
                "region": ["eu", "us"] if run % 3 else ["apac", "eu"],
                "amount": pa.array([run * 1.25, run * 0.5], pa.float64()),
            }
        )
        if table is None:
            write_table(
                catalog, Output(table=name, mode="append", partition_by=["region"]), rows, identity(run)
            )
            table = catalog.load_table(name)
        else:
            table.append(rows, snapshot_properties=identity(run))


def query_all(project: Project) -> list[pa.Table]:
    from akko_orchestrator.engines.registry import create_engine

    engine = create_engine("duckdb", project, open_catalog(project))
    try:
        return [engine.query(sql, [TABLE]) for sql in QUERIES]
    finally:
        engine.close()


def test_the_maintenance_dag_compacts_200_appends_with_identical_results(project: Project) -> None:
    from akko_orchestrator.local_airflow.inprocess import run_maintenance
    from akko_orchestrator.runtime.context import StepContext
    from akko_orchestrator.runtime.publish import guarded_write

    catalog = open_catalog(project)
    small_appends(catalog, TABLE, APPENDS)
    table = catalog.load_table(TABLE)
    assert int(table.current_snapshot().summary["total-data-files"]) >= APPENDS
    before = query_all(project)

    report = run_maintenance(project)

    assert report.state == "success", report.failed
    result = report.result_of("demo__sales")
    assert result["status"] == "done" and result["compacted"][0] >= APPENDS, result
    assert result["files_after"] <= 3  # one file per region
    assert report.result_of("banking__transactions") is None  # enabled: false: skipped
    after = query_all(project)
    for old, new in zip(before, after, strict=True):
        assert new.equals(old)
    table = catalog.load_table(TABLE)
    assert table.properties["akko.last-maintenance-ops"].startswith(f"compact {result['compacted'][0]}->")
    dt.datetime.strptime(table.properties["akko.last-maintenance"], "%Y-%m-%dT%H:%M:%SZ")
    assert table.current_snapshot().summary.operation.value == "replace"
    _cli_shows_it(project, result["files_after"])

    # exactly-once after maintenance: a retry of the last run finds its publish and writes nothing
    ctx = StepContext(project=project, pipeline_id=PIPELINE, step_id=STEP, run_id=f"run-{APPENDS - 1}")
    head = table.current_snapshot().snapshot_id

    def must_not_write(branch: str | None) -> WriteResult:
        raise AssertionError("a retry of a published run wrote again")

    retried = guarded_write(ctx, Output(table=TABLE, mode="append"), [], must_not_write)
    assert retried.already_published
    assert catalog.load_table(TABLE).current_snapshot().snapshot_id == head

    # while a run of the writer's DAG is queued (or running), its table is left alone
    with _queued_run(PIPELINE):
        again = run_maintenance(project)
    [task] = [t for t in again.tasks if t.task_id == "demo__sales"]
    assert task.state == "skipped", task
    assert catalog.load_table(TABLE).current_snapshot().snapshot_id == head


@contextlib.contextmanager
def _queued_run(dag_id: str) -> Iterator[None]:
    """A queued run of `dag_id` in Airflow's metadata DB (its DAG was synced there by the first dag.test())."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    run_id = "manual__writer_in_flight"
    with create_session() as session:
        session.add(
            DagRun(
                dag_id=dag_id,
                run_id=run_id,
                run_after=dt.datetime.now(dt.UTC),
                state=DagRunState.QUEUED,
                run_type=DagRunType.MANUAL,
            )
        )
    try:
        yield
    finally:
        with create_session() as session:
            session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).delete()


def test_later_runs_keep_what_branches_need_and_spare_young_files(project: Project) -> None:
    from akko_orchestrator.maintenance.run import maintain

    catalog = open_catalog(project)
    # a rejected quality gate: rows on an audit branch cut from main's head
    branch = audit_branch(PIPELINE, STEP)
    rejected = pa.table(
        {"id": pa.array([-1], pa.int64()), "region": ["eu"], "amount": pa.array([-1.0], pa.float64())}
    )
    write_table(catalog, Output(table=TABLE, mode="append"), rejected, identity(999), branch=branch)
    table = catalog.load_table(TABLE)
    branch_head = table.snapshot_by_name(branch).snapshot_id
    old_orphan, young_file = (
        _stray(table.location(), "old.parquet", days=4),
        _stray(table.location(), "new.parquet"),
    )
    now = dt.datetime.now(dt.UTC)

    [busy] = maintain(project, [TABLE])  # the branch was cut a moment ago: it may be a write being checked
    assert busy.status == "skipped" and branch in busy.reason, busy

    [soon] = maintain(project, [TABLE], now=now + dt.timedelta(hours=2))  # the branch is 2h old: kept
    table = catalog.load_table(TABLE)
    assert soon.status == "done" and soon.orphans == 1, soon
    assert not old_orphan.exists() and young_file.exists()  # a file this young may be a commit in flight
    assert table.snapshot_by_name(branch).snapshot_id == branch_head
    assert table.scan(snapshot_id=branch_head).to_arrow().num_rows == 2 * APPENDS + 1

    [later] = maintain(project, [TABLE], now=now + dt.timedelta(days=8))  # past the branch's 7d retention
    table = catalog.load_table(TABLE)
    assert later.branches_removed == [branch] and later.expired > 0, later
    assert branch_head not in {s.snapshot_id for s in table.metadata.snapshots}
    assert len(table.metadata.snapshots) == 10  # retain_last
    assert find_published(table, identity(APPENDS - 1)) is not None  # still within the last 10
    assert table.scan().to_arrow().num_rows == 2 * APPENDS


def test_check_results_past_retention_are_deleted(project: Project) -> None:
    from akko_orchestrator.maintenance.run import maintain
    from akko_orchestrator.quality.history import HISTORY_TABLE, SCHEMA

    now = dt.datetime.now(dt.UTC)
    ages = [200, 120, 91, 30, 1]  # days; the default retention is 90d
    rows = [
        {"checked_at": now - dt.timedelta(days=d), "check_name": f"c{d}", "status": "passed"} for d in ages
    ]
    catalog = open_catalog(project)
    write_table(
        catalog, Output(table=HISTORY_TABLE, mode="append"), pa.Table.from_pylist(rows, schema=SCHEMA)
    )
    [report] = maintain(project, [HISTORY_TABLE])
    assert report.check_rows_deleted == 3, report
    kept = catalog.load_table(HISTORY_TABLE).scan().to_arrow()["check_name"].to_pylist()
    assert sorted(kept) == ["c1", "c30"]


def _stray(location: str, name: str, days: int = 0) -> Path:
    path = Path(location.removeprefix("file://")) / "data" / name
    path.write_bytes(b"not referenced")
    stamp = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def _cli_shows_it(project: Project, files: int) -> None:
    """`akko tables` shows the files and the last maintenance; `akko maintain --dry-run --json` plans only."""
    import json

    from typer.testing import CliRunner

    from akko_orchestrator.cli.main import app

    def cli(*args: str) -> dict:
        done = CliRunner().invoke(app, ["--project", str(project.root), *args])
        assert done.exit_code == 0, done.output
        return json.loads(done.stdout)

    [listed] = [t for t in cli("tables", "--json")["tables"] if t["table"] == TABLE]
    assert listed["data_files"] == files and listed["last_maintenance_ops"].startswith("compact "), listed
    head = open_catalog(project).load_table(TABLE).current_snapshot().snapshot_id
    planned = cli("maintain", TABLE, "--dry-run", "--json")
    assert planned["dry_run"] and [t["status"] for t in planned["tables"]] == ["dry-run"], planned
    assert open_catalog(project).load_table(TABLE).current_snapshot().snapshot_id == head
