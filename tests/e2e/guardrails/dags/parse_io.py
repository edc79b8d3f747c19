import datetime as dt
import os

from airflow.sdk import DAG, task


def table_names() -> list[str]:
    return sorted(os.listdir(os.path.dirname(os.path.abspath(__file__))))  # I/O at parse time


NAMES = table_names()

with DAG(
    dag_id="guard_parse_io",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1),
    default_args={"owner": "data-platform"},
    tags=["team:demo"],
):

    @task
    def step() -> int:
        return len(NAMES)

    step()
