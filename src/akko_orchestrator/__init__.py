"""AKKO Orchestrator: declarative lakehouse pipelines compiled to Apache Airflow 3 DAGs."""

__version__ = "0.1.0"
