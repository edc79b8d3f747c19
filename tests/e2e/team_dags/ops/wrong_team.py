"""In team demo's folder (akko.yaml: {path: ops, team: demo}) but tagged for team banking: refused."""

import datetime as dt

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(
    "ops_wrong_team",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1),
    default_args={"owner": "ops"},
    tags=["team:banking"],
):
    EmptyOperator(task_id="noop")
