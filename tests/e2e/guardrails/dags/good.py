"""Passes every guardrail: an owner, a team tag, no top-level I/O, no BashOperator, no Iceberg outlet."""

import datetime as dt

from airflow.sdk import dag, task


@task
def hello() -> str:
    return "hello"


@dag(
    dag_id="guard_good",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1),
    default_args={"owner": "data-platform"},
    tags=["team:demo"],
)
def guard_good() -> None:
    hello()


guard_good()
