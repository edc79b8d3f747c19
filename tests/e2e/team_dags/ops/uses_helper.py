"""Imports the helper module beside it by its plain name (`import ops_helpers`)."""

import datetime as dt

import ops_helpers
from airflow.sdk import dag, task


@task
def show() -> str:
    return ops_helpers.label()


@dag(
    dag_id="ops_uses_helper",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1),
    default_args={"owner": "ops"},
    tags=["team:demo"],
)
def ops_uses_helper() -> None:
    show()


ops_uses_helper()
