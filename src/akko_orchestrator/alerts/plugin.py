"""AKKO's Airflow plugin: registers the custom deadline reference with every Airflow process (through this
package's `airflow.plugins` entry point), so the scheduler and the dag-processor can read deadlines `by` a time."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from akko_orchestrator.alerts.deadline import TimeOfDayDeadline


class AkkoAlertsPlugin(AirflowPlugin):
    name = "akko_alerts"
    deadline_references = [TimeOfDayDeadline]
