import datetime as dt

from airflow.sdk import DAG, task

with DAG(
    dag_id="guard_no_team",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1),
    default_args={"owner": "data-platform"},
    tags=["nightly"],
):

    @task
    def step() -> None:
        pass

    step()
