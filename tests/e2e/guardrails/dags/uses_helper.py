"""Passes every guardrail while importing a helper module that sits beside it."""

import datetime as dt

import guard_helpers
from airflow.sdk import dag, task


@task
def greet() -> str:
    return guard_helpers.greeting("team")


@dag(
    dag_id="guard_uses_helper",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1),
    default_args={"owner": "data-platform"},
    tags=["team:demo"],
)
def guard_uses_helper() -> None:
    greet()


guard_uses_helper()
