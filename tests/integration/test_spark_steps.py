"""`spark` steps on the embedded profile, for real: `akko run` starts the project's local Spark Connect server
on demand (Java, the Iceberg Spark runtime and the SQLite JDBC driver), over the embedded catalog itself.

- files of the project read by Spark, written natively as a partitioned Iceberg table, then aggregated from
  that table; every snapshot records pipeline, step, run id and try number;
- the same tables read by DuckDB (`akko query`) and pyiceberg: one catalog for every engine;
- MERGE INTO with a new column (schema evolves), a function that writes its table itself;
- a failing function: a one-line Spark error naming the endpoint and profile, no JVM trace, no table change;
- an unreachable Spark Connect endpoint: fails at once naming it and the profile, no table change;
- `checks` (write-audit-publish): Spark writes the audit branch only (`ns.table.branch_<name>`), the checks run
  there, then main is fast-forwarded; a failing `error` check leaves main as it was and the rows on the branch; a
  merge's snapshot carries the run identity too; a function that writes its table itself cannot have checks;
- `akko stack down` stops the on-demand server, leaving no process.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.conftest import copy_project  # noqa: E402
from tests.fixtures.cli import akko, cli_env  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]
HERE = Path(__file__).parent


@dataclass
class SparkProject:
    root: Path
    state: Path

    def env(self, **extra: str) -> dict[str, str]:
        return cli_env(self.root, self.state, **extra)

    def catalog(self):
        import os

        from akko_orchestrator.config.project import load_project
        from akko_orchestrator.lakehouse.catalog import open_catalog

        saved = {k: os.environ.get(k) for k in ("AKKO_STATE_DIR",)}
        os.environ["AKKO_STATE_DIR"] = str(self.state)
        try:
            return open_catalog(load_project(self.root, profile="local"))
        finally:
            for key, value in saved.items():
                os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)

    def snapshot(self, table: str) -> int | None:
        catalog = self.catalog()
        if not catalog.table_exists(table):
            return None
        current = catalog.load_table(table).current_snapshot()
        return current.snapshot_id if current else None


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkProject]:
    root = copy_project(tmp_path_factory.mktemp("spark") / "project")
    for spec in (HERE / "pipelines").iterdir():
        shutil.copy(spec, root / "pipelines" / spec.name)
    with (root / "akko.yaml").open("a") as config:  # an embedded profile whose Spark endpoint does not answer
        config.write("\n  broken_spark:\n    engine: embedded\n    spark: {remote: 'sc://127.0.0.1:9'}\n")
    spark = SparkProject(root, root / ".akko")
    try:
        yield spark
    finally:
        akko("stack", "down", env=spark.env())


def run(project: SparkProject, pipeline: str, *args: str) -> str:
    result = akko("run", pipeline, *args, env=project.env())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_spark_reads_files_and_writes_iceberg_natively(project: SparkProject) -> None:
    output = run(project, "spark_orders")
    assert "load_orders" in output and "daily" in output
    catalog = project.catalog()
    orders = catalog.load_table("spark.orders")
    assert orders.scan().to_arrow().num_rows == 12
    assert [str(f.transform) for f in orders.spec().fields] == ["day"]
    summary = orders.current_snapshot().summary.additional_properties
    assert summary["akko.pipeline"] == "spark_orders" and summary["akko.step"] == "load_orders"
    assert summary["akko.run-id"].startswith("manual__") and summary["akko.try-number"] == "1"
    daily = catalog.load_table("spark.daily_orders").scan().to_arrow()
    assert daily.num_rows == 3 and sum(daily["orders"].to_pylist()) == 12
    # A second run overwrites (one new snapshot), never duplicates.
    before = len(orders.snapshots())
    run(project, "spark_orders")
    orders = project.catalog().load_table("spark.orders")
    assert orders.scan().to_arrow().num_rows == 12 and len(orders.snapshots()) == before + 1


def test_duckdb_reads_what_spark_wrote(project: SparkProject) -> None:
    result = akko(
        "query", "SELECT count(*) AS n, round(sum(amount), 2) AS total FROM spark.orders", env=project.env()
    )
    assert result.returncode == 0, result.stderr
    table = project.catalog().load_table("spark.orders").scan().to_arrow()
    total = round(sum(table["amount"].to_pylist()), 2)
    assert "12" in result.stdout and f"{total:g}" in result.stdout.replace(",", "")


def test_spark_merge_adds_a_column_and_upserts(project: SparkProject) -> None:
    """The order files hold 12 rows (ids 4 and 7 twice, on two days); the merge updates id 1 and inserts 100."""
    run(project, "spark_orders_merge")
    rows = project.catalog().load_table("spark.orders").scan().to_arrow().to_pylist()
    assert len(rows) == 13
    by_id = {r["order_id"]: r for r in rows}
    assert by_id[1]["status"] == "delivered" and by_id[1]["channel"] == "web"
    assert by_id[100]["channel"] == "shop" and by_id[2]["channel"] is None


def test_function_that_writes_its_table_itself(project: SparkProject) -> None:
    run(project, "spark_orders_self")
    orders = project.catalog().load_table("spark.orders").scan().to_arrow().to_pylist()
    big = project.catalog().load_table("spark.big_orders").scan().to_arrow()
    assert big.num_rows == sum(1 for r in orders if r["amount"] > 30) > 0
    # its own commit carries the run's identity (session settings while the function runs): a retry of a try
    # that published finds it and writes nothing again (tests/security/test_step_code_writes.py)
    summary = _head_summary(project, "spark.big_orders")
    assert summary["akko.pipeline"] == "spark_orders_self" and summary["akko.step"] == "write_itself", summary
    assert summary["akko.run-id"].startswith("manual__") and summary["akko.try-number"] == "1", summary


def test_failing_function_changes_nothing_and_says_why(project: SparkProject) -> None:
    before = project.snapshot("spark.orders")
    result = akko("run", "spark_orders_fail", env=project.env())
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "no_such_column" in output and "profile 'local'" in output and "sc://127.0.0.1:" in output
    assert "JVM stacktrace" not in output
    assert project.snapshot("spark.orders") == before


def test_unreachable_spark_fails_fast_naming_endpoint_and_profile(project: SparkProject) -> None:
    before = project.snapshot("spark.orders")
    result = akko("run", "spark_orders", "--profile", "broken_spark", env=project.env())
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Spark Connect at sc://127.0.0.1:9 (profile 'broken_spark') is unreachable" in output
    assert project.snapshot("spark.orders") == before


def _head_summary(project: SparkProject, table: str) -> dict[str, str]:
    snapshot = project.catalog().load_table(table).current_snapshot()
    return snapshot.summary.additional_properties


def _audit_refs(project: SparkProject, table: str) -> list[str]:
    from akko_orchestrator.lakehouse.wap import audit_branches

    return audit_branches(project.catalog().load_table(table))


def test_spark_checks_pass_and_publish(project: SparkProject) -> None:
    """A new table (created empty by Spark, partitioned), then the overwrite and append paths on existing tables."""
    for attempt in (1, 2):
        output = run(project, "spark_orders_checked")
        catalog = project.catalog()
        orders = catalog.load_table("spark.checked_orders")
        assert orders.scan().to_arrow().num_rows == 12
        assert [str(f.transform) for f in orders.spec().fields] == ["day"]
        assert _audit_refs(project, "spark.checked_orders") == []
        assert _audit_refs(project, "spark.checked_daily") == []
        summary = _head_summary(project, "spark.checked_orders")
        assert summary["akko.pipeline"] == "spark_orders_checked" and summary["akko.step"] == "load_checked"
        assert summary["akko.run-id"].startswith("manual__") and summary["added-records"] == "12"
        daily = catalog.load_table("spark.checked_daily").scan().to_arrow()
        assert daily.num_rows == 3 * attempt and sum(daily["orders"].to_pylist()) == 12 * attempt
        assert _head_summary(project, "spark.checked_daily")["akko.step"] == "daily_checked"
        assert "4 passed" in output and "3 passed" in output, output


def test_spark_failing_check_leaves_main_unchanged(project: SparkProject) -> None:
    before = project.snapshot("spark.checked_orders")
    rows_before = project.catalog().load_table("spark.checked_orders").scan().to_arrow().num_rows
    result = akko("run", "spark_orders_checked_fail", env=project.env())
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "amount_below_50" in output and "check(s) failed on spark.checked_orders" in output
    assert project.snapshot("spark.checked_orders") == before
    table = project.catalog().load_table("spark.checked_orders")
    assert table.scan().to_arrow().num_rows == rows_before == 12
    branch = "akko_audit__spark_orders_checked_fail__append_checked"
    assert _audit_refs(project, "spark.checked_orders") == [branch]
    audited = table.scan().use_ref(branch).to_arrow()
    assert audited.num_rows == 24 and max(audited["amount"].to_pylist()) > 50
    head = table.snapshot_by_name(branch)
    assert head.parent_snapshot_id == before
    assert head.summary.additional_properties["akko.step"] == "append_checked"


def _latest_events(project: SparkProject, job: str, ended: str) -> dict[str, dict]:
    """The events, by type, of a job's latest run that ended with `ended` (COMPLETE or FAIL), from the local event
    log every run writes (the default `lineage` transport, `file`)."""
    import json

    runs: dict[str, dict[str, dict]] = {}
    log = project.state / "lineage" / "events.jsonl"
    for line in log.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["job"]["name"] == job:
            runs.setdefault(event["run"]["runId"], {})[event["eventType"]] = event
    return [events for events in runs.values() if ended in events][-1]


def _lakehouse(datasets: list[dict], table: str) -> dict:
    (found,) = [
        d for d in datasets if d["namespace"].startswith("iceberg://") and d["name"].endswith(f".{table}")
    ]
    return found


def test_spark_steps_emit_table_level_lineage(project: SparkProject) -> None:
    """Spark steps' lineage is table-level (openlineage-spark has no Spark Connect support): the files and tables
    a step read, its table with the snapshot Spark wrote, its schema, rows, checks and publish decision."""
    catalog = project.catalog()
    load = _latest_events(project, "spark_orders.load_orders", "COMPLETE")
    assert set(load) == {"START", "COMPLETE"}
    (files,) = [d for d in load["COMPLETE"]["inputs"] if d["namespace"] == "file"]
    assert files["name"].endswith("orders/*.jsonl")
    orders = _lakehouse(load["COMPLETE"]["outputs"], "spark.orders")
    snapshot = catalog.load_table("spark.orders").snapshot_by_id(
        int(orders["facets"]["version"]["datasetVersion"])
    )
    assert snapshot.summary.additional_properties["akko.step"] == "load_orders"
    assert {"order_id", "amount", "order_ts"} <= {f["name"] for f in orders["facets"]["schema"]["fields"]}
    assert orders["outputFacets"]["outputStatistics"]["rowCount"] == 12
    daily = _latest_events(project, "spark_orders.daily", "COMPLETE")["COMPLETE"]
    read = _lakehouse(daily["inputs"], "spark.orders")
    assert read["facets"]["version"]["datasetVersion"] == orders["facets"]["version"]["datasetVersion"]
    assert (
        _lakehouse(daily["outputs"], "spark.daily_orders")["outputFacets"]["outputStatistics"]["rowCount"]
        == 3
    )
    assert daily["run"]["facets"]["akko"]["step"] == "daily"
    failed = _latest_events(project, "spark_orders_checked_fail.append_checked", "FAIL")["FAIL"]
    checked = _lakehouse(failed["outputs"], "spark.checked_orders")
    iceberg = checked["facets"]["akko_iceberg"]
    branch = "akko_audit__spark_orders_checked_fail__append_checked"
    head = catalog.load_table("spark.checked_orders").metadata.refs[branch].snapshot_id
    assert (iceberg["published"], iceberg["auditBranch"], iceberg["snapshotId"]) == (False, branch, str(head))
    outcome = {a["name"]: a["success"] for a in checked["facets"]["dataQualityAssertions"]["assertions"]}
    assert outcome["amount_below_50"] is False and outcome["not_null_order_id"] is True


def test_spark_merge_with_checks_publishes_with_the_run_identity(project: SparkProject) -> None:
    before = project.snapshot("spark.checked_orders")
    run(project, "spark_orders_checked_merge")
    table = project.catalog().load_table("spark.checked_orders")
    rows = table.scan().to_arrow().to_pylist()
    assert len(rows) == 13
    by_id = {r["order_id"]: r for r in rows}
    assert by_id[1]["status"] == "delivered" and by_id[100]["channel"] == "shop"
    # Spark's MERGE commit itself carries the run identity (session snapshot properties): no stamp needed.
    head = table.current_snapshot()
    summary = head.summary.additional_properties
    assert summary["akko.step"] == "upsert_checked" and summary["akko.run-id"].startswith("manual__")
    assert any(k.startswith("spark.merge-into.") for k in summary) and head.parent_snapshot_id == before
    assert _audit_refs(project, "spark.checked_orders") == [
        "akko_audit__spark_orders_checked_fail__append_checked"  # left by the failed run, for inspection
    ]


def test_spark_function_writing_itself_cannot_have_checks(project: SparkProject) -> None:
    result = akko("run", "spark_orders_checked_self", env=project.env())
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "returned None" in output and "checks" in output and "must return a DataFrame" in output


def test_stack_down_stops_the_on_demand_server(project: SparkProject) -> None:
    from akko_orchestrator.stack.process import ProcessRecord

    record = ProcessRecord.load(project.state / "stack" / "spark-local" / "process.json")
    assert record is not None and record.alive()
    result = akko("stack", "down", env=project.env())
    assert result.returncode == 0, result.stderr
    assert not psutil.pid_exists(record.pid) or psutil.Process(record.pid).status() == psutil.STATUS_ZOMBIE


def test_spark_step_killed_at_each_phase_then_retried_writes_once(project: SparkProject) -> None:
    """The task process (tests/e2e/task_process.py: the compiled operator, as a worker runs it) SIGKILLed after
    Spark wrote the audit branch, after the checks, after the publish; each retry (same run, next try) leaves
    the table as one clean run would: no duplicate, no missing row, one published snapshot per run."""
    import signal
    import subprocess

    from pyiceberg.table.snapshots import ancestors_of

    from akko_orchestrator.lakehouse.wap import audit_branches

    spec = project.root / "pipelines" / "spark_crash.yaml"
    task_process = _ROOT / "tests" / "e2e" / "task_process.py"

    def task(try_number: int, run_id: str, failpoint: str | None = None) -> subprocess.CompletedProcess[str]:
        extra = {"AIRFLOW_HOME": str(project.state / "airflow-tasks")}
        if failpoint:
            extra["AKKO_FAILPOINTS"] = failpoint
        command = [sys.executable, str(task_process), str(spec), "append_run", str(try_number), run_id]
        return subprocess.run(command, env=project.env(**extra), capture_output=True, text=True, timeout=600)

    first = task(1, "r0")
    assert first.returncode == 0, first.stderr[-3000:]
    for number, phase in enumerate(("after-write", "after-check", "after-publish"), start=1):
        before = project.snapshot("spark.crash_runs")
        killed = task(1, f"r{number}", phase)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        assert (project.snapshot("spark.crash_runs") != before) is (phase == "after-publish")
        retried = task(2, f"r{number}")
        assert retried.returncode == 0, retried.stderr[-3000:]
        assert ('"already_published": true' in retried.stdout) is (phase == "after-publish")
    table = project.catalog().load_table("spark.crash_runs")
    data = table.scan().to_arrow()
    assert sorted(data.column("id").to_pylist()) == list(range(400))
    runs = [
        s.summary.additional_properties.get("akko.run-id")
        for s in ancestors_of(table.current_snapshot(), table.metadata)
        if s.summary and s.summary.additional_properties.get("akko.run-id")
    ]
    assert sorted(runs) == ["r0", "r1", "r2", "r3"]  # one published snapshot per run
    assert audit_branches(table) == []
