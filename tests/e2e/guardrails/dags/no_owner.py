import datetime as dt

from airflow.sdk import DAG, task

with DAG("guard_no_owner", schedule=None, start_date=dt.datetime(2024, 1, 1), tags=["team:demo"]):

    @task
    def step() -> None:
        pass

    step()
