import datetime as dt
import time

from airflow.sdk import DAG, task

time.sleep(1.5)  # heavy top-level work (the test sets a limit of 1 s)

with DAG(
    dag_id="guard_parse_time",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1),
    default_args={"owner": "data-platform"},
    tags=["team:demo"],
):

    @task
    def step() -> None:
        pass

    step()
