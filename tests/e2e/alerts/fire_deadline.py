"""Run by tests/e2e/test_alerts.py in a subprocess with a project's Airflow: Airflow's own deadline path on the
project's real metadata DB, without a scheduler process and without waiting for the clock.

1. A run is triggered as `airflow dags trigger` does (`trigger_dag`, on the DAG as the dag-processor stored
   it): Airflow evaluates the pipeline's deadline alert (AKKO's `TimeOfDayDeadline`, found through AKKO's plugin)
   and stores a `Deadline` row. The run stays queued: nothing executes it, so it misses its deadline.
2. What the scheduler's loop does to a deadline past its time: `Deadline.handle_miss` (marks it missed, queues
   its callback as a trigger).
3. What the triggerer does with that trigger: `CallbackTrigger.run` (imports and awaits AKKO's callback, which
   sends the alert), each event handed to the callback's `handle_event`.
Steps 2 and 3 for every deadline of the run (a pipeline's and its tables'). The tables given after the DAG id are
first given what a publish by this run leaves on `main` (lakehouse/wap.py's `stamp`: a snapshot carrying the run's
identity): their deadline callbacks must find it and send nothing. Prints one JSON document.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

RUN_ID = "late_run"


def main(project_dir: str, dag_id: str, published: list[str]) -> None:
    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.lakehouse.catalog import open_catalog
    from akko_orchestrator.lakehouse.wap import stamp
    from akko_orchestrator.local_airflow import environment

    project = load_project(Path(project_dir))
    environment.apply(project)
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.models.deadline import Deadline
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunTriggeredByType
    from sqlalchemy import select

    identity = {"akko.pipeline": dag_id, "akko.step": "land_sales", "akko.run-id": RUN_ID}
    for table in published:  # what the step's publish leaves on main: a snapshot carrying the run's identity
        stamp(open_catalog(project), table, "main", identity)
    with create_session() as session:
        run = trigger_dag(dag_id, triggered_by=DagRunTriggeredByType.CLI, run_id=RUN_ID, session=session)
        session.flush()
        rows = session.scalars(select(Deadline).where(Deadline.dagrun_id == run.id)).all()
        out: dict = {"run_id": run.run_id, "state": str(run.state), "run_after": run.run_after.isoformat()}
        out["deadlines"] = [_fire(row, session) for row in sorted(rows, key=lambda r: r.deadline_alert.name)]
    print(json.dumps(out, default=str))


def _fire(deadline, session) -> dict:
    from airflow.triggers.callback import CallbackTrigger

    deadline.handle_miss(session)  # the scheduler's loop, once deadline_time has passed
    session.flush()
    trigger = CallbackTrigger(**deadline.callback.trigger.kwargs)  # the triggerer's trigger
    events = asyncio.run(_collect(trigger))
    for event in events:
        deadline.callback.handle_event(event, session)
    return {
        "name": deadline.deadline_alert.name,
        "deadline_time": deadline.deadline_time.isoformat(),
        "missed": deadline.missed,
        "events": [event.payload for event in events],
        "callback_state": str(deadline.callback.state),
    }


async def _collect(trigger):
    return [event async for event in trigger.run()]


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
