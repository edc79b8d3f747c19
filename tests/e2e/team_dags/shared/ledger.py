"""Team banking's folder by its tag (akko.yaml lists `shared` without a team)."""

import datetime as dt

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(
    "ledger",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1),
    default_args={"owner": "fin"},
    tags=["team:banking"],
):
    EmptyOperator(task_id="noop")
