"""Metrics: Airflow's StatsD metrics turned on from akko.yaml, and AKKO's own per pipeline and table."""
