"""Schedules: cron expressions (5 or 6 fields) and Airflow's presets, with the faulty field located."""

from __future__ import annotations

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
        return None, 0
    offset = 0
    for position, (value, name) in enumerate(zip(fields, CRON_FIELDS, strict=False)):
        offset = schedule.index(value, offset)
        probe = ["*"] * 5
        probe[position] = value
        if not croniter.is_valid(" ".join(probe)):
            return f"'{schedule}' is not a valid cron expression: '{value}' is not a valid {name}", offset
        offset += len(value)
    return f"'{schedule}' is not a valid cron expression", 0
