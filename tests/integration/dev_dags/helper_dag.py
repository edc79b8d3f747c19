"""A hand-written DAG importing the helper module beside it (`import dev_helpers`), in the dag-processor's child
that parses it and in the task process that runs it."""

import datetime as dt

import dev_helpers
from airflow.sdk import dag, task


@task
def greet() -> str:
    return dev_helpers.greeting()


@dag(
    dag_id="dev_helper_dag",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1),
    default_args={"owner": "data-platform"},
    tags=["team:demo"],
)
def dev_helper_dag() -> None:
    greet()


dev_helper_dag()
