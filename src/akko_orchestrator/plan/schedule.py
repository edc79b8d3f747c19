"""Schedules: cron expressions (5 or 6 fields) and Airflow's presets, with the faulty field located; an expression
that never fires (`0 0 31 2 *`); an asset schedule on a table the pipeline writes itself (each run would start the
next)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from akko_orchestrator.dbt.graph import DbtGraph
    from akko_orchestrator.errors import SpecIssue
    from akko_orchestrator.spec.models import Pipeline
    from akko_orchestrator.spec.yaml_source import SpecSource

AIRFLOW_PRESETS = (
    "@once",
    "@continuous",
    "@hourly",
    "@daily",
    "@weekly",
    "@monthly",
    "@quarterly",
    "@yearly",
)


PRESETS = (*AIRFLOW_PRESETS, "@annually")
CRON_FIELDS = (
    "minute (0-59)",
    "hour (0-23)",
    "day of month (1-31)",
    "month (1-12 or jan-dec)",
    "day of week (0-6 or sun-sat)",
)


def schedule_problem(schedule: str) -> str | None:
    """Why a schedule string is not a valid cron expression or Airflow preset, or None."""
    return cron_problem(schedule)[0]


def cron_problem(schedule: str) -> tuple[str | None, int]:
    """(why the schedule is invalid or None, offset of the faulty part in the string)."""
    if schedule.startswith("@"):
        return (None if schedule in PRESETS else f"unknown schedule preset '{schedule}'"), 0
    from croniter import croniter

    fields = schedule.split()
    if len(fields) not in (5, 6):
        return (
            f"'{schedule}' is not a cron expression: it needs 5 fields "
            f"(minute hour day-of-month month day-of-week), not {len(fields)}"
        ), 0
    if croniter.is_valid(schedule):
        return _never_fires(schedule, fields)
    offset = 0
    for position, (value, name) in enumerate(zip(fields, CRON_FIELDS, strict=False)):
        offset = schedule.index(value, offset)
        probe = ["*"] * 5
        probe[position] = value
        if not croniter.is_valid(" ".join(probe)):
            return f"'{schedule}' is not a valid cron expression: '{value}' is not a valid {name}", offset
        offset += len(value)
    return f"'{schedule}' is not a valid cron expression", 0


def _never_fires(schedule: str, fields: list[str]) -> tuple[str | None, int]:
    """A valid expression whose day of month no month it names has (`0 0 31 2 *`): the DAG would never run."""
    import datetime as dt

    from croniter import CroniterBadDateError, croniter

    try:
        croniter(schedule, dt.datetime(2024, 1, 1), max_years_between_matches=8).get_next(dt.datetime)
    except CroniterBadDateError:
        day, month = fields[2], fields[3]
        offset = schedule.index(day, schedule.index(fields[1]) + len(fields[1]))
        return f"'{schedule}' never fires: day {day} of month {month} does not exist", offset
    return None, 0


def own_tables_issues(
    pipeline: Pipeline, source: SpecSource, graphs: Mapping[str, DbtGraph]
) -> list[SpecIssue]:
    """`schedule: {on: [...]}` naming a table this pipeline writes: the run's own write is an asset event that
    queues the next run, forever."""
    from akko_orchestrator.plan.deadlines import tables_written
    from akko_orchestrator.spec.models import AssetSchedule

    if not isinstance(pipeline.schedule, AssetSchedule):
        return []
    written = tables_written(pipeline, dict(graphs))
    reason = "{} is written by this pipeline: each run's write would start the next run, without end"
    hint = "schedule on the tables it reads, or on a cron expression"
    return [
        source.issue(("schedule", "on", position), reason.format(table), hint)
        for position, table in enumerate(pipeline.schedule.on)
        if table in written
    ]
