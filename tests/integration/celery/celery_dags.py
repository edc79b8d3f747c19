"""Plain Airflow DAGs for the executor tests: 50 independent tasks (spread over the workers), and 3 tasks with
retries (run while the broker is down)."""

from __future__ import annotations

import datetime as dt
import os
import time

from airflow.sdk import dag, task


@task
def work(i: int) -> int:
    time.sleep(0.2)
    return os.getpid()


@dag(
    dag_id="celery_fanout",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1),
    catchup=False,
    default_args={"owner": "platform"},  # AKKO's guardrails: an owner and a team
    tags=["team:platform"],
)
def celery_fanout() -> None:
    for i in range(50):
        work.override(task_id=f"t{i:02d}")(i)


@dag(
    dag_id="celery_broker",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1),
    catchup=False,
    default_args={"owner": "platform", "retries": 8, "retry_delay": dt.timedelta(seconds=5)},
    tags=["team:platform"],
)
def celery_broker() -> None:
    for i in range(3):
        work.override(task_id=f"t{i}")(i)


celery_fanout()
celery_broker()
