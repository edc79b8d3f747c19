"""Freshness deadlines as Airflow 3.3 deadline alerts.

Airflow evaluates a DAG's `DeadlineAlert` when the scheduler creates a run (a `Deadline` row: reference time plus
interval), marks it missed once that time passes with the run unfinished (`Deadline.handle_miss`) and queues its
callback; the triggerer awaits an `AsyncCallback`. A run that succeeds before its deadline deletes it.

- `within: 2h` is Airflow's own `DeadlineReference.DAGRUN_QUEUED_AT` plus two hours.
- `by: "06:00"` has no built-in reference (a fixed datetime is fixed at parse time; the logical date is None for a
  manual run), so `TimeOfDayDeadline` is a custom reference: the first 06:00 UTC at or after the run's
  `run_after` (its scheduled time, or when a manual run was triggered). Airflow finds custom references through a
  plugin: `AkkoAlertsPlugin` (alerts/plugin.py), registered by this package's `airflow.plugins` entry point, so the scheduler, the
  dag-processor and `dag.test()` all know it wherever AKKO is installed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from airflow.sdk.definitions.deadline import BaseDeadlineReference

CALLBACK = "akko_orchestrator.alerts.notify.deadline_missed"
TABLE_CALLBACK = "akko_orchestrator.alerts.table_deadline.table_deadline_missed"  # `deadline: {table: ...}`


def next_time_of_day(after: dt.datetime, time_of_day: str) -> dt.datetime:
    """The first `HH:MM` UTC at or after `after`."""
    hour, minute = (int(part) for part in time_of_day.split(":"))
    moment = after.astimezone(dt.UTC)
    candidate = moment.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return candidate if candidate >= moment else candidate + dt.timedelta(days=1)


@dataclass(eq=False)  # equality and hash: BaseDeadlineReference's, by the serialized form
class TimeOfDayDeadline(BaseDeadlineReference):
    """A run's deadline at a UTC time of day (see the module doc)."""

    time: str = "00:00"
    required_kwargs = frozenset({"dag_id", "run_id"})  # what Airflow passes to `_evaluate_with`

    def _evaluate_with(self, *, session: Any, **kwargs: Any) -> dt.datetime | None:
        from airflow.models import DagRun
        from sqlalchemy import select

        run_after = session.scalar(
            select(DagRun.run_after).where(
                DagRun.dag_id == kwargs["dag_id"], DagRun.run_id == kwargs["run_id"]
            )
        )
        return None if run_after is None else next_time_of_day(run_after, self.time)

    def serialize_reference(self) -> dict[str, Any]:
        return {"reference_type": self.reference_name, "time": self.time}

    @classmethod
    def deserialize_reference(cls, reference_data: dict[str, Any]) -> TimeOfDayDeadline:
        return cls(time=str(reference_data.get("time", "00:00")))
