"""A pipeline's alert rules and deadline in its DAG: the failure callback and check-warning targets of every
task, and the deadline alert. Parse-time code: plain data, no connection is looked up.

Deterministic by construction: callbacks are not part of Airflow's DAG serialization (only the fact that a task
has one), and the deadline alert serializes as its reference, interval and the callback's dotted path with JSON
kwargs in a fixed order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from akko_orchestrator.plan.model import Plan
from akko_orchestrator.spec.alerts import AlertRule, deadlines_of, effective_rules, targets_for
from akko_orchestrator.spec.models import duration_seconds


def task_alert_args(plan: Plan, project_rules: list[AlertRule]) -> dict[str, Any]:
    """Operator arguments: `on_failure_callback` (a task failing for good) and the check-warning targets."""
    rules = effective_rules(project_rules, plan.pipeline.alerts)
    args: dict[str, Any] = {}
    failure = targets_for(rules, "failure")
    if failure:
        from akko_orchestrator.alerts.notify import FailureNotifier

        args["on_failure_callback"] = FailureNotifier(pipeline=plan.pipeline.pipeline, targets=failure)
    warning = targets_for(rules, "check_warning")
    if warning:
        args["warning_targets"] = warning
    return args


def deadline_alerts(plan: Plan, project_rules: list[AlertRule], spec_file: str) -> list[Any]:
    """The pipeline's deadlines, one Airflow deadline alert each, sending `deadline_missed` (none without a
    target subscribed to it). A table deadline's callback gets the spec file to find the project's catalog; one
    whose table is written only on another profile is left out."""
    targets = targets_for(effective_rules(project_rules, plan.pipeline.alerts), "deadline_missed")
    if not targets:
        return []
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    from akko_orchestrator.alerts.deadline import CALLBACK, TABLE_CALLBACK, TimeOfDayDeadline

    alerts = []
    for _, deadline in deadlines_of(plan.pipeline.deadline):
        if deadline.table is not None and deadline.table not in plan.tables_written:
            continue
        if deadline.by is not None:
            reference: Any = TimeOfDayDeadline(time=deadline.by)
            interval = dt.timedelta(0)
        else:
            reference = DeadlineReference.DAGRUN_QUEUED_AT
            interval = dt.timedelta(seconds=duration_seconds(str(deadline.within)))
        kwargs: dict[str, Any] = {"pipeline": plan.pipeline.pipeline, "deadline": deadline.describe()}
        if deadline.table is None:
            kwargs["tables"] = list(plan.tables_written)
        else:
            kwargs.update(table=deadline.table, spec=spec_file)
        kwargs["targets"] = targets
        callback = AsyncCallback(TABLE_CALLBACK if deadline.table else CALLBACK, kwargs=kwargs)
        name = f"akko: {deadline.describe()}"  # distinct: the planner refuses a deadline given twice
        alerts.append(DeadlineAlert(reference=reference, interval=interval, callback=callback, name=name))
    return alerts
