"""Quality checks on the embedded engine (DuckDB over real pyiceberg tables): every check kind passing and
failing against an audit snapshot, the single-scan statement, and the write-audit-publish flow of a step."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest

from akko_orchestrator.config.project import load_project
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.wap import audit_branch, audit_branches
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.quality.checks import compile_checks, one_query_per_check
from akko_orchestrator.quality.history import read_history
from akko_orchestrator.quality.report import ChecksFailed
from akko_orchestrator.quality.runner import run_checks
from akko_orchestrator.runtime.context import StepContext
from akko_orchestrator.runtime.publish import guarded_write, write_arrow
from akko_orchestrator.spec.models import Check, Output

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
ORDERS = Output(table="demo.orders", mode="append")


def orders(ids=(1, 2, 3, 4, 5, 5), regions=("EU", "US", "EU", "APAC", "XX", "XX")) -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "customer_id": pa.array([10, 11, 12, 10, 99, None][:n], pa.int64()),
            "region": list(regions),
            "amount": pa.array([5.0, 10.0, 20.0, 0.0, -3.0, 7.0][:n]),
            "ordered_at": pa.array(
                [NOW - dt.timedelta(hours=h) for h in range(n, 0, -1)], pa.timestamp("us", "UTC")
            ),
        }
    )


@pytest.fixture
def ctx(project_dir: Path) -> StepContext:
    context = StepContext(load_project(project_dir), pipeline_id="p", step_id="load", run_id="run-1")
    customers = pa.table({"id": pa.array([10, 11, 12], pa.int64())})
    write_table(context.catalog, Output(table="demo.customers"), customers)
    write_table(
        context.catalog,
        Output(table="demo.all_customers"),
        pa.concat_tables([customers, pa.table({"id": pa.array([99], pa.int64())})]),
    )
    yield context
    context.close()


@pytest.fixture
def audited(ctx: StepContext) -> int:
    """demo.orders with 10 rows on main and the 6 rows of `orders()` (as an overwrite) on an audit branch."""
    write_table(ctx.catalog, ORDERS, pa.concat_tables([orders(), orders()[:4]]))
    written = write_table(
        ctx.catalog, Output(table="demo.orders", mode="overwrite"), orders(), branch="audit"
    )
    return written.snapshot_id


CASES = [  # (check, passes on the audited data, failing rows)
    (Check(not_null=["id", "region"]), True, 0),
    (Check(not_null=["customer_id"]), False, 1),
    (Check(unique=["id", "amount"]), True, 0),
    (Check(unique=["id"]), False, 1),
    (Check(unique=["id", "region"]), False, 1),
    (Check(accepted_values={"column": "region", "values": ["EU", "US", "APAC", "XX"]}), True, 0),
    (Check(accepted_values={"column": "region", "values": ["EU", "US", "APAC"]}), False, 2),
    (Check(range={"column": "amount", "min": -10, "max": 100}), True, 0),
    (Check(range={"column": "amount", "min": 0}), False, 1),
    (Check(row_count={"min": 1, "max": 6}), True, None),
    (Check(row_count={"max": 3}), False, None),
    (Check(row_count={"max_shrink": "50%"}), True, None),
    (Check(row_count={"max_shrink": "10%"}), False, None),  # 10 rows on main -> 6: shrinks 40%
    (Check(freshness={"column": "ordered_at", "max_age": "1d"}), True, None),
    (Check(freshness={"column": "ordered_at", "max_age": "30m"}), False, None),
    (Check(relationships={"column": "customer_id", "to": "demo.all_customers", "field": "id"}), True, 0),
    (Check(relationships={"column": "customer_id", "to": "demo.customers", "field": "id"}), False, 1),
    (Check(expression="amount > -100 AND region <> ''"), True, 0),
    (Check(expression="amount >= 0"), False, 1),
    (Check(sql="SELECT * FROM demo.orders WHERE amount < -100"), True, 0),
    (Check(sql="SELECT id, amount FROM demo.orders WHERE amount < 0"), False, 1),
]


@pytest.mark.parametrize(("check", "passes", "failing"), CASES, ids=lambda v: getattr(v, "kind", None))
def test_every_check_kind_passes_and_fails(
    ctx: StepContext, audited: int, check: Check, passes, failing
) -> None:
    report = run_checks(ctx.sql_engine, "demo.orders", [check], audited, previous_rows=10, now=NOW)
    [result] = report.results
    assert result.passed is passes, result
    assert result.failing_rows == failing
    if not passes and failing:
        assert result.sample and result.sample["rows"], "a failed row check shows sample rows"
    # with the catalog, what Iceberg's metadata settles is not scanned for, and the answer is the same
    informed = run_checks(ctx.sql_engine, "demo.orders", [check], audited, 10, now=NOW, catalog=ctx.catalog)
    assert informed.results == report.results


def test_checks_read_the_audit_snapshot_not_main(ctx: StepContext, audited: int) -> None:
    check = Check(row_count={"max": 6})
    assert run_checks(ctx.sql_engine, "demo.orders", [check], audited, 10).passed
    assert not run_checks(ctx.sql_engine, "demo.orders", [check], None, None).passed  # main: 10 rows


def test_eight_checks_are_one_statement(ctx: StepContext, audited: int) -> None:
    passing = [check for check, passes, _ in CASES if passes and check.kind != "sql"]
    checks = passing[:8]
    assert (
        len(checks) == 8 and len({c.kind for c in checks}) == 8 - 1
    )  # every aggregate kind (row_count twice)
    plan = compile_checks("demo.orders", checks)
    assert plan.aggregate_sql is not None and len(one_query_per_check(plan)) == 8
    engine = ctx.sql_engine
    calls: list[str] = []
    original = engine.query
    engine.query = lambda sql, tables, versions=None: (
        calls.append(sql) or original(sql, tables, versions=versions)
    )
    report = run_checks(engine, "demo.orders", checks, audited, 10, now=NOW)
    assert report.passed and len(report.results) == 8
    assert calls == [plan.aggregate_sql]  # all eight metrics from one statement, no sample queries on success


def test_failing_error_check_blocks_publish_and_keeps_the_branch(ctx: StepContext) -> None:
    write_arrow(ctx, ORDERS, [], orders(ids=(1, 2), regions=("EU", "US")))
    main_before = ctx.catalog.load_table("demo.orders").current_snapshot().snapshot_id
    bad = StepContext(ctx.project, pipeline_id="p", step_id="load", run_id="run-2")
    checks = [Check(unique=["id"]), Check(accepted_values={"column": "region", "values": ["EU", "US"]})]
    with pytest.raises(ChecksFailed) as failed:
        write_arrow(bad, ORDERS, checks, orders(ids=(3, 4, 5, 6, 7, 8)))
    message = str(failed.value)
    assert "accepted_values_region" in message and "main untouched" in message
    assert "XX" in message  # sample rows in the report
    table = ctx.catalog.load_table("demo.orders")
    assert table.current_snapshot().snapshot_id == main_before
    assert audit_branches(table) == [audit_branch("p", "load")]
    assert table.scan().use_ref(audit_branch("p", "load")).to_arrow().num_rows == 8
    history = read_history(ctx.catalog, "p").to_pylist()
    statuses = {(r["run_id"], r["check_name"]): r["status"] for r in history}
    assert statuses == {("run-2", "unique_id"): "pass", ("run-2", "accepted_values_region"): "fail"}
    sample = json.loads(next(r["sample"] for r in history if r["status"] == "fail"))
    assert sample["rows"]


def test_passing_and_warning_checks_publish_and_record(ctx: StepContext) -> None:
    checks = [Check(not_null=["id"]), Check(range={"column": "amount", "min": 0}, severity="warn")]
    result = write_arrow(ctx, ORDERS, checks, orders())
    table = ctx.catalog.load_table("demo.orders")
    assert result.snapshot_id == table.current_snapshot().snapshot_id
    assert table.scan().to_arrow().num_rows == 6 and audit_branches(table) == []
    assert table.current_snapshot().summary["akko.run-id"] == "run-1"
    assert result.checks["passed"] == 1 and result.checks["warned"] == ["range_amount"]


def test_a_retry_after_publishing_does_not_write_again(ctx: StepContext) -> None:
    checks = [Check(not_null=["id"])]
    write_arrow(ctx, ORDERS, checks, orders())
    snapshots = len(ctx.catalog.load_table("demo.orders").snapshots())
    retry = StepContext(ctx.project, pipeline_id="p", step_id="load", run_id="run-1", try_number=2)
    again = write_arrow(retry, ORDERS, checks, orders())
    assert again.already_published
    table = ctx.catalog.load_table("demo.orders")
    assert len(table.snapshots()) == snapshots and table.scan().to_arrow().num_rows == 6
    nochecks = write_arrow(
        retry, Output(table="demo.customers"), [], pa.table({"id": pa.array([1], pa.int64())})
    )
    assert not nochecks.already_published  # another table: its own history


def test_a_writer_racing_on_main_is_replayed_on_top(ctx: StepContext) -> None:
    """Another pipeline commits to main between our write and our publish: our append is replayed on top of it
    and checked again; nothing of either writer is lost."""
    write_table(ctx.catalog, ORDERS, orders(ids=(1,), regions=("EU",)))
    other = StepContext(ctx.project, pipeline_id="other", step_id="load", run_id="run-o")
    calls = []

    def write(branch: str | None):
        result = write_table(
            ctx.catalog, ORDERS, orders(ids=(2,), regions=("US",)), ctx.snapshot_properties, branch
        )
        if not calls:  # the first time only: the other writer lands in between
            write_table(other.catalog, ORDERS, orders(ids=(3,), regions=("EU",)), other.snapshot_properties)
        calls.append(branch)
        return result

    result = guarded_write(ctx, ORDERS, [Check(unique=["id"])], write)
    table = ctx.catalog.load_table("demo.orders")
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == [1, 2, 3]
    assert len(calls) == 2 and result.snapshot_id == table.current_snapshot().snapshot_id


def test_an_overwrite_is_not_replayed_over_another_writer(ctx: StepContext) -> None:
    output = Output(table="demo.orders", mode="overwrite")
    write_table(ctx.catalog, output, orders())
    other = StepContext(ctx.project, pipeline_id="other", step_id="fix", run_id="run-o")

    def write(branch: str | None):
        result = write_table(
            ctx.catalog, output, orders(ids=(8,), regions=("EU",)), ctx.snapshot_properties, branch
        )
        write_table(other.catalog, ORDERS, orders(ids=(9,), regions=("EU",)), other.snapshot_properties)
        return result

    with pytest.raises(AkkoError, match=r"other\.fix \(run run-o\).*not replayed"):
        guarded_write(ctx, output, [Check(not_null=["id"])], write)
    ids = ctx.catalog.load_table("demo.orders").scan().to_arrow().column("id").to_pylist()
    assert sorted(ids) == [1, 2, 3, 4, 5, 5, 9]


def test_report_gives_openlineage_assertions(ctx: StepContext, audited: int) -> None:
    checks = [
        Check(not_null=["id"]),
        Check(range={"column": "amount", "min": 0}),
        Check(row_count={"min": 1}),
    ]
    report = run_checks(ctx.sql_engine, "demo.orders", checks, audited, 10, now=NOW)
    found = report.assertions()
    assert [(a["assertion"], a["name"], a["success"], a.get("column")) for a in found] == [
        ("not_null", "not_null_id", True, "id"),  # OpenLineage's classification, then AKKO's check name
        ("range", "range_amount", False, "amount"),
        ("row_count", "row_count", True, None),
    ]
    assert {a["severity"] for a in found} == {"error"}
    assert found[1]["expected"] and found[1]["actual"]  # the rule and what was measured


def test_metadata_settles_row_counts_nulls_bounds_and_freshness(ctx: StepContext, audited: int) -> None:
    settled = [
        Check(row_count={"min": 1, "max_shrink": "50%"}),
        Check(not_null=["id", "region"]),
        Check(not_null=["customer_id"]),  # fails: NULLs in one column are counted exactly from metadata
        Check(range={"column": "amount", "min": -10, "max": 100}),
        Check(range={"column": "ordered_at", "min": "2020-01-01"}),
        Check(freshness={"column": "ordered_at", "max_age": "1d"}),
    ]
    engine = ctx.sql_engine
    calls: list[str] = []
    original = engine.query
    engine.query = lambda sql, tables, versions=None: (
        calls.append(sql) or original(sql, tables, versions=versions)
    )
    report = run_checks(engine, "demo.orders", settled, audited, 10, now=NOW, catalog=ctx.catalog)
    assert [r.passed for r in report.results] == [True, True, False, True, True, True]
    assert report.results[2].failing_rows == 1
    assert len(calls) == 1 and "IS NULL" in calls[0]  # only the failed check's sample rows were read
    engine.query = original
    assert report.results == run_checks(engine, "demo.orders", settled, audited, 10, now=NOW).results
    calls.clear()
    engine.query = lambda sql, tables, versions=None: (
        calls.append(sql) or original(sql, tables, versions=versions)
    )
    outside = run_checks(
        engine,
        "demo.orders",
        [Check(range={"column": "amount", "min": 0})],
        audited,
        10,
        now=NOW,
        catalog=ctx.catalog,
    )
    assert not outside.passed and outside.results[0].failing_rows == 1 and calls  # a bound outside: scanned
