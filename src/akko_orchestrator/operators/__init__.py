"""Airflow operators that run AKKO steps. Thin: they build a `StepContext` and call `runtime`."""
