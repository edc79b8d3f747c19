"""Run the hand-written demo DAG the way `akko demo` runs its pipeline: in this (fresh) process, through DagBag
and `dag.test()` (real DagRun, task instances and XComs in the metadata DB), then read back each task's XCom.

    python benchmarks/plain_demo_run.py <DAG file>   (environment prepared by bench_demo.py)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def ensure_database() -> None:
    """Create Airflow's metadata DB once (a marker file skips the check), as `akko` does."""
    import airflow
    from airflow import settings
    from airflow.utils import db

    marker = Path(os.environ["AIRFLOW_HOME"]) / ".plain-db-ready"
    stamp = f"{airflow.__version__} {settings.SQL_ALCHEMY_CONN}"
    if marker.is_file() and marker.read_text() == stamp:
        return
    db.initdb()
    marker.write_text(stamp)


def results(dag_run) -> dict[str, object]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    found: dict[str, object] = {}
    with create_session() as session:
        for ti in dag_run.get_task_instances(session=session):
            query = XComModel.get_many(
                run_id=dag_run.run_id,
                key="return_value",
                dag_ids=dag_run.dag_id,
                task_ids=ti.task_id,
                map_indexes=ti.map_index,
            )
            xcom = session.scalars(query).first()
            found[ti.task_id] = XComModel.deserialize_value(xcom) if xcom is not None else None
    return found


def main() -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag_file = sys.argv[1]
    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    bag = DagBag(dag_folder=dag_file, safe_mode=False)
    if bag.import_errors:
        raise SystemExit(f"import error: {bag.import_errors}")
    dag = bag.dags["plain_demo"]
    ensure_database()
    dag_run = dag.test()
    state = str(getattr(dag_run.state, "value", dag_run.state))
    values = results(dag_run)
    for name, result in (values.get("verify_sales") or {}).get("queries", {}).items():
        print(name, result["rows"])
    print("summary", values.get("summary"))
    if state != "success":
        raise SystemExit(f"plain_demo finished {state}")


if __name__ == "__main__":
    main()
