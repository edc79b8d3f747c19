import datetime as dt

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, task

with DAG(
    "guard_bash",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1),
    default_args={"owner": "data-platform"},
    tags=["team:demo"],
):
    BashOperator(task_id="shell", bash_command="echo hi")
    BashOperator.partial(task_id="shells").expand(bash_command=["echo a", "echo b"])

    @task.bash
    def decorated() -> str:
        return "echo decorated"

    decorated()
