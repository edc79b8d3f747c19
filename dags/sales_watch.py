"""A hand-written DAG beside the specs (akko.yaml `dags:`), within AKKO's guardrails (docs/guardrails.md): an
owner and a team tag, nothing at the top level but the DAG, and it only reads Iceberg tables (AKKO's pipelines
write them). It runs whenever the demo pipeline publishes demo.sales, scheduled on the same asset AKKO's DAG
declares as its outlet."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag, task

from akko_orchestrator.compiler.assets import table_asset


@task
def count_sales() -> dict[str, int]:
    """A small result (XComs are limited by guardrails.xcom_max_bytes): the table's rows and data files."""
    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.lakehouse.catalog import open_catalog

    table = open_catalog(load_project()).load_table("demo.sales")
    files = table.inspect.files()
    return {"rows": sum(files["record_count"].to_pylist()), "files": files.num_rows}


@dag(
    dag_id="sales_watch",
    schedule=[table_asset("akko", "demo.sales")],
    start_date=dt.datetime(2024, 1, 1),
    catchup=False,
    default_args={"owner": "demo-analytics"},
    tags=["team:demo"],
)
def sales_watch() -> None:
    count_sales()


sales_watch()
