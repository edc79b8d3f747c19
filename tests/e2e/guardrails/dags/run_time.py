"""Passes every parse-time rule; its tasks break the run-time ones (an Iceberg commit, a large XCom)."""

import datetime as dt

from airflow.sdk import dag, task


@task
def append_sales() -> None:
    import pyarrow as pa

    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.lakehouse.catalog import open_catalog

    table = open_catalog(load_project()).load_table("demo.guarded")
    table.append(pa.table({"id": pa.array([99], pa.int64())}))


@task
def big_result() -> str:
    return "x" * 5000


@dag(
    dag_id="guard_run_time",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1),
    default_args={"owner": "data-platform"},
    tags=["team:demo"],
)
def guard_run_time() -> None:
    append_sales()
    big_result()


guard_run_time()
