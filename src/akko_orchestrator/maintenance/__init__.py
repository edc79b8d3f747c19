"""Iceberg table maintenance: what to do to each table (plan), done with pyiceberg (`local`) or Trino (`cluster`).
No Airflow import here: operators/maintenance.py runs it inside a task, `akko maintain` from the CLI."""
