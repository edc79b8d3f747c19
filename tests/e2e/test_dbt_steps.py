"""dbt steps end to end through real Airflow (dag.test, as `akko run` runs a pipeline) on the embedded lakehouse,
with the fixture pipeline tests/fixtures/dbt/shop_dbt.yaml (a python step writes demo.orders, the dbt project
shop builds on it); each run's batch of source rows comes from the run's configuration (shop_functions.py), and
each run is a fresh interpreter (tests/fixtures/airflow_runner.py), as each `akko run` is. This proves:

- every model and the seed become Iceberg tables with the expected rows and types (a view too; an ephemeral
  model inlined; a model's own schema and alias; the seed's column_types; a var), each snapshot carrying
  `akko.pipeline`, `akko.step` = `<step>.<model>` and `akko.run-id`, and an asset event per table;
- a second run with more source rows: the merge incremental model holds the merged rows (no duplicates), the
  append one the appended rows, the table models are rewritten; a failing `warn` test publishes and reports `warn`;
- a failing `error` test (a duplicate id in the source) keeps the model's table `main` as it was, leaves its audit
  branch, emits no asset event for it, leaves downstream models `upstream_failed`; the failure is recorded in
  `akko.check_results` and shown by `akko checks`;
- `full_refresh: true` rebuilds the incremental models from scratch;
- crash safety and exactly-once, with each task run in a process of its own as a worker runs it
  (tests/e2e/task_process.py): a model task SIGKILLed after its write (`AKKO_FAILPOINTS=after-write`) then retried
  with the next try leaves its table as one clean run does, one commit for the run, no audit branch; executed again
  in the same run it writes nothing (`already_published`).

The runs build on each other (module-scoped fixtures, each after the one before). A seed's dbt tests gate the seed,
and a second dbt compile in one process sees the lakehouse as it is then (dbt-duckdb's kept connection is closed).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import types as namespaces
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from akko_orchestrator.config.project import Project, load_project
from akko_orchestrator.dbt.sync import refresh_graphs
from akko_orchestrator.lakehouse.catalog import open_catalog
from akko_orchestrator.lakehouse.wap import audit_branch, audit_branches
from akko_orchestrator.local_airflow.inprocess import RunReport, TaskReport
from akko_orchestrator.quality.history import read_history
from tests.fixtures import airflow_runner
from tests.fixtures.cli import cli_env
from tests.fixtures.dbt_project import FIXTURE, PIPELINE, make_shop_project, spec_file

if TYPE_CHECKING:
    from pyiceberg.table import Table

pytestmark = pytest.mark.e2e
HERE = Path(__file__).parent

TABLES = {  # task -> table
    "shop.countries": "shop.countries",
    "shop.stg_orders": "shop.stg_orders",
    "shop.big_orders": "shop.big_orders",
    "shop.customer_totals": "shop_reporting.customer_summary",
    "shop.orders_latest": "shop.orders_latest",
    "shop.orders_appended": "shop.orders_appended",
}
DOWNSTREAM = ["shop.big_orders", "shop.customer_totals", "shop.orders_latest", "shop.orders_appended"]
STG_BRANCH = audit_branch(PIPELINE, "shop.stg_orders")


@dataclass
class Run:
    """A pipeline run and the tables as it left them (later runs change them)."""

    report: RunReport
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # table -> rows, sorted
    schemas: dict[str, pa.Schema] = field(default_factory=dict)
    snapshots: dict[str, int | None] = field(default_factory=dict)

    def states(self) -> dict[str, str]:
        return {t.task_id: t.state for t in self.report.tasks}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """One project for the module; the runs' Airflow keeps its metadata DB in the project's state folder."""
    root = make_shop_project(tmp_path_factory.mktemp("dbt_e2e") / "project")
    saved = {k: os.environ.get(k) for k in ("AKKO_PROJECT_DIR", "AKKO_STATE_DIR", "AKKO_PROFILE")}
    os.environ.update(AKKO_PROJECT_DIR=str(root), AKKO_STATE_DIR=str(root / ".akko"))
    os.environ.pop("AKKO_PROFILE", None)
    yield load_project(root)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def table(project: Project, name: str) -> Table:
    return open_catalog(project).load_table(name)


def table_exists(project: Project, name: str) -> bool:
    return open_catalog(project).table_exists(name)


def sorted_rows(data: pa.Table) -> list[dict[str, Any]]:
    key = "order_id" if "order_id" in data.column_names else data.column_names[0]
    return data.sort_by(key).to_pylist()


def run(project: Project, batch: str) -> Run:
    """One pipeline run as `akko run` does it, in a fresh interpreter (a second dbt compile in one process meets
    the bug pinned below), with `{"batch": batch}` as its configuration."""
    report_file = project.state_dir / f"report-{batch}.json"
    done = subprocess.run(
        [sys.executable, airflow_runner.__file__, PIPELINE, str(report_file), json.dumps({"batch": batch})],
        env=cli_env(project.root, project.state_dir),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0 and report_file.is_file(), (done.stdout + done.stderr)[-6000:]
    data = json.loads(report_file.read_text())
    tasks = [TaskReport(**t) for t in data.pop("tasks")]
    result = Run(RunReport(**data, tasks=tasks))
    catalog = open_catalog(project)
    for name in [*TABLES.values(), "demo.orders"]:
        if catalog.table_exists(name):
            loaded = catalog.load_table(name)
            rows = loaded.scan().to_arrow()
            # pyiceberg reads strings as string or large_string depending on the files: the same Iceberg type
            schema = pa.schema(
                [f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in rows.schema]
            )
            result.rows[name], result.schemas[name] = sorted_rows(rows), schema
            result.snapshots[name] = loaded.current_snapshot().snapshot_id
    return result


def asset_events(project: Project, run_id: str) -> list[tuple[str, str]]:
    """(source task, asset URI) of the asset events a run emitted, from the runs' Airflow metadata DB."""
    uri = f"{(project.state_dir / 'airflow' / 'airflow.db').as_uri()}?mode=ro"
    query = (
        "SELECT e.source_task_id, a.uri FROM asset_event AS e JOIN asset AS a ON a.id = e.asset_id "
        "WHERE e.source_run_id = ?"
    )
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        return sorted(conn.execute(query, (run_id,)).fetchall())


def types(schema: pa.Schema) -> list[tuple[str, pa.DataType]]:
    """Column names and types (pyiceberg reads strings as large_string: the same Iceberg type)."""
    return [(f.name, pa.string() if f.type == pa.large_string() else f.type) for f in schema]


def uri(name: str) -> str:
    return "iceberg://akko/" + name.replace(".", "/")


def snapshots_of_run(project: Project, name: str, run_id: str) -> dict[int, str]:
    """Snapshot id -> try number of the snapshots in main's history that carry `run_id`'s identity. One commit
    (one try's write) may be several snapshots: pyiceberg's overwrite is a delete then an append, its upsert more."""
    from pyiceberg.table.snapshots import ancestors_of

    loaded = table(project, name)
    found = {}
    for snapshot in ancestors_of(loaded.current_snapshot(), loaded.metadata):
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        if props.get("akko.run-id") == run_id:
            found[snapshot.snapshot_id] = props["akko.try-number"]
    return found


def orders(*rows: tuple[int, int, str, str, str, int, int]) -> list[dict[str, Any]]:
    """stg_orders rows: (order_id, customer_id, country_code, status, amount, day, hour)."""
    import datetime as dt

    keys = ("order_id", "customer_id", "country_code", "status", "amount", "updated_at")
    return [
        dict(zip(keys, (*r[:4], Decimal(r[4]), dt.datetime(2024, 1, r[5], r[6])), strict=True)) for r in rows
    ]


FIRST_ORDERS = orders(
    (1, 10, "DE", "PLACED", "20.00", 1, 10),
    (2, 10, "FR", "SHIPPED", "75.50", 1, 11),
    (3, 11, "US", "CANCELLED", "120.00", 1, 12),
    (4, 12, "DE", "PLACED", "60.00", 2, 9),
    (5, 11, "US", "SHIPPED", "5.25", 2, 10),
)
SECOND_ORDERS = [
    *FIRST_ORDERS[:3],
    *orders((4, 12, "DE", "SHIPPED", "65.00", 3, 8)),
    FIRST_ORDERS[4],
    *orders((6, 12, "FR", "PLACED", "99.00", 3, 9), (7, 13, "DE", "RETURNED", "42.00", 3, 10)),
]


def latest_of(stg: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """orders_latest's columns of stg_orders rows."""
    return [{k: r[k] for k in ("order_id", "customer_id", "status", "amount", "updated_at")} for r in stg]


def appended_of(stg: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: r[k] for k in ("order_id", "customer_id", "amount", "updated_at")} for r in stg]


# --- the runs ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def first(project: Project) -> Run:
    return run(project, "first")


@pytest.fixture(scope="module")
def second(project: Project, first: Run) -> Run:
    return run(project, "second")


@pytest.fixture(scope="module")
def failed(project: Project, second: Run) -> Run:
    return run(project, "duplicate")


@pytest.fixture(scope="module")
def refreshed(project: Project, failed: Run) -> Run:
    """A run with `full_refresh: true` on the dbt step, over a source that lost orders 5 to 7."""
    spec = spec_file(project.root)
    original = spec.read_text(encoding="utf-8")
    spec.write_text(
        original.replace("    namespace: shop\n", "    namespace: shop\n    full_refresh: true\n")
    )
    try:
        return run(project, "shrunk")
    finally:
        spec.write_text(original)


# --- the tests ---------------------------------------------------------------------------------------------


def execute_in_this_process(project: Project, task_id: str, run_id: str) -> Any:
    """A task of the compiled DAG executed in the test's own process (as dag.test or `airflow dags test` do)."""
    from akko_orchestrator.compiler.dag_builder import build_dag
    from akko_orchestrator.compiler.entry import compile_plan

    spec = spec_file(project.root)
    dag = build_dag(compile_plan(spec, project.root), str(spec), "akko")
    ti = namespaces.SimpleNamespace(try_number=1, map_index=-1)
    context = {"ti": ti, "run_id": run_id, "dag_run": namespaces.SimpleNamespace(conf={})}
    return dag.get_task(task_id).execute(context)


def compiled_sql(project: Project, run_id: str, unique_id: str) -> str:
    key = f"_akko/staging/{PIPELINE}/{run_id}/shop/dbt-compiled.json"
    return json.loads((Path(project.object_store_uri) / key).read_text())["nodes"][unique_id]["sql"]


def test_a_second_compile_in_one_process_sees_the_lakehouse_as_it_is_now(
    project: Project, request: pytest.FixtureRequest
) -> None:
    """Runs before the module's first pipeline run: compile in this process while no model table exists, then
    after a run created them; the second compile must render orders_appended's is_incremental() branch."""
    if table_exists(project, "shop.orders_appended"):
        pytest.skip("needs the lakehouse without the shop tables: run it before the module's pipeline runs")
    refresh_graphs([spec_file(project.root)])  # what `akko sync` does before a DAG is parsed
    execute_in_this_process(project, "shop.compile", "in_process_before")
    request.getfixturevalue("first")  # creates every model's table (in another process)
    execute_in_this_process(project, "shop.compile", "in_process_after")
    sql = compiled_sql(project, "in_process_after", "model.shop.orders_appended")
    assert 'WHERE order_id > (SELECT max(order_id) FROM "iceberg"."shop"."orders_appended")' in sql


def test_every_model_and_the_seed_become_iceberg_tables(project: Project, first: Run) -> None:
    report = first.report
    assert report.state == "success", [(t.task_id, t.error) for t in report.failed]
    assert set(first.states()) == {"load_orders", "shop.compile", *TABLES}
    assert report.result_of("shop.compile")["models"] == 5

    assert first.rows["shop.stg_orders"] == FIRST_ORDERS
    assert types(first.schemas["shop.stg_orders"]) == [
        ("order_id", pa.int64()),
        ("customer_id", pa.int64()),
        ("country_code", pa.string()),
        ("status", pa.string()),
        ("amount", pa.decimal128(12, 2)),
        ("updated_at", pa.timestamp("us")),
    ]
    assert first.rows["shop.countries"] == [  # column_types: region_code stays text, vat_rate an integer
        {
            "country_code": "DE",
            "country_name": "Germany",
            "region": "EU",
            "region_code": "01",
            "vat_rate": 19,
        },
        {"country_code": "FR", "country_name": "France", "region": "EU", "region_code": "01", "vat_rate": 20},
        {
            "country_code": "US",
            "country_name": "United States",
            "region": "NA",
            "region_code": "02",
            "vat_rate": 0,
        },
    ]
    countries = first.schemas["shop.countries"]
    assert (
        countries.field("region_code").type == pa.string() and countries.field("vat_rate").type == pa.int32()
    )
    assert first.rows["shop.big_orders"] == [  # the view, with `min_amount: 50` from the spec's vars
        {"order_id": 2, "customer_id": 10, "amount": Decimal("75.50"), "country_name": "France"},
        {"order_id": 3, "customer_id": 11, "amount": Decimal("120.00"), "country_name": "United States"},
        {"order_id": 4, "customer_id": 12, "amount": Decimal("60.00"), "country_name": "Germany"},
    ]
    assert first.rows["shop_reporting.customer_summary"] == [  # through the ephemeral int_paid_orders
        {"customer_id": 10, "paid_orders": 2, "paid_amount": Decimal("95.50")},
        {"customer_id": 11, "paid_orders": 1, "paid_amount": Decimal("5.25")},
        {"customer_id": 12, "paid_orders": 1, "paid_amount": Decimal("60.00")},
    ]
    assert first.schemas["shop_reporting.customer_summary"].field("paid_orders").type == pa.int64()
    assert first.rows["shop.orders_latest"] == latest_of(FIRST_ORDERS)
    assert first.rows["shop.orders_appended"] == appended_of(FIRST_ORDERS)

    for task, name in TABLES.items():
        props = table(project, name).current_snapshot().summary.additional_properties
        assert props["akko.pipeline"] == PIPELINE, name
        assert props["akko.step"] == task, name
        assert props["akko.run-id"] == report.run_id, name
    events = asset_events(project, report.run_id)
    assert {(task, uri(name)) for task, name in TABLES.items()} <= set(events)
    checks = report.result_of("shop.stg_orders")["checks"]
    assert checks["failed"] == checks["warned"] == [] and checks["passed"] == 6  # 5 dbt tests, 1 AKKO check


def test_a_seeds_dbt_tests_gate_the_seed(first: Run) -> None:
    checks = first.report.result_of("shop.countries").get("checks") or {}
    names = sorted(r["name"] for r in checks.get("results", []))
    assert names == [
        "accepted_values_countries_region__eu__na",
        "not_null_countries_country_code",
        "unique_countries_country_code",
    ]


def test_a_second_run_merges_appends_and_rewrites(project: Project, first: Run, second: Run) -> None:
    report = second.report
    assert report.state == "success", [(t.task_id, t.error) for t in report.failed]
    assert second.rows["shop.stg_orders"] == SECOND_ORDERS  # the table model rewritten from the source
    stg = table(project, "shop.stg_orders").current_snapshot().summary
    assert stg.additional_properties["total-records"] == "7"

    latest = second.rows["shop.orders_latest"]
    assert latest == latest_of(SECOND_ORDERS)  # order 4 updated in place, 5 merged again, 6 and 7 added
    assert [r["order_id"] for r in latest] == [1, 2, 3, 4, 5, 6, 7]  # no duplicates
    assert report.result_of("shop.orders_latest")["mode"] == "merge"

    appended = second.rows["shop.orders_appended"]
    assert appended == appended_of([*FIRST_ORDERS, *SECOND_ORDERS[5:]])  # order 4 as it first arrived
    result = report.result_of("shop.orders_appended")
    assert (result["mode"], result["rows"]) == ("append", 2)

    assert [r["order_id"] for r in second.rows["shop.big_orders"]] == [2, 3, 4, 6]
    assert second.rows["shop_reporting.customer_summary"][-1] == {
        "customer_id": 13,
        "paid_orders": 1,
        "paid_amount": Decimal("42.00"),
    }
    for name in TABLES.values():
        assert second.snapshots[name] != first.snapshots[name], name


def test_a_failing_warn_test_publishes_and_reports_warn(project: Project, second: Run) -> None:
    """Order 7's status RETURNED is not one the `severity: warn` test knows."""
    checks = second.report.result_of("shop.stg_orders")["checks"]
    assert checks["failed"] == [] and checks["warned"] == ["stg_orders_known_status"]
    assert 7 in [r["order_id"] for r in second.rows["shop.stg_orders"]]  # published all the same
    history = read_history(open_catalog(project), PIPELINE)
    assert history is not None
    recorded = {
        (r["step"], r["check_name"]): (r["severity"], r["status"])
        for r in history.to_pylist()
        if r["run_id"] == second.report.run_id
    }
    assert recorded[("shop.stg_orders", "stg_orders_known_status")] == ("warn", "warn")
    assert recorded[("shop.stg_orders", "unique_stg_orders_order_id")] == ("error", "pass")


def test_a_failing_error_test_keeps_main_and_skips_downstream(
    project: Project, second: Run, failed: Run
) -> None:
    report = failed.report
    assert report.state == "failed"
    states = failed.states()
    assert states["shop.stg_orders"] == "failed"
    assert {task: states[task] for task in DOWNSTREAM} == dict.fromkeys(DOWNSTREAM, "upstream_failed")
    assert states["load_orders"] == states["shop.compile"] == states["shop.countries"] == "success"
    error = next(t.error for t in report.tasks if t.task_id == "shop.stg_orders") or ""
    assert "unique_stg_orders_order_id" in error and STG_BRANCH in error

    for name in ["shop.stg_orders", *(TABLES[t] for t in DOWNSTREAM)]:  # main as it was
        assert failed.snapshots[name] == second.snapshots[name], name
        assert failed.rows[name] == second.rows[name], name
    stg = table(project, "shop.stg_orders")
    assert audit_branches(stg) == [STG_BRANCH]
    assert stg.scan().use_ref(STG_BRANCH).to_arrow().num_rows == 8  # the rejected rows, for inspection
    published = {u for _, u in asset_events(project, report.run_id)}
    assert uri("shop.stg_orders") not in published
    assert not published & {uri(TABLES[t]) for t in DOWNSTREAM}
    assert uri("shop.countries") in published

    history = read_history(open_catalog(project), PIPELINE)
    assert history is not None
    rows = [r for r in history.to_pylist() if r["run_id"] == report.run_id and r["step"] == "shop.stg_orders"]
    unique = next(r for r in rows if r["check_name"] == "unique_stg_orders_order_id")
    assert (unique["status"], unique["severity"], unique["table_name"]) == (
        "fail",
        "error",
        "shop.stg_orders",
    )
    assert unique["failing_rows"] == 1


def test_akko_checks_shows_the_failed_dbt_test(project: Project, failed: Run) -> None:
    from typer.testing import CliRunner

    from akko_orchestrator.cli.console import console
    from akko_orchestrator.cli.main import app

    console.width = 250  # rich wraps at 80 columns when not on a terminal
    shown = CliRunner().invoke(app, ["checks", PIPELINE], terminal_width=250)
    assert shown.exit_code == 0, shown.output
    rows = [line for line in shown.output.splitlines() if "│" in line]
    unique = next(line for line in rows if "unique_stg_orders_order_id" in line)  # a failure heads its step
    assert " fail " in unique
    # the step run's table and run id: on the check's row (one table) or on the line above its step run's table
    upto = shown.output[: shown.output.index(unique) + len(unique)]
    assert "shop.stg_orders" in upto.splitlines()[-1] or "table: shop.stg_orders" in upto
    assert failed.report.run_id in upto
    assert " warn " in next(line for line in rows if "stg_orders_known_status" in line)
    assert f"shop.stg_orders: its rejected data waits on branch {STG_BRANCH}" in shown.output


def test_full_refresh_rebuilds_the_incremental_models(project: Project, failed: Run, refreshed: Run) -> None:
    report = refreshed.report
    assert report.state == "success", [(t.task_id, t.error) for t in report.failed]
    stg = refreshed.rows["shop.stg_orders"]
    assert stg == SECOND_ORDERS[:3] + FIRST_ORDERS[3:4]  # orders 1 to 4, order 4 as first placed
    # incrementally, orders 5 to 7 would stay and order 4 keep its later state: rebuilt, they equal the source
    assert refreshed.rows["shop.orders_latest"] == latest_of(stg)
    assert refreshed.rows["shop.orders_appended"] == appended_of(stg)
    for task in ("shop.orders_latest", "shop.orders_appended"):
        assert report.result_of(task)["mode"] == "overwrite", task
    assert (
        audit_branches(table(project, "shop.stg_orders")) == []
    )  # the next good run replaced the rejected rows


# --- each task in a process of its own, as an Airflow worker runs it ---------------------------------------


def task(
    project: Project, task_id: str, try_number: int, run_id: str, failpoint: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The compiled DAG's operator `execute`d in its own process (tests/e2e/task_process.py)."""
    env = {**os.environ, "AKKO_PROJECT_DIR": str(project.root), "AKKO_STATE_DIR": str(project.state_dir)}
    env.pop("AKKO_PROFILE", None)
    env.pop("AKKO_FAILPOINTS", None)
    if failpoint:
        env["AKKO_FAILPOINTS"] = failpoint
    command = [sys.executable, str(HERE / "task_process.py"), str(spec_file(project.root)), task_id]
    return subprocess.run(
        [*command, str(try_number), run_id], env=env, capture_output=True, text=True, timeout=600
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def source_batch(name: str) -> pa.Table:
    """demo.orders as the pipeline's python step writes it for batch `name` (tests/fixtures/dbt/shop_functions.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("shop_functions", FIXTURE / "shop_functions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.batch(name)


def test_a_killed_model_task_retried_then_run_again_writes_exactly_once(
    project: Project, refreshed: Run
) -> None:
    """One run (`crash_run`) task by task, each in its own process, over the second batch: compile, stg_orders,
    then orders_latest SIGKILLed after its write, retried with try 2, and executed again with try 3."""
    run_id = "manual__crash_run"
    source = table(project, "demo.orders")
    source.overwrite(source_batch("second").cast(source.schema().as_arrow()))  # as load_orders would
    ok(task(project, "shop.compile", 1, run_id))  # the model tasks read this run's compiled SQL
    ok(task(project, "shop.stg_orders", 1, run_id))
    assert sorted_rows(table(project, "shop.stg_orders").scan().to_arrow()) == SECOND_ORDERS
    assert set(snapshots_of_run(project, "shop.stg_orders", run_id).values()) == {"1"}  # one commit, by try 1

    latest_before = refreshed.snapshots["shop.orders_latest"]
    killed = task(project, "shop.orders_latest", 1, run_id, failpoint="after-write")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    latest = table(project, "shop.orders_latest")
    assert latest.current_snapshot().snapshot_id == latest_before  # written to the audit branch only
    assert audit_branches(latest) == [audit_branch(PIPELINE, "shop.orders_latest")]
    assert snapshots_of_run(project, "shop.orders_latest", run_id) == {}

    retried = ok(task(project, "shop.orders_latest", 2, run_id))
    assert '"already_published"' not in retried
    latest = table(project, "shop.orders_latest")
    # what one clean incremental run gives: orders 4 to 7 merged into orders 1 to 4, each once
    assert sorted_rows(latest.scan().to_arrow()) == latest_of(SECOND_ORDERS)
    published = snapshots_of_run(project, "shop.orders_latest", run_id)
    assert set(published.values()) == {"2"}  # one commit: try 2's
    assert latest.current_snapshot().summary.additional_properties["akko.step"] == "shop.orders_latest"
    assert audit_branches(latest) == []

    again = ok(task(project, "shop.orders_latest", 3, run_id))  # e.g. the task cleared after it succeeded
    assert '"already_published": true' in again
    assert (
        table(project, "shop.orders_latest").current_snapshot().snapshot_id
        == latest.current_snapshot().snapshot_id
    )
    assert snapshots_of_run(project, "shop.orders_latest", run_id) == published  # nothing written again
    assert sorted_rows(table(project, "shop.orders_latest").scan().to_arrow()) == latest_of(SECOND_ORDERS)
