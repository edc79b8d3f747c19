import datetime as dt

from airflow.sdk import DAG

START = dt.datetime(2024, 1, 1)
with DAG("guard_broken", schedule=None, start_date=START, default_args={"owner": "x"}, tags=["team:demo"]):
    raise RuntimeError("a typo in the DAG file")
