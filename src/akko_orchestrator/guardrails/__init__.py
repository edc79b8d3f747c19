"""Guardrails for hand-written DAGs: Airflow cluster policies, a size-limited XCom backend and the Iceberg writer
scope (see docs/guardrails.md)."""
