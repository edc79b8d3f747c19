"""Run by tests/e2e/test_alerts.py in a subprocess with a project's Airflow: Airflow's own deadline path on the
project's real metadata DB, without a scheduler process and without waiting for the clock.

1. A run is triggered as `airflow dags trigger` does (`trigger_dag`, on the DAG as the dag-processor stored
   it): Airflow evaluates the pipeline's deadline alert (AKKO's `TimeOfDayDeadline`, found through AKKO's plugin)
   and stores a `Deadline` row. The run stays queued: nothing executes it, so it misses its deadline.
2. What the scheduler's loop does to a deadline past its time: `Deadline.handle_miss` (marks it missed, queues
   its callback as a trigger).
3. What the triggerer does with that trigger: `CallbackTrigger.run` (imports and awaits AKKO's callback, which
   sends the alert), each event handed to the callback's `handle_event`.
Prints one JSON document.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path


def main(project_dir: str, dag_id: str) -> None:
    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.local_airflow import environment

    environment.apply(load_project(Path(project_dir)))
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.models.deadline import Deadline
    from airflow.triggers.callback import CallbackTrigger
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunTriggeredByType
    from sqlalchemy import select

    with create_session() as session:
        run = trigger_dag(dag_id, triggered_by=DagRunTriggeredByType.CLI, run_id="late_run", session=session)
        session.flush()
        [deadline] = session.scalars(select(Deadline).where(Deadline.dagrun_id == run.id)).all()
        out = {
            "run_id": run.run_id,
            "state": str(run.state),
            "run_after": run.run_after.isoformat(),
            "deadline_time": deadline.deadline_time.isoformat(),
        }
        deadline.handle_miss(session)  # the scheduler's loop, once deadline_time has passed
        session.flush()
        trigger = CallbackTrigger(**deadline.callback.trigger.kwargs)  # the triggerer's trigger
        events = asyncio.run(_collect(trigger))
        for event in events:
            deadline.callback.handle_event(event, session)
        out.update(
            missed=deadline.missed,
            events=[event.payload for event in events],
            callback_state=str(deadline.callback.state),
        )
    print(json.dumps(out, default=str))


async def _collect(trigger):
    return [event async for event in trigger.run()]


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
